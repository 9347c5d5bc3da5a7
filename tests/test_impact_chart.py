"""The impact preview's daily pass rate: aggregated per UTC day, drawn as a mermaid chart in markdown.

The markdown is a contract (a pull-request comment): golden file tests/data/golden/impact.md. To
rewrite it after an intended change, run with CEKURA_UPDATE_GOLDEN=1 and review the diff.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from conftest import Cli

from reconciler.emulator import RunningEmulator
from reconciler.impact import (
    MAX_CHART_DAYS,
    PASS,
    ImpactReport,
    Verdict,
    call_day,
    impact_of_calls,
)
from reconciler.renderers.markdown import render_impact_markdown

GOLDEN = Path(__file__).parent / "data" / "golden"
FAIL = Verdict(False, (5512,))


def call(ident: int, stamp: str, score: int) -> dict[str, Any]:
    return {"id": ident, "timestamp": stamp, "metrics": [{"id": 5512, "score": score}]}


def test_calls_are_counted_per_utc_day() -> None:
    live = {"evaluation_logic": "and", "rules": [rule(3)]}
    desired = {"evaluation_logic": "and", "rules": [rule(4)]}
    calls = [
        call(1, "2026-11-27T08:00:00Z", 3),  # passes now, fails with the file's rubric
        call(2, "2026-11-27T23:30:00-05:00", 5),  # 04:30 UTC on the 28th
        call(3, "2026-11-28T10:00:00Z", 3),
        call(4, "2026-11-28T11:00:00+00:00", 2),
        {"id": 5, "metrics": []},  # no timestamp: counted, not in any day
    ]
    report = impact_of_calls(calls, live, desired, project_id=7)
    assert report.calls == 5
    assert report.daily == {"2026-11-27": [1, 1, 0], "2026-11-28": [3, 2, 1]}
    assert report.to_json()["daily"] == [
        {"date": "2026-11-27", "calls": 1, "passing_before": 1, "passing_after": 0},
        {"date": "2026-11-28", "calls": 3, "passing_before": 2, "passing_after": 1},
    ]
    assert call_day({"timestamp": 'x"]; click'}) is None
    assert call_day({"timestamp": 12}) is None


def test_merged_reports_add_their_days() -> None:
    first, second = ImpactReport(1), ImpactReport(1)
    first.record(1, PASS, FAIL, day="2026-11-27")
    second.record(2, PASS, PASS, day="2026-11-27")
    second.record(3, FAIL, PASS, day="2026-11-28")
    first.merge(second)
    assert first.daily == {"2026-11-27": [2, 2, 1], "2026-11-28": [1, 0, 1]}


def rule(threshold: int) -> dict[str, Any]:
    condition = {"field": "score", "op": "gte", "value": threshold}
    return {"metric_id": 5512, "conditions": {"operator": "and", "conditions": [condition]}}


def golden_report() -> ImpactReport:
    start = datetime(2026, 11, 22, tzinfo=UTC)
    report = ImpactReport(123, since=start, until=start + timedelta(days=7))
    for day in range(7):
        stamp = (start + timedelta(days=day)).date().isoformat()
        for n in range(10):
            before = PASS if n < 6 else FAIL
            after = PASS if n < 6 - day % 3 else FAIL
            report.record(day * 100 + n, before, after, day=stamp)
    return report


def test_golden_markdown_with_the_daily_chart() -> None:
    output = render_impact_markdown([golden_report()], {5512: "Customer Satisfaction"})
    path = GOLDEN / "impact.md"
    if os.environ.get("CEKURA_UPDATE_GOLDEN") == "1":
        path.write_text(output, encoding="utf-8")
    assert output == path.read_text(encoding="utf-8")
    assert "```mermaid\nxychart-beta\n" in output
    assert "  bar [60.0, 60.0, 60.0, 60.0, 60.0, 60.0, 60.0]" in output
    assert "  line [60.0, 50.0, 40.0, 60.0, 50.0, 40.0, 60.0]" in output


def test_the_chart_shows_the_most_recent_days_only() -> None:
    report = ImpactReport(5)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for day in range(MAX_CHART_DAYS + 10):
        report.record(day, PASS, FAIL, day=(start + timedelta(days=day)).date().isoformat())
    output = render_impact_markdown([report], {})
    axis = next(line for line in output.splitlines() if line.startswith("  x-axis"))
    assert axis.count('"') == 2 * MAX_CHART_DAYS
    assert '"01-11"' in axis and '"01-10"' not in axis
    assert f"the last {MAX_CHART_DAYS} of {MAX_CHART_DAYS + 10} days" in output


def test_no_chart_without_flips() -> None:
    report = ImpactReport(5)
    report.record(1, PASS, PASS, day="2026-11-28")
    assert "mermaid" not in render_impact_markdown([report], {})


def test_plan_impact_markdown_has_the_chart(cli: Cli, emulator: RunningEmulator, tmp_path: Path) -> None:
    path = tmp_path / "tight.yaml"
    path.write_text(
        "version: 1\nproject: 123\nrubric:\n  rules:\n    - metric_id: 5512\n"
        "      conditions: {operator: and, conditions: [{field: score, op: gte, value: 5}]}\n"
    )
    since = f"{max(31, (datetime.now(UTC) - emulator.state.now).days + 31)}d"
    result = cli("plan", "--impact", "--since", since, "--format", "markdown", str(path))
    assert result.code == 0, result.err
    assert "### Rubric impact preview" in result.out
    assert "```mermaid\nxychart-beta\n" in result.out
    assert "Daily pass rate of project 123" in result.out
