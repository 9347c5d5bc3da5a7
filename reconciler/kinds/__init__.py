"""The registry of resource kinds: what the planner, verification, fingerprints, the journal, the
saved-plan codec and export iterate over, in the order the kinds' ``depends_on`` gives.

The shipped kinds register here, in the order of a project file: settings, secrets, rubric, metrics
(which ``depends_on`` puts before the rubric). A kind
from elsewhere (the tests' fake kind, a plugin) calls ``register_kind`` once; nothing else in the
package changes for it (docs/architecture.md, "Resource kinds").
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from reconciler.changes import ProjectPlan
from reconciler.kinds.base import (
    MISSING,
    MISSING_MARK,
    Edited,
    ExportContext,
    Kind,
    PlanInputs,
    Request,
    SavedPart,
)
from reconciler.kinds.metrics import MetricsKind
from reconciler.kinds.rubric import RubricKind
from reconciler.kinds.secrets import SecretsKind
from reconciler.kinds.settings import SettingsKind

__all__ = [
    "MISSING",
    "MISSING_MARK",
    "Edited",
    "ExportContext",
    "Kind",
    "PlanInputs",
    "Request",
    "SavedPart",
    "get_kind",
    "kind_of_key",
    "kinds",
    "register_kind",
    "schema_parts",
    "unregister_kind",
    "write_order",
]

# Keys of a project file that belong to the file itself, not to a kind.
RESERVED_KEYS = frozenset({"version", "project", "extends"})

_lock = threading.Lock()
_registered: dict[str, Kind] = {}  # by name, in registration order
_ordered: tuple[Kind, ...] = ()


def _dependency_order(registered: Mapping[str, Kind]) -> tuple[Kind, ...]:
    """A topological order (Kahn's): every kind after the registered kinds it depends on; among
    kinds free to go, the one registered first. Dependencies on kinds not registered are ignored."""
    waiting = {name: {d for d in kind.depends_on if d in registered} for name, kind in registered.items()}
    order: list[Kind] = []
    while waiting:
        ready = [name for name in registered if name in waiting and not waiting[name]]
        if not ready:
            cycle = ", ".join(sorted(waiting))
            raise ValueError(f"the kinds {cycle} depend on each other in a cycle")
        name = ready[0]
        order.append(registered[name])
        del waiting[name]
        for needs in waiting.values():
            needs.discard(name)
    return tuple(order)


def register_kind(kind: Kind) -> Kind:
    """Add ``kind`` to the registry (octoDNS's ``Record.register_type``); returns it. Raises
    ValueError for a name or file key already taken, a reserved key, or a dependency cycle."""
    global _ordered
    with _lock:
        if kind.name in _registered:
            raise ValueError(f"a kind named {kind.name!r} is already registered")
        if kind.key in RESERVED_KEYS or any(k.key == kind.key for k in _registered.values()):
            raise ValueError(f"the file key {kind.key!r} is already taken")
        candidate = {**_registered, kind.name: kind}
        _ordered = _dependency_order(candidate)
        _registered[kind.name] = kind
    return kind


def unregister_kind(name: str) -> None:
    """Remove a kind registered with ``register_kind`` (for tests)."""
    global _ordered
    with _lock:
        del _registered[name]
        _ordered = _dependency_order(_registered)


def kinds() -> tuple[Kind, ...]:
    """Every registered kind, each after the kinds it depends on."""
    return _ordered


def get_kind(name: str) -> Kind:
    return _registered[name]


def kind_of_key(key: str) -> Kind | None:
    """The kind that claims a baseline (live) key, if any."""
    return next((kind for kind in _ordered if kind.watches(key)), None)


def schema_parts() -> dict[str, Any]:
    """The JSON Schema of the parts of the file owned by kinds that the shipped schema does not
    describe, by top-level key (empty unless such a kind is registered)."""
    return {kind.key: dict(kind.schema) for kind in _ordered if kind.schema is not None}


def write_order(plan: ProjectPlan) -> tuple[Request, ...]:
    """The writes of ``plan`` in the order they are sent: the object kinds' creates and updates in
    dependency order (a metric before the rubric rule that names it), then the ONE project PATCH
    (the keys the project kinds put in ``plan.patch``), then the object kinds' deletes in reverse
    dependency order (a metric only once no rule names it: Terraform destroys dependents first)."""
    ahead = [r for kind in _ordered for r in kind.requests(plan) if r.method != "DELETE"]
    deletes = [r for kind in reversed(_ordered) for r in kind.requests(plan) if r.method == "DELETE"]
    project = f"/user/v1/projects/{plan.project_id}/"
    patch = [Request("PATCH", project, plan.patch, "project", f"update project {plan.project_id}")]
    return (*ahead, *(patch if plan.patch else ()), *deletes)


# The metrics kind goes before the rubric, which depends on it (a rule needs its metric's id).
for _kind in (SettingsKind(), SecretsKind(), RubricKind(), MetricsKind()):
    register_kind(_kind)
