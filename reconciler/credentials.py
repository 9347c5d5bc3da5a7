"""Where secret values and the API key come from: environment variables and files, never flags.

Errors name the reference (``{env: NAME}``, ``{file: PATH}``) and the file position, never a
value. Values are wrapped in ``Secret`` at once so that no later stage can print them by accident.

A ``{file: PATH}`` reads only what the user meant to share: a relative path stays inside the
repository of the file that writes it (its git root, or its own folder outside git), an absolute
or ``~`` path inside a folder allowed with --secrets-dir / CEKURA_SECRETS_DIRS, links judged by
their target; only a regular file of at most 64 KiB is opened, never blocking on a FIFO.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Sequence
from pathlib import Path

from reconciler.errors import Position, Problem, ReconcilerError, SecretReferenceError
from reconciler.model import DesiredProject, Secret, SecretRef

API_KEY_ENV = "CEKURA_API_KEY"
SECRET_FILE_MAX_BYTES = 64 * 1024  # a secret is a key or a token, never a document
SECRETS_DIRS_ENV = "CEKURA_SECRETS_DIRS"
_ALLOW_HINT = f"allow its folder with --secrets-dir DIR or {SECRETS_DIRS_ENV}"
_NOT_REGULAR = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def repository_root(directory: Path) -> Path | None:
    """The root of the git work tree holding ``directory`` (a folder with ``.git``), if any."""
    real = Path(os.path.realpath(directory))
    for folder in (real, *real.parents):
        if (folder / ".git").exists():
            return folder
    return None


def reference_root(directory: Path) -> Path:
    """Where relative references written in a file of ``directory`` must stay: its git root, or
    the folder itself when it is not in git."""
    return repository_root(directory) or Path(os.path.realpath(directory))


def saved_plan_root(secret_dir: Path) -> Path:
    """The same for a saved plan's ``secret_dir`` (relative to the working directory): its git root;
    outside git, the working directory when the folder lies in it (a plan made and applied from the
    root of a checkout, whose bases may sit beside the project's folder), else the folder itself."""
    found = repository_root(secret_dir)
    if found:
        return found
    real, cwd = Path(os.path.realpath(secret_dir)), Path(os.path.realpath(Path.cwd()))
    return cwd if real.is_relative_to(cwd) else real


def secrets_dirs(given: Iterable[str]) -> tuple[Path, ...]:
    """The folders allowed for absolute (and ``~``) references, with ``~`` expanded and links resolved."""
    return tuple(Path(os.path.realpath(os.path.expanduser(d))) for d in given if d)


def references_escaping(name: str, directory: Path) -> bool:
    """True when a relative ``{file: NAME}`` written in a file of ``directory`` leaves its root by
    its text alone (``../..``); links are judged when the file is read. Touches no secret file."""
    if name.startswith("~") or Path(name).is_absolute():
        return False
    lexical = Path(os.path.normpath(Path(os.path.realpath(directory)) / name))
    return not lexical.is_relative_to(reference_root(directory))


def _allowed_target(
    ref: SecretRef, *, base_dir: Path, root: Path | None, allowed: Sequence[Path]
) -> tuple[Path, Path]:
    """The path as written (joined, expanded) and its real target, once the target is allowed."""
    written = ref.name
    if written.startswith("~"):
        try:
            path = Path(written).expanduser()
        except RuntimeError:
            raise ValueError("cannot expand ~ (no home directory is known)") from None
    else:
        path = Path(written)
    # A base file's relative reference arrives joined to its folder (extends): still relative.
    if path.is_absolute() and ref.relative_to is None:
        real = Path(os.path.realpath(path))
        if not allowed:
            raise ValueError(
                f"{path}: an absolute or ~ path is read only inside a folder allowed for secret files, "
                f"and none is; {_ALLOW_HINT}"
            )
        if not any(real.is_relative_to(folder) for folder in allowed):
            listed = ", ".join(str(folder) for folder in allowed)
            raise ValueError(
                f"{_shown(path, real)}not inside a folder allowed for secret files ({listed}); {_ALLOW_HINT}"
            )
        return path, real
    anchor = Path(ref.relative_to) if ref.relative_to is not None else base_dir
    path = anchor / path
    real = Path(os.path.realpath(path))
    bound = reference_root(anchor) if root is None else root
    if not real.is_relative_to(bound):
        raise ValueError(
            f"{_shown(path, real)}outside the repository {bound}; a relative reference must stay "
            f"inside it (for a file elsewhere, write its absolute path and {_ALLOW_HINT})"
        )
    return path, real


def _shown(path: Path, real: Path) -> str:
    """The start of a refusal: through a link, where it leads too, since that is what is judged."""
    return f"{path} leads to {real}, " if real != Path(os.path.abspath(path)) else f"{path} is "


def _read_secret_file(path: Path, real: Path) -> str:
    """At most SECRET_FILE_MAX_BYTES of a regular file, never blocking (a FIFO) or reading a device."""
    try:
        found = os.stat(real)
        if not stat.S_ISREG(found.st_mode):
            kind = next((kind for check, kind in _NOT_REGULAR if check(found.st_mode)), "a special file")
            raise ValueError(f"{path} is not a regular file ({kind})")
        if found.st_size > SECRET_FILE_MAX_BYTES:
            raise ValueError(f"file {path} is larger than 64 KiB; a secret file holds the secret alone")
        flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0)
        fd = os.open(real, flags | getattr(os, "O_CLOEXEC", 0))
        with os.fdopen(fd, "rb") as handle:
            # What was opened may not be what was checked (swapped meanwhile): check it again.
            if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                raise ValueError(f"{path} is not a regular file")
            data = handle.read(SECRET_FILE_MAX_BYTES + 1)
    except FileNotFoundError:
        raise ValueError(f"file {path} does not exist") from None
    except PermissionError:
        raise ValueError(f"file {path} is not readable (permission denied)") from None
    except OSError as exc:
        raise ValueError(f"file {path} cannot be read ({exc.strerror})") from None
    if len(data) > SECRET_FILE_MAX_BYTES:
        raise ValueError(f"file {path} is larger than 64 KiB; a secret file holds the secret alone")
    if data and found.st_size == 0:
        # /proc files pass as regular files of 0 bytes: /proc/self/environ is no secret file.
        raise ValueError(f"{path} is not a file on disk (a /proc file, whose size says 0)")
    try:
        # utf-8-sig: a BOM (as some Windows editors write) is not part of the secret.
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValueError(f"file {path} is not UTF-8 text") from None


def resolve_secret(
    ref: SecretRef, *, base_dir: Path, allowed_dirs: Sequence[Path] = (), root: Path | None = None
) -> str:
    """The value behind one reference; raises ValueError with a message that names only the reference.

    A relative file reference is read from ``base_dir`` (or the folder of the base file that wrote
    it) and must stay inside ``root`` (default: that folder's git root, or the folder outside git);
    an absolute or ``~`` one only inside ``allowed_dirs`` (from ``secrets_dirs``). Links are judged
    by their target.
    """
    if ref.kind == "env":
        value = os.environ.get(ref.name)
        if value is None:
            raise ValueError(f"environment variable {ref.name} is not set")
        if not value.strip():
            raise ValueError(f"environment variable {ref.name} is empty")
        return value
    path, real = _allowed_target(ref, base_dir=base_dir, root=root, allowed=allowed_dirs)
    value = _read_secret_file(path, real).rstrip("\r\n")
    if not value.strip():
        raise ValueError(f"file {path} is empty")
    return value


def resolve_secrets(
    desired: DesiredProject, names: Iterable[str], *, allowed_dirs: Sequence[Path] = ()
) -> dict[str, Secret]:
    """Resolve the named secrets of a file; every unresolvable reference is reported at once."""
    names = list(names)
    if not names:
        return {}  # most plans: no path to resolve (a stat per directory level, per project)
    base_dir = Path(desired.file).resolve().parent
    values: dict[str, Secret] = {}
    problems: list[Problem] = []
    for name in names:
        ref = desired.secrets[name]
        try:
            values[name] = Secret(resolve_secret(ref, base_dir=base_dir, allowed_dirs=allowed_dirs))
        except ValueError as exc:
            problems.append(
                Problem(
                    Position.parse(desired.where(("secrets", name))),
                    f"secrets.{name} ({ref.describe()}): {exc}",
                )
            )
    if problems:
        raise SecretReferenceError(problems)
    return values


def _check_key(key: str, source: str) -> str:
    """A key must be one printable ASCII token; the message never shows the key."""
    if not key:
        raise ReconcilerError(f"{source} is empty")
    if not all(33 <= ord(ch) <= 126 for ch in key):
        raise ReconcilerError(
            f"{source} holds characters an API key cannot have (spaces, line breaks or non-ASCII); "
            "check that it holds the key alone"
        )
    return key


def _read_key_file(path: Path, source: str) -> bytes:
    """At most SECRET_FILE_MAX_BYTES of a regular file or a pipe (``<(pass show ...)``, a piped
    /dev/stdin), which may block until its writer writes, as ``cat`` would; never a device
    (/dev/zero would be read until memory runs out, a terminal would show the key as it is typed)."""
    with open(path, "rb") as handle:
        mode = os.fstat(handle.fileno()).st_mode
        if not (stat.S_ISREG(mode) or stat.S_ISFIFO(mode)):
            kind = next((kind for check, kind in _NOT_REGULAR if check(mode)), "a special file")
            raise ReconcilerError(f"{source} is {kind}; it must be a regular file or a pipe holding the key")
        data = handle.read(SECRET_FILE_MAX_BYTES + 1)
    if len(data) > SECRET_FILE_MAX_BYTES:
        raise ReconcilerError(f"{source} is larger than 64 KiB; it must hold the key alone")
    return data


def read_api_key(api_key_file: str | None) -> str:
    """The API key from --api-key-file or CEKURA_API_KEY; there is deliberately no flag for the key itself."""
    if api_key_file:
        source = f"--api-key-file {api_key_file}"
        try:
            key = _read_key_file(Path(api_key_file).expanduser(), source).decode("utf-8-sig").strip()
        except OSError as exc:
            raise ReconcilerError(f"{source}: cannot read it ({exc.strerror})") from None
        except UnicodeDecodeError:
            raise ReconcilerError(f"{source} is not UTF-8 text") from None
        return _check_key(key, source)
    key = os.environ.get(API_KEY_ENV, "").strip()
    if not key:
        raise ReconcilerError(f"no API key: set {API_KEY_ENV} or pass --api-key-file PATH")
    return _check_key(key, API_KEY_ENV)
