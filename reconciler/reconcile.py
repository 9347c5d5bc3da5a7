"""Read the live side and build plans: files -> DesiredProjects -> (GET, metrics) -> ProjectPlans.

This is the wiring between the pure stages and the client; it never prints and knows nothing of
click or exit codes. One project's failure is returned as that project's error, so callers can go on
with the others.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from reconciler.changes import ProjectPlan
from reconciler.client import CekuraClient
from reconciler.credentials import resolve_secrets
from reconciler.diff import plan_kinds
from reconciler.errors import PlanError
from reconciler.kinds import PlanInputs, kinds
from reconciler.kinds.rubric import stale_rules_message
from reconciler.model import DesiredProject, Secret, is_configured


@dataclass(frozen=True)
class PlannedProject:
    plan: ProjectPlan
    secret_values: dict[str, Secret] = field(repr=False)


def plan_project(
    client: CekuraClient,
    desired: DesiredProject,
    *,
    rotate: Collection[str] = (),
    read_secrets: bool = True,
    live: Mapping[str, Any] | None = None,
    secrets_dirs: Sequence[Path] = (),
) -> PlannedProject:
    """GET the project, let each kind the file manages read what else it needs (the rubric: the
    project's metrics), then plan.

    ``live``: a read of the project just made (apply's fresh read before a PATCH), planned from
    instead of reading it again."""
    if desired.project_id is None:
        raise PlanError(f"{desired.where(())}: no `project:` id; this file can only be used as a base")
    if live is None:
        live = client.get_project(desired.project_id)
    notes: tuple[str, ...] = ()
    if live.get("is_deleted") is True and "is_deleted" not in desired.settings:
        notes = (f"project {desired.project_id} is deleted in Cekura (is_deleted: true)",)
    # Only the secrets this plan may send (or compare) are read: a configured secret that is not
    # rotated needs no value, so drift checks and exported files plan without the secret values.
    needed = [
        name
        for name in desired.secrets
        if name in rotate
        or isinstance(live.get(name), str)
        or not is_configured(live.get(f"{name}_configured"))
    ]
    # A drift check sends nothing: it reports a secret that is not configured without its value.
    secret_values = resolve_secrets(desired, needed, allowed_dirs=secrets_dirs) if read_secrets else {}
    reads: dict[str, Any] = {}
    for kind in kinds():  # in dependency order: a kind may reuse what one before it read
        if kind.desired(desired) is not None:
            reads[kind.name] = kind.read_after(client, desired, live, reads)
    inputs = PlanInputs(desired, live, rotate, secret_values, reads)
    plan = plan_kinds(inputs, warnings=notes)
    refused = [
        r for kind in kinds() if kind.desired(desired) is not None for r in kind.refusals(plan, inputs)
    ]
    if refused:
        raise PlanError("\n".join(refused))
    if plan.stale_rule_metrics:
        message = stale_rules_message(desired.project_id, plan.stale_rule_metrics)
        if "rubric_config" in plan.patch:
            raise PlanError(f"{desired.where(('rubric',))}: {message}")
        plan = replace(plan, warnings=(*plan.warnings, message))
    return PlannedProject(plan, secret_values)
