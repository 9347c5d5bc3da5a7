"""End to end for the rubric: merge and prune by metric, live metric checks, names, guards.

The emulator is seeded with metrics of every current eval_type (see reconciler/emulator_seed.py): on
project 123, 5512 continuous_qualitative, 115164 and 7002 binary, 8821 and 7003 enum, 7001 numeric,
and 9101 a binary metric scoped to agent 301. Project 124 has 61210 (binary), project 125 61318
(enum) and 61319 (binary). Metrics of legacy eval_types and of one the tool does not know are added
by the tests that need them.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import Cli

from reconciler.emulator import RunningEmulator


def rubric_file(tmp_path: Path, rules: str, *, project: int = 123, prune: bool = False) -> Path:
    path = tmp_path / f"p{project}.yaml"
    body = textwrap.indent(textwrap.dedent(rules).strip(), "    ")
    path.write_text(
        f"version: 1\nproject: {project}\nrubric:\n  prune: {str(prune).lower()}\n  rules:\n{body}\n"
    )
    return path


def rule(metric: str, field: str, op: str, value: Any) -> str:
    condition = f"{{field: {field}, op: {op}, value: {json.dumps(value)}}}"
    return f"- {metric}\n  conditions: {{operator: and, conditions: [{condition}]}}"


def live_rules(emulator: RunningEmulator, project: int = 123) -> dict[int, list[Any]]:
    out: dict[int, list[Any]] = {}
    for item in (emulator.state.project(project)["rubric_config"] or {}).get("rules", []):
        out.setdefault(item["metric_id"], []).append(item["conditions"]["conditions"])
    return out


def test_prune_removes_unnamed_metrics(cli: Cli, emulator: RunningEmulator, tmp_path: Path) -> None:
    path = rubric_file(tmp_path, rule("metric_id: 5512", "score", "gte", 4), prune=True)
    plan = cli("plan", str(path))
    assert "- metric 8821 Call Resolution (enum)" in plan.out
    assert "- metric 115164 Appointment Booked (binary)" in plan.out
    assert cli("apply", "--auto-approve", str(path)).code == 0
    assert set(live_rules(emulator)) == {5512}


def test_absent_removes_one_metric(cli: Cli, emulator: RunningEmulator, tmp_path: Path) -> None:
    path = rubric_file(tmp_path, "- {metric_id: 8821, absent: true}")
    plan = cli("plan", str(path))
    assert "- metric 8821 Call Resolution (enum)" in plan.out
    assert cli("apply", "--auto-approve", str(path)).code == 0
    assert set(live_rules(emulator)) == {5512, 115164}


def test_empty_rules_with_prune_clears_the_rubric(
    cli: Cli, emulator: RunningEmulator, tmp_path: Path
) -> None:
    path = tmp_path / "clear.yaml"
    path.write_text("version: 1\nproject: 125\nrubric: {rules: [], prune: true}\n")
    assert cli("apply", "--auto-approve", str(path)).code == 0
    [patch] = emulator.state.patches()
    assert patch.json == {"rubric_config": {}}
    assert emulator.state.project(125)["rubric_config"] == {}
    assert cli("plan", "--detailed-exitcode", str(path)).code == 0


def test_a_metric_may_own_several_rules(cli: Cli, emulator: RunningEmulator, tmp_path: Path) -> None:
    rules = rule("metric_id: 7001", "score", "gte", 1) + "\n" + rule("metric_id: 7001", "score", "lt", 4.5)
    path = rubric_file(tmp_path, rules)
    assert cli("apply", "--auto-approve", str(path)).code == 0
    assert len(live_rules(emulator)[7001]) == 2
    assert cli("plan", "--detailed-exitcode", str(path)).code == 0


def test_order_key_order_and_binary_aliases_are_not_changes(
    cli: Cli, emulator: RunningEmulator, tmp_path: Path
) -> None:
    # Live: 115164 eq 5, 5512 gte 4, 8821 in [resolved, partially_resolved]; written here reordered,
    # with true for 5 and the enum list in another order: no change at all.
    rules = "\n".join(
        [
            "- metric_id: 8821\n  conditions:\n"
            "    conditions: [{value: [partially_resolved, resolved], op: in, field: enum}]\n"
            "    operator: and",
            rule("metric_id: 5512", "score", "gte", 4.0),
            rule("metric_id: 115164", "score", "eq", True),
        ]
    )
    path = rubric_file(tmp_path, rules, prune=True)
    result = cli("plan", "--detailed-exitcode", str(path))
    assert result.code == 0, result.out + result.err
    assert "No changes." in result.out


@pytest.mark.parametrize(
    ("metric", "field", "op", "value", "expected"),
    [
        ("metric_id: 4242", "score", "gte", 4, "metric 4242 is not a metric of project 123"),
        ("metric_id: 115164", "score", "gte", 4, "binary"),
        ("metric_id: 115164", "score", "eq", 3, "binary"),
        ("metric_id: 5512", "enum", "eq", "good", "continuous_qualitative"),
        ("metric_id: 5512", "score", "gte", 7, "0-5"),
        ("metric_id: 7001", "score", "neq", 2, "numeric"),
        ("metric_id: 8821", "enum", "eq", "solved", "resolved"),
        ("metric_id: 8821", "enum", "in", ["resolved", "maybe"], "maybe"),
        ("metric_id: 8821", "score", "gte", 4, "enum"),
        ("metric_id: 7003", "enum", "eq", "weather", "billing"),
        ("metric_id: 7002", "score", "gt", 2, "binary"),
    ],
)
def test_rules_that_do_not_fit_the_metric_are_refused_at_plan_time(
    cli: Cli,
    emulator: RunningEmulator,
    tmp_path: Path,
    metric: str,
    field: str,
    op: str,
    value: Any,
    expected: str,
) -> None:
    path = rubric_file(tmp_path, rule(metric, field, op, value))
    for command in (["plan"], ["apply", "--auto-approve"]):
        result = cli(*command, str(path))
        assert result.code == 1, result.out
        assert f"{path}:" in result.err
        assert expected in result.err
        assert "Traceback" not in result.all
    assert emulator.state.patches() == []


def test_the_emulator_rejects_what_plan_catches(emulator: RunningEmulator) -> None:
    import httpx
    from conftest import API_KEY

    bad = {
        "evaluation_logic": "and",
        "rules": [
            {
                "metric_id": 4242,
                "conditions": {
                    "operator": "and",
                    "conditions": [{"field": "score", "op": "gte", "value": 4}],
                },
            }
        ],
    }
    answer = httpx.patch(
        f"{emulator.base_url}/user/v1/projects/123/",
        json={"rubric_config": bad},
        headers={"X-CEKURA-API-KEY": API_KEY},
    )
    assert answer.status_code == 400
    assert "4242" in answer.text


def test_every_eval_type_family_is_accepted(cli: Cli, emulator: RunningEmulator, tmp_path: Path) -> None:
    rules = "\n".join(
        [
            rule("metric_id: 115164", "score", "eq", False),  # binary
            rule("metric_id: 7002", "score", "neq", 0),  # binary, legacy 0
            rule("metric_id: 5512", "score", "gt", 2.5),  # continuous_qualitative
            rule("metric_id: 7001", "score", "lte", 12),  # numeric: not limited to 0-5
            rule("metric_id: 8821", "enum", "neq", "unresolved"),  # enum
            rule("metric_id: 7003", "enum", "in", ["billing", "insurance"]),  # enum
            rule("metric_id: 9101", "score", "eq", True),  # agent-scoped binary
        ]
    )
    path = rubric_file(tmp_path, rules)
    result = cli("apply", "--auto-approve", str(path))
    assert result.code == 0, result.err
    assert set(live_rules(emulator)) == {115164, 7002, 5512, 7001, 8821, 7003, 9101}
    # Values are sent as written: false stays false, not 0.
    assert live_rules(emulator)[115164] == [[{"field": "score", "op": "eq", "value": False}]]
    other = "\n".join(
        [
            rule("metric_id: 61210", "score", "eq", True),  # binary
        ]
    )
    assert cli("apply", "--auto-approve", str(rubric_file(tmp_path, other, project=124))).code == 0
    dropoff = "\n".join(
        [
            rule("metric_id: 61318", "enum", "eq", "payment"),  # enum
            rule("metric_id: 61319", "score", "eq", 5),  # binary, legacy 5
        ]
    )
    assert cli("apply", "--auto-approve", str(rubric_file(tmp_path, dropoff, project=125))).code == 0


def test_legacy_eval_type_names_are_checked_as_the_spec_maps_them(
    cli: Cli, emulator: RunningEmulator, tmp_path: Path
) -> None:
    """binary_workflow_adherence and binary_qualitative are binary (the spec maps them so);
    evaluate_expected_outcome is binary, observability_topics and observability_dropoff are enum (the
    rubric documentation): a live server may still hold such metrics."""
    legacy = {
        7101: ("binary_workflow_adherence", ()),
        7102: ("binary_qualitative", ()),
        7103: ("evaluate_expected_outcome", ()),
        7104: ("observability_topics", ("billing", "other")),
        7105: ("observability_dropoff", ("greeting", "payment")),
    }
    for metric_id, (eval_type, values) in legacy.items():
        emulator.state.add_metric(
            id=metric_id,
            project=123,
            name=f"Legacy {eval_type}",
            eval_type=eval_type,
            enum_values=list(values),
        )
    fitting = "\n".join(
        [
            rule("metric_id: 7101", "score", "eq", True),
            rule("metric_id: 7102", "score", "neq", False),
            rule("metric_id: 7103", "score", "eq", 5),
            rule("metric_id: 7104", "enum", "eq", "billing"),
            rule("metric_id: 7105", "enum", "in", ["payment"]),
        ]
    )
    result = cli("apply", "--auto-approve", str(rubric_file(tmp_path, fitting)))
    assert result.code == 0, result.err
    assert {7101, 7102, 7103, 7104, 7105} <= set(live_rules(emulator))
    misfit = rubric_file(tmp_path, rule("metric_id: 7102", "score", "gte", 3))
    refused = cli("plan", str(misfit))
    assert refused.code == 1
    assert "is binary: op must be eq or neq" in refused.err


def test_unknown_eval_type_passes_through_with_a_warning(
    cli: Cli, emulator: RunningEmulator, tmp_path: Path
) -> None:
    emulator.state.add_metric(id=7004, project=123, name="Politeness", eval_type="sentiment_v2")
    path = rubric_file(tmp_path, rule("metric_id: 7004", "score", "gte", 0.2))
    result = cli("plan", str(path))
    assert result.code == 0, result.err
    assert "7004" in result.out
    assert "sentiment_v2" in result.out
    assert "Warning" in result.out


def test_agent_scoped_metrics_are_looked_up_only_when_needed(
    cli: Cli, emulator: RunningEmulator, tmp_path: Path
) -> None:
    project_level = rubric_file(tmp_path, rule("metric_id: 5512", "score", "gte", 3))
    assert cli("plan", str(project_level)).code == 0
    assert not emulator.state.requests_to("GET", "/test_framework/v2/aiagents/")
    emulator.state.clear_requests()
    scoped = rubric_file(tmp_path, rule("metric_id: 9101", "score", "eq", 5))
    result = cli("plan", str(scoped))
    assert result.code == 0, result.err
    assert "+ metric 9101" in result.out
    assert emulator.state.requests_to("GET", "/test_framework/v2/aiagents/")


def test_metrics_by_slug_or_name_resolve_per_project(
    cli: Cli, emulator: RunningEmulator, tmp_path: Path
) -> None:
    # Projects 124 and 125 have metrics with the same slugs and different ids.
    rules = (
        rule("metric: customer_satisfaction", "score", "gte", 4)
        + "\n"
        + rule("metric: Appointment Booked", "score", "eq", True)
    )
    for project in (124, 125):
        path = rubric_file(tmp_path, rules, project=project)
        result = cli("plan", "--format", "json", str(path))
        assert result.code == 0, result.err
        doc = json.loads(result.out)
        ids = {r["metric_id"] for r in doc["projects"][0]["patch"]["rubric_config"]["rules"]}
        metrics = {m["id"]: m for m in emulator.state.metrics if m.get("project") == project}
        named = {i for i in ids if metrics.get(i, {}).get("slug") == "customer_satisfaction"}
        assert len(named) == 1


def test_unknown_metric_name_lists_candidates(cli: Cli, emulator: RunningEmulator, tmp_path: Path) -> None:
    path = rubric_file(tmp_path, rule("metric: Customer Satisfactoin", "score", "gte", 4))
    result = cli("plan", str(path))
    assert result.code == 1
    assert f"{path}:6:" in result.err
    assert "Customer Satisfaction" in result.err
    assert emulator.state.patches() == []


def test_mass_deletion_needs_force(cli: Cli, emulator: RunningEmulator, tmp_path: Path) -> None:
    path = rubric_file(tmp_path, rule("metric_id: 7001", "score", "gte", 1), prune=True)
    plan = cli("plan", str(path))
    assert "removes 3 of the 3 live rubric rules; apply refuses it without --force" in plan.out
    refused = cli("apply", "--auto-approve", str(path))
    assert refused.code == 1
    assert "refusing without --force" in refused.err
    assert emulator.state.patches() == []
    forced = cli("apply", "--auto-approve", "--force", str(path))
    assert forced.code == 0, forced.err
    assert "removes 3 of the 3 live rubric rules; --force given." in forced.out
    assert set(live_rules(emulator)) == {7001}


def test_replacing_rules_is_not_mass_deletion(cli: Cli, emulator: RunningEmulator, tmp_path: Path) -> None:
    rules = "\n".join(
        [
            rule("metric_id: 115164", "score", "eq", 0),
            rule("metric_id: 5512", "score", "gte", 2),
            rule("metric_id: 8821", "enum", "eq", "resolved"),
        ]
    )
    path = rubric_file(tmp_path, rules, prune=True)
    result = cli("apply", "--auto-approve", str(path))
    assert result.code == 0, result.err


def test_stale_metric_rules_are_named_with_the_fix(
    cli: Cli, emulator: RunningEmulator, tmp_path: Path
) -> None:
    emulator.state.delete_metric(8821)
    path = rubric_file(tmp_path, rule("metric_id: 5512", "score", "gte", 3))
    result = cli("plan", str(path))
    assert result.code == 1
    assert "8821" in result.err
    assert "{metric_id: 8821, absent: true}" in result.err
    assert emulator.state.patches() == []
    fixed = rubric_file(
        tmp_path, rule("metric_id: 5512", "score", "gte", 3) + "\n- {metric_id: 8821, absent: true}"
    )
    applied = cli("apply", "--auto-approve", str(fixed))
    assert applied.code == 0, applied.err
    assert set(live_rules(emulator)) == {5512, 115164}


@pytest.fixture
def live_clock_emulator() -> Iterator[RunningEmulator]:
    from datetime import UTC, datetime

    from conftest import API_KEY

    from reconciler.emulator import EmulatorState, start

    running = start(EmulatorState(api_key=API_KEY, now=datetime.now(UTC)))
    try:
        yield running
    finally:
        running.close()


def test_impact_of_a_tightened_rule_counts_the_flipped_calls(
    live_clock_emulator: RunningEmulator, tmp_path: Path
) -> None:
    import httpx
    from conftest import API_KEY

    emulator = live_clock_emulator
    cli = Cli(emulator.base_url, tmp_path)
    # Independently of the tool: fetch every call and decide by hand which ones the change flips.
    calls = httpx.get(
        f"{emulator.base_url}/observability/v2/call-logs/",
        params={"project_id": "123", "page_size": "500", "timestamp_from": "2026-01-01T00:00:00Z"},
        headers={"X-CEKURA-API-KEY": API_KEY},
    )
    assert calls.status_code == 400  # more than 33 days: the API refuses, the tool must split
    everything = []
    from datetime import UTC, datetime, timedelta

    start = (emulator.state.now - timedelta(days=31)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    page: str | None = (
        f"{emulator.base_url}/observability/v2/call-logs/?project_id=123&page_size=500&timestamp_from={start}"
    )
    while page:
        body = httpx.get(page, headers={"X-CEKURA-API-KEY": API_KEY}).json()
        everything += body["results"]
        page = body["next"]
    assert len(everything) == 300

    def entry(call: dict[str, Any], metric: int) -> dict[str, Any] | None:
        """The metric's result on the call; None when it has none or one marked irrelevant."""
        found = next((m for m in call["metrics"] if m["id"] == metric), None)
        return None if found is None or (found.get("extra") or {}).get("trigger_failed") else found

    def score(call: dict[str, Any], metric: int) -> Any:
        found = entry(call, metric)
        return None if found is None else found.get("score")

    def enum(call: dict[str, Any], metric: int) -> Any:
        found = entry(call, metric)
        return None if found is None else found.get("enum") or None

    def passes(call: dict[str, Any], threshold: int) -> bool:
        checks = [
            score(call, 115164) in (None, 5),
            score(call, 5512) is None or score(call, 5512) >= threshold,
            enum(call, 8821) in (None, "resolved", "partially_resolved"),
        ]
        return all(checks)

    flipped = [c["id"] for c in everything if passes(c, 4) and not passes(c, 5)]
    assert len(flipped) > 5

    path = rubric_file(tmp_path, rule("metric_id: 5512", "score", "gte", 5))
    emulator.state.clear_requests()
    result = cli("plan", "--impact", "--since", "31d", "--format", "json", str(path))
    assert result.code == 0, result.err
    [report] = json.loads(result.out)["impact"]
    assert report["calls"] == 300
    assert report["pass_to_fail"]["count"] == len(flipped)
    assert set(report["pass_to_fail"]["examples"]) <= set(flipped)
    assert report["fail_to_pass"]["count"] == 0
    assert report["by_metric"] == [{"metric_id": 5512, "pass_to_fail": len(flipped), "fail_to_pass": 0}]
    # Never more than 32 days per request: a day inside the documented 33.
    for request in emulator.state.requests_to("GET", "/observability/v2/call-logs/"):
        since = datetime.fromisoformat(request.query["timestamp_from"][0].replace("Z", "+00:00"))
        until = datetime.fromisoformat(request.query["timestamp_to"][0].replace("Z", "+00:00"))
        assert until - since <= timedelta(days=32)

    emulator.state.clear_requests()
    wide = cli("plan", "--impact", "--since", "40d", "--format", "json", str(path))
    assert json.loads(wide.out)["impact"][0]["pass_to_fail"]["count"] == len(flipped)
    windows = {
        (r.query["timestamp_from"][0], r.query["timestamp_to"][0])
        for r in emulator.state.requests_to("GET", "/observability/v2/call-logs/")
    }
    assert len(windows) == 2  # 40 days: split into two windows of at most 32

    text = cli("plan", "--impact", "--since", "31d", str(path))
    assert f"pass -> fail: {len(flipped)} calls" in text.out
    assert "Customer Satisfaction" in text.out
    markdown = cli("plan", "--impact", "--since", "31d", "--format", "markdown", str(path))
    assert "Rubric impact" in markdown.out
    assert emulator.state.patches() == []
    bad = cli("plan", "--impact", "--since", "soon", str(path))
    assert bad.code == 1 and "--since" in bad.err  # a usage error is 1, never 2
