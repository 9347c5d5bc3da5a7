"""The json format: one versioned document per command, for machines (pipelines, dashboards).

A plan or drift report is ``Plan.to_json()`` plus ``failures`` (and ``impact`` with `plan
--impact`); an apply or restore report says what became of every project. Each document carries
``format_version``: a field may be added within a version; a removed or changed one bumps it. The
document is written at the end, in one piece; the progress calls write nothing. Secrets appear only
as ``(sensitive)`` (plans hold references, and ``to_json`` masks them).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, TextIO

from reconciler.changes import Plan
from reconciler.renderers.base import Renderer

if TYPE_CHECKING:
    from reconciler.impact import ImpactReport
    from reconciler.operations import ApplyReport, Failure, PlanRun, RestoreReport, SavedPlanView

# The apply report's own version (the plan document has changes.FORMAT_VERSION).
APPLY_FORMAT_VERSION = 1


def _failures(failures: Sequence[Failure]) -> list[dict[str, str]]:
    return [{"file": f.file, "error": f.message} for f in failures]


def _write(document: Mapping[str, Any], out: TextIO) -> None:
    out.write(json.dumps(document, indent=2, sort_keys=False, ensure_ascii=False) + "\n")


def plan_document(
    plan: Plan, *, failures: Sequence[Failure] = (), impact: Sequence[ImpactReport] | None = None
) -> dict[str, Any]:
    """The versioned plan document; ``failures``: files that could not be planned; ``impact`` (with
    `plan --impact`): the rubric impact report of each project whose rubric changes."""
    document = plan.to_json()
    document["failures"] = _failures(failures)
    if impact is not None:
        document["impact"] = [r.to_json() for r in impact]
    return document


def render_json(
    plan: Plan,
    out: TextIO,
    *,
    failures: Sequence[Failure] = (),
    impact: Sequence[ImpactReport] | None = None,
) -> None:
    """Write the versioned plan document to ``out``."""
    _write(plan_document(plan, failures=failures, impact=impact), out)


def apply_document(report: ApplyReport, *, command: str = "apply") -> dict[str, Any]:
    """What became of every project: its outcome, message, backup entry and the changes planned."""
    from reconciler import __version__

    return {
        "format_version": APPLY_FORMAT_VERSION,
        "tool_version": __version__,
        "command": command,
        "status": report.status,
        "interrupted": report.interrupted,
        "projects": [
            {
                "project_id": p.project_id,
                "file": p.file,
                "outcome": p.outcome,
                "message": p.message,
                "journal_entry": p.journal_entry,
                "changes": p.plan.to_json()["changes"] if p.plan is not None else [],
            }
            for p in report.projects
        ],
        "failures": _failures(report.failures),
        "summary": {"changed": report.changed, "failed": report.failed, "unchanged": report.unchanged},
    }


class JsonRenderer(Renderer):
    name = "json"
    help = "json for machines (a versioned document)"

    def plan(self, run: PlanRun) -> None:
        render_json(run.plan, self.out, failures=run.failures, impact=run.impact)

    def drift(self, run: PlanRun) -> None:
        render_json(run.plan, self.out, failures=run.failures)

    def show(self, saved: SavedPlanView) -> None:
        document = plan_document(saved.run.plan)
        document["saved_plan"] = {
            "path": saved.path,
            "base_url": saved.base_url,
            "created_at": saved.created_at,
        }
        _write(document, self.out)

    def impact(self, reports: Sequence[ImpactReport], metric_names: Mapping[int, str]) -> None:
        _write({"impact": [r.to_json() for r in reports]}, self.out)

    def apply(self, report: ApplyReport) -> None:
        _write(apply_document(report), self.out)

    def restore(self, report: RestoreReport) -> None:
        document = apply_document(report.apply, command="restore")
        document["entry"] = report.entry
        document["secrets_not_restored"] = list(report.secrets_not_restored)
        _write(document, self.out)
