"""End to end: the tool speaks the API as the current spec documents it, not as it was in the spring.

The real CLI in a subprocess against the emulator in the modes that tell an up-to-date client from a
stale one: the v1 lists retired (410), a server without the v2 lists (404), ``next`` links naming
another host, a server that counts the call-log window's days inclusively or allows less than the
documented 33 days.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import API_KEY, Cli, Result

from reconciler.emulator import ApiKey, EmulatorState, RunningEmulator, start

V1_LISTS = ("/test_framework/v1/", "/observability/v1/")
V2_LISTS = ("/test_framework/v2/", "/observability/v2/")
CALLS_V2 = "/observability/v2/call-logs/"


@pytest.fixture
def live_clock() -> Iterator[RunningEmulator]:
    """An emulator whose calls are in the last 30 days of the wall clock, as `plan --impact` reads."""
    running = start(EmulatorState(api_key=API_KEY, now=datetime.now(UTC)))
    try:
        yield running
    finally:
        running.close()


def rubric_file(tmp_path: Path) -> Path:
    """Project 123: tighten 5512 and add a rule for 9101, a metric of one of its agents (so the
    metrics list, the agents list and an agent's metrics are all read)."""
    path = tmp_path / "p123.yaml"
    path.write_text(
        textwrap.dedent(
            """\
            version: 1
            project: 123
            rubric:
              rules:
                - metric_id: 5512
                  conditions: {operator: and, conditions: [{field: score, op: gte, value: 5}]}
                - metric_id: 9101
                  conditions: {operator: and, conditions: [{field: score, op: eq, value: true}]}
            """
        )
    )
    return path


def run(emulator: RunningEmulator, tmp_path: Path, *args: str) -> Result:
    result = Cli(emulator.base_url, tmp_path)(*args)
    assert "Traceback" not in result.all, result.all
    return result


def impact(emulator: RunningEmulator, tmp_path: Path, since: str = "30d") -> dict[str, Any]:
    result = run(
        emulator,
        tmp_path,
        "plan",
        "--impact",
        "--since",
        since,
        "--format",
        "json",
        str(rubric_file(tmp_path)),
    )
    assert result.code == 0, result.err
    [report] = json.loads(result.out)["impact"]
    assert isinstance(report, dict)
    return {k: v for k, v in report.items() if k not in ("since", "until")}  # the wall clock moves


def windows(emulator: RunningEmulator) -> list[timedelta]:
    spans = []
    for request in emulator.state.requests_to("GET", CALLS_V2):
        if "page" not in request.query:
            start, end = (
                datetime.fromisoformat(request.query[name][0].replace("Z", "+00:00"))
                for name in ("timestamp_from", "timestamp_to")
            )
            spans.append(end - start)
    return spans


def test_plan_impact_drift_and_apply_need_no_v1_list(live_clock: RunningEmulator, tmp_path: Path) -> None:
    live_clock.state.v1_retired = True  # every v1 list answers 410 Gone
    report = impact(live_clock, tmp_path)
    assert report["calls"] == 300
    assert report["pass_to_fail"]["count"] > 0
    drift = run(live_clock, tmp_path, "drift", str(rubric_file(tmp_path)))
    assert drift.code == 2, drift.err
    applied = run(live_clock, tmp_path, "apply", "--auto-approve", str(rubric_file(tmp_path)))
    assert applied.code == 0, applied.err
    paths = {r.path for r in live_clock.state.requests}
    assert not {p for p in paths if p.startswith(V1_LISTS)}
    assert {"/test_framework/v2/metrics/", "/test_framework/v2/aiagents/", CALLS_V2} <= paths


def test_a_server_without_the_v2_lists_is_read_through_v1(
    live_clock: RunningEmulator, tmp_path: Path
) -> None:
    expected = impact(live_clock, tmp_path)
    live_clock.state.v2_available = False  # an older deployment: 404 for every v2 list
    live_clock.state.clear_requests()
    assert impact(live_clock, tmp_path) == expected
    requests = live_clock.state.requests
    assert {r.path for r in requests if r.path.startswith(V1_LISTS)} >= {
        "/test_framework/v1/metrics/",
        "/test_framework/v1/aiagents/",
        "/observability/v1/call-logs/",
    }
    # v2 is asked once per list (the 404 is remembered), the call-log windows read at once aside.
    tried = [r.path for r in requests if r.path.startswith(V2_LISTS)]
    assert tried.count("/test_framework/v2/metrics/") == 1
    assert tried.count("/test_framework/v2/aiagents/") == 1
    assert 1 <= tried.count(CALLS_V2) <= 2


def test_next_links_naming_another_host_are_followed_on_the_base_url(
    live_clock: RunningEmulator, tmp_path: Path
) -> None:
    """A proxy in front of the API writes its backend's address into ``next``; the tool reads the
    page from the configured base URL (where the emulator records it) and never from that host."""
    from reconciler.emulator_seed import iter_generated_calls

    state = live_clock.state
    agents = [a for a in state.agents if a.get("project") == 123]
    metrics = [m for m in state.metrics if m.get("project") == 123 or m["id"] == 9101]
    # More calls than one page of 500 holds, so that the call logs have a second page too.
    state.set_call_logs(
        123, iter_generated_calls(state.project(123), metrics, agents, now=state.now, count=1200)
    )
    expected = impact(live_clock, tmp_path)
    assert expected["calls"] == 1200
    live_clock.state.link_base = "http://cekura-backend.internal:8000"
    live_clock.state.clear_requests()
    assert impact(live_clock, tmp_path) == expected
    second_pages = [r for r in live_clock.state.requests if r.query.get("page") == ["2"]]
    assert {r.path for r in second_pages} == {"/test_framework/v2/aiagents/", CALLS_V2}


def test_a_server_counting_window_days_inclusively_is_never_refused(
    live_clock: RunningEmulator, tmp_path: Path
) -> None:
    """33 days counted with both ends included: a window of exactly 33 days is refused by such a
    server, so the tool's windows stay at 32."""
    live_clock.state.call_logs_count_days_inclusively = True
    report = impact(live_clock, tmp_path, since="66d")
    assert report["calls"] == 300
    spans = windows(live_clock)
    assert len(spans) == 3
    assert max(spans) == timedelta(days=32)


def test_a_window_the_server_refuses_is_split_and_retried(
    live_clock: RunningEmulator, tmp_path: Path
) -> None:
    expected = impact(live_clock, tmp_path)
    live_clock.state.call_logs_max_window = timedelta(days=20)  # stricter than documented
    live_clock.state.clear_requests()
    assert impact(live_clock, tmp_path) == expected
    assert sorted(windows(live_clock)) == [timedelta(days=15), timedelta(days=15), timedelta(days=30)]


def test_a_live_or_rubric_is_shown_as_a_change_and_judged_as_written(
    live_clock: RunningEmulator, tmp_path: Path
) -> None:
    """The product docs mention AND/OR; the API takes only "and". A live "or" rubric is never
    rewritten silently: the plan shows evaluation_logic "or" -> "and", and the impact preview
    replays the calls under "or" as it stands (the emulator decides its recorded outcomes so too)."""
    from reconciler.emulator_seed import generate_call_logs, rubric_passes

    live = live_clock.state.project(123)["rubric_config"]
    either = {**live, "evaluation_logic": "or"}
    live_clock.state.set_project_fields(123, rubric_config=either)
    path = rubric_file(tmp_path)
    text = run(live_clock, tmp_path, "plan", str(path))
    assert text.code == 0, text.err
    assert 'rubric_config.evaluation_logic: "or" -> "and"' in text.out
    report = impact(live_clock, tmp_path)
    state = live_clock.state
    project = {**state.project(123), "rubric_config": either}
    agents = [a for a in state.agents if a.get("project") == 123]
    metrics = [m for m in state.metrics if m.get("project") == 123 or 9101 in [m["id"]]]
    calls = generate_call_logs(project, metrics, agents, now=state.now)
    passing = sum(rubric_passes(either, {m["id"]: m for m in c["metrics"]}) is True for c in calls)
    assert report["calls"] == 300
    assert report["passing_before"] == passing
    assert report["recorded_mismatches"] == 0
    assert state.patches() == []


READ_ONLY_KEY = "ck-readonly-5e8d1f"
PROJECT_123_KEY = "ck-project123-77aa02"


def settings_file(tmp_path: Path, project: int) -> Path:
    path = tmp_path / f"settings-{project}.yaml"
    path.write_text(f"version: 1\nproject: {project}\nsettings:\n  sample_rate: 0.2\n")
    return path


def test_a_read_only_key_can_plan_and_drift_but_not_apply(
    live_clock: RunningEmulator, tmp_path: Path
) -> None:
    live_clock.state.keys[READ_ONLY_KEY] = ApiKey(read_only=True)
    before = live_clock.state.project(124)
    cli = Cli(live_clock.base_url, tmp_path)
    env = {"CEKURA_API_KEY": READ_ONLY_KEY}
    planned = cli("plan", "--detailed-exitcode", str(settings_file(tmp_path, 124)), env=env)
    assert planned.code == 2, planned.err
    assert "sample_rate: 0.5 -> 0.2" in planned.out
    assert cli("drift", str(settings_file(tmp_path, 124)), env=env).code == 2
    previewed = cli("plan", "--impact", "--since", "30d", str(rubric_file(tmp_path)), env=env)
    assert previewed.code == 0, previewed.err
    refused = cli("apply", "--auto-approve", str(settings_file(tmp_path, 124)), env=env)
    assert refused.code == 1
    assert "permission denied for project 124" in refused.err
    assert "(403): the API key lacks write permission on it" in refused.err
    assert "NOT changed: project 124" in refused.out
    assert READ_ONLY_KEY not in refused.all
    assert live_clock.state.project(124) == before


def test_a_project_key_reaches_its_own_project_only(live_clock: RunningEmulator, tmp_path: Path) -> None:
    live_clock.state.keys[PROJECT_123_KEY] = ApiKey(project=123)
    cli = Cli(live_clock.base_url, tmp_path)
    env = {"CEKURA_API_KEY": PROJECT_123_KEY}
    own = cli("apply", "--auto-approve", str(settings_file(tmp_path, 123)), env=env)
    assert own.code == 0, own.err
    assert live_clock.state.project(123)["sample_rate"] == 0.2
    other = cli("plan", str(settings_file(tmp_path, 124)), env=env)
    assert other.code == 1
    assert "permission denied for project 124" in other.err
    assert "(403): the API key has no access to it" in other.err
    assert PROJECT_123_KEY not in other.all
    assert live_clock.state.project(124)["sample_rate"] == 0.5


@pytest.mark.parametrize("answer", ["answered", "lost"])
def test_a_project_deleted_by_apply_that_then_answers_404_is_reported_deleted(
    emulator: RunningEmulator, tmp_path: Path, answer: str
) -> None:
    from reconciler.emulator import Fault

    emulator.state.hide_deleted = True  # a deleted project answers 404, as the API's may
    if answer == "lost":
        emulator.state.add_fault(Fault("timeout_after_write", method="PATCH", seconds=2.5))
    path = tmp_path / "delete-125.yaml"
    path.write_text("version: 1\nproject: 125\nsettings:\n  is_deleted: true\n")
    cli = Cli(emulator.base_url, tmp_path)
    result = cli("apply", "--auto-approve", "--allow-delete", "--timeout", "1", str(path))
    assert "Traceback" not in result.all
    assert result.code == 0, result.all
    assert "Project 125: applied 1 field in one PATCH" in result.out
    assert "deleted: the project now answers 404" in result.out
    assert "UNKNOWN" not in result.all
    assert "Apply complete: 1 changed, 0 failed" in result.out
    assert emulator.state.project(125)["is_deleted"] is True
    assert len(emulator.state.patches()) == 1
