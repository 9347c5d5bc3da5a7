"""Nothing lost between plan and write: a colleague edits the project in the web UI while apply runs.

The emulator applies the colleague's edit at a chosen moment (a fault of kind ``edit``, or directly
while the confirmation prompt waits on a pseudo-terminal); the real CLI runs in a subprocess. Also:
Ctrl-C and SIGTERM in the middle of an apply still say what became of every project.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from conftest import ROOT, Cli, answer_on_a_terminal

from reconciler.emulator import Fault, RunningEmulator

RUBRIC_FILE = """version: 1
project: 123
rubric:
  rules:
    - metric_id: 5512
      conditions: {operator: and, conditions: [{field: score, op: gte, value: 5}]}
"""
COLLEAGUE_RULE = {
    "metric_id": 7001,
    "conditions": {"operator": "and", "conditions": [{"field": "score", "op": "lt", "value": 2}]},
}


def _with_colleague_rule(emulator: RunningEmulator) -> dict[str, Any]:
    live = emulator.state.project(123)["rubric_config"]
    return {**live, "rules": [*live["rules"], COLLEAGUE_RULE]}


def _metrics(project: dict[str, Any]) -> set[int]:
    return {r["metric_id"] for r in (project.get("rubric_config") or {}).get("rules", [])}


def _journal(tmp_path: Path) -> list[dict[str, Any]]:
    folder = tmp_path / "journal"
    return [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))] if folder.exists() else []


def test_auto_approve_replans_from_the_fresh_read_and_keeps_the_colleagues_rule(
    cli: Cli, emulator: RunningEmulator, tmp_path: Path
) -> None:
    path = tmp_path / "project.yaml"
    path.write_text(RUBRIC_FILE)
    # The colleague adds a rule while apply reads the metrics (after it read the project).
    edit = {"project": 123, "fields": {"rubric_config": _with_colleague_rule(emulator)}}
    emulator.state.add_fault(Fault(kind="edit", method="GET", path="/test_framework/", edit=edit))
    result = cli("apply", "--auto-approve", str(path))
    assert result.code == 0, result.all
    assert "changed since the plan was shown (rubric rules of metric 7001" in result.out
    assert "planned again from a fresh read" in result.out
    live = emulator.state.project(123)
    assert 7001 in _metrics(live), "the colleague's rule was wiped"
    assert COLLEAGUE_RULE in live["rubric_config"]["rules"]
    assert len(emulator.state.patches()) == 1
    sent = emulator.state.patches()[0].json["rubric_config"]
    assert COLLEAGUE_RULE in sent["rules"]
    # The journal holds the fresh read (with the colleague's rule), so restore can bring it back.
    (entry,) = _journal(tmp_path)
    assert COLLEAGUE_RULE in entry["before"]["rubric_config"]["rules"]
    assert cli("plan", "--detailed-exitcode", str(path)).code == 0


def _apply_on_a_terminal(
    args: list[str], env: dict[str, str], while_asking: Callable[[], None], answer: str = "yes"
) -> tuple[int, str]:
    return answer_on_a_terminal(args, env, answer, while_asking)


def test_a_rule_added_while_the_prompt_waits_refuses_the_shown_plan(
    cli: Cli, emulator: RunningEmulator, tmp_path: Path
) -> None:
    path = tmp_path / "project.yaml"
    path.write_text(RUBRIC_FILE)
    rubric = _with_colleague_rule(emulator)

    def colleague() -> None:
        emulator.state.set_project_fields(123, rubric_config=rubric)

    code, out = _apply_on_a_terminal(["apply", str(path)], cli.env, colleague)
    assert code == 1, out
    assert "project 123: changed since the plan was shown: rubric rules of metric 7001" in out
    assert "nothing was sent" in out
    assert "NOT changed: project 123" in out
    assert emulator.state.patches() == []
    assert COLLEAGUE_RULE in emulator.state.project(123)["rubric_config"]["rules"]
    assert _journal(tmp_path) == []


def test_a_managed_setting_moved_is_named_but_an_unmanaged_one_does_not_stop_apply(
    cli: Cli, emulator: RunningEmulator, tmp_path: Path
) -> None:
    path = tmp_path / "project.yaml"
    path.write_text("version: 1\nproject: 124\nsettings:\n  sample_rate: 0.9\n  max_call_duration: 400\n")

    def unmanaged() -> None:
        emulator.state.set_project_fields(124, webhook_url="https://colleague.example.com/hook")

    code, out = _apply_on_a_terminal(["apply", str(path)], cli.env, unmanaged)
    assert code == 0, out
    assert emulator.state.project(124)["sample_rate"] == 0.9
    assert emulator.state.project(124)["webhook_url"] == "https://colleague.example.com/hook"

    path.write_text("version: 1\nproject: 124\nsettings:\n  sample_rate: 0.7\n  max_call_duration: 500\n")
    emulator.state.clear_requests()

    def managed() -> None:
        emulator.state.set_project_fields(124, max_call_duration=450)

    code, out = _apply_on_a_terminal(["apply", str(path)], cli.env, managed)
    assert code == 1, out
    assert "changed since the plan was shown: max_call_duration;" in out
    assert emulator.state.patches() == []
    assert emulator.state.project(124)["max_call_duration"] == 450


def test_a_saved_plan_is_refused_when_the_project_moves_before_its_patch(
    cli: Cli, emulator: RunningEmulator, tmp_path: Path
) -> None:
    path = tmp_path / "project.yaml"
    path.write_text(RUBRIC_FILE)
    saved = tmp_path / "reviewed.plan"
    assert cli("plan", "--out", str(saved), str(path)).code == 0
    emulator.state.clear_requests()
    # Apply reads the project to check the plan is not stale, then again right before the PATCH:
    # the colleague's edit lands between the two.
    edit = {"project": 123, "fields": {"rubric_config": _with_colleague_rule(emulator)}}
    emulator.state.add_fault(
        Fault(kind="edit", method="GET", path="/user/v1/projects/123/", edit=edit, skip=1)
    )
    result = cli("apply", str(saved))
    assert result.code == 1, result.all
    assert "changed since the plan was shown: rubric rules of metric 7001" in result.err
    assert emulator.state.patches() == []
    assert COLLEAGUE_RULE in emulator.state.project(123)["rubric_config"]["rules"]


def test_an_edit_racing_a_replan_again_is_replanned_again(
    cli: Cli, emulator: RunningEmulator, tmp_path: Path
) -> None:
    path = tmp_path / "project.yaml"
    path.write_text("version: 1\nproject: 124\nsettings:\n  sample_rate: 0.9\n  max_call_duration: 400\n")
    # Read 1 plans; read 2 (the fresh read) finds 410 and re-plans; read 3 (the re-plan's own
    # fresh read) finds 420 and re-plans again; read 4 matches and the PATCH goes. Each fault lets
    # the first read through, and the second fault never sees read 2, which the first one takes.
    for value in (410, 420):
        edit = {"project": 124, "fields": {"max_call_duration": value}}
        emulator.state.add_fault(
            Fault(kind="edit", method="GET", path="/user/v1/projects/124/", edit=edit, skip=1)
        )
    result = cli("apply", "--auto-approve", str(path))
    assert result.code == 0, result.all
    assert result.out.count("planned again from a fresh read") == 2
    (patch,) = emulator.state.patches()
    assert patch.json == {"sample_rate": 0.9, "max_call_duration": 400}
    (entry,) = _journal(tmp_path)
    assert entry["before"]["max_call_duration"] == 420


def test_restore_refuses_a_project_that_moved_after_it_was_shown(
    cli: Cli, emulator: RunningEmulator, tmp_path: Path
) -> None:
    path = tmp_path / "project.yaml"
    path.write_text("version: 1\nproject: 124\nsettings:\n  sample_rate: 0.9\n")
    assert cli("apply", "--auto-approve", str(path)).code == 0
    (entry_path,) = sorted((tmp_path / "journal").glob("*.json"))
    emulator.state.clear_requests()

    def colleague() -> None:
        emulator.state.set_project_fields(124, sample_rate=0.3)

    code, out = _apply_on_a_terminal(["restore", str(entry_path)], cli.env, colleague)
    assert code == 1, out
    assert "changed since the plan was shown: sample_rate" in out
    assert emulator.state.patches() == []
    assert emulator.state.project(124)["sample_rate"] == 0.3


# -- interruptions ---------------------------------------------------------------------------------


def _start(cli: Cli, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "reconciler", *args],
        cwd=ROOT,
        env=cli.env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for(condition: Any, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting for the emulator"
        time.sleep(0.02)


def _two_projects(tmp_path: Path) -> list[str]:
    first = tmp_path / "a.yaml"
    first.write_text("version: 1\nproject: 123\nsettings:\n  sample_rate: 0.9\n")
    second = tmp_path / "b.yaml"
    second.write_text("version: 1\nproject: 124\nsettings:\n  sample_rate: 0.8\n")
    return [str(first), str(second)]


def _interrupt_during_the_first_patch(
    cli: Cli, emulator: RunningEmulator, tmp_path: Path, signum: int
) -> tuple[int, str, str]:
    """One project at a time (--parallelism 1): the second has not started when the first's PATCH
    hangs. (With more, the projects are written in parallel: see the next tests.)"""
    emulator.state.add_fault(Fault(kind="latency", method="PATCH", seconds=8))
    proc = _start(cli, "apply", "--auto-approve", "--parallelism", "1", *_two_projects(tmp_path))
    _wait_for(lambda: len(emulator.state.patches()) == 1)
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=30)
    return proc.returncode, out, err


def test_ctrl_c_during_a_patch_reports_every_project_and_the_journal(
    cli: Cli, emulator: RunningEmulator, tmp_path: Path
) -> None:
    code, out, err = _interrupt_during_the_first_patch(cli, emulator, tmp_path, signal.SIGINT)
    assert code == 130, out + err
    assert "Interrupted during apply" in err
    assert "outcome UNKNOWN: project 123" in out
    assert "NOT changed: project 124" in out
    (entry,) = sorted((tmp_path / "journal").glob("*.json"))
    assert f"project 123: {entry}" in out
    assert "Traceback" not in err


def test_sigterm_during_a_patch_reports_like_ctrl_c_and_exits_143(
    cli: Cli, emulator: RunningEmulator, tmp_path: Path
) -> None:
    code, out, err = _interrupt_during_the_first_patch(cli, emulator, tmp_path, signal.SIGTERM)
    assert code == 143, out + err
    assert "Terminated (SIGTERM) during apply" in err
    assert "outcome UNKNOWN: project 123" in out
    assert "NOT changed: project 124" in out
    assert "Traceback" not in err


def test_ctrl_c_during_parallel_patches_reports_each_and_starts_no_other(
    cli: Cli, emulator: RunningEmulator, tmp_path: Path
) -> None:
    """--parallelism 2, three projects: the PATCHes of 123 and 124 hang, 125 waits for a thread.
    Ctrl-C: both hanging ones are UNKNOWN with their journal entries, 125 is NOT changed, and no
    PATCH of 125 is sent after the interruption (the process does not wait for the hanging ones)."""
    emulator.state.add_fault(Fault(kind="latency", method="PATCH", seconds=20, times=0))
    third = tmp_path / "c.yaml"
    third.write_text("version: 1\nproject: 125\nsettings:\n  sample_rate: 0.7\n")
    files = [*_two_projects(tmp_path), str(third)]
    proc = _start(cli, "apply", "--auto-approve", "--parallelism", "2", *files)
    _wait_for(lambda: len(emulator.state.patches()) == 2)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=10)  # not the 20 s the PATCHes take
    assert proc.returncode == 130, out + err
    assert "Interrupted during apply" in err
    assert "outcome UNKNOWN: project 123, project 124" in out
    assert "NOT changed: project 125" in out
    entries = sorted((tmp_path / "journal").glob("*.json"))
    assert len(entries) == 2
    for entry in entries:
        assert str(entry) in out
    assert sorted(r.path for r in emulator.state.patches()) == [
        "/user/v1/projects/123/",
        "/user/v1/projects/124/",
    ]
    assert "Traceback" not in err


def test_ctrl_c_during_slow_parallel_reads_exits_at_once(
    cli: Cli, emulator: RunningEmulator, tmp_path: Path
) -> None:
    emulator.state.add_fault(Fault(kind="latency", method="GET", seconds=25, times=0))
    proc = _start(cli, "plan", "--parallelism", "4", *_two_projects(tmp_path))
    _wait_for(lambda: len(emulator.state.requests_to("GET")) == 2)
    proc.send_signal(signal.SIGINT)
    # The reads take 25 s; the process must not wait for them (2 s is the promise, 10 s the margin
    # for a loaded machine).
    out, err = proc.communicate(timeout=10)
    assert proc.returncode == 130, out + err
    assert "Interrupted." in err
    assert "Traceback" not in err


# -- metric definitions: a colleague edits a metric between plan and apply ------------------------

METRICS = "/test_framework/v2/metrics/"
PROMPT_FILE = """version: 1
project: 123
metrics:
  definitions:
    - slug: followed_script_7002
      prompt: Did the agent follow the approved script?
"""


def test_a_metric_prompt_edited_while_the_prompt_waits_refuses_the_shown_plan(
    cli: Cli, emulator: RunningEmulator, tmp_path: Path
) -> None:
    path = tmp_path / "project.yaml"
    path.write_text(PROMPT_FILE)

    def colleague() -> None:
        emulator.state.set_metric_fields(7002, prompt="The colleague's reviewed prompt.")

    code, out = _apply_on_a_terminal(["apply", str(path)], cli.env, colleague)
    assert code == 1, out
    assert "project 123: changed since the plan was shown: metric followed_script_7002: prompt;" in out
    assert "nothing was sent" in out
    assert [r for r in emulator.state.requests if r.method != "GET"] == []
    [live] = [m for m in emulator.state.metrics if m["id"] == 7002]
    assert live["prompt"] == "The colleague's reviewed prompt."


def test_an_unmanaged_field_of_a_managed_metric_edited_does_not_stop_apply(
    cli: Cli, emulator: RunningEmulator, tmp_path: Path
) -> None:
    path = tmp_path / "project.yaml"
    path.write_text(PROMPT_FILE)

    def colleague() -> None:
        emulator.state.set_metric_fields(7002, audio_enabled=True)

    code, out = _apply_on_a_terminal(["apply", str(path)], cli.env, colleague)
    assert code == 0, out
    [live] = [m for m in emulator.state.metrics if m["id"] == 7002]
    assert live["audio_enabled"] is True
    assert live["prompt"] == "Did the agent follow the approved script?"


def test_auto_approve_replans_when_a_metric_moved_before_its_write(
    cli: Cli, emulator: RunningEmulator, tmp_path: Path
) -> None:
    path = tmp_path / "project.yaml"
    path.write_text(PROMPT_FILE)
    # The colleague edits the prompt as apply reads the metrics again before writing (the second list).
    edit = {"metric": 7002, "fields": {"prompt": "The colleague's prompt."}}
    emulator.state.add_fault(Fault(kind="edit", method="GET", path=METRICS, edit=edit, skip=1))
    result = cli("apply", "--auto-approve", str(path))
    assert result.code == 0, result.all
    assert "changed since the plan was shown (metric followed_script_7002: prompt)" in result.out
    assert "planned again from a fresh read" in result.out
    # The re-plan shows the colleague's prompt as the value replaced: nothing is overwritten unseen.
    assert "The colleague's prompt." in result.out
    (patch,) = emulator.state.patches()
    assert patch.path == f"{METRICS}7002/"


def test_a_slug_created_by_someone_else_before_the_write_is_not_created_twice(
    cli: Cli, emulator: RunningEmulator, tmp_path: Path
) -> None:
    path = tmp_path / "project.yaml"
    path.write_text(
        "version: 1\nproject: 123\nmetrics:\n  definitions:\n"
        "    - {slug: refund_offered, name: Refund offered, description: From the file.}\n"
    )

    def colleague() -> None:
        emulator.state.add_metric(id=9700, project=123, slug="refund_offered", name="Refund offered")

    code, out = _apply_on_a_terminal(["apply", str(path)], cli.env, colleague)
    assert code == 1, out
    assert "changed since the plan was shown: metric refund_offered (created since the plan)" in out
    assert emulator.state.requests_to("POST") == []
    # Planned again, the slug is found: the colleague's metric gets the file's fields, no second one.
    result = cli("apply", "--auto-approve", str(path))
    assert result.code == 0, result.all
    assert [m["slug"] for m in emulator.state.metrics].count("refund_offered") == 1
    assert [r.path for r in emulator.state.patches()] == [f"{METRICS}9700/"]


def test_a_metric_prune_would_delete_edited_while_the_prompt_waits_is_not_deleted(
    cli: Cli, emulator: RunningEmulator, tmp_path: Path
) -> None:
    path = tmp_path / "project.yaml"
    path.write_text(
        "version: 1\nproject: 123\nmetrics:\n  prune: true\n  definitions:\n"
        "    - {slug: customer_satisfaction_5512}\n    - {slug: appointment_booked_115164}\n"
        "    - {slug: call_resolution_8821}\n    - {slug: followed_script_7002}\n"
        "    - {slug: topic_7003}\n"
    )

    def colleague() -> None:
        emulator.state.set_metric_fields(7001, prompt="Now it matters: reviewed today.")

    code, out = _apply_on_a_terminal(["apply", str(path)], cli.env, colleague)
    assert code == 1, out
    assert "changed since the plan was shown: metric " in out and "(7001): prompt" in out, out
    assert emulator.state.requests_to("DELETE") == []
    assert any(m["id"] == 7001 for m in emulator.state.metrics)
