"""Value types shared by the stages: what the file wants and what the API has.

Plain frozen data, no behaviour that touches the network or the terminal. ``Secret`` exists so
that a secret value can never be printed by accident: its ``repr`` and ``str`` are masked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, TypeGuard

# Write-only fields: a GET shows only `<name>_configured`.
SECRET_FIELDS: tuple[str, ...] = (
    "vapi_api_key",
    "retell_api_key",
    "syntflow_api_key",
    "elevenlabs_api_key",
    "livekit_api_key",
    "pipecat_api_key",
    "webhook_secret",
)

READ_ONLY_FIELDS: frozenset[str] = frozenset(
    {"id", "members", "organization", "created_at", "updated_at", "vapi_public_key_configured"}
    | {f"{name}_configured" for name in SECRET_FIELDS}
)

# Accepted by PATCH but never returned: a file cannot manage what cannot be read back.
WRITE_ONLY_FIELDS: frozenset[str] = frozenset({"organization_id"})

# Never a setting of a file and never sent from one: the API's own fields, the secrets (managed under
# `secrets:`) and the write-only ones. (A `<name>_configured` this tool does not know yet is read-only
# too: check ``name.endswith("_configured")`` where live fields of a newer API may arrive.)
NOT_SETTINGS: frozenset[str] = READ_ONLY_FIELDS | frozenset(SECRET_FIELDS) | WRITE_ONLY_FIELDS

# JSON-object settings: the API replaces them whole, so they are compared by sub-key and sent whole.
OBJECT_FIELDS: frozenset[str] = frozenset({"no_calls_notify_time_period"})

SENSITIVE_MASK = "(sensitive)"


class Secret:
    """A secret value that refuses to be shown. Call ``reveal()`` only to put it on the wire."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret(***)"

    def __str__(self) -> str:
        return SENSITIVE_MASK

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True)
class SecretRef:
    """Where a secret's value comes from: an environment variable or a file. Never the value."""

    kind: Literal["env", "file"]
    name: str
    # A base file's relative {file: ...}, which extends joins to the base's folder (given here):
    # still a relative reference, bound to the base's repository, not an absolute one.
    relative_to: str | None = field(default=None, compare=False)

    def describe(self) -> str:
        return f"{{{self.kind}: {self.name}}}"

    def to_json(self) -> dict[str, str]:
        return {self.kind: self.name}


@dataclass(frozen=True)
class RuleSpec:
    """One rubric entry of the file. ``metric_id`` is None until a ``metric:`` name is resolved."""

    metric_id: int | None
    metric_ref: str | None
    conditions: dict[str, Any] | None
    absent: bool
    path: tuple[str | int, ...]


@dataclass(frozen=True)
class RubricSpec:
    prune: bool | None  # None: not given (false, or the base's value with extends)
    rules: tuple[RuleSpec, ...]


@dataclass(frozen=True)
class DesiredProject:
    """A validated project file."""

    file: str
    project_id: int | None
    settings: dict[str, Any]
    secrets: dict[str, SecretRef]
    rubric: RubricSpec | None
    # JSON path -> "file:line:col", for errors found later against the live project.
    positions: dict[tuple[str | int, ...], str] = field(default_factory=dict, compare=False)
    # The parts of the file owned by kinds registered beyond settings, secrets and the rubric
    # (reconciler/kinds), by top-level key, as validated.
    parts: dict[str, Any] = field(default_factory=dict)
    # The files this one `extends`, nearest first (real paths), to tell bases nothing extends.
    bases: tuple[str, ...] = field(default=(), compare=False)

    def where(self, path: tuple[str | int, ...]) -> str:
        probe = path
        while probe not in self.positions and probe:
            probe = probe[:-1]
        return self.positions.get(probe, f"{self.file}:1:1")


@dataclass(frozen=True)
class Metric:
    id: int
    name: str
    slug: str | None
    eval_type: str | None
    enum_values: tuple[str, ...]
    project: int | None
    agents: tuple[int, ...]

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> Metric:
        enum_values = data.get("enum_values") or ()
        return cls(
            id=int(data["id"]),
            name=str(data.get("name") or ""),
            slug=data.get("slug") or None,
            eval_type=data.get("eval_type") or None,
            enum_values=tuple(str(v) for v in enum_values) if isinstance(enum_values, list) else (),
            project=data.get("project"),
            agents=tuple(a for a in (data.get("agents") or ()) if isinstance(a, int)),
        )


def is_configured(value: Any) -> bool:
    """Read `<name>_configured` robustly: the spec types it as a string, servers send bools too."""
    if isinstance(value, str):
        return value.strip().lower() not in ("", "false", "0", "no", "none", "null")
    return bool(value)


def is_number(value: Any) -> TypeGuard[int | float]:
    """A JSON number: int or float, not a boolean (which Python counts as an int)."""
    return isinstance(value, int | float) and not isinstance(value, bool)
