"""The one interface every kind of managed resource implements, and the values it is given.

A kind (the project's settings, its secrets, its rubric; metric definitions next) says, in one
module: which part of a project file it owns, what it reads live beside the GET of the project,
how it turns file and live state into typed changes and its part of the write, what of the live
state its plans watch (fingerprint, baseline, what "moved" means), how to verify that a write
converged, what the backup journal keeps of it, how a saved plan's changes give its part of the
file back, and how export writes it. The planner, verification, fingerprints, the journal, the
saved-plan codec and export iterate over the registered kinds (``reconciler.kinds``) in the order
their ``depends_on`` gives. Terraform's resource interface and octoDNS's ``Record.register_type``
are the models.

A kind never prints, never knows the CLI, the plan file's format or another kind: what it needs
from another kind's plan (a metric created earlier in the same apply, say) reaches it through the
``ProjectPlan`` the planner hands it, built by the kinds it depends on.

Two shapes of kind fit:

- *project kinds* (settings, secrets, rubric, a test's fake kind): their writes are keys of the ONE
  project PATCH; ``plan`` adds those keys to ``ProjectPlan.patch`` (and its changes to the plan).
- *object kinds* (metrics, next): objects of their own, listed by project (``read``), written by
  their own requests (``requests``: POST, PATCH by id, DELETE), before the PATCH of any kind that
  depends on them.
"""

from __future__ import annotations

import copy
import json
from abc import ABC, abstractmethod
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from reconciler.changes import FieldChange, ProjectPlan
from reconciler.model import DesiredProject, Secret, SecretRef

if TYPE_CHECKING:
    from reconciler.client import CekuraClient
    from reconciler.errors import Problem
    from reconciler.loader import Document
    from reconciler.rubric import MetricCatalog


class _Missing:
    """A live field the GET did not return: unequal to every value a file can hold."""

    def __repr__(self) -> str:
        return "<missing>"


MISSING: Any = _Missing()
# JSON path -> "file:line:col" (``DesiredProject.positions``).
Positions = dict[tuple[str | int, ...], str]
# How a baseline (and so a fingerprint) records a managed field the live project does not have
# (kept as it was, so fingerprints in saved plans stay comparable).
MISSING_MARK: dict[str, bool] = {"$missing": True}


@dataclass(frozen=True)
class PlanInputs:
    """What the planner gives every kind: the file, the project as read, and what kinds read beside it."""

    desired: DesiredProject
    live: Mapping[str, Any]
    rotate: Collection[str] = ()
    # Values of the secrets the plan may send or compare (None: not read, e.g. a drift check).
    secret_values: Mapping[str, Secret] | None = field(default=None, repr=False)
    # What each kind's ``read`` returned, by kind name (the rubric: its rules and the metrics catalog).
    reads: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Request:
    """One write of an object kind's own (not a key of the project PATCH). ``body`` may hold
    ``SecretRef``s, resolved only when it is sent."""

    method: Literal["POST", "PATCH", "DELETE"]
    path: str
    body: Mapping[str, Any] | None
    kind: str
    describe: str  # "create metric latency_p95": what a report of the write says
    # A create: the negative stand-in id that later writes of the plan (the project PATCH's rubric
    # rules) name the object by, replaced by the id its answer gives.
    creates: int | None = None


@dataclass(frozen=True)
class SavedPart:
    """A kind's part of the project file that a saved plan's changes describe (``Kind.from_plan``):
    its value in the file (``DesiredProject`` field or part) and what its ``read`` would have given."""

    value: Any
    read: Any = None


class Edited(Exception):
    """A saved plan's changes that no file of this kind could have made (raised by ``from_plan``)."""


class Kind(ABC):
    """One kind of managed resource. Subclass it, set the class attributes, implement the abstract
    methods, and register one instance with ``reconciler.kinds.register_kind``."""

    # A unique name ("settings"); other kinds name it in their ``depends_on``.
    name: ClassVar[str]
    # The top-level key of a project file that this kind owns ("settings", "rubric").
    key: ClassVar[str]
    # Kinds whose writes must come first: a rubric rule needs its metric. A kind named here that
    # is not registered is no dependency (the rubric reads the ids of existing metrics live).
    depends_on: ClassVar[tuple[str, ...]] = ()
    # The JSON Schema of its part of the file, for a kind that schemas/project.schema.json does not
    # describe (a kind registered from outside the package, like the tests' fake kind); the shipped
    # kinds have theirs in that file, which editors and check-jsonschema read.
    schema: ClassVar[Mapping[str, Any] | None] = None

    # -- the file ----------------------------------------------------------------------------------

    def desired(self, project: DesiredProject) -> Any:
        """Its part of a validated file; None when the file does not manage it."""
        return project.parts.get(self.key)

    def merge(self, base: DesiredProject, child: DesiredProject) -> tuple[Any, Positions]:
        """Its part of ``child`` extending ``base``, and the positions (``file:line:col`` by JSON
        path) of that part when they are not the child's own. Default: the child's part whole when
        it has one, else the base's."""
        part = self.desired(child)
        return (part if part is not None else self.desired(base)), {}

    def problems(self, doc: Document) -> list[Problem]:
        """What is wrong with its part of a file beyond the schema, found offline, each at its
        ``file:line:col`` (``validate`` asks every kind, whether or not the file has its part)."""
        return []

    # -- reading live ------------------------------------------------------------------------------

    def read(self, client: CekuraClient, project: DesiredProject, live: Mapping[str, Any]) -> Any:
        """What it needs beyond the GET of the project (the rubric: the metrics catalog; an object
        kind: its objects listed by project). Called only when the file manages it."""
        return None

    def read_after(
        self,
        client: CekuraClient,
        project: DesiredProject,
        live: Mapping[str, Any],
        reads: Mapping[str, Any],
    ) -> Any:
        """``read``, given what the kinds before it read (``reads``, by kind name), so that a kind
        can reuse a list another read already made (the rubric: the metrics kind's list)."""
        return self.read(client, project, live)

    def beside(self, read: Any) -> dict[str, Any]:
        """What of its ``read`` (made for a plan) its ``watched`` values need beyond the project's GET,
        as keys of their own that begin with ``$`` (no project field does), merged into the live
        project that a plan's baseline is taken from. Default: nothing."""
        return {}

    def read_fresh(self, client: CekuraClient, plan: ProjectPlan) -> dict[str, Any]:
        """The keys ``beside`` gives, read again for ``plan`` right before it is written (apply's
        fresh read, the stale check of a saved plan). Empty unless ``plan`` manages this kind."""
        return {}

    # -- planning ----------------------------------------------------------------------------------

    @abstractmethod
    def plan(self, plan: ProjectPlan, inputs: PlanInputs) -> ProjectPlan:
        """``plan`` with this kind's part added: its typed changes, its keys of the project PATCH
        (or, for an object kind, what ``requests`` sends), what it manages and its counts. Pure.
        Kinds it depends on have added their parts already."""

    def refusals(self, plan: ProjectPlan, inputs: PlanInputs) -> list[str]:
        """Why the whole plan (every kind's part in it) cannot be sent, ``file:line:col: ...`` each
        (a metric deleted while a rubric rule of the plan still names it). Empty: nothing."""
        return []

    def managed(self, plan: ProjectPlan) -> tuple[str, ...]:
        """What ``plan`` manages of this kind (setting names, secret names, ``rubric_config``); for
        a kind beyond the shipped ones, what its ``plan`` recorded in ``ProjectPlan.managed_kinds``."""
        return plan.managed_kinds.get(self.name, ())

    # -- what its plans watch ----------------------------------------------------------------------

    def watched(self, live: Mapping[str, Any], managed: Sequence[str]) -> dict[str, Any]:
        """Its part of a plan's baseline: the live values of what it manages, keyed so that they
        cannot collide with another kind's (a digest of all of them is the plan's fingerprint)."""
        return {name: json_copy(live.get(name, MISSING_MARK)) for name in managed}

    def expected(self, live: Mapping[str, Any], plan: ProjectPlan) -> dict[str, Any]:
        """``live`` as the project will read once its part of ``plan`` is written."""
        keys = self.patch_keys(plan)
        return {**live, **{k: plan.patch[k] for k in keys}}

    def watches(self, key: str) -> bool:
        """Whether a key of a baseline is this kind's (a baseline may come from a saved plan, so
        this is decided from the key alone). Keys no kind claims are compared as JSON values."""
        return False

    def moved(
        self, key: str, before: Any, live: Mapping[str, Any], metric_names: Mapping[int, str]
    ) -> list[str]:
        """What differs between a baseline value of one of its keys and ``live`` now, said so a
        person can find it (empty: nothing moved)."""
        return [key] if json_text(before) != json_text(live.get(key, MISSING_MARK)) else []

    # -- writing -----------------------------------------------------------------------------------

    def patch_keys(self, plan: ProjectPlan) -> tuple[str, ...]:
        """Its keys of the project PATCH."""
        return tuple(k for k in self.managed(plan) if k in plan.patch)

    def journaled(self, plan: ProjectPlan) -> tuple[str, ...]:
        """Its PATCH keys whose previous live values the backup journal keeps (a secret: none)."""
        return self.patch_keys(plan)

    def requests(self, plan: ProjectPlan) -> tuple[Request, ...]:
        """Its own writes (an object kind), in order: its creates and updates are sent before the
        project PATCH, its deletes after it (``kinds.write_order``). Project kinds write through the
        PATCH and have none."""
        return ()

    def verify(self, client: CekuraClient, plan: ProjectPlan, created: Mapping[int, int]) -> list[str]:
        """After its ``requests`` were sent: what of them the API does not show as written, read
        back with as few requests as it can (``created``: stand-in id -> id the POST answered)."""
        return []

    def unconverged(
        self, plan: ProjectPlan, live: Mapping[str, Any], sent_secrets: Mapping[str, str] | None
    ) -> list[str]:
        """Its PATCH keys that ``live`` (read after the write) does not show as sent."""
        from reconciler.kinds.settings import values_differ

        return [k for k in self.patch_keys(plan) if values_differ(k, live.get(k, MISSING), plan.patch[k])]

    # -- saved plans ---------------------------------------------------------------------------------

    @abstractmethod
    def from_plan(
        self, plan: ProjectPlan, live: Mapping[str, Any], refs: Mapping[str, SecretRef]
    ) -> SavedPart:
        """Its part of the file that ``plan``'s changes describe against ``live`` (changed values as
        the changes show them, everything else it manages as it is live), so that planning that
        file again gives the same changes. ``refs``: the secrets the changes send, by name. Raises
        ``Edited`` when the changes are not ones this kind makes."""

    def owns(self, change: FieldChange, plan: ProjectPlan) -> bool:
        """Whether a field change of ``plan`` is this kind's (a saved plan's changes are checked so)."""
        return change.path.partition(".")[0] in self.managed(plan) and not change.sensitive

    # -- export --------------------------------------------------------------------------------------

    def export(self, live: Mapping[str, Any], context: ExportContext) -> list[str]:
        """Lines of YAML for its part of a file exported from ``live`` (that plans to no change)."""
        return []


@dataclass(frozen=True)
class ExportContext:
    """What export knows beside the project: its id and its metrics (for the rubric's comments, and
    as listed, for their definitions)."""

    project_id: int
    metrics: MetricCatalog
    listed: tuple[Mapping[str, Any], ...] = ()


def json_copy(value: Any) -> Any:
    """A deep copy of JSON data (dicts, lists, scalars), several times faster than
    ``copy.deepcopy`` (no memo); anything else is deep-copied as usual."""
    if isinstance(value, dict):
        return {k: json_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [json_copy(v) for v in value]
    if value is None or isinstance(value, str | int | float):  # immutable (bool is an int)
        return value
    return copy.deepcopy(value)


def json_text(value: Any) -> str:
    """A value as canonical JSON text: equal for values a fingerprint cannot tell apart."""
    return json.dumps(value, sort_keys=True, default=str)
