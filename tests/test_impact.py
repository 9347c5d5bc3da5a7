"""Tests of the rubric impact preview: evaluator semantics, report, windows, fetching, rendering."""

from __future__ import annotations

import copy
import itertools
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.client import CekuraClient, RetryPolicy
from reconciler.emulator import EmulatorState, start
from reconciler.emulator_seed import default_seed, generate_call_logs, rubric_passes
from reconciler.errors import PlanError, RequestRejected, ServerError
from reconciler.impact import (
    MAX_WINDOW_DAYS,
    PASS,
    CompiledRubric,
    ImpactReport,
    ImpactRequest,
    MetricResult,
    RubricFormatError,
    Verdict,
    call_results,
    compile_rubric,
    compute_impact,
    compute_impacts,
    evaluate,
    impact_of_calls,
    parse_since,
    split_window,
)
from reconciler.renderers.markdown import render_impact_markdown
from reconciler.renderers.text import render_impact_text


def cond(field: str, op: str, value: Any) -> dict[str, Any]:
    return {"field": field, "op": op, "value": value}


def rule(metric_id: int, *conditions: dict[str, Any], operator: str = "and") -> dict[str, Any]:
    return {"metric_id": metric_id, "conditions": {"operator": operator, "conditions": list(conditions)}}


def rubric(*rules: dict[str, Any], logic: str = "and") -> dict[str, Any]:
    return {"evaluation_logic": logic, "rules": list(rules)}


def score(value: float | None) -> MetricResult:
    return MetricResult(score=value)


def enum(value: str | None) -> MetricResult:
    return MetricResult(enum=value)


# -- evaluator: the documented semantics, one rule at a time ---------------------------------------


@pytest.mark.parametrize("value", [None, {}, {"evaluation_logic": "and", "rules": []}])
def test_no_rubric_passes_every_call(value: dict[str, Any] | None) -> None:
    assert evaluate(value, {}) == PASS
    assert evaluate(value, {5512: score(0)}) == Verdict(True, ())


def test_every_rule_must_pass() -> None:
    r = rubric(rule(1, cond("score", "gte", 4)), rule(2, cond("enum", "eq", "resolved")))
    assert evaluate(r, {1: score(4), 2: enum("resolved")}).passed
    assert evaluate(r, {1: score(3), 2: enum("resolved")}) == Verdict(False, (1,))
    assert evaluate(r, {1: score(3), 2: enum("unresolved")}) == Verdict(False, (1, 2))


def test_a_rule_whose_metric_has_no_result_is_skipped() -> None:
    r = rubric(rule(1, cond("score", "gte", 4)), rule(2, cond("score", "eq", 5)))
    assert evaluate(r, {2: score(5)}).passed  # metric 1 missing: skipped, not failed
    assert evaluate(r, {2: score(0)}) == Verdict(False, (2,))
    assert evaluate(r, {3: score(0)}).passed  # every rule skipped: the call passes
    assert evaluate(r, {}).passed


def test_a_rule_whose_field_has_no_value_is_skipped() -> None:
    r = rubric(rule(1, cond("score", "gte", 4)), rule(2, cond("enum", "neq", "unresolved")))
    assert evaluate(r, {1: MetricResult(None, None), 2: MetricResult(None, None)}).passed
    assert evaluate(r, {1: enum("x"), 2: score(0)}).passed  # each rule tests a field its result lacks
    # A multi-condition rule: the condition on the missing field is skipped, the other one decides.
    both = rubric(rule(1, cond("score", "gte", 4), cond("enum", "eq", "ok")))
    assert evaluate(both, {1: score(4)}).passed
    assert evaluate(both, {1: score(3)}) == Verdict(False, (1,))
    assert evaluate(both, {1: MetricResult(5, "bad")}) == Verdict(False, (1,))


def test_a_result_marked_irrelevant_or_empty_skips_its_rule() -> None:
    """The product skips "metrics with null/empty values" and "metrics marked as irrelevant" (the
    metric's trigger did not fire: ``extra.trigger_failed``)."""
    live = rubric(rule(1, cond("score", "eq", True)), rule(2, cond("enum", "in", ["resolved"])))
    irrelevant = {
        "metrics": [
            {"id": 1, "score": 0, "enum": "", "value": "", "extra": {"trigger_failed": True}},
            {"id": 2, "score": 0, "enum": "", "value": ""},  # an enum metric without a value
        ]
    }
    assert call_results(irrelevant) == {2: MetricResult(0.0, None)}
    assert evaluate(live, call_results(irrelevant)) == PASS
    relevant = {
        "metrics": [{"id": 1, "score": 0, "enum": "", "value": "", "extra": {"trigger_failed": False}}]
    }
    assert evaluate(live, call_results(relevant)) == Verdict(False, (1,))
    failing_enum = {"metrics": [{"id": 2, "score": 0, "enum": "unresolved", "value": "unresolved"}]}
    assert evaluate(live, call_results(failing_enum)) == Verdict(False, (2,))


def test_a_live_or_rubric_is_judged_as_written() -> None:
    either = rubric(rule(1, cond("score", "gte", 4)), rule(2, cond("enum", "eq", "ok")), logic="or")
    assert evaluate(either, {1: score(1), 2: enum("ok")}) == PASS
    assert evaluate(either, {1: score(5), 2: enum("bad")}) == PASS
    assert evaluate(either, {1: score(1), 2: enum("bad")}) == Verdict(False, (1, 2))
    assert evaluate(either, {1: score(1)}) == Verdict(False, (1,))  # the other rule is skipped
    assert evaluate(either, {}) == PASS  # every rule skipped
    any_condition = rubric(rule(1, cond("score", "gte", 4), cond("score", "eq", 0), operator="or"))
    assert evaluate(any_condition, {1: score(0)}) == PASS
    assert evaluate(any_condition, {1: score(2)}) == Verdict(False, (1,))
    assert "or" in repr(compile_rubric(either))


@pytest.mark.parametrize(
    ("op", "value", "passing", "failing"),
    [
        ("gte", 4, [4, 4.0, 4.5, 5], [3.99, 0]),
        ("gt", 4, [4.01, 5], [4, 3]),
        ("lte", 2.5, [2.5, 0], [2.51, 5]),
        ("lt", 2.5, [2.49, 0], [2.5, 3]),
        ("eq", 3, [3, 3.0], [2.99, 4]),
        ("neq", 3, [2, 3.5], [3, 3.0]),
        ("in", [1, 2.5], [1, 1.0, 2.5], [2, 0]),
    ],
)
def test_score_ops(op: str, value: Any, passing: list[float], failing: list[float]) -> None:
    compiled = compile_rubric(rubric(rule(7, cond("score", op, value))))
    for actual in passing:
        assert compiled.evaluate({7: score(actual)}).passed, (op, value, actual)
    for actual in failing:
        assert compiled.evaluate({7: score(actual)}) == Verdict(False, (7,)), (op, value, actual)


def test_binary_true_is_5_and_false_is_0() -> None:
    for rule_value, result_value, passed in [
        (True, 5, True),
        (True, 0, False),
        (False, 0, True),
        (False, 5, False),
        (5, True, True),  # a result given as a boolean counts the same way
        (0, False, True),
        (0, True, False),
    ]:
        r = rubric(rule(9, cond("score", "eq", rule_value)))
        results = call_results({"metrics": [{"id": 9, "score": result_value}]})
        assert evaluate(r, results).passed is passed, (rule_value, result_value)
    assert not evaluate(rubric(rule(9, cond("score", "neq", True))), {9: score(5)}).passed
    assert evaluate(rubric(rule(9, cond("score", "neq", True))), {9: score(0)}).passed


def test_enum_ops() -> None:
    eq = rubric(rule(8, cond("enum", "eq", "resolved")))
    neq = rubric(rule(8, cond("enum", "neq", "unresolved")))
    isin = rubric(rule(8, cond("enum", "in", ["resolved", "partially_resolved"])))
    assert evaluate(eq, {8: enum("resolved")}).passed
    assert not evaluate(eq, {8: enum("Resolved")}).passed  # exact, case-sensitive
    assert evaluate(neq, {8: enum("resolved")}).passed
    assert not evaluate(neq, {8: enum("unresolved")}).passed
    assert evaluate(isin, {8: enum("partially_resolved")}).passed
    assert not evaluate(isin, {8: enum("unresolved")}).passed
    assert not evaluate(rubric(rule(8, cond("enum", "in", []))), {8: enum("resolved")}).passed


def test_failed_ids_are_in_rule_order_and_once_per_metric() -> None:
    r = rubric(
        rule(3, cond("score", "gte", 4)),
        rule(1, cond("score", "eq", 5)),
        rule(3, cond("score", "lt", 1)),
    )
    assert evaluate(r, {1: score(0), 3: score(2)}) == Verdict(False, (3, 1))


def test_a_compiled_rubric_is_reused_and_accepted_by_evaluate() -> None:
    compiled = compile_rubric(rubric(rule(1, cond("score", "gte", 4))))
    assert compile_rubric(compiled) is compiled
    assert evaluate(compiled, {1: score(1)}) == Verdict(False, (1,))
    assert compiled.metric_ids == frozenset({1})
    assert "1 checks" in repr(compiled)


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("nope", "must be an object"),
        ({"evaluation_logic": "xor", "rules": []}, 'evaluation_logic must be "and" or "or"'),
        ({"rules": {}}, "rules must be a list"),
        ({"rules": [7]}, "rubric rule 1: a rule must be an object"),
        ({"rules": [{"metric_id": "5512", "conditions": {}}]}, "metric_id must be an integer"),
        ({"rules": [{"metric_id": 5, "conditions": [cond("score", "eq", 5)]}]}, "conditions must be"),
        ({"rules": [{"metric_id": 5, "conditions": {"operator": "nor", "conditions": []}}]}, "operator"),
        (rubric(rule(5, "x")), "a condition must be an object"),  # type: ignore[arg-type]
        (rubric(rule(5, cond("value", "eq", 5))), 'field must be "score" or "enum"'),
        (rubric(rule(5, cond("score", "between", 5))), "op must be one of"),
        (rubric(rule(5, cond("score", "gte", "4"))), "score op gte takes a number"),
        (rubric(rule(5, cond("score", "in", 4))), "op in takes a list"),
        (rubric(rule(5, cond("score", "in", ["a"]))), "list of numbers"),
        (rubric(rule(5, cond("enum", "gte", "a"))), "field enum takes op eq, neq or in"),
        (rubric(rule(5, cond("enum", "eq", 1))), "enum op eq takes a string"),
        (rubric(rule(5, cond("enum", "in", ["a", 1]))), "list of strings"),
    ],
)
def test_malformed_rubrics_are_refused_when_compiled(value: Any, words: str) -> None:
    with pytest.raises(RubricFormatError, match=words) as info:
        compile_rubric(value)
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, PlanError)


def test_metric_results_from_call_logs() -> None:
    call = {
        "metrics": [
            {"id": 1, "score": 4, "enum": None, "value": None},
            {"id": 2, "score": None, "enum": "resolved", "value": "resolved"},
            {"id": 3, "score": None, "enum": None, "value": "billing"},  # enum only in value
            {"id": 4, "score": float("nan"), "enum": None},  # not a number: no value
            {"id": 5, "score": "4"},  # text is not a score
            {"id": 6, "score": True},
            {"id": "7", "score": 1},  # no integer id: ignored
            "junk",
            {"id": 8, "score": 10**400},
        ]
    }
    results = call_results(call)
    assert results == {
        1: MetricResult(4.0, None),
        2: MetricResult(None, "resolved"),
        3: MetricResult(None, "billing"),
        4: MetricResult(None, None),
        5: MetricResult(None, None),
        6: MetricResult(5.0, None),
        8: MetricResult(None, None),
    }
    assert call_results(call, only=[1, 3]) == {1: MetricResult(4.0, None), 3: MetricResult(None, "billing")}
    assert call_results({"metrics": None}) == {}
    assert call_results({}) == {}


# -- evaluator: a property test against a plain formulation of the doc -----------------------------

METRIC_IDS = [11, 12, 13]
ENUMS = ["a", "b", "c"]
# Rule values and results come from one small pool, so that boundaries (equal values) are common.
SCORES = [0, 1, 2.5, 3, 4, 4.5, 5]
score_values = st.integers(0, 5).flatmap(
    lambda pick: (
        st.floats(min_value=-1, max_value=6, allow_nan=False).map(lambda x: round(x, 1))
        if pick == 0
        else st.sampled_from([*SCORES, True, False])
    )
)
SCORE_OPS = ["eq", "neq", "gt", "gte", "lt", "lte"]


def condition_for(field_op: tuple[str, str]) -> st.SearchStrategy[dict[str, Any]]:
    fld, op = field_op
    one = score_values if fld == "score" else st.sampled_from(ENUMS)
    if op == "in":  # short lists (the empty one too) and longer ones, equally often
        return st.one_of(st.lists(one, max_size=1), st.lists(one, min_size=2, max_size=4)).map(
            lambda values: cond(fld, op, values)
        )
    return one.map(lambda value: cond(fld, op, value))


# Every (field, op) pair is equally likely, so each op meets equal values often.
conditions = st.sampled_from(
    [("score", op) for op in [*SCORE_OPS, "in"]] + [("enum", op) for op in ["eq", "neq", "in"]]
).flatmap(condition_for)
LOGICS = st.sampled_from(["and", "and", "or"])  # "and" is what the API accepts; "or" live rubrics too
rules = st.builds(
    lambda metric_id, conds, operator: rule(metric_id, *conds, operator=operator),
    st.sampled_from(METRIC_IDS),
    st.lists(conditions, min_size=0, max_size=3),
    LOGICS,
)
rubrics = st.one_of(
    st.builds(lambda rs, logic: rubric(*rs, logic=logic), st.lists(rules, min_size=1, max_size=5), LOGICS),
    st.sampled_from([None, {}, rubric()]),
)
# A field is missing now and then (None), a metric's whole result now and then (absent key).
metric_results = st.builds(
    MetricResult,
    st.sampled_from([*(float(x) for x in SCORES), None]),
    st.sampled_from([*ENUMS, None]),
)
results_maps = st.dictionaries(st.sampled_from(METRIC_IDS), metric_results, max_size=len(METRIC_IDS))


def reference(rubric_value: dict[str, Any] | None, results: dict[int, MetricResult]) -> Verdict:
    """The doc read literally, with the decided 'no value in that field' rule, and no cleverness;
    "or" (at the top or in a rule) as written: any decided rule or condition holding suffices."""

    def as_number(x: Any) -> Any:
        if x is True:
            return 5
        if x is False:
            return 0
        return x

    failed: list[int] = []
    decided: list[bool] = []
    for r in (rubric_value or {}).get("rules", []):
        result = results.get(r["metric_id"])
        if result is None:
            continue  # the metric produced no value on this call: skipped
        holding: list[bool] = []
        for c in r["conditions"]["conditions"]:
            actual = result.score if c["field"] == "score" else result.enum
            if actual is None:
                continue  # no value in the field this condition tests: skipped
            value = c["value"]
            if c["field"] == "score":
                value = [as_number(v) for v in value] if c["op"] == "in" else as_number(value)
            op = c["op"]
            if op == "eq":
                holds = actual == value
            elif op == "neq":
                holds = actual != value
            elif op == "gt":
                holds = actual > value
            elif op == "gte":
                holds = actual >= value
            elif op == "lt":
                holds = actual < value
            elif op == "lte":
                holds = actual <= value
            else:
                holds = actual in value
            holding.append(bool(holds))
        if not holding:
            continue  # no condition could be evaluated: the rule is skipped
        rule_ok = any(holding) if r["conditions"]["operator"] == "or" else all(holding)
        decided.append(rule_ok)
        if not rule_ok and r["metric_id"] not in failed:
            failed.append(r["metric_id"])
    if (rubric_value or {}).get("evaluation_logic") == "or" and any(decided):
        return PASS
    return Verdict(not failed, tuple(failed))


@settings(max_examples=300, deadline=None)
@given(rubrics, st.lists(results_maps, min_size=5, max_size=20))
def test_evaluate_matches_the_reference(
    rubric_value: dict[str, Any] | None, calls: list[dict[int, MetricResult]]
) -> None:
    compiled = compile_rubric(rubric_value)
    for results in calls:
        expected = reference(rubric_value, results)
        assert evaluate(rubric_value, results) == expected
        assert compiled.evaluate(results) == expected


# -- windows ---------------------------------------------------------------------------------------

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_split_window_short_spans_are_one_window() -> None:
    assert split_window(T0, T0 + timedelta(days=30)) == [(T0, T0 + timedelta(days=30))]
    assert split_window(T0, T0 + timedelta(days=32)) == [(T0, T0 + timedelta(days=32))]
    assert split_window(T0, T0 + timedelta(minutes=1)) == [(T0, T0 + timedelta(minutes=1))]


def test_windows_stay_a_day_inside_the_documented_33_days() -> None:
    """ "Must not exceed 33 days": a server counting days inclusively refuses exactly 33."""
    assert MAX_WINDOW_DAYS == 32
    assert split_window(T0, T0 + timedelta(days=33)) == [
        (T0, T0 + timedelta(days=32)),
        (T0 + timedelta(days=32), T0 + timedelta(days=33)),
    ]


def test_split_window_cuts_long_spans_into_consecutive_windows() -> None:
    until = T0 + timedelta(days=90, hours=5)
    windows = split_window(T0, until)
    assert windows == [
        (T0, T0 + timedelta(days=32)),
        (T0 + timedelta(days=32), T0 + timedelta(days=64)),
        (T0 + timedelta(days=64), until),
    ]
    assert len(split_window(T0, T0 + timedelta(days=64))) == 2
    assert len(split_window(T0, T0 + timedelta(days=64, seconds=1))) == 3
    small = split_window(T0, T0 + timedelta(days=10), max_days=3)
    assert [end - start for start, end in small] == [timedelta(days=3)] * 3 + [timedelta(days=1)]
    assert all(a[1] == b[0] for a, b in itertools.pairwise(small))


def test_split_window_takes_naive_times_as_utc_and_refuses_empty_windows() -> None:
    naive = datetime(2026, 1, 1)
    assert split_window(naive, naive + timedelta(days=1)) == [(T0, T0 + timedelta(days=1))]
    other_zone = datetime(2026, 1, 1, 1, tzinfo=timezone(timedelta(hours=1)))
    assert split_window(other_zone, T0 + timedelta(hours=1)) == [(T0, T0 + timedelta(hours=1))]
    with pytest.raises(ValueError, match="the window is empty"):
        split_window(T0, T0)
    with pytest.raises(ValueError, match="the window is empty"):
        split_window(T0, T0 - timedelta(days=1))
    with pytest.raises(ValueError, match="max_days must be positive"):
        split_window(T0, T0 + timedelta(days=1), max_days=0)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("7d", timedelta(days=7)),
        ("12h", timedelta(hours=12)),
        ("30m", timedelta(minutes=30)),
        ("2w", timedelta(weeks=2)),
        (" 90D ", timedelta(days=90)),
        ("1 h", timedelta(hours=1)),
    ],
)
def test_parse_since(text: str, expected: timedelta) -> None:
    assert parse_since(text) == expected


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("", "is not a duration"),
        ("7", "is not a duration"),
        ("d", "is not a duration"),
        ("7x", "is not a duration"),
        ("-7d", "is not a duration"),
        ("1.5d", "is not a duration"),
        ("7d2h", "is not a duration"),
        ("0d", "is an empty window"),
        ("99999999999999w", "too long"),
        ("600w", "too long"),
    ],
)
def test_parse_since_refuses_with_a_clear_message(text: str, words: str) -> None:
    with pytest.raises(ValueError, match=words) as info:
        parse_since(text)
    assert "e.g. 7d" in str(info.value) or "too long" in str(info.value)


# -- the report ------------------------------------------------------------------------------------


def test_report_counts_flips_and_attributes_them() -> None:
    report = ImpactReport(1)
    report.record(101, PASS, PASS)
    report.record(102, PASS, Verdict(False, (5512, 8821)))
    report.record(103, Verdict(False, (115164,)), PASS)
    report.record(104, Verdict(False, (1,)), Verdict(False, (2,)))  # fails both ways: no flip
    report.record(None, PASS, Verdict(False, (5512,)))  # no id: counted, not an example
    assert (report.calls, report.passing_before, report.passing_after) == (5, 3, 2)
    assert (report.pass_to_fail, report.fail_to_pass, report.flips) == (2, 1, 3)
    assert report.examples_pass_to_fail == [102]
    assert report.examples_fail_to_pass == [103]
    assert report.to_json() == {
        "project_id": 1,
        "since": None,
        "until": None,
        "calls": 5,
        "passing_before": 3,
        "passing_after": 2,
        "pass_to_fail": {"count": 2, "examples": [102]},
        "fail_to_pass": {"count": 1, "examples": [103]},
        "by_metric": [
            {"metric_id": 5512, "pass_to_fail": 2, "fail_to_pass": 0},
            {"metric_id": 8821, "pass_to_fail": 1, "fail_to_pass": 0},
            {"metric_id": 115164, "pass_to_fail": 0, "fail_to_pass": 1},
        ],
        "recorded_mismatches": 0,
        "skipped_no_results": [],
        "daily": [],
    }


def test_report_keeps_five_examples_per_direction_and_merges() -> None:
    first, second = ImpactReport(1), ImpactReport(1)
    for i in range(7):
        first.record(i, PASS, Verdict(False, (1,)))
    for i in range(3):
        first.record(100 + i, Verdict(False, (2,)), PASS)
        second.record(200 + i, Verdict(False, (2,)), PASS)
    second.record("call_x", PASS, Verdict(False, (3,)), recorded=False)
    assert first.examples_pass_to_fail == [0, 1, 2, 3, 4]
    first.merge(second)
    assert first.pass_to_fail == 8 and first.fail_to_pass == 6 and first.calls == 14
    assert first.examples_pass_to_fail == [0, 1, 2, 3, 4]
    assert first.examples_fail_to_pass == [100, 101, 102, 200, 201]
    assert {k: (v.pass_to_fail, v.fail_to_pass) for k, v in first.by_metric.items()} == {
        1: (7, 0),
        2: (0, 6),
        3: (1, 0),
    }
    assert first.recorded_mismatches == 1


def test_report_from_calls_streams_a_generator_and_checks_recorded_outcomes() -> None:
    live = rubric(rule(1, cond("score", "gte", 4)))
    desired = rubric(rule(1, cond("score", "gte", 5)), rule(2, cond("enum", "eq", "ok")))
    consumed: list[int] = []

    def calls() -> Iterator[dict[str, Any]]:
        for i, (s, e, recorded) in enumerate(
            [(4, "ok", True), (5, "ok", True), (5, "no", True), (3, None, True), (None, "ok", False)]
        ):
            consumed.append(i)
            metrics = [{"id": 1, "score": s, "enum": None}, {"id": 2, "score": None, "enum": e}]
            yield {"id": i, "success": recorded, "metrics": metrics}

    report = impact_of_calls(calls(), live, desired, project_id=9)
    assert consumed == [0, 1, 2, 3, 4]
    assert report.project_id == 9 and report.calls == 5
    assert (report.passing_before, report.passing_after) == (4, 2)
    assert report.examples_pass_to_fail == [0, 2]
    assert {k: v.pass_to_fail for k, v in report.by_metric.items()} == {1: 1, 2: 1}
    # call 3 fails the live rubric but was recorded as a success; call 4 the other way round.
    assert report.recorded_mismatches == 2
    # No live rubric: the recorded outcome is not compared (it came from no rubric at all).
    assert impact_of_calls([{"id": 1, "success": False}], None, None).recorded_mismatches == 0


# -- rendering -------------------------------------------------------------------------------------


def sample_report() -> ImpactReport:
    report = ImpactReport(123, since=T0, until=T0 + timedelta(days=30))
    for i in range(6):
        report.record(12300000 + i, PASS, Verdict(False, (5512,)))
    report.record(12300100, Verdict(False, (8821,)), PASS)
    for _ in range(13):
        report.record(1, PASS, PASS)
    return report


def test_render_text() -> None:
    text = render_impact_text([sample_report(), ImpactReport(124)], {5512: "Customer Satisfaction"})
    assert (
        "Rubric impact on project 123, 2026-01-01 00:00 to 2026-01-31 00:00 UTC: 20 calls replayed." in text
    )
    assert "passing: 19 (95.0%) now, 14 (70.0%) with the file's rubric (-5)" in text
    assert "pass -> fail: 6 calls (e.g. 12300000, 12300001, 12300002, 12300003, 12300004)" in text
    assert "fail -> pass: 1 call (e.g. 12300100)" in text
    assert "metric 5512 (Customer Satisfaction): 6 pass -> fail, 0 fail -> pass" in text
    assert "metric 8821: 0 pass -> fail, 1 fail -> pass" in text
    assert "project 124, the given calls: no calls in the window, nothing to compare." in text
    quiet = ImpactReport(5)
    quiet.record(1, PASS, PASS)
    assert "No call changes outcome." in render_impact_text([quiet], {})


def test_render_markdown_is_a_table_and_escapes_names() -> None:
    md = render_impact_markdown([sample_report()], {5512: "CSAT | <b>x</b> *y*"})
    lines = md.splitlines()
    assert lines[0] == "### Rubric impact preview"
    assert "| 123 | 2026-01-01 00:00 → 2026-01-31 00:00 | 20 | 19 (95.0%) | 14 (70.0%) | 6 | 1 |" in lines
    assert r"| 5512 CSAT \| \<b\>x\</b\> \*y\* | 6 | 0 |" in lines
    assert "| 8821 | 0 | 1 |" in lines
    assert "`12300000`" in md and "`12300100`" in md
    # Every table row has as many cells as its header.
    for row in (line for line in lines if line.startswith("|")):
        cells = row.replace(r"\|", "").count("|")
        assert cells in (8, 4), row


# -- fetching --------------------------------------------------------------------------------------


def test_iter_call_logs_pages_with_the_window_and_follows_next() -> None:
    seen: list[httpx.Request] = []
    base = "https://api.example.test"

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if "page=2" in str(request.url):
            return httpx.Response(200, json={"count": 3, "next": None, "results": [{"id": 3}]})
        nxt = f"{base}/observability/v2/call-logs/?project_id=7&page=2"
        return httpx.Response(200, json={"count": 3, "next": nxt, "results": [{"id": 1}, {"id": 2}]})

    client = CekuraClient(
        base, "k", transport=httpx.MockTransport(handler), retry=RetryPolicy(attempts=1), sleep=lambda s: None
    )
    calls = client.iter_call_logs(7, T0, datetime(2026, 1, 31, 12, 30, 0, 250000), page_size=2)
    assert seen == []  # lazy: nothing fetched before the first call is asked for
    assert next(calls) == {"id": 1}
    assert len(seen) == 1
    assert [c["id"] for c in calls] == [2, 3]
    first = parse_qs(urlsplit(str(seen[0].url)).query)
    assert seen[0].url.path == "/observability/v2/call-logs/"
    assert first == {
        "project_id": ["7"],
        "timestamp_from": ["2026-01-01T00:00:00Z"],
        "timestamp_to": ["2026-01-31T12:30:00.250000Z"],
        "page_size": ["2"],
    }


class FakeSource:
    """Serves fixed calls per window, newest first, inclusive at both ends like the emulator."""

    def __init__(
        self,
        calls: list[dict[str, Any]],
        *,
        fail_on: datetime | None = None,
        refuse_over: timedelta | None = None,
    ) -> None:
        self.calls = calls
        self.fail_on = fail_on
        self.refuse_over = refuse_over  # a server stricter about the window: 400 over this
        self.windows: list[tuple[datetime, datetime, int]] = []
        self.active = 0
        self.most_active = 0
        self.lock = threading.Lock()

    def iter_call_logs(
        self, project_id: int, start: datetime, end: datetime, *, page_size: int = 100
    ) -> Iterator[dict[str, Any]]:
        with self.lock:
            self.windows.append((start, end, page_size))
            self.active += 1
            self.most_active = max(self.most_active, self.active)
        try:
            time.sleep(0.02)
            if start == self.fail_on:
                raise ServerError("boom")
            if self.refuse_over is not None and end - start > self.refuse_over:
                raise RequestRejected("the API rejected GET ... (400): The time window may not exceed")
            for call in self.calls:
                when = datetime.fromisoformat(call["timestamp"])
                if start <= when <= end:
                    yield call
        finally:
            with self.lock:
                self.active -= 1


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_compute_impact_counts_a_call_on_a_seam_once_and_bounds_the_threads() -> None:
    until = T0 + timedelta(days=200)
    windows = split_window(T0, until)
    assert len(windows) == 7
    moments = [T0, *(end for _, end in windows)]  # every seam, and both ends of the whole span
    moments += [T0 - timedelta(seconds=1), until + timedelta(seconds=1)]  # outside: not counted
    calls = [
        {"id": i, "timestamp": stamp(m), "metrics": [{"id": 1, "score": 4}]}
        for i, m in enumerate(sorted(moments, reverse=True))
    ]
    source = FakeSource(calls)
    live = rubric(rule(1, cond("score", "gte", 4)))
    desired = rubric(rule(1, cond("score", "gte", 5)))
    report = compute_impact(source, 3, live, desired, T0, until, parallelism=2, page_size=50)
    assert report.calls == len(windows) + 1
    assert report.pass_to_fail == len(windows) + 1
    assert report.since == T0 and report.until == until
    assert source.most_active <= 2
    assert sorted((s, e) for s, e, _ in source.windows) == windows
    assert {size for _, _, size in source.windows} == {50}
    assert report.examples_pass_to_fail == [1, 2, 3, 4, 5]  # newest first, as the API lists them


def test_a_refused_window_is_split_and_retried_instead_of_failing_the_run() -> None:
    until = T0 + timedelta(days=64)
    moments = [T0 + timedelta(hours=7 * i) for i in range(int(64 * 24 / 7) + 1)]
    calls = [
        {"id": i, "timestamp": stamp(m), "metrics": [{"id": 1, "score": 4}]}
        for i, m in enumerate(sorted(moments, reverse=True))
    ]
    live, desired = rubric(rule(1, cond("score", "gte", 4))), rubric(rule(1, cond("score", "gte", 5)))
    expected = compute_impact(FakeSource(calls), 3, live, desired, T0, until).to_json()
    strict = FakeSource(calls, refuse_over=timedelta(days=10))
    report = compute_impact(strict, 3, live, desired, T0, until, parallelism=2)
    assert report.to_json() == expected  # every call, once, and the same (newest) examples
    assert report.calls == len(calls)
    served = [(s, e) for s, e, _ in strict.windows if e - s <= timedelta(days=10)]
    assert sorted(served) == [
        (T0 + timedelta(days=8 * i), T0 + timedelta(days=8 * (i + 1))) for i in range(8)
    ]
    # A server that refuses even a day-long window: the refusal stands, after a bounded number of tries.
    hopeless = FakeSource(calls, refuse_over=timedelta(hours=1))
    with pytest.raises(RequestRejected, match="time window"):
        compute_impact(hopeless, 3, live, desired, T0, T0 + timedelta(days=32), parallelism=1)
    assert len(hopeless.windows) <= 1 + 2 + 2 + 2 + 2 + 2


def test_compute_impact_raises_the_first_failure_and_checks_its_arguments() -> None:
    windows = split_window(T0, T0 + timedelta(days=300))
    source = FakeSource([], fail_on=windows[-2][0])
    with pytest.raises(ServerError, match="boom"):
        compute_impact(source, 3, None, None, T0, T0 + timedelta(days=300), parallelism=1)
    # Newest first: the newest window, the failing one, at most one more started in the meantime;
    # the others were cancelled.
    assert 2 <= len(source.windows) <= 3 < len(windows)
    assert source.windows[0][:2] == windows[-1]
    with pytest.raises(ValueError, match="parallelism"):
        compute_impact(source, 3, None, None, T0, T0 + timedelta(days=1), parallelism=0)
    with pytest.raises(RubricFormatError):
        compute_impact(source, 3, {"rules": "x"}, None, T0, T0 + timedelta(days=1))


class ProjectSource(FakeSource):
    """A FakeSource that fails every window of project ``failing``, and holds each window until
    ``together`` windows are being fetched at the same time (a barrier: never met, it breaks)."""

    def __init__(self, calls: list[dict[str, Any]], *, failing: int | None = None, together: int = 0) -> None:
        super().__init__(calls)
        self.failing = failing
        self.barrier = threading.Barrier(together) if together else None
        self.asked: list[int] = []  # the project of every window asked for

    def iter_call_logs(
        self, project_id: int, start: datetime, end: datetime, *, page_size: int = 100
    ) -> Iterator[dict[str, Any]]:
        with self.lock:
            self.asked.append(project_id)
        if self.barrier is not None:
            self.barrier.wait(timeout=30)
        if project_id == self.failing:
            raise ServerError(f"boom for project {project_id}")
        yield from super().iter_call_logs(project_id, start, end, page_size=page_size)


def _day_calls(days: int) -> list[dict[str, Any]]:
    moments = [T0 + timedelta(hours=12 + 24 * i) for i in range(days)]
    return [
        {"id": i, "timestamp": stamp(m), "metrics": [{"id": 1, "score": 4 + i % 2}]}
        for i, m in enumerate(sorted(moments, reverse=True))
    ]


def test_compute_impacts_fetches_every_window_of_every_project_at_once() -> None:
    """Three projects of two windows each, parallelism 6: all six windows are in flight together
    (one pool for every project's windows, not one project after the other), and each project's
    report is the one compute_impact makes alone."""
    until = T0 + timedelta(days=60)
    calls = _day_calls(60)
    live, desired = rubric(rule(1, cond("score", "gte", 4))), rubric(rule(1, cond("score", "gte", 5)))
    requests = [ImpactRequest(pid, live, desired) for pid in (7, 8, 9)]
    source = ProjectSource(calls, together=6)
    results = compute_impacts(source, requests, T0, until, parallelism=6)
    assert source.most_active == 6
    alone = compute_impact(FakeSource(calls), 7, live, desired, T0, until).to_json()
    for pid, result in zip((7, 8, 9), results, strict=True):
        assert isinstance(result, ImpactReport)
        assert result.to_json() == {**alone, "project_id": pid}


def test_compute_impacts_returns_a_projects_failure_in_its_place_and_bounds_the_threads() -> None:
    until = T0 + timedelta(days=100)
    calls = _day_calls(100)
    live, desired = rubric(rule(1, cond("score", "gte", 4))), rubric(rule(1, cond("score", "gte", 5)))
    requests = [
        ImpactRequest(1, live, desired),
        ImpactRequest(2, live, desired),
        ImpactRequest(3, {"rules": "x"}, desired),  # does not compile: no request for it
        ImpactRequest(4, live, desired),
    ]
    source = ProjectSource(calls, failing=2)
    first, second, third, fourth = compute_impacts(source, requests, T0, until, parallelism=2)
    assert isinstance(second, ServerError) and "project 2" in str(second)
    assert isinstance(third, RubricFormatError)
    assert isinstance(first, ImpactReport) and isinstance(fourth, ImpactReport)
    assert first.calls == fourth.calls == 100
    assert source.most_active <= 2
    # Project 2: its first window failed, at most one more had started meanwhile; its other
    # windows were never asked for. The other projects were fetched whole.
    assert 1 <= source.asked.count(2) <= 2
    assert source.asked.count(1) == source.asked.count(4) == 4
    assert 3 not in source.asked


# -- end to end, against the emulator --------------------------------------------------------------


def seed_calls(project_id: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The calls the emulator serves, generated here from the seed (not fetched)."""
    seed = default_seed()
    project = next(p for p in seed["projects"] if p["id"] == project_id)
    agents = [a for a in seed["agents"] if a.get("project") == project_id]
    agent_ids = {a["id"] for a in agents}
    metrics = [
        m for m in seed["metrics"] if m.get("project") == project_id or agent_ids & set(m.get("agents") or [])
    ]
    now = datetime.fromisoformat(seed["now"])
    return project, generate_call_logs(project, metrics, agents, now=now)


def tightened(live: dict[str, Any]) -> dict[str, Any]:
    desired = copy.deepcopy(live)
    for r in desired["rules"]:
        if r["metric_id"] == 5512:
            assert r["conditions"]["conditions"] == [cond("score", "gte", 4)]
            r["conditions"]["conditions"] = [cond("score", "gte", 5)]
    return desired


def test_impact_of_tightening_5512_on_the_emulator() -> None:
    project, calls = seed_calls(123)
    live = project["rubric_config"]
    desired = tightened(live)

    def results(call: dict[str, Any]) -> dict[int, dict[str, Any]]:
        return {m["id"]: m for m in call["metrics"]}

    # Independently: a call flips exactly when its 5512 score is 4 and it otherwise passed.
    flipped = [
        c["id"]
        for c in calls
        if results(c).get(5512, {}).get("score") == 4
        and not results(c)[5512].get("extra")  # not marked irrelevant
        and rubric_passes(live, results(c)) is True
    ]
    passing_before = sum(rubric_passes(live, results(c)) is True for c in calls)
    assert flipped == [
        c["id"] for c in calls if rubric_passes(live, results(c)) and not rubric_passes(desired, results(c))
    ]
    assert len(flipped) > 10  # the seed makes this a real test

    with start(EmulatorState(api_key="k")) as emu:
        client = CekuraClient(base_url=emu.base_url, api_key="k")
        now = emu.state.now
        report = compute_impact(client, 123, live, desired, now - timedelta(days=30), now, page_size=40)
        # A longer span, split into three API windows, in small pages, sees the same calls.
        wide = compute_impact(
            client, 123, live, desired, now - timedelta(days=90), now, parallelism=3, page_size=7
        )
        requests = emu.state.requests_to("GET", "/observability/v2/call-logs/")
        client.close()

    assert report.calls == len(calls) == 300
    assert report.passing_before == passing_before
    assert report.pass_to_fail == len(flipped)
    assert report.passing_after == passing_before - len(flipped)
    assert report.fail_to_pass == 0 and report.examples_fail_to_pass == []
    assert report.examples_pass_to_fail == flipped[:5]
    assert report.to_json()["by_metric"] == [
        {"metric_id": 5512, "pass_to_fail": len(flipped), "fail_to_pass": 0}
    ]
    assert report.recorded_mismatches == 0  # the evaluator agrees with the outcomes the API recorded
    assert wide.to_json() | {"since": None} == report.to_json() | {"since": None}
    first_pages = [r.query for r in requests if "page" not in r.query]
    assert len(first_pages) == 1 + 3
    for query in first_pages:
        assert query["project_id"] == ["123"]
        span = datetime.fromisoformat(query["timestamp_to"][0]) - datetime.fromisoformat(
            query["timestamp_from"][0]
        )
        assert timedelta(0) < span <= timedelta(days=32)


def test_no_rubric_change_means_no_flips() -> None:
    project, calls = seed_calls(123)
    report = impact_of_calls(calls, project["rubric_config"], copy.deepcopy(project["rubric_config"]))
    assert report.flips == 0 and report.calls == 300 and report.by_metric == {}
    assert isinstance(compile_rubric(project["rubric_config"]), CompiledRubric)


def test_a_rule_metric_without_results_is_reported_skipped_across_merged_windows() -> None:
    rule = {"operator": "and", "conditions": [{"field": "score", "op": "gte", "value": 3}]}
    desired = {
        "evaluation_logic": "and",
        "rules": [{"metric_id": 1, "conditions": rule}, {"metric_id": 2, "conditions": rule}],
    }
    newer = impact_of_calls([{"id": 10, "metrics": [{"id": 1, "score": 4}]}], None, desired)
    older = impact_of_calls([{"id": 9, "metrics": []}], None, desired)
    assert older.skipped_no_results == [1, 2]
    newer.merge(older)
    assert newer.skipped_no_results == [2]
    assert impact_of_calls([], None, desired).skipped_no_results == []  # no calls: nothing to say
