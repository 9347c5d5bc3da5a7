"""The one exception tree of cekura-reconciler.

Every error the tool raises on purpose derives from ``ReconcilerError``; the CLI maps any of them to
exit code 1 with its one-line (or, for input problems, one-line-per-problem) message, never a
traceback. Messages must never contain a secret value or the API key.

    ReconcilerError
    ├── InputError ............ the user's file is wrong (all problems at once, each file:line:col)
    │   └── SecretReferenceError  a {env: ...}/{file: ...} reference cannot be resolved
    ├── ApiError .............. the Cekura API (or the path to it) failed; raised by client.py only
    │   ├── AuthError ......... 401/403
    │   ├── NotFoundError ..... 404
    │   ├── RequestRejected ... 400/409/422 and other 4xx, with the DRF body made readable
    │   ├── ServerError ....... 5xx after retries
    │   ├── TransportError .... connection refused/reset, timeouts, TLS
    │   └── MalformedResponse . a body that is not the JSON we expect
    ├── PlanError ............. the file is valid but cannot be planned against this live project
    ├── ApplyError ............ apply refused or failed
    │   ├── RefusedError ...... a guard said no (no terminal, is_deleted, stale plan, mass deletion)
    │   └── NotConvergedError . the PATCH went through but the project does not match afterwards
    └── WriteError ............ a file the tool writes (saved plan, journal entry, export) was not
                                written; nothing of it is left behind; raised by atomic.py only
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Position:
    """A place in a file; line and col are 1-based, as editors and compilers print them."""

    file: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"

    @classmethod
    def parse(cls, text: str) -> Position:
        """The inverse of ``str()``: "file:line:col" (as ``DesiredProject.where`` gives it)."""
        file, line, col = text.rsplit(":", 2)
        return cls(file, int(line), int(col))


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input file."""

    position: Position
    message: str

    def __str__(self) -> str:
        return f"{self.position}: {self.message}"


class ReconcilerError(Exception):
    """Root of every error raised on purpose by the tool."""


class InputError(ReconcilerError):
    """The user's file is wrong. Carries every problem found, not just the first."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = sorted(problems, key=lambda p: (p.position, p.message))
        super().__init__("\n".join(str(p) for p in self.problems))


class SecretReferenceError(InputError):
    """A secret reference cannot be resolved. The message names the reference, never a value."""


class ApiError(ReconcilerError):
    """The Cekura API answered with an error, or could not be reached."""


class AuthError(ApiError):
    """401 or 403."""


class NotFoundError(ApiError):
    """404."""


class RequestRejected(ApiError):
    """A 4xx other than 401/403/404: the server refused the request's content."""


class ServerError(ApiError):
    """A 5xx that did not go away with retries."""


class TransportError(ApiError):
    """The request did not complete: connection refused or reset, timeout, TLS failure."""

    def __init__(self, message: str, *, maybe_sent: bool = False) -> None:
        super().__init__(message)
        # True when the request body may have reached the server (e.g. a read timeout after sending).
        self.maybe_sent = maybe_sent


class MalformedResponse(ApiError):
    """The server answered 2xx with a body that is not the JSON we expect."""


class PlanError(ReconcilerError):
    """The file is valid on its own but cannot be planned against the live project."""


class ApplyError(ReconcilerError):
    """Apply was refused or did not succeed. ``outcome`` says what became of the project:
    "not_changed" (safe to run again), "unknown" (look before going on) or "not_converged"
    (changed, but it does not read back as the file says)."""

    def __init__(self, message: str, *, outcome: str = "not_changed") -> None:
        super().__init__(message)
        self.outcome = outcome


class RefusedError(ApplyError):
    """A safety guard refused to go on; nothing was sent."""


class NotConvergedError(ApplyError):
    """The PATCH was accepted but the project read back does not match the file."""

    def __init__(self, message: str) -> None:
        super().__init__(message, outcome="not_converged")


class WriteError(ReconcilerError):
    """A file could not be written (``cannot write PATH: reason``); no part of it was left behind."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"cannot write {path}: {reason}")
