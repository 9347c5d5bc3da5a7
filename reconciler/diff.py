"""Normalize desired and live values of the MANAGED fields, compare them, and produce a plan.

Pure: no network, no terminal. Unmanaged live fields are never looked at except to be counted
(kept rubric rules). Semantic equality (DESIGN.md): 300 == 300.0, floats within a small tolerance,
id and phone lists are sets, time_periods order does not matter, a missing list inside
no_calls_notify_time_period equals an empty one, binary ``true``/``false`` equal 5/0, rule order does
not matter. The comparison itself is deepdiff's, run over normalized trees; an exact ``==`` first
skips the trees that are equal, which keeps large rubrics linear.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
from collections.abc import Collection, Mapping
from typing import Any

from reconciler.changes import FieldChange, ProjectPlan, RuleAction, RuleChange
from reconciler.model import OBJECT_FIELDS, DesiredProject, Metric, Secret, is_configured, is_number
from reconciler.rubric import BINARY_TYPES, ResolvedRule

MATH_EPSILON = 1e-9
SET_FIELDS = frozenset({"daily_report_dashboard_ids"})
_PERIOD_LISTS = ("time_periods", "exception_numbers", "agents")


class _Missing:
    """A live field the GET did not return: unequal to every value a file can hold."""

    def __repr__(self) -> str:
        return "<missing>"


_MISSING: Any = _Missing()
# How a fingerprint records a managed setting the live project does not have (kept as it was, so
# fingerprints in saved plans stay comparable).
MISSING_MARK: dict[str, bool] = {"$missing": True}


def _canon_number(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _canon(value: Any) -> Any:
    """Canonical JSON-like value: integral floats as ints, mappings recursively."""
    if isinstance(value, dict):
        return {k: _canon(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_canon(v) for v in value]
    return _canon_number(value)


def _sort_key(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def _as_set(value: Any) -> Any:
    if not isinstance(value, list):
        return _canon(value)
    unique = {_sort_key(v): v for v in _canon(value)}
    return [unique[k] for k in sorted(unique)]


def normalize_setting(name: str, value: Any) -> Any:
    if name in SET_FIELDS:
        return _as_set(value)
    if name == "no_calls_notify_time_period" and isinstance(value, dict):
        out = _canon(value)
        for key in _PERIOD_LISTS:
            out[key] = _as_set(out.get(key) or [])
        return out
    return _canon(value)


def _canon_condition(cond: Any, binary: bool = True) -> Any:
    if not isinstance(cond, dict):
        return _canon(cond)
    out = _canon(cond)
    value = out.get("value")
    if binary and out.get("field") == "score" and isinstance(value, bool):
        out["value"] = 5 if value else 0  # binary metrics: true is stored as 5, false as 0
    elif out.get("op") == "in" and isinstance(value, list):
        out["value"] = _as_set(value)
    return out


def canonical_rule(rule: Mapping[str, Any], binary: bool = True) -> dict[str, Any]:
    """A rule without its metric_id, in a form where equal rules are ``==``. ``binary``: the
    metric is binary, so ``true``/``false`` equal 5/0 (for other metrics a boolean is itself)."""
    out = {k: _canon(v) for k, v in rule.items() if k != "metric_id"}
    conditions = out.get("conditions")
    if isinstance(conditions, dict):
        conditions = dict(conditions)
        inner = conditions.get("conditions")
        if isinstance(inner, list):
            conditions["conditions"] = _as_set([_canon_condition(c, binary) for c in inner])
        out["conditions"] = conditions
    return out


def rule_metric(rule: Any) -> int | None:
    """A live rule's metric id; digit strings count (the API stores what it was sent)."""
    metric_id = rule.get("metric_id") if isinstance(rule, dict) else None
    if isinstance(metric_id, str) and metric_id.strip().isdigit():
        return int(metric_id)
    return metric_id if isinstance(metric_id, int) and not isinstance(metric_id, bool) else None


def _rules_by_metric(rules: list[Any]) -> dict[int, list[dict[str, Any]]]:
    grouped: dict[int, list[dict[str, Any]]] = {}
    for rule in rules:
        metric_id = rule_metric(rule)
        if metric_id is not None:
            grouped.setdefault(metric_id, []).append(rule)
    return grouped


def _canonical_rules(rules: list[dict[str, Any]], binary: bool = True) -> list[Any]:
    return sorted((canonical_rule(r, binary) for r in rules), key=_sort_key)


def scalars_differ(a: Any, b: Any) -> bool | None:
    """deepdiff's verdict on two scalars, without deepdiff, or None to ask deepdiff itself.

    Numbers of either type compare within MATH_EPSILON (``math.isclose(a, b,
    abs_tol=MATH_EPSILON)``, as its ``math_epsilon`` does); two booleans, two strings, nulls by
    type and value. A boolean against a number is left to deepdiff, whose answer there depends on
    the order of the two. ``tests/test_diff.py`` holds this to deepdiff's answers.
    """
    if is_number(a) and is_number(b):
        return not math.isclose(a, b, abs_tol=MATH_EPSILON)
    if (isinstance(a, bool) and is_number(b)) or (is_number(a) and isinstance(b, bool)):
        return None
    return type(a) is not type(b) or a != b


def _differing_paths(before: dict[str, Any], after: dict[str, Any]) -> list[list[Any]]:
    """deepdiff over two normalized trees; the paths (as lists) where they really differ.

    Top-level scalars (most settings) are decided by ``scalars_differ`` first: a plan of scalar
    settings then never imports deepdiff (~30 ms of start-up) nor pays its per-call cost.
    """
    paths: list[list[Any]] = []
    nested_before: dict[str, Any] = {}
    nested_after: dict[str, Any] = {}
    for key in before.keys() | after.keys():
        a, b = before.get(key, _MISSING), after.get(key, _MISSING)
        verdict = None if isinstance(a, dict | list) or isinstance(b, dict | list) else scalars_differ(a, b)
        if verdict is None:
            nested_before[key], nested_after[key] = a, b
        elif verdict:
            paths.append([key])
    if not nested_before:
        return paths
    from deepdiff import DeepDiff  # here, not at the top: most plans never need it

    diff = DeepDiff(
        nested_before,
        nested_after,
        math_epsilon=MATH_EPSILON,
        ignore_numeric_type_changes=True,
        view="tree",
    )
    for report in diff.values():
        for level in report:
            paths.append(level.path(output_format="list"))
    return paths


def live_rubric_rules(live: Mapping[str, Any]) -> list[Any]:
    config = live.get("rubric_config")
    if isinstance(config, dict) and isinstance(config.get("rules"), list):
        return list(config["rules"])
    return []


def watched_values(
    live: Mapping[str, Any], *, settings: Collection[str], secrets: Collection[str], rubric: bool
) -> dict[str, Any]:
    """The live values of the managed fields, as the plan saw them (what ``fingerprint`` digests)."""
    watched: dict[str, Any] = {k: copy.deepcopy(live.get(k, MISSING_MARK)) for k in sorted(settings)}
    for name in sorted(secrets):
        watched[f"{name}_configured"] = is_configured(live.get(f"{name}_configured"))
    if rubric:
        watched["rubric_config"] = copy.deepcopy(live.get("rubric_config"))
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
    rubric metric by metric."""
    moved: list[str] = []
    for key, before in baseline.items():
        now = live.get(key)
        if key == "rubric_config":
            moved += _moved_rubric(before, now, metric_names)
        elif key.endswith("_configured"):
            if is_configured(now) != before:
                state = "configured" if is_configured(now) else "no longer configured"
                moved.append(f"{key.removesuffix('_configured')} ({state})")
        elif json.dumps(before, sort_keys=True, default=str) != json.dumps(
            live.get(key, MISSING_MARK), sort_keys=True, default=str
        ):
            moved.append(key)
    return moved


def _moved_rubric(before: Any, now: Any, metric_names: Mapping[int, str]) -> list[str]:
    was = _rules_by_metric(live_rubric_rules({"rubric_config": before}))
    is_ = _rules_by_metric(live_rubric_rules({"rubric_config": now}))
    moved = []
    for metric in sorted(set(was) | set(is_), key=str):
        if _canonical_rules(was.get(metric, [])) != _canonical_rules(is_.get(metric, [])):
            name = metric_names.get(metric) if isinstance(metric, int) else None
            verb = "added" if metric not in was else "removed" if metric not in is_ else "changed"
            moved.append(f"rubric rules of metric {metric}{f' ({name})' if name else ''} {verb}")
    logic = [c.get("evaluation_logic") if isinstance(c, dict) else None for c in (before, now)]
    if logic[0] != logic[1]:
        moved.append("rubric evaluation_logic")
    if not moved and json.dumps(before, sort_keys=True, default=str) != json.dumps(
        now, sort_keys=True, default=str
    ):
        moved.append("rubric_config")
    return moved


def _diff_settings(
    desired: DesiredProject, live: Mapping[str, Any]
) -> tuple[list[FieldChange], dict[str, Any]]:
    before = {k: normalize_setting(k, live.get(k, _MISSING)) for k in desired.settings}
    after = {k: normalize_setting(k, v) for k, v in desired.settings.items()}
    maybe = [k for k in desired.settings if before[k] != after[k] or type(before[k]) is not type(after[k])]
    if not maybe:
        return [], {}
    paths = _differing_paths({k: before[k] for k in maybe}, {k: after[k] for k in maybe})
    changed: dict[str, set[str] | None] = {}
    for path in paths:
        name = str(path[0])
        whole = (
            name not in OBJECT_FIELDS
            or len(path) < 2
            or not (isinstance(before[name], dict) and isinstance(after[name], dict))
        )
        if whole:
            changed[name] = None
        elif changed.get(name, set()) is not None:
            changed.setdefault(name, set()).add(str(path[1]))  # type: ignore[union-attr]
    changes: list[FieldChange] = []
    patch: dict[str, Any] = {}
    for name in desired.settings:
        if name not in changed:
            continue
        patch[name] = desired.settings[name]
        subkeys = changed[name]
        # Changes show the values as the API and the file have them, not the normalized ones.
        shown_before, shown_after = live.get(name), desired.settings[name]
        if subkeys is None:
            changes.append(FieldChange(name, shown_before, shown_after, before_missing=name not in live))
            continue
        old, new = dict(shown_before or {}), dict(shown_after or {})  # both are mappings here
        for key in sorted(subkeys):
            changes.append(
                FieldChange(
                    f"{name}.{key}",
                    old.get(key),
                    new.get(key),
                    before_missing=key not in old,
                    after_missing=key not in new,
                )
            )
    return changes, patch


def _diff_secrets(
    desired: DesiredProject,
    live: Mapping[str, Any],
    *,
    rotate: Collection[str],
    secret_values: Mapping[str, Secret] | None,
) -> tuple[list[FieldChange], dict[str, Any]]:
    changes: list[FieldChange] = []
    patch: dict[str, Any] = {}
    for name, ref in desired.secrets.items():
        action: str | None = None
        if isinstance(live.get(name), str) and secret_values is not None and name in secret_values:
            # Older API versions returned the value itself: compare it, never show it.
            if live[name] != secret_values[name].reveal():
                action = "update"
            elif name in rotate:
                action = "rotate"
        elif not is_configured(live.get(f"{name}_configured")) and not (
            isinstance(live.get(name), str) and live[name]  # an older API's value: configured
        ):
            action = "set"
        elif name in rotate:
            action = "rotate"
        if action is not None:
            changes.append(FieldChange(name, None, ref, sensitive=True, action=action))  # type: ignore[arg-type]
            patch[name] = ref
    return changes, patch


def _diff_rubric(
    rules: tuple[ResolvedRule, ...],
    prune: bool,
    live: Mapping[str, Any],
    metrics: Mapping[int, Metric],
) -> tuple[list[RuleChange], dict[str, Any], int, int, list[int]]:
    """Rule changes, the patch part, rules kept, metrics kept, and live metric ids that no longer exist."""
    live_rules = live_rubric_rules(live)
    live_by_metric = _rules_by_metric(live_rules)
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
    binary = {m: (metrics[m].eval_type in BINARY_TYPES) if m in metrics else True for m in owned}
    before_tree = {str(m): _canonical_rules(live_by_metric.get(m, []), binary[m]) for m in owned}
    after_tree = {str(m): _canonical_rules(desired_by_metric[m], binary[m]) for m in owned}
    maybe = [m for m in owned if before_tree[str(m)] != after_tree[str(m)]]
    differing: set[str] = set()
    if maybe:
        paths = _differing_paths(
            {str(m): before_tree[str(m)] for m in maybe}, {str(m): after_tree[str(m)] for m in maybe}
        )
        differing = {str(p[0]) for p in paths}
    changes: list[RuleChange] = []
    named_set = set(named)  # a set: `in` over the list made 5,000-rule rubrics quadratic
    order = named + sorted(m for m in owned if m not in named_set)
    for metric_id in order:
        if str(metric_id) not in differing:
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


def diff_project(
    desired: DesiredProject,
    live: Mapping[str, Any],
    *,
    rules: tuple[ResolvedRule, ...] = (),
    metrics: Mapping[int, Metric] | None = None,
    rotate: Collection[str] = (),
    secret_values: Mapping[str, Secret] | None = None,
    warnings: tuple[str, ...] = (),
) -> ProjectPlan:
    """Compare one project's file with its live state; the resulting plan holds the one PATCH body."""
    assert desired.project_id is not None
    field_changes, patch = _diff_settings(desired, live)
    secret_changes, secret_patch = _diff_secrets(desired, live, rotate=rotate, secret_values=secret_values)
    rule_changes: list[RuleChange] = []
    kept = kept_metrics = 0
    stale: list[int] = []
    live_rules = 0
    if desired.rubric is not None:
        rule_changes, rubric_patch, kept, kept_metrics, stale = _diff_rubric(
            rules, bool(desired.rubric.prune), live, metrics or {}
        )
        patch.update(rubric_patch)
        live_rules = len(live_rubric_rules(live))
        config = live.get("rubric_config")
        if "rubric_config" in rubric_patch and isinstance(config, dict) and config.get("rules"):
            logic = config.get("evaluation_logic")
            if logic != "and":
                # Not a rule change, but it changes what the rubric decides: say so.
                field_changes.append(
                    FieldChange(
                        "rubric_config.evaluation_logic",
                        logic,
                        "and",
                        before_missing="evaluation_logic" not in config,
                    )
                )
    patch.update(secret_patch)
    previous = {k: copy.deepcopy(live[k]) for k in patch if k not in desired.secrets and k in live}
    after: dict[str, Any] = {**live, **{k: v for k, v in patch.items() if k not in desired.secrets}}
    after.update({f"{k}_configured": True for k in patch if k in desired.secrets})
    managed_rubric = desired.rubric is not None
    baseline = watched_values(live, settings=desired.settings, secrets=desired.secrets, rubric=managed_rubric)
    return ProjectPlan(
        project_id=desired.project_id,
        file=desired.file,
        field_changes=tuple(field_changes + secret_changes),
        rule_changes=tuple(rule_changes),
        rules_kept=kept,
        metrics_kept=kept_metrics,
        patch=patch,
        fingerprint=digest(baseline),
        baseline=baseline,
        expected_fingerprint=fingerprint(
            after, settings=desired.settings, secrets=desired.secrets, rubric=managed_rubric
        ),
        warnings=warnings,
        stale_rule_metrics=tuple(stale),
        managed_settings=tuple(desired.settings),
        managed_secrets=tuple(desired.secrets),
        manages_rubric=desired.rubric is not None,
        previous=previous,
        metric_names={m.id: m.name for m in (metrics or {}).values()},
        rules_live=live_rules,
    )


def unconverged(
    plan: ProjectPlan, live: Mapping[str, Any], sent_secrets: Mapping[str, str] | None = None
) -> list[str]:
    """The fields of the plan's PATCH that the live project does not show as sent (empty: converged).

    ``sent_secrets``: the values sent, to check a secret that an older API returns as a value.
    """
    left: list[str] = []
    for name, sent in plan.patch.items():
        if name in plan.managed_secrets:
            value = live.get(name)
            if isinstance(value, str) and sent_secrets is not None and name in sent_secrets:
                if value != sent_secrets[name]:
                    left.append(name)
            elif name not in live and not is_configured(live.get(f"{name}_configured")):
                left.append(name)
            continue
        if name == "rubric_config":
            if not rubrics_equal(sent, live.get("rubric_config")):
                left.append(name)
            continue
        if _differing_paths(
            {name: normalize_setting(name, live.get(name, _MISSING))}, {name: normalize_setting(name, sent)}
        ):
            left.append(name)
    return left


def rubrics_equal(a: Any, b: Any) -> bool:
    """Two ``rubric_config`` values decide every call the same way (rule order, key order, true/5,
    and the same evaluation_logic whenever there are rules)."""
    want = _rules_by_metric(live_rubric_rules({"rubric_config": a}))
    have = _rules_by_metric(live_rubric_rules({"rubric_config": b}))
    logic = [c.get("evaluation_logic") if isinstance(c, dict) else None for c in (a, b)]
    if (want or have) and logic[0] != logic[1]:
        return False
    return set(want) == set(have) and all(
        _canonical_rules(want[m]) == _canonical_rules(have[m]) for m in want
    )


def _restore_rubric(
    live_config: Any, before: Any, sent: Any, warnings: list[str]
) -> tuple[list[RuleChange], dict[str, Any] | None]:
    """Put back the rules of the metrics the journaled PATCH changed; every other live rule (added
    since by someone else, or never touched) stays. Without ``sent`` (older entries) the whole
    rubric is compared."""
    live_by = _rules_by_metric(live_rubric_rules({"rubric_config": live_config}))
    before_by = _rules_by_metric(live_rubric_rules({"rubric_config": before}))
    if sent is None:
        touched = set(live_by) | set(before_by)
    else:
        sent_by = _rules_by_metric(live_rubric_rules({"rubric_config": sent}))
        touched = {
            m
            for m in set(before_by) | set(sent_by)
            if _canonical_rules(before_by.get(m, [])) != _canonical_rules(sent_by.get(m, []))
        }
        moved = sorted(
            m for m in touched if _canonical_rules(live_by.get(m, [])) != _canonical_rules(sent_by.get(m, []))
        )
        if moved:
            warnings.append(
                f"the rules of metric(s) {', '.join(map(str, moved))} changed again since that apply; "
                "restoring overwrites that later change too"
            )
    changes: list[RuleChange] = []
    for metric_id in sorted(touched):
        old, new = live_by.get(metric_id, []), before_by.get(metric_id, [])
        if _canonical_rules(old) == _canonical_rules(new):
            continue
        action: RuleAction = "add" if not old else "remove" if not new else "change"
        changes.append(RuleChange(metric_id, action, tuple(old), tuple(new)))
    logic_ok = not live_by or (isinstance(live_config, dict) and live_config.get("evaluation_logic") == "and")
    if not changes and logic_ok:
        return [], None
    rules = [r for r in live_rubric_rules({"rubric_config": live_config}) if rule_metric(r) not in touched]
    rules += [r for m in sorted(touched) for r in before_by.get(m, [])]
    return changes, ({"evaluation_logic": "and", "rules": rules} if rules else {})


def diff_restore(
    project_id: int,
    file: str,
    live: Mapping[str, Any],
    target: Mapping[str, Any],
    sent: Mapping[str, Any] | None = None,
) -> ProjectPlan:
    """The plan that puts ``target``'s fields (a journal entry's previous values) back: settings
    whole, the rubric by metric (only the metrics the journaled PATCH, ``sent``, changed)."""
    changes: list[FieldChange] = []
    rule_changes: list[RuleChange] = []
    patch: dict[str, Any] = {}
    warnings: list[str] = []
    for name, value in target.items():
        now = live.get(name, _MISSING)
        if name == "rubric_config":
            rule_changes, rubric = _restore_rubric(
                now, value, None if sent is None else sent.get(name), warnings
            )
            if rubric is not None:
                patch[name] = rubric
            continue
        if _differing_paths({name: normalize_setting(name, now)}, {name: normalize_setting(name, value)}):
            changes.append(
                FieldChange(name, None if now is _MISSING else now, value, before_missing=now is _MISSING)
            )
            patch[name] = copy.deepcopy(value)
            moved = (
                sent is not None
                and name in sent
                and _differing_paths(
                    {name: normalize_setting(name, now)}, {name: normalize_setting(name, sent[name])}
                )
            )
            if moved:
                warnings.append(
                    f"{name} changed again since that apply; restoring overwrites that later change too"
                )
    settings = [k for k in target if k != "rubric_config"]
    baseline = watched_values(live, settings=settings, secrets=(), rubric="rubric_config" in target)
    return ProjectPlan(
        project_id=project_id,
        file=file,
        field_changes=tuple(changes),
        rule_changes=tuple(rule_changes),
        patch=patch,
        fingerprint=digest(baseline),
        baseline=baseline,
        managed_settings=tuple(settings),
        manages_rubric="rubric_config" in target,
        previous={k: copy.deepcopy(live[k]) for k in patch if k in live},
        warnings=tuple(warnings),
        rules_live=len(live_rubric_rules(live)),
    )


def settings_equal(name: str, a: Any, b: Any) -> bool:
    """Two values of setting ``name`` are the same to a plan (300 == 300.0, id lists as sets...)."""
    before, after = normalize_setting(name, a), normalize_setting(name, b)
    if before == after and type(before) is type(after):
        return True
    return not _differing_paths({name: before}, {name: after})


def rules_equal(a: list[dict[str, Any]], b: list[dict[str, Any]], *, binary: bool) -> bool:
    """Two lists of one metric's rules decide every call the same way (order, true/5 for binary)."""
    return _canonical_rules(a, binary) == _canonical_rules(b, binary)
