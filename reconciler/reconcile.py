"""Read the live side and build plans: files -> DesiredProjects -> (GET, metrics) -> ProjectPlans.

This is the wiring between the pure stages and the client; it never prints and knows nothing of
click or exit codes. One project's failure is returned as that project's error, so callers can go on
with the others.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reconciler.changes import ProjectPlan
from reconciler.client import CekuraClient
from reconciler.credentials import resolve_secrets
from reconciler.diff import diff_project
from reconciler.errors import InputError, PlanError, Position, Problem
from reconciler.model import DesiredProject, Secret, is_configured
from reconciler.rubric import ResolvedRule, load_catalog, resolve_rules


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
    """GET the project (and its metrics when the rubric is managed), then diff.

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
    if desired.rubric is None:
        return PlannedProject(
            diff_project(desired, live, rotate=rotate, secret_values=secret_values, warnings=notes),
            secret_values,
        )
    ids = [r.metric_id for r in desired.rubric.rules if r.metric_id is not None]
    refs = [r.metric_ref for r in desired.rubric.rules if r.metric_ref is not None]
    catalog = load_catalog(client, desired.project_id, ids=ids, refs=refs)
    rules, warnings = resolve_rules(desired, catalog)
    rules = _nearest_rules(desired, rules)

    def diff() -> ProjectPlan:
        return diff_project(
            desired,
            live,
            rules=rules,
            metrics=catalog.metrics,
            rotate=rotate,
            secret_values=secret_values,
            warnings=(*notes, *warnings),
        )

    plan = diff()
    if plan.stale_rule_metrics and not catalog.agents_loaded:
        # Kept live rules may name agent-scoped metrics: look there before calling them stale.
        catalog = load_catalog(client, desired.project_id, ids=plan.stale_rule_metrics, refs=())
        plan = diff()
    if plan.stale_rule_metrics:
        listed = ", ".join(str(m) for m in plan.stale_rule_metrics)
        entries = "; ".join(f"{{metric_id: {m}, absent: true}}" for m in plan.stale_rule_metrics)
        message = (
            f"the live rubric of project {desired.project_id} has rules for metric(s) {listed}, which the "
            f"project no longer has; the API rejects any rubric change while they remain. Remove them by "
            f"adding to rubric.rules: {entries} (or set prune: true)"
        )
        if "rubric_config" in plan.patch:
            raise PlanError(f"{desired.where(('rubric',))}: {message}")
        plan = ProjectPlan(**{**plan.__dict__, "warnings": (*plan.warnings, message)})
    return PlannedProject(plan, secret_values)


def _depth(rule: ResolvedRule) -> int:
    """0 for the file's own rules, 1 for its base's, 2 for the base's base..."""
    return sum(1 for part in rule.spec.path if part == "@base")


def _nearest_rules(desired: DesiredProject, rules: tuple[ResolvedRule, ...]) -> tuple[ResolvedRule, ...]:
    """With `extends`, a metric's rules come from the nearest file that names it (whether by id or
    by name); then `absent: true` may not stand beside other rules for the same metric."""
    depths = [_depth(rule) for rule in rules]
    nearest: dict[int, int] = {}
    for rule, depth in zip(rules, depths, strict=True):
        nearest[rule.metric_id] = min(nearest.get(rule.metric_id, depth), depth)
    kept = tuple(r for r, depth in zip(rules, depths, strict=True) if depth == nearest[r.metric_id])
    # Grouped once: a list comprehension over every rule for every metric was quadratic.
    by_metric: dict[int, list[ResolvedRule]] = {}
    for rule in kept:
        by_metric.setdefault(rule.metric_id, []).append(rule)
    problems = []
    for metric_id in nearest:
        own = by_metric[metric_id]
        absent = [r for r in own if r.conditions is None]
        if absent and len(own) > 1:
            problems.append(
                Problem(
                    Position.parse(desired.where(absent[0].spec.path)),
                    f"`absent: true` removes every rule of metric {metric_id}, so it cannot stand beside "
                    "other rules for the same metric (named here by id and by name)",
                )
            )
    if problems:
        raise InputError(problems)
    return kept
