"""The planner: every registered kind's part of a plan, in dependency order, and what plans watch.

Pure: no network, no terminal. ``diff_project`` hands an empty ``ProjectPlan`` to each kind that
the file manages (reconciler/kinds: settings, secrets, rubric, and any kind registered since), each
after the kinds it depends on, and then records what the plan watches: the baseline (the live
values of everything it manages, kind by kind), its fingerprint, the fingerprint the project will
have once the plan is written, and the previous values the backup journal keeps. Verification
(``unconverged``), fingerprints and "what moved" ask the kinds the same way. Semantic equality is
each kind's (DESIGN.md): settings by deepdiff, the rubric by metric, secrets by configured state.

The functions here keep the names and signatures the other layers call; they are facades over the
registry.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Collection, Mapping, Sequence
from dataclasses import replace
from typing import Any

from reconciler.changes import FieldChange, ProjectPlan, RuleChange
from reconciler.kinds import MISSING, MISSING_MARK, PlanInputs, get_kind, kind_of_key, kinds
from reconciler.kinds.base import json_copy
from reconciler.kinds.rubric import (
    RubricRead,
    canonical_rule,
    live_rubric_rules,
    restore_rubric,
    rubrics_equal,
    rule_metric,
    rules_equal,
)
from reconciler.kinds.settings import MATH_EPSILON, scalars_differ, settings_equal, values_differ
from reconciler.model import DesiredProject, Metric, Secret
from reconciler.rubric import ResolvedRule

__all__ = [
    "MATH_EPSILON",
    "MISSING_MARK",
    "canonical_rule",
    "diff_project",
    "diff_restore",
    "digest",
    "fingerprint",
    "live_rubric_rules",
    "moved_fields",
    "plan_fingerprint",
    "plan_kinds",
    "rubrics_equal",
    "rule_metric",
    "rules_equal",
    "scalars_differ",
    "settings_equal",
    "unconverged",
    "watched_values",
]


def plan_kinds(inputs: PlanInputs, *, warnings: tuple[str, ...] = ()) -> ProjectPlan:
    """The plan of one project: each registered kind the file manages adds its part, after the
    kinds it depends on; then the baseline, the fingerprints and the journal's previous values."""
    desired, live = inputs.desired, inputs.live
    assert desired.project_id is not None
    plan = ProjectPlan(project_id=desired.project_id, file=desired.file, warnings=warnings)
    for kind in kinds():
        if kind.desired(desired) is not None:
            plan = kind.plan(plan, inputs)
    # The live state a baseline watches: the project's GET and what kinds read beside it.
    watching = dict(live)
    for kind in kinds():
        if kind.name in inputs.reads:
            watching.update(kind.beside(inputs.reads[kind.name]))
    baseline = plan_watched(plan, watching)
    after: Mapping[str, Any] = watching
    for kind in kinds():
        after = kind.expected(after, plan)
    previous = {k: json_copy(live[k]) for kind in kinds() for k in kind.journaled(plan) if k in live}
    return replace(
        plan,
        fingerprint=digest(baseline),
        baseline=baseline,
        expected_fingerprint=digest(plan_watched(plan, after)),
        previous=previous,
    )


def diff_project(
    desired: DesiredProject,
    live: Mapping[str, Any],
    *,
    rules: tuple[ResolvedRule, ...] = (),
    metrics: Mapping[int, Metric] | None = None,
    rotate: Collection[str] = (),
    secret_values: Mapping[str, Secret] | None = None,
    warnings: tuple[str, ...] = (),
    reads: Mapping[str, Any] | None = None,
) -> ProjectPlan:
    """Compare one project's file with its live state; the resulting plan holds the one PATCH body.

    ``reads``: what the kinds read beside the project, by kind name; the rubric's may be given as
    ``rules`` and ``metrics`` instead."""
    given = dict(reads or {})
    given.setdefault("rubric", RubricRead(tuple(rules), metrics or {}))
    return plan_kinds(PlanInputs(desired, live, rotate, secret_values, given), warnings=warnings)


# -- what a plan watches ---------------------------------------------------------------------------


def plan_watched(plan: ProjectPlan, live: Mapping[str, Any]) -> dict[str, Any]:
    """The live values of everything ``plan`` manages, kind by kind (its baseline, from ``live``)."""
    watched: dict[str, Any] = {}
    for kind in kinds():
        watched.update(kind.watched(live, kind.managed(plan)))
    return watched


def plan_fingerprint(plan: ProjectPlan, live: Mapping[str, Any]) -> str:
    """A digest of the live values of everything ``plan`` manages: the plan is stale when it moves."""
    return digest(plan_watched(plan, live))


def watched_values(
    live: Mapping[str, Any], *, settings: Collection[str], secrets: Collection[str], rubric: bool
) -> dict[str, Any]:
    """The live values of the managed fields, as the plan saw them (what ``fingerprint`` digests)."""
    managed = {"settings": tuple(settings), "secrets": tuple(secrets), "rubric": ("rubric_config",) * rubric}
    watched: dict[str, Any] = {}
    for name, names in managed.items():
        watched.update(get_kind(name).watched(live, names))
    return watched


def fingerprint(
    live: Mapping[str, Any], *, settings: Collection[str], secrets: Collection[str], rubric: bool
) -> str:
    """A digest of the live values of the managed fields: a plan is stale when it changes."""
    return digest(watched_values(live, settings=settings, secrets=secrets, rubric=rubric))


def digest(watched: Mapping[str, Any]) -> str:
    blob = json.dumps(watched, sort_keys=True, default=str, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(blob.encode()).hexdigest()


def moved_fields(
    baseline: Mapping[str, Any], live: Mapping[str, Any], metric_names: Mapping[int, str]
) -> list[str]:
    """What differs between the managed values a plan was made from and a fresh read of them, said
    so a person can find it: setting names, secrets that are no longer (or now) configured, and the
    rubric metric by metric. Each key is told by the kind that watches it (the settings' way when
    none does)."""
    moved: list[str] = []
    for key, before in baseline.items():
        kind = kind_of_key(key) or get_kind("settings")
        moved += kind.moved(key, before, live, metric_names)
    return moved


# -- verification ----------------------------------------------------------------------------------


def unconverged(
    plan: ProjectPlan, live: Mapping[str, Any], sent_secrets: Mapping[str, str] | None = None
) -> list[str]:
    """The fields of the plan's PATCH that the live project does not show as sent (empty: converged).

    ``sent_secrets``: the values sent, to check a secret that an older API returns as a value."""
    left: list[str] = []
    claimed: set[str] = set()
    for kind in kinds():
        claimed.update(kind.patch_keys(plan))
        left += kind.unconverged(plan, live, sent_secrets)
    # A PATCH key no kind claims (a plan made by hand): compared as a setting.
    left += [
        k for k in plan.patch if k not in claimed and values_differ(k, live.get(k, MISSING), plan.patch[k])
    ]
    order = list(plan.patch)
    return sorted(left, key=lambda k: order.index(k) if k in order else len(order))


# -- restore ---------------------------------------------------------------------------------------


def diff_restore(
    project_id: int,
    file: str,
    live: Mapping[str, Any],
    target: Mapping[str, Any],
    sent: Mapping[str, Any] | None = None,
    metrics: Sequence[Mapping[str, Any]] = (),
) -> ProjectPlan:
    """The plan that puts ``target``'s fields (a journal entry's previous values) back: settings
    whole, the rubric by metric (only the metrics the journaled PATCH, ``sent``, changed)."""
    changes: list[FieldChange] = []
    rule_changes: list[RuleChange] = []
    patch: dict[str, Any] = {}
    warnings: list[str] = []
    for name, value in target.items():
        now = live.get(name, MISSING)
        if name == "rubric_config":
            rule_changes, rubric = restore_rubric(
                now, value, None if sent is None else sent.get(name), warnings
            )
            if rubric is not None:
                patch[name] = rubric
            continue
        if values_differ(name, now, value):
            changes.append(
                FieldChange(name, None if now is MISSING else now, value, before_missing=now is MISSING)
            )
            patch[name] = copy.deepcopy(value)
            if sent is not None and name in sent and values_differ(name, now, sent[name]):
                warnings.append(
                    f"{name} changed again since that apply; restoring overwrites that later change too"
                )
    settings = [k for k in target if k != "rubric_config"]
    plan = ProjectPlan(
        project_id=project_id,
        file=file,
        field_changes=tuple(changes),
        rule_changes=tuple(rule_changes),
        patch=patch,
        managed_settings=tuple(settings),
        manages_rubric="rubric_config" in target,
        previous={k: copy.deepcopy(live[k]) for k in patch if k in live},
        warnings=tuple(warnings),
        rules_live=len(live_rubric_rules(live)),
    )
    if metrics:  # the entry's metric writes, put back (``live`` lists the project's metrics)
        from reconciler.kinds.metrics import restore_metrics

        plan = restore_metrics(plan, live, metrics)
    baseline = plan_watched(plan, live)
    return replace(plan, fingerprint=digest(baseline), baseline=baseline)
