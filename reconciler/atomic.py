"""Write a file whole or not at all: the one way the tool writes its files.

Saved plans and journal entries go through ``write_private`` (mode 0600 exactly, whatever the
umask: they describe a project's settings and where its secrets come from); exported project files
through ``write_atomic`` with the mode of any file the user writes, and files ``pull`` edits
through ``replace_keeping_mode`` with the mode they had. The text goes to a new temporary
file beside the target, created with ``O_EXCL`` and its final mode from the start (never readable
by others, not even for a moment), flushed to disk with ``fsync``, then renamed over the target: a
reader sees the old file or the new one, never half of one. On any failure (a full or read-only
disk, a folder that is not one, no permission) the temporary file is removed and ``WriteError``
("cannot write PATH: reason") raised; nothing is left behind.

An existing target that is not a regular file (``/dev/full``, a FIFO, a directory) is refused before
anything is created: renaming over it would replace a device node, not write a file.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from pathlib import Path

from reconciler.errors import WriteError

PRIVATE_MODE = 0o600
_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOFOLLOW", 0)


def write_private(path: str | Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically, readable and writable by its owner only."""
    _write(Path(path), text, PRIVATE_MODE, exact=True)


def write_atomic(path: str | Path, text: str, mode: int) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically with ``mode``, less the umask (as ``open`` does)."""
    _write(Path(path), text, mode, exact=False)


def replace_keeping_mode(path: str | Path, data: bytes) -> None:
    """Replace the regular file ``path`` with ``data`` atomically, keeping its permission bits
    exactly (``pull`` rewriting a project file in place)."""
    target = Path(path)
    try:
        mode = stat.S_IMODE(os.stat(target).st_mode)
    except OSError as exc:
        raise WriteError(str(target), _reason(exc)) from None
    _write(target, data, mode, exact=True)


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc)


def _refuse_non_regular(target: Path) -> None:
    try:
        found = os.stat(target)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise WriteError(str(target), _reason(exc)) from None
    if stat.S_ISREG(found.st_mode):
        return
    if stat.S_ISDIR(found.st_mode):
        what = "a directory"
    elif stat.S_ISCHR(found.st_mode) or stat.S_ISBLK(found.st_mode):
        what = "a device"
    else:
        what = "not a regular file"
    raise WriteError(str(target), f"it is {what}; only a regular file is written (or replaced)")


def _write(target: Path, text: str | bytes, mode: int, *, exact: bool) -> None:
    _refuse_non_regular(target)
    data = text.encode("utf-8") if isinstance(text, str) else text
    # Beside the target (a rename is atomic only within one file system); a name no one can guess
    # or have made first (O_EXCL), short enough for any target name.
    temp = target.with_name(f".{target.name[:180]}.{secrets.token_hex(6)}.tmp")
    created = False
    try:
        fd = os.open(temp, _FLAGS, mode)
        created = True
        try:
            if exact:
                os.fchmod(fd, mode)  # the umask could only have taken bits away; make it exact
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temp, target)
        created = False
    except OSError as exc:
        raise WriteError(str(target), _reason(exc)) from None
    finally:
        if created:
            with contextlib.suppress(OSError):
                os.unlink(temp)
    _sync_folder(target.parent)


def _sync_folder(folder: Path) -> None:
    """Make the rename itself durable (best effort: not every system can fsync a directory)."""
    with contextlib.suppress(OSError):
        fd = os.open(folder if str(folder) else ".", os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
