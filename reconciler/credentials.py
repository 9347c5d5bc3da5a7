"""Where secret values and the API key come from: environment variables and files, never flags.

Errors name the reference (``{env: NAME}``, ``{file: PATH}``) and the file position, never a
value. Values are wrapped in ``Secret`` at once so that no later stage can print them by accident.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from reconciler.errors import Position, Problem, ReconcilerError, SecretReferenceError
from reconciler.model import DesiredProject, Secret, SecretRef

API_KEY_ENV = "CEKURA_API_KEY"


def resolve_secret(ref: SecretRef, *, base_dir: Path) -> str:
    """The value behind one reference; raises ValueError with a message that names only the reference."""
    if ref.kind == "env":
        value = os.environ.get(ref.name)
        if value is None:
            raise ValueError(f"environment variable {ref.name} is not set")
        if not value.strip():
            raise ValueError(f"environment variable {ref.name} is empty")
        return value
    path = Path(ref.name).expanduser()
    if not path.is_absolute():
        path = base_dir / path
    try:
        value = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ValueError(f"file {path} does not exist") from None
    except IsADirectoryError:
        raise ValueError(f"{path} is a directory, not a file") from None
    except PermissionError:
        raise ValueError(f"file {path} is not readable (permission denied)") from None
    except UnicodeDecodeError:
        raise ValueError(f"file {path} is not UTF-8 text") from None
    except OSError as exc:
        raise ValueError(f"file {path} cannot be read ({exc.strerror})") from None
    value = value.rstrip("\r\n")
    if not value.strip():
        raise ValueError(f"file {path} is empty")
    return value


def resolve_secrets(desired: DesiredProject, names: Iterable[str]) -> dict[str, Secret]:
    """Resolve the named secrets of a file; every unresolvable reference is reported at once."""
    base_dir = Path(desired.file).resolve().parent
    values: dict[str, Secret] = {}
    problems: list[Problem] = []
    for name in names:
        ref = desired.secrets[name]
        try:
            values[name] = Secret(resolve_secret(ref, base_dir=base_dir))
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


def read_api_key(api_key_file: str | None) -> str:
    """The API key from --api-key-file or CEKURA_API_KEY; there is deliberately no flag for the key itself."""
    if api_key_file:
        source = f"--api-key-file {api_key_file}"
        try:
            key = Path(api_key_file).expanduser().read_text(encoding="utf-8-sig").strip()
        except OSError as exc:
            raise ReconcilerError(f"{source}: cannot read it ({exc.strerror})") from None
        except UnicodeDecodeError:
            raise ReconcilerError(f"{source} is not UTF-8 text") from None
        return _check_key(key, source)
    key = os.environ.get(API_KEY_ENV, "").strip()
    if not key:
        raise ReconcilerError(f"no API key: set {API_KEY_ENV} or pass --api-key-file PATH")
    return _check_key(key, API_KEY_ENV)
