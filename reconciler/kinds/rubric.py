"""The project's scoring rubric: rules keyed by metric, merged into the live rubric, sent whole.

A metric named in the file owns all of its rules; rules of other metrics are kept (merge) unless
``prune: true``. The PATCH always carries the full merged ``rubric_config`` (evaluation_logic "and"
and every rule): the API deletes what a partial value leaves out. The rubric reads the project's
metrics beside the project (to resolve ``metric:`` names and check each rule against its metric's
type), and depends on the ``metrics`` kind once there is one: a rule needs its metric's id.

Two rule lists of a metric are equal when deepdiff says so with ``ignore_order`` (rule order,
condition order, ``in`` values, a repeated rule), ``ignore_numeric_type_changes`` and
``significant_digits`` (the tolerance that ``ignore_order``'s hashing honours), and the
``BinaryScore`` operator: for a binary metric a score condition's ``true`` is 5 and ``false`` 0.
Before deepdiff, two cheaper steps settle most metrics, because deepdiff is measurably slow:
timeit, equal rubrics of 10 / 200 / 5,000 metrics of two rules each (one ``true`` against 5, one 3.0
against 3): 0.4 / 33 / 540 ms by the canonical sort against 15 / 390 / 7,900 ms by ``DeepDiff``
with the options and operator below. First the hash form (``_hash_form``: what deepdiff's hashes
tell apart, built directly) settles the rules that differ, which is every metric a plan changes: a
plan of 2,000 projects that each add two rules spent 27% of its CPU in DeepDiff (6.2 s -> 4.5 s
without it). Then a canonical sort of each metric's rules (``canonical_rules``, compared as JSON
text) settles the rules that are plainly equal. deepdiff decides only where the hash forms agree
and the canonical forms do not (equal within the tolerance, a repeated rule); a property test holds
both steps to deepdiff's own answer. deepdiff finds equal rules by their hashes and does not pair
the others (``cutoff_intersection_for_pairs=0``: with pairing, the diff of the 5,000-rule benchmark
plan took twice as long).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, ClassVar

from reconciler.changes import FieldChange, ProjectPlan, RuleAction, RuleChange
from reconciler.conditions import BINARY_FALSE, BINARY_TRUE, BINARY_TYPES
from reconciler.errors import InputError, Position, Problem
from reconciler.kinds.base import Edited, ExportContext, Kind, PlanInputs, SavedPart, json_copy, json_text
from reconciler.model import DesiredProject, Metric, RubricSpec, RuleSpec

if TYPE_CHECKING:
    from reconciler.client import CekuraClient
    from reconciler.rubric import ResolvedRule

SIGNIFICANT_DIGITS = 9  # decimal places: 3 == 3.0000000001, 0.1 + 0.2 == 0.3


@dataclass(frozen=True)
class RubricRead:
    """What planning the rubric needs beside the project: the file's rules with their metric ids
    resolved, and the project's metrics (by id)."""

    rules: tuple[ResolvedRule, ...] = ()
    metrics: Mapping[int, Metric] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()


# -- rules: reading and comparing them ------------------------------------------------------------


def live_rubric_rules(live: Mapping[str, Any]) -> list[Any]:
    config = live.get("rubric_config")
    if isinstance(config, dict) and isinstance(config.get("rules"), list):
        return list(config["rules"])
    return []


def rule_metric(rule: Any) -> int | None:
    """A live rule's metric id; digit strings count (the API stores what it was sent)."""
    metric_id = rule.get("metric_id") if isinstance(rule, dict) else None
    if isinstance(metric_id, str) and metric_id.strip().isdigit():
        return int(metric_id)
    return metric_id if isinstance(metric_id, int) and not isinstance(metric_id, bool) else None


def rules_by_metric(rules: list[Any]) -> dict[int, list[dict[str, Any]]]:
    grouped: dict[int, list[dict[str, Any]]] = {}
    for rule in rules:
        metric_id = rule_metric(rule)
        if metric_id is not None:
            grouped.setdefault(metric_id, []).append(rule)
    return grouped


def binary_condition(condition: Any) -> Any:
    """A binary metric's score condition with ``true``/``false`` as the 5/0 the API also accepts:
    the one place that compares ``true == 5`` (reconciler.conditions says it)."""
    if isinstance(condition, dict) and condition.get("field") == "score":
        value = condition.get("value")
        if isinstance(value, bool):
            return {**condition, "value": BINARY_TRUE if value else BINARY_FALSE}
    return condition


_METRIC_AT = re.compile(r"^root\['(\d+)'\]")


class BinaryScore:
    """A deepdiff custom operator: in the rules of a binary metric (the compared trees are keyed by
    metric id), a score condition's ``true`` equals 5 and ``false`` 0, when items are hashed for
    ``ignore_order`` and when two conditions are compared."""

    def __init__(self, binary_metrics: Collection[int]) -> None:
        self._binary = {str(m) for m in binary_metrics}

    def _binary_at(self, path: str) -> bool:
        found = _METRIC_AT.match(path)
        return found is not None and found.group(1) in self._binary

    def match(self, level: Any) -> bool:
        a, b = level.t1, level.t2
        return (
            isinstance(a, dict)
            and isinstance(b, dict)
            and (binary_condition(a) is not a or binary_condition(b) is not b)
            and self._binary_at(level.path())
        )

    def give_up_diffing(self, level: Any, diff_instance: Any) -> bool:
        from deepdiff import DeepDiff

        if DeepDiff(binary_condition(level.t1), binary_condition(level.t2), **_RULE_OPTIONS):
            diff_instance.custom_report_result("values_changed", level)
        return True

    def normalize_value_for_hashing(self, parent: Any, obj: Any) -> Any:
        return binary_condition(obj) if isinstance(obj, dict) and self._binary_at(str(parent)) else obj


_RULE_OPTIONS: dict[str, Any] = {
    "ignore_order": True,
    "ignore_numeric_type_changes": True,
    "significant_digits": SIGNIFICANT_DIGITS,
    # Equal items are found by their hashes (normalized by the options above and BinaryScore);
    # pairing the unequal ones to report how they differ costs half the time and says nothing
    # a plan uses (it replaces a metric's rules whole).
    "cutoff_intersection_for_pairs": 0,
}


def _canon(value: Any) -> Any:
    """Integral floats as ints, mappings and lists recursively (for the canonical sort only)."""
    if isinstance(value, dict):
        return {k: _canon(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_canon(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _sorted_unique(values: list[Any]) -> list[Any]:
    unique = {json_text(v): v for v in values}
    return [unique[k] for k in sorted(unique)]


def canonical_rule(rule: Mapping[str, Any], binary: bool = True) -> dict[str, Any]:
    """A rule without its metric_id, sorted so that plainly equal rules are ``==`` (the fast path;
    ``rules_equal`` decides the rest). ``binary``: the metric is binary (``true`` is 5)."""
    out = {k: _canon(v) for k, v in rule.items() if k != "metric_id"}
    conditions = out.get("conditions")
    if isinstance(conditions, dict):
        conditions = dict(conditions)
        inner = conditions.get("conditions")
        if isinstance(inner, list):
            normal = [binary_condition(c) if binary else c for c in inner]
            normal = [
                {**c, "value": _sorted_unique(c["value"])}
                if isinstance(c, dict) and c.get("op") == "in" and isinstance(c.get("value"), list)
                else c
                for c in normal
            ]
            conditions["conditions"] = _sorted_unique(normal)
        out["conditions"] = conditions
    return out


def canonical_rules(rules: list[dict[str, Any]], binary: bool = True) -> list[str]:
    """The rules' canonical forms as sorted JSON texts: compared as text, because as values
    ``false == 0`` and ``true == 1`` (for a metric that is not binary, they differ)."""
    return sorted(json_text(canonical_rule(r, binary)) for r in rules)


def differing_metrics(
    before: Mapping[int, list[dict[str, Any]]],
    after: Mapping[int, list[dict[str, Any]]],
    binary: Collection[int],
) -> set[int]:
    """The metrics (keys of either side) whose rules decide calls differently.

    Three steps, cheapest first: different hash forms (``_hash_form``: what deepdiff's hashes
    tell apart, built directly) differ; equal canonical sorts are equal; deepdiff decides the rest."""
    differing: set[int] = set()
    undecided: list[int] = []
    for m in before.keys() | after.keys():
        old, new = before.get(m, []), after.get(m, [])
        try:
            if _rules_form(old, m in binary) != _rules_form(new, m in binary):
                differing.add(m)
                continue
        except _Undecided:
            # Not plain JSON (a number key, a date, bytes; a caller of the library may pass them):
            # the canonical text would take 1 for "1" and a date for its text, so deepdiff decides.
            undecided.append(m)
            continue
        if canonical_rules(old, m in binary) != canonical_rules(new, m in binary):
            undecided.append(m)
    if undecided:
        differing |= deepdiff_differing(before, after, binary, undecided)
    return differing


def deepdiff_differing(
    before: Mapping[int, list[dict[str, Any]]],
    after: Mapping[int, list[dict[str, Any]]],
    binary: Collection[int],
    metrics: Collection[int],
) -> set[int]:
    """Of ``metrics``, those whose rules deepdiff finds different (the options and operator above):
    the reference ``differing_metrics`` agrees with."""
    from deepdiff import DeepDiff

    def tree(side: Mapping[int, list[dict[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
        return {str(m): [_without_metric_id(r) for r in side.get(m, [])] for m in metrics}

    diff = DeepDiff(
        tree(before), tree(after), custom_operators=[BinaryScore(binary)], view="tree", **_RULE_OPTIONS
    )
    return {int(level.path(output_format="list")[0]) for report in diff.values() for level in report}


def _without_metric_id(rule: Mapping[str, Any]) -> dict[str, Any]:
    """A rule as it is compared: its metric is the key it is compared under."""
    return {k: v for k, v in rule.items() if k != "metric_id"}


class _Undecided(Exception):
    """A value the hash form does not model (deepdiff decides)."""


def _number_text(number: float) -> str:
    """A number as deepdiff hashes it with ``significant_digits`` (deepdiff.helper.number_to_string,
    notation "f") and ``ignore_numeric_type_changes`` (ints and floats alike)."""
    rounded = round(number, SIGNIFICANT_DIGITS)
    if rounded == 0.0:
        rounded = abs(rounded)  # -0.0 is 0
    return f"{rounded:.{SIGNIFICANT_DIGITS}f}"


def _hash_form(value: Any, binary: bool) -> Any:
    """What deepdiff's hash of ``value`` tells apart, as a hashable value: a list is the set of its
    items (``ignore_order``, repetition ignored), a mapping the set of its pairs, numbers as their
    rounded text, ``true`` distinct from 1, and for a binary metric a score condition's ``true``/
    ``false`` as 5/0 (``BinaryScore``). Two values have equal forms exactly when deepdiff hashes them
    alike (tests/test_diff.py holds the two to each other); anything else raises ``_Undecided``."""
    if value is None:
        return (0,)
    if isinstance(value, bool):
        return (1, value)
    if isinstance(value, str):
        return (2, value)
    if isinstance(value, int | float):
        try:
            return (3, _number_text(value))
        except (OverflowError, ValueError):  # an int too large for a float
            raise _Undecided from None
    if isinstance(value, dict):
        if binary:
            value = binary_condition(value)
        pairs = []
        for key, item in value.items():
            if not isinstance(key, str):
                raise _Undecided
            pairs.append((key, _hash_form(item, binary)))
        return (4, frozenset(pairs))
    if isinstance(value, list):
        return (5, frozenset(_hash_form(item, binary) for item in value))
    raise _Undecided


def _rules_form(rules: list[dict[str, Any]], binary: bool) -> frozenset[Any]:
    """One metric's rules as deepdiff compares them: the set of their hash forms, without metric_id."""
    try:
        return frozenset(_hash_form(_without_metric_id(r), binary) for r in rules)
    except RecursionError:
        raise _Undecided from None


def rules_equal(a: list[dict[str, Any]], b: list[dict[str, Any]], *, binary: bool) -> bool:
    """Two lists of one metric's rules decide every call the same way (order, true/5 for binary)."""
    return not differing_metrics({0: a}, {0: b}, (0,) if binary else ())


def rubrics_equal(a: Any, b: Any) -> bool:
    """Two ``rubric_config`` values decide every call the same way (rule order, key order, true/5,
    and the same evaluation_logic whenever there are rules)."""
    want = rules_by_metric(live_rubric_rules({"rubric_config": a}))
    have = rules_by_metric(live_rubric_rules({"rubric_config": b}))
    logic = [c.get("evaluation_logic") if isinstance(c, dict) else None for c in (a, b)]
    if (want or have) and logic[0] != logic[1]:
        return False
    return not differing_metrics(want, have, set(want) | set(have))


# -- planning --------------------------------------------------------------------------------------


def _binary_metrics(owned: Collection[int], metrics: Mapping[int, Metric]) -> set[int]:
    """Binary metrics among ``owned``; an unknown metric counts as binary (as the API's legacy did)."""
    return {m for m in owned if m not in metrics or metrics[m].eval_type in BINARY_TYPES}


def diff_rubric(
    rules: Sequence[ResolvedRule], prune: bool, live: Mapping[str, Any], metrics: Mapping[int, Metric]
) -> tuple[list[RuleChange], dict[str, Any], int, int, list[int]]:
    """Rule changes, the patch part, rules kept, metrics kept, and live metric ids that no longer exist."""
    live_rules = live_rubric_rules(live)
    live_by_metric = rules_by_metric(live_rules)
    named = list(dict.fromkeys(r.metric_id for r in rules))
    desired_by_metric: dict[int, list[dict[str, Any]]] = {m: [] for m in named}
    for rule in rules:
        if rule.conditions is not None:
            desired_by_metric[rule.metric_id].append(
                {"metric_id": rule.metric_id, "conditions": rule.conditions}
            )
    owned = set(named) | (set(live_by_metric) if prune else set())
    for metric_id in owned:
        desired_by_metric.setdefault(metric_id, [])
    differing = differing_metrics(
        {m: live_by_metric.get(m, []) for m in owned},
        {m: desired_by_metric[m] for m in owned},
        _binary_metrics(owned, metrics),
    )
    changes: list[RuleChange] = []
    named_set = set(named)  # a set: `in` over the list made 5,000-rule rubrics quadratic
    order = named + sorted(m for m in owned if m not in named_set)
    for metric_id in order:
        if metric_id not in differing:
            continue
        old = tuple(live_by_metric.get(metric_id, []))
        new = tuple(desired_by_metric[metric_id])
        action: RuleAction = "add" if not old else "remove" if not new else "change"
        metric = metrics.get(metric_id)
        changes.append(
            RuleChange(
                metric_id,
                action,
                old,
                new,
                metric_name=metric.name if metric else None,
                eval_type=metric.eval_type if metric else None,
            )
        )
    kept = [r for r in live_rules if rule_metric(r) not in owned]
    kept_metrics = {rule_metric(r) for r in kept}
    config = live.get("rubric_config")
    logic_ok = (
        not isinstance(config, dict) or not config.get("rules") or config.get("evaluation_logic") == "and"
    )
    patch: dict[str, Any] = {}
    if changes or not logic_ok:
        merged = kept + [rule for m in named for rule in desired_by_metric[m]]
        patch["rubric_config"] = {"evaluation_logic": "and", "rules": merged} if merged else {}
    stale = sorted(m for m in kept_metrics if isinstance(m, int) and metrics and m not in metrics)
    return changes, patch, len(kept), len(kept_metrics), stale


def moved_rubric(before: Any, now: Any, metric_names: Mapping[int, str]) -> list[str]:
    """What moved in a rubric between a baseline and a fresh read, metric by metric."""
    was = rules_by_metric(live_rubric_rules({"rubric_config": before}))
    is_ = rules_by_metric(live_rubric_rules({"rubric_config": now}))
    moved = []
    for metric in sorted(set(was) | set(is_), key=str):
        if canonical_rules(was.get(metric, [])) != canonical_rules(is_.get(metric, [])):
            name = metric_names.get(metric) if isinstance(metric, int) else None
            verb = "added" if metric not in was else "removed" if metric not in is_ else "changed"
            moved.append(f"rubric rules of metric {metric}{f' ({name})' if name else ''} {verb}")
    logic = [c.get("evaluation_logic") if isinstance(c, dict) else None for c in (before, now)]
    if logic[0] != logic[1]:
        moved.append("rubric evaluation_logic")
    if not moved and json_text(before) != json_text(now):
        moved.append("rubric_config")
    return moved


def restore_rubric(
    live_config: Any, before: Any, sent: Any, warnings: list[str]
) -> tuple[list[RuleChange], dict[str, Any] | None]:
    """Put back the rules of the metrics the journaled PATCH changed; every other live rule (added
    since by someone else, or never touched) stays. Without ``sent`` (older entries) the whole
    rubric is compared."""
    live_by = rules_by_metric(live_rubric_rules({"rubric_config": live_config}))
    before_by = rules_by_metric(live_rubric_rules({"rubric_config": before}))
    if sent is None:
        touched = set(live_by) | set(before_by)
    else:
        sent_by = rules_by_metric(live_rubric_rules({"rubric_config": sent}))
        every = set(before_by) | set(sent_by)
        touched = differing_metrics(before_by, sent_by, every)
        moved = sorted(differing_metrics(live_by, sent_by, every) & touched)
        if moved:
            warnings.append(
                f"the rules of metric(s) {', '.join(map(str, moved))} changed again since that apply; "
                "restoring overwrites that later change too"
            )
    changes: list[RuleChange] = []
    differ = differing_metrics(
        {m: live_by.get(m, []) for m in touched}, {m: before_by.get(m, []) for m in touched}, touched
    )
    for metric_id in sorted(differ):
        old, new = live_by.get(metric_id, []), before_by.get(metric_id, [])
        action: RuleAction = "add" if not old else "remove" if not new else "change"
        changes.append(RuleChange(metric_id, action, tuple(old), tuple(new)))
    logic_ok = not live_by or (isinstance(live_config, dict) and live_config.get("evaluation_logic") == "and")
    if not changes and logic_ok:
        return [], None
    rules = [r for r in live_rubric_rules({"rubric_config": live_config}) if rule_metric(r) not in touched]
    rules += [r for m in sorted(touched) for r in before_by.get(m, [])]
    return changes, ({"evaluation_logic": "and", "rules": rules} if rules else {})


def _depth(rule: ResolvedRule) -> int:
    """0 for the file's own rules, 1 for its base's, 2 for the base's base..."""
    return sum(1 for part in rule.spec.path if part == "@base")


def nearest_rules(desired: DesiredProject, rules: tuple[ResolvedRule, ...]) -> tuple[ResolvedRule, ...]:
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


class RubricKind(Kind):
    """``rubric:``: rules by metric, merged into the live ``rubric_config`` and sent whole."""

    name: ClassVar[str] = "rubric"
    key: ClassVar[str] = "rubric"
    depends_on: ClassVar[tuple[str, ...]] = ("metrics",)  # a rule needs its metric's id

    def desired(self, project: DesiredProject) -> Any:
        return project.rubric

    def read(self, client: CekuraClient, project: DesiredProject, live: Mapping[str, Any]) -> RubricRead:
        return self.read_after(client, project, live, {})

    def read_after(
        self,
        client: CekuraClient,
        project: DesiredProject,
        live: Mapping[str, Any],
        reads: Mapping[str, Any],
    ) -> RubricRead:
        """The project's metrics (agents' too when a rule needs one), and the file's rules resolved
        against them and checked (PlanError for a rule that does not fit its metric). With the
        metrics kind's read, its list is reused and the metrics the file defines count as they will
        be once written: a rule may name a metric the same apply creates."""
        from reconciler.kinds.metrics import MetricsRead
        from reconciler.rubric import load_catalog, resolve_rules

        rubric = project.rubric
        assert rubric is not None and project.project_id is not None
        ids = [r.metric_id for r in rubric.rules if r.metric_id is not None]
        refs = [r.metric_ref for r in rubric.rules if r.metric_ref is not None]
        metrics_read = reads.get("metrics")
        if isinstance(metrics_read, MetricsRead):
            catalog = load_catalog(
                client,
                project.project_id,
                ids=ids,
                refs=refs,
                listed=metrics_read.metrics,
                defined=metrics_read.defined,
            )
        else:
            catalog = load_catalog(client, project.project_id, ids=ids, refs=refs)
        rules, warnings = resolve_rules(project, catalog)
        rules = nearest_rules(project, rules)
        if not catalog.agents_loaded and not rubric.prune and catalog.metrics:
            # Kept live rules may name agent-scoped metrics: look there before calling them stale.
            named = {r.metric_id for r in rules}
            unknown = [
                m
                for m in dict.fromkeys(rule_metric(r) for r in live_rubric_rules(live))
                if m is not None and m not in named and m not in catalog.metrics
            ]
            if unknown:
                catalog = load_catalog(client, project.project_id, ids=unknown, refs=())
        return RubricRead(rules, catalog.metrics, tuple(warnings))

    def plan(self, plan: ProjectPlan, inputs: PlanInputs) -> ProjectPlan:
        rubric, live = inputs.desired.rubric, inputs.live
        if rubric is None:
            return plan
        read = inputs.reads.get(self.name)
        if not isinstance(read, RubricRead):
            read = RubricRead()
        changes, patch, kept, kept_metrics, stale = diff_rubric(
            read.rules, bool(rubric.prune), live, read.metrics
        )
        logic_change: tuple[FieldChange, ...] = ()
        config = live.get("rubric_config")
        if "rubric_config" in patch and isinstance(config, dict) and config.get("rules"):
            logic = config.get("evaluation_logic")
            if logic != "and":
                # Not a rule change, but it changes what the rubric decides: say so.
                logic_change = (
                    FieldChange(
                        "rubric_config.evaluation_logic",
                        logic,
                        "and",
                        before_missing="evaluation_logic" not in config,
                    ),
                )
        return replace(
            plan,
            field_changes=(*plan.field_changes, *logic_change),
            rule_changes=(*plan.rule_changes, *changes),
            patch={**plan.patch, **patch},
            rules_kept=kept,
            metrics_kept=kept_metrics,
            stale_rule_metrics=tuple(stale),
            manages_rubric=True,
            rules_live=len(live_rubric_rules(live)),
            metric_names={**plan.metric_names, **{m.id: m.name for m in read.metrics.values()}},
            warnings=(*plan.warnings, *read.warnings),
        )

    def managed(self, plan: ProjectPlan) -> tuple[str, ...]:
        return ("rubric_config",) if plan.manages_rubric else ()

    def watched(self, live: Mapping[str, Any], managed: Sequence[str]) -> dict[str, Any]:
        return {"rubric_config": json_copy(live.get("rubric_config"))} if managed else {}

    def watches(self, key: str) -> bool:
        return key == "rubric_config"

    def moved(
        self, key: str, before: Any, live: Mapping[str, Any], metric_names: Mapping[int, str]
    ) -> list[str]:
        return moved_rubric(before, live.get(key), metric_names)

    def unconverged(
        self, plan: ProjectPlan, live: Mapping[str, Any], sent_secrets: Mapping[str, str] | None
    ) -> list[str]:
        keys = self.patch_keys(plan)
        return [k for k in keys if not rubrics_equal(plan.patch[k], live.get(k))]

    def owns(self, change: FieldChange, plan: ProjectPlan) -> bool:
        return (
            plan.manages_rubric and not change.sensitive and change.path == "rubric_config.evaluation_logic"
        )

    def from_plan(self, plan: ProjectPlan, live: Mapping[str, Any], refs: Mapping[str, Any]) -> SavedPart:
        from reconciler.rubric import ResolvedRule

        if plan.rule_changes and not plan.manages_rubric:
            raise Edited("it changes rubric rules but does not manage the rubric")
        if not plan.manages_rubric:
            return SavedPart(None)
        if len({c.metric_id for c in plan.rule_changes}) != len(plan.rule_changes):
            raise Edited("it changes the rules of one metric twice")
        resolved: list[ResolvedRule] = []
        for index, change in enumerate(plan.rule_changes):
            metric_id = change.metric_id
            spec = RuleSpec(metric_id, None, None, not change.after, ("rubric", "rules", index))
            if not change.after:
                resolved.append(ResolvedRule(metric_id, None, spec))
            for rule in change.after:
                if set(rule) != {"metric_id", "conditions"} or rule["metric_id"] != metric_id:
                    raise Edited(f"a rule of metric {metric_id} is not one the planner makes")
                if not isinstance(rule["conditions"], dict):
                    raise Edited(f"a rule of metric {metric_id} has no conditions object")
                resolved.append(ResolvedRule(metric_id, copy.deepcopy(rule["conditions"]), spec))
        metrics = {
            c.metric_id: Metric(c.metric_id, c.metric_name or "", None, c.eval_type, (), None, ())
            for c in plan.rule_changes
            if c.metric_name is not None or c.eval_type is not None
        }
        return SavedPart(RubricSpec(prune=False, rules=()), RubricRead(tuple(resolved), metrics))

    def export(self, live: Mapping[str, Any], context: ExportContext) -> list[str]:
        from reconciler.export import rubric_lines

        return rubric_lines(context.project_id, live, context.metrics)


def stale_rules_message(project_id: int, stale: Sequence[int]) -> str:
    """Why a plan cannot change a rubric whose kept live rules name metrics the project lost."""
    listed = ", ".join(str(m) for m in stale)
    entries = "; ".join(f"{{metric_id: {m}, absent: true}}" for m in stale)
    return (
        f"the live rubric of project {project_id} has rules for metric(s) {listed}, which the "
        f"project no longer has; the API rejects any rubric change while they remain. Remove them by "
        f"adding to rubric.rules: {entries} (or set prune: true)"
    )
