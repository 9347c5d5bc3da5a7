"""What every output format implements: one class per format, writing to the stream it is given.

A command that reports calls the methods of its renderer in this order:

- ``plan`` (`plan`), ``drift`` (`drift`): the whole report, failures and rubric impact included;
- ``show`` (`show PLANFILE`): a saved plan, offline;
- `apply` and `restore`: ``preview`` (what will be sent, before the confirmation), ``writing`` (the
  writes start), ``replanned`` and ``finished`` while they run, then ``apply`` / ``restore`` (the
  report of what became of every project).

A format that gives one document (json, markdown) writes it in the last call and ignores the ones
that report progress. A renderer never prints anywhere else, never reads the network and never
decides an exit code; errors go to stderr from the CLI, not through a renderer.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING, ClassVar, TextIO

if TYPE_CHECKING:
    from reconciler.changes import ProjectPlan
    from reconciler.impact import ImpactReport
    from reconciler.operations import ApplyReport, PlanRun, ProjectResult, RestoreReport, SavedPlanView


class Renderer(ABC):
    name: ClassVar[str]
    help: ClassVar[str]  # a few words for --format's help: "text for people and CI logs"
    # Writes as things happen, so a confirmation prompt can stand between its lines; a format that
    # writes one document at the end (json, markdown) cannot be mixed with a prompt.
    streams: ClassVar[bool] = False

    def __init__(self, out: TextIO, *, color: bool = False) -> None:
        self.out = out
        self.color = color

    @abstractmethod
    def plan(self, run: PlanRun) -> None:
        """A plan: every project's changes, the files that failed, the rubric impact if asked."""

    @abstractmethod
    def drift(self, run: PlanRun) -> None:
        """A drift report: where the live projects differ from their files (live -> file)."""

    @abstractmethod
    def show(self, saved: SavedPlanView) -> None:
        """A saved plan (`show PLANFILE`): what `apply PLANFILE` would send, and where it was made."""

    @abstractmethod
    def impact(self, reports: Sequence[ImpactReport], metric_names: Mapping[int, str]) -> None:
        """The rubric impact preview on its own."""

    def preview(self, run: PlanRun, *, given: Collection[str] = ()) -> None:  # noqa: B027
        """Before apply or restore writes: what will be sent. ``given``: the guard flags given."""

    def writing(self) -> None:  # noqa: B027
        """Approved: the writes start."""

    def replanned(self, plan: ProjectPlan, moved: Sequence[str]) -> None:  # noqa: B027
        """A project moved since its plan was shown and was planned again (--auto-approve)."""

    def finished(self, result: ProjectResult) -> None:  # noqa: B027
        """One project of an apply is done."""

    @abstractmethod
    def apply(self, report: ApplyReport) -> None:
        """What became of every project of an apply."""

    @abstractmethod
    def restore(self, report: RestoreReport) -> None:
        """What became of a restore."""
