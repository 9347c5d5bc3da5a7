"""Unit tests of the pure diff stage: semantic equality, managed fields only, rubric merge/prune."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, note
from hypothesis import strategies as st

from reconciler.diff import diff_project, unconverged
from reconciler.model import DesiredProject, Metric, RubricSpec, RuleSpec, Secret, SecretRef
from reconciler.rubric import ResolvedRule


def desired(
    settings: dict[str, Any] | None = None,
    *,
    secrets: dict[str, SecretRef] | None = None,
    rules: list[tuple[int, dict[str, Any] | None]] | None = None,
    prune: bool = False,
) -> tuple[DesiredProject, tuple[ResolvedRule, ...]]:
    specs = tuple(
        RuleSpec(metric_id=m, metric_ref=None, conditions=c, absent=c is None, path=("rubric", "rules", i))
        for i, (m, c) in enumerate(rules or [])
    )
    project = DesiredProject(
        file="p.yaml",
        project_id=1,
        settings=settings or {},
        secrets=secrets or {},
        rubric=RubricSpec(prune=prune, rules=specs) if rules is not None else None,
    )
    resolved = tuple(ResolvedRule(s.metric_id or 0, s.conditions, s) for s in specs)
    return project, resolved


def cond(field: str, op: str, value: Any) -> dict[str, Any]:
    return {"operator": "and", "conditions": [{"field": field, "op": op, "value": value}]}


def rule(metric_id: int, field: str, op: str, value: Any) -> dict[str, Any]:
    return {"metric_id": metric_id, "conditions": cond(field, op, value)}


LIVE: dict[str, Any] = {
    "id": 1,
    "name": "Old",
    "sample_rate": 1.0,
    "outbound_timeout": 300,
    "daily_report_dashboard_ids": [3, 1, 2],
    "no_calls_notify_time_period": {
        "time_zone": "UTC",
        "time_periods": [
            {"start_time": "09:00", "end_time": "17:00", "time_frame": 30},
            {"start_time": "18:00", "end_time": "23:59", "time_frame": 60},
        ],
        "exception_numbers": ["+15551234567", "+14155552671"],
    },
    "vapi_api_key_configured": "true",
    "rubric_config": {
        "evaluation_logic": "and",
        "rules": [rule(10, "score", "gte", 4), rule(11, "score", "eq", 5), rule(12, "enum", "eq", "ok")],
    },
    "unknown_new_field": {"x": 1},
}


def test_semantic_equality_is_not_a_change() -> None:
    project, _ = desired(
        {
            "sample_rate": 1,
            "outbound_timeout": 300.0,
            "daily_report_dashboard_ids": [1, 2, 3, 3],
            "no_calls_notify_time_period": {
                "time_zone": "UTC",
                "time_periods": [
                    {"start_time": "18:00", "end_time": "23:59", "time_frame": 60},
                    {"start_time": "09:00", "end_time": "17:00", "time_frame": 30},
                ],
                "exception_numbers": ["+14155552671", "+15551234567"],
                "agents": [],
            },
        }
    )
    plan = diff_project(project, LIVE)
    assert plan.field_changes == ()
    assert plan.patch == {}
    assert not plan.has_changes


def test_float_tolerance() -> None:
    project, _ = desired({"sample_rate": 0.1 + 0.2})
    assert not diff_project(project, {**LIVE, "sample_rate": 0.3}).has_changes
    project, _ = desired({"sample_rate": 0.31})
    assert diff_project(project, {**LIVE, "sample_rate": 0.3}).has_changes


def test_only_managed_fields_are_compared_and_sent() -> None:
    project, _ = desired({"name": "New", "sample_rate": 0.5})
    plan = diff_project(project, LIVE)
    assert plan.patch == {"name": "New", "sample_rate": 0.5}
    assert [(c.path, c.before, c.after) for c in plan.field_changes] == [
        ("name", "Old", "New"),
        ("sample_rate", 1.0, 0.5),
    ]


def test_object_field_shows_subkeys_and_is_sent_whole() -> None:
    period = {
        "time_zone": "America/New_York",
        "time_periods": LIVE["no_calls_notify_time_period"]["time_periods"],
    }
    project, _ = desired({"no_calls_notify_time_period": period})
    plan = diff_project(project, LIVE)
    assert plan.patch == {"no_calls_notify_time_period": period}
    changes = {c.path: c for c in plan.field_changes}
    assert set(changes) == {
        "no_calls_notify_time_period.time_zone",
        "no_calls_notify_time_period.exception_numbers",
    }
    removed = changes["no_calls_notify_time_period.exception_numbers"]
    assert removed.after_missing and removed.before == ["+15551234567", "+14155552671"]


def test_missing_live_field_is_a_change() -> None:
    project, _ = desired({"use_provider_transcript": True})
    plan = diff_project(project, LIVE)
    assert plan.field_changes[0].before_missing
    assert plan.patch == {"use_provider_transcript": True}


@pytest.mark.parametrize("configured", ["false", "", None, False, "False", 0])
def test_unconfigured_secret_is_set(configured: object) -> None:
    project, _ = desired(secrets={"retell_api_key": SecretRef("env", "X")})
    plan = diff_project(project, {**LIVE, "retell_api_key_configured": configured})
    assert plan.patch == {"retell_api_key": SecretRef("env", "X")}
    assert plan.field_changes[0].sensitive and plan.field_changes[0].action == "set"


@pytest.mark.parametrize("configured", ["true", True, "yes", "1"])
def test_configured_secret_is_left_alone_unless_rotated(configured: object) -> None:
    project, _ = desired(secrets={"vapi_api_key": SecretRef("env", "X")})
    live = {**LIVE, "vapi_api_key_configured": configured}
    assert not diff_project(project, live).has_changes
    rotated = diff_project(project, live, rotate=["vapi_api_key"])
    assert rotated.field_changes[0].action == "rotate"


def test_old_api_returning_the_secret_value_is_compared_without_showing_it() -> None:
    project, _ = desired(secrets={"webhook_secret": SecretRef("env", "X")})
    live = {**LIVE, "webhook_secret": "same-value"}
    assert not diff_project(project, live, secret_values={"webhook_secret": Secret("same-value")}).has_changes
    plan = diff_project(project, live, secret_values={"webhook_secret": Secret("new-value")})
    assert plan.has_changes
    assert "new-value" not in repr(plan) and "same-value" not in repr(plan.to_json())


def test_rubric_merge_keeps_unnamed_metrics() -> None:
    project, rules = desired(rules=[(10, cond("score", "gte", 3))])
    plan = diff_project(project, LIVE, rules=rules)
    assert [(c.metric_id, c.action) for c in plan.rule_changes] == [(10, "change")]
    sent = plan.patch["rubric_config"]
    assert sent["evaluation_logic"] == "and"
    assert {r["metric_id"] for r in sent["rules"]} == {10, 11, 12}
    assert plan.rules_kept == 2


def test_rubric_prune_removes_unnamed_metrics() -> None:
    project, rules = desired(rules=[(10, cond("score", "gte", 4))], prune=True)
    plan = diff_project(project, LIVE, rules=rules)
    assert sorted((c.metric_id, c.action) for c in plan.rule_changes) == [(11, "remove"), (12, "remove")]
    assert plan.patch["rubric_config"]["rules"] == [rule(10, "score", "gte", 4)]


def test_rubric_absent_and_clear() -> None:
    project, rules = desired(rules=[(11, None)])
    plan = diff_project(project, LIVE, rules=rules)
    assert [(c.metric_id, c.action) for c in plan.rule_changes] == [(11, "remove")]
    project, rules = desired(rules=[], prune=True)
    assert diff_project(project, LIVE, rules=rules).patch == {"rubric_config": {}}


def test_rubric_semantic_equality() -> None:
    # Order of rules, key order, true == 5 for binary scores, `in` value order: none is a change.
    project, rules = desired(
        rules=[
            (12, {"conditions": [{"value": "ok", "op": "eq", "field": "enum"}], "operator": "and"}),
            (11, cond("score", "eq", True)),
            (10, cond("score", "gte", 4.0)),
        ]
    )
    assert not diff_project(project, LIVE, rules=rules).has_changes


def test_rubric_add_to_empty_live() -> None:
    project, rules = desired(rules=[(10, cond("score", "gte", 4))])
    plan = diff_project(project, {**LIVE, "rubric_config": {}}, rules=rules)
    assert plan.rule_changes[0].action == "add"
    assert plan.patch["rubric_config"] == {"evaluation_logic": "and", "rules": [rule(10, "score", "gte", 4)]}


def test_stale_live_rules_are_reported() -> None:
    project, rules = desired(rules=[(10, cond("score", "gte", 2))])
    metrics = {i: Metric(i, f"m{i}", None, "numeric", (), 1, ()) for i in (10, 11)}  # 12 no longer exists
    plan = diff_project(project, LIVE, rules=rules, metrics=metrics)
    assert plan.stale_rule_metrics == (12,)


def test_unconverged_detects_what_did_not_stick() -> None:
    project, rules = desired({"name": "New"}, rules=[(10, cond("score", "gte", 3))])
    plan = diff_project(project, LIVE, rules=rules)
    assert set(unconverged(plan, LIVE)) == {"name", "rubric_config"}
    after = {**LIVE, "name": "New", "rubric_config": plan.patch["rubric_config"]}
    assert unconverged(plan, after) == []


def test_unknown_live_fields_are_ignored() -> None:
    project, _ = desired({"name": "Old"})
    assert not diff_project(project, {**LIVE, "brand_new_field": [1, 2]}).has_changes


def test_fingerprint_moves_only_with_managed_fields() -> None:
    project, _ = desired({"name": "Old"})
    first = diff_project(project, LIVE).fingerprint
    assert diff_project(project, {**LIVE, "outbound_timeout": 1}).fingerprint == first
    assert diff_project(project, {**LIVE, "name": "Other"}).fingerprint != first


def test_text_output_escapes_terminal_control_characters() -> None:
    import io

    from reconciler.changes import Plan, ProjectPlan, RuleChange
    from reconciler.renderers.text import render_text

    rule = {
        "metric_id": 1,
        "conditions": {"operator": "and", "conditions": [{"field": "score", "op": "eq", "value": 5}]},
    }
    change = RuleChange(1, "add", (), (rule,), metric_name="Evil\x1b[2J name", eval_type="binary")
    plan = Plan((ProjectPlan(1, "f\x1b]0;x\x07.yaml", rule_changes=(change,), patch={"rubric_config": {}}),))
    out = io.StringIO()
    render_text(plan, out, color=True)
    assert "\x1b[2J" not in out.getvalue()
    assert "\x07" not in out.getvalue()
    assert "Evil\\x1b[2J name" in out.getvalue()


_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**40), max_value=2**40),
    st.floats(allow_nan=False, allow_infinity=False, width=64),
    st.floats(min_value=-2.0, max_value=2.0).map(lambda x: round(x, 3)),
    st.sampled_from(["", "a", "UTC", "<missing>", "0", "1.0"]),
)


@given(a=_scalars, b=_scalars)
def test_scalar_fast_path_agrees_with_deepdiff(a: object, b: object) -> None:
    from reconciler.diff import scalars_differ
    from reconciler.kinds.settings import deep_paths, differing_paths

    deep = bool(deep_paths({"k": a}, {"k": b}))  # deepdiff, with the options the settings diff uses
    fast = scalars_differ(a, b)
    assert fast is None or fast == deep
    assert bool(differing_paths({"k": a}, {"k": b})) == deep


_ids = st.lists(st.integers(min_value=1, max_value=50), max_size=8)


@given(ids=_ids, extra=_ids, data=st.data())
def test_set_like_lists_are_sets(ids: list[int], extra: list[int], data: st.DataObject) -> None:
    # Order and repetition of dashboard ids, exception numbers, agents and time periods mean nothing;
    # a missing or null list inside no_calls_notify_time_period is an empty one.
    from reconciler.diff import settings_equal

    shuffled = data.draw(st.permutations(ids))
    doubled = shuffled + [i for i in ids if i % 2]
    floats = [float(i) for i in doubled]
    assert settings_equal("daily_report_dashboard_ids", ids, floats)
    assert settings_equal("daily_report_dashboard_ids", ids, ids + extra) == (set(extra) <= set(ids))
    periods: list[dict[str, Any]] = [
        {"start_time": f"{i % 24:02d}:00", "end_time": "23:59", "time_frame": i} for i in ids
    ]
    period = {
        "time_zone": "UTC",
        "time_periods": periods,
        "exception_numbers": [f"+1555{i:07d}" for i in ids],
    }
    reordered = {
        "exception_numbers": [f"+1555{i:07d}" for i in doubled],
        "time_periods": [{**p, "time_frame": float(p["time_frame"])} for p in reversed(periods)],
        "time_zone": "UTC",
        "agents": data.draw(st.sampled_from([[], None])),
    }
    assert settings_equal("no_calls_notify_time_period", period, reordered)
    assert not settings_equal(
        "no_calls_notify_time_period", period, {**reordered, "time_zone": "Europe/Paris"}
    )
    # Order matters in other lists (a setting's list that is not a set).
    if len(set(ids)) > 1 and shuffled != ids:
        assert not settings_equal("some_list", ids, shuffled)


def test_scalar_fast_path_near_values() -> None:
    from reconciler.diff import scalars_differ

    assert not scalars_differ(300, 300.0)
    assert not scalars_differ(0.1 + 0.2, 0.3)
    assert scalars_differ(0.5, 0.25)
    assert scalars_differ(True, 1) is None  # left to deepdiff
    assert scalars_differ(True, False)
    assert scalars_differ(None, 0)
    assert scalars_differ("1", 1)


def _metric(metric_id: int, eval_type: str) -> Metric:
    return Metric(metric_id, f"m{metric_id}", None, eval_type, (), 1, ())


def test_mass_deletion_counts_every_live_rule() -> None:
    # Six live rules; the file names three unchanged and prunes the other three: exactly half.
    live = {
        **LIVE,
        "rubric_config": {
            "evaluation_logic": "and",
            "rules": [rule(i, "score", "gte", 1) for i in range(1, 7)],
        },
    }
    project, rules = desired(rules=[(i, cond("score", "gte", 1)) for i in (1, 2, 3)], prune=True)
    metrics = {i: _metric(i, "numeric") for i in range(1, 7)}
    plan = diff_project(project, live, rules=rules, metrics=metrics)
    assert plan.live_rule_count() == 6
    assert plan.mass_deletion() is None  # 3 of 6 is not more than half
    project, rules = desired(rules=[(1, cond("score", "gte", 1))], prune=True)
    plan = diff_project(project, live, rules=rules, metrics=metrics)
    assert plan.mass_deletion() == (5, 6)


def test_live_rules_with_string_metric_ids_are_owned() -> None:
    live = {
        **LIVE,
        "rubric_config": {
            "evaluation_logic": "and",
            "rules": [{**rule(5, "score", "gte", 3), "metric_id": "5"}],
        },
    }
    project, rules = desired(rules=[(5, cond("score", "gte", 4))])
    plan = diff_project(project, live, rules=rules, metrics={5: _metric(5, "numeric")})
    assert [c.action for c in plan.rule_changes] == ["change"]
    assert plan.patch["rubric_config"]["rules"] == [rule(5, "score", "gte", 4)]


def test_true_is_five_only_for_binary_metrics() -> None:
    live = {
        **LIVE,
        "rubric_config": {
            "evaluation_logic": "and",
            "rules": [rule(1, "score", "eq", 5), rule(2, "score", "eq", 5)],
        },
    }
    project, rules = desired(rules=[(1, cond("score", "eq", True)), (2, cond("score", "eq", True))])
    metrics = {1: _metric(1, "binary_qualitative"), 2: _metric(2, "numeric")}
    plan = diff_project(project, live, rules=rules, metrics=metrics)
    assert [c.metric_id for c in plan.rule_changes] == [2]


def test_missing_evaluation_logic_is_a_visible_change() -> None:
    live = {**LIVE, "rubric_config": {"rules": [rule(1, "score", "gte", 1)]}}
    project, rules = desired(rules=[(1, cond("score", "gte", 1))])
    plan = diff_project(project, live, rules=rules, metrics={1: _metric(1, "numeric")})
    assert plan.patch["rubric_config"]["evaluation_logic"] == "and"
    assert [c.path for c in plan.field_changes] == ["rubric_config.evaluation_logic"]
    assert unconverged(plan, live) == ["rubric_config"]
    assert unconverged(plan, {**live, "rubric_config": plan.patch["rubric_config"]}) == []


def test_older_api_secret_value_counts_as_configured_and_is_verified() -> None:
    live = {**LIVE, "webhook_secret": "old-value"}
    project, _ = desired(secrets={"webhook_secret": SecretRef("env", "HOOK")})
    assert diff_project(project, live).patch == {}  # drift without the value: configured, no change
    plan = diff_project(project, live, secret_values={"webhook_secret": Secret("new-value")})
    assert [c.action for c in plan.field_changes] == ["update"]
    assert unconverged(plan, live, {"webhook_secret": "new-value"}) == ["webhook_secret"]
    assert unconverged(plan, {**live, "webhook_secret": "new-value"}, {"webhook_secret": "new-value"}) == []


def test_a_missing_live_field_differs_even_from_the_text_missing() -> None:
    live = {k: v for k, v in LIVE.items() if k != "name"}
    project, _ = desired({"name": "<missing>"})
    plan = diff_project(project, live)
    assert plan.patch == {"name": "<missing>"}
    assert plan.field_changes[0].before_missing


def test_rules_compare_by_deepdiff_with_the_binary_operator() -> None:
    # Cases the canonical sort alone cannot settle: deepdiff decides, with ignore_order,
    # significant digits and the BinaryScore operator (true == 5 only for binary metrics).
    from reconciler.kinds.rubric import differing_metrics

    live = {1: [rule(1, "score", "eq", 5), rule(1, "score", "gte", 3)], 2: [rule(2, "score", "eq", 5)]}
    want = {
        1: [rule(1, "score", "gte", 3.0000000001), rule(1, "score", "eq", True)],
        2: [rule(2, "score", "eq", True)],
    }
    assert differing_metrics(live, want, {1}) == {2}  # 2 is not binary: true is not 5
    assert differing_metrics(live, want, {1, 2}) == set()
    assert differing_metrics({1: [rule(1, "score", "eq", 5)]}, {1: [rule(1, "score", "eq", False)]}, {1}) == {
        1
    }
    near = {1: [rule(1, "score", "gte", 0.1 + 0.2), rule(1, "score", "eq", True)]}
    assert (
        differing_metrics({1: [rule(1, "score", "gte", 0.3), rule(1, "score", "eq", 5)]}, near, {1}) == set()
    )
    apart = {1: [rule(1, "score", "gte", 0.31), rule(1, "score", "eq", True)]}
    assert differing_metrics({1: [rule(1, "score", "gte", 0.3), rule(1, "score", "eq", 5)]}, apart, {1}) == {
        1
    }
    values = {1: [rule(1, "enum", "in", ["b", "a", "a"])]}
    assert differing_metrics({1: [rule(1, "enum", "in", ["a", "b"])]}, values, set()) == set()
    # Inside one rule, beside a condition that differs only within tolerance.
    both = cond("score", "eq", 5)
    both["conditions"].append({"field": "score", "op": "gte", "value": 1})
    other = cond("score", "gte", 1.0000000000001)
    other["conditions"].append({"field": "score", "op": "eq", "value": True})
    a, b = {1: [{"metric_id": 1, "conditions": both}]}, {1: [{"metric_id": 1, "conditions": other}]}
    assert differing_metrics(a, b, {1}) == set()
    assert differing_metrics(a, b, set()) == {1}


# -- the rule comparison's fast paths against deepdiff itself ---------------------------------------

_RULE_VALUES = st.sampled_from(
    [
        *(True, False, 0, 5, 1, 1.0, 3, 3.0, 3.0000000001, 3.001, 0.3, 0.1 + 0.2, -0.0, 0.0, 4.5, 1e20),
        *(10**30, float("inf"), float("nan"), "a", "b", "5", "true", None),
    ]
)
_CONDITION = st.fixed_dictionaries(
    {
        "field": st.sampled_from(["score", "enum", "explanation"]),
        "op": st.sampled_from(["eq", "gte", "in"]),
        "value": st.one_of(_RULE_VALUES, st.lists(_RULE_VALUES, max_size=3)),
    }
)
_GROUP = st.fixed_dictionaries(
    {
        "operator": st.sampled_from(["and", "or"]),
        "conditions": st.lists(
            st.one_of(
                _CONDITION,
                st.fixed_dictionaries(
                    {
                        "operator": st.sampled_from(["and", "or"]),
                        "conditions": st.lists(_CONDITION, max_size=2),
                    }
                ),
            ),
            max_size=3,
        ),
    }
)


def _tweak(value: Any, data: st.DataObject) -> Any:
    """``value`` with changes that deepdiff may or may not see: reorders, repeats, true/5, 3/3.0,
    differences below and above the tolerance, a dropped key."""
    if isinstance(value, dict):
        out = {k: _tweak(v, data) for k, v in value.items()}
        if out and data.draw(st.integers(0, 9)) == 0:
            out.pop(data.draw(st.sampled_from(sorted(out))))
        return out
    if isinstance(value, list):
        shuffled: list[Any] = data.draw(st.permutations(value))
        items = [_tweak(v, data) for v in shuffled]
        repeat: bool = data.draw(st.booleans())
        if items and repeat:
            items.append(items[0])
        return items
    choice = data.draw(st.integers(0, 5))
    if choice == 0 and isinstance(value, bool):
        return 5 if value else 0
    if choice == 0 and value in (0, 1, 5) and not isinstance(value, bool):
        return value != 0
    if choice == 1 and isinstance(value, int | float) and not isinstance(value, bool):
        return value + data.draw(st.sampled_from([1e-12, 1e-8, 0.5]))
    if choice == 2 and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


@given(
    rules=st.lists(st.tuples(st.sampled_from([1, 2, 3]), _GROUP), max_size=5),
    binary=st.sets(st.sampled_from([1, 2, 3])),
    data=st.data(),
)
def test_rule_comparison_agrees_with_deepdiff(
    rules: list[tuple[int, dict[str, Any]]], binary: set[int], data: st.DataObject
) -> None:
    # The canonical sort and the hash forms settle most metrics without deepdiff (a plan of 2,000
    # rubrics spent a third of its CPU in it); whatever they settle, deepdiff must say the same.
    from reconciler.kinds.rubric import deepdiff_differing, differing_metrics, rules_by_metric

    before = rules_by_metric([{"metric_id": m, "conditions": group} for m, group in rules])
    after = {m: _tweak(list(side), data) for m, side in before.items()}
    if data.draw(st.booleans()):
        after[data.draw(st.sampled_from([1, 2, 3]))] = []
    everything = set(before) | set(after)
    note(f"before={before!r} after={after!r}")
    expected = deepdiff_differing(before, after, binary, everything)
    assert differing_metrics(before, after, binary) == expected
    assert differing_metrics(after, before, binary) == expected


def test_rule_comparison_needs_no_deepdiff_for_plain_changes(monkeypatch: pytest.MonkeyPatch) -> None:
    # An added rule, a changed threshold, another operator: the hash forms differ, so no DeepDiff is
    # built (it is what made a plan of many rubrics slow); equal within tolerance still asks it.
    import deepdiff

    from reconciler.kinds import rubric

    built = []
    real = deepdiff.DeepDiff

    class Counting(real):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            built.append(1)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(deepdiff, "DeepDiff", Counting)  # the library's class, to count its uses
    live = {1: [rule(1, "score", "gte", 3)], 2: [rule(2, "score", "eq", True)]}
    assert rubric.differing_metrics(live, {1: [rule(1, "score", "gte", 4)], 2: []}, {2}) == {1, 2}
    assert rubric.differing_metrics(live, {1: [rule(1, "score", "lte", 3)]}, {2}) == {1, 2}
    assert built == []
    assert rubric.differing_metrics(live, {1: [rule(1, "score", "gte", 3.0000000001)]}, {2}) == {2}
    assert built == [1]


def test_false_is_not_zero_for_a_metric_that_is_not_binary() -> None:
    # As Python values false == 0 and true == 1, and the canonical sort compared values: a rule
    # changed from 0 to false on a scored metric was planned as no change. deepdiff tells them apart.
    from reconciler.kinds.rubric import differing_metrics

    zero, false = {1: [rule(1, "score", "eq", 0)]}, {1: [rule(1, "score", "eq", False)]}
    one, true = {1: [rule(1, "score", "eq", 1)]}, {1: [rule(1, "score", "eq", True)]}
    assert differing_metrics(zero, false, set()) == {1}
    assert differing_metrics(one, true, set()) == {1}
    assert differing_metrics(zero, false, {1}) == set()  # binary: false is 0


def test_rules_that_are_not_plain_json_are_left_to_deepdiff() -> None:
    # A caller of the library may pass Python values the API never returns. The canonical text would
    # take the key 1 for "1" and a date for its text; deepdiff tells them apart.
    import datetime

    from reconciler.kinds.rubric import differing_metrics

    def one(value: Any) -> dict[int, list[dict[str, Any]]]:
        return {1: [rule(1, "enum", "eq", value)]}

    assert differing_metrics(one({1: "a"}), one({"1": "a"}), set()) == {1}
    assert differing_metrics(one(datetime.date(2024, 1, 1)), one("2024-01-01"), set()) == {1}
    assert differing_metrics(one(b"ab"), one("b'ab'"), set()) == {1}
    assert differing_metrics(one(datetime.date(2024, 1, 1)), one(datetime.date(2024, 1, 1)), set()) == set()
