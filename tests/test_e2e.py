"""End to end: the real CLI, in a subprocess, over real HTTP on 127.0.0.1, against the emulator.

The emulator keeps real state and records every request, so these tests assert on what was sent
(one PATCH, exactly the changed fields) and on what the live project looks like afterwards.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

from conftest import API_KEY, ROOT, Cli

from reconciler.emulator import RunningEmulator

VAPI_SECRET = "vapi-SECRET-e2e-71c3d9"
WEBHOOK_SECRET = "whsec-SECRET-e2e-0b8e42"
SECRET_ENV = {"VAPI_API_KEY": VAPI_SECRET}
EXAMPLE_CHANGED_FIELDS = {
    "sample_rate",
    "max_call_duration",
    "webhook_url",
    "daily_report_dashboard_ids",
    "no_calls_notify_time_period",
    "webhook_secret",
    "rubric_config",
}


def example(tmp_path: Path) -> Path:
    """examples/project.yaml in a scratch directory, with the secret file it references."""
    target = tmp_path / "project.yaml"
    shutil.copy(ROOT / "examples" / "project.yaml", target)
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "webhook_secret").write_text(WEBHOOK_SECRET + "\n")
    return target


def write(tmp_path: Path, text: str, name: str = "project.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip())
    return path


def rules_by_metric(project: dict[str, Any]) -> dict[int, list[Any]]:
    out: dict[int, list[Any]] = {}
    for rule in (project.get("rubric_config") or {}).get("rules", []):
        out.setdefault(rule["metric_id"], []).append(rule["conditions"])
    return out


def test_plan_apply_plan_converges(cli: Cli, emulator: RunningEmulator, tmp_path: Path) -> None:
    path = example(tmp_path)
    first = cli("plan", str(path), env=SECRET_ENV)
    assert first.code == 0, first.err
    assert "~ sample_rate: 1.0 -> 0.5" in first.out
    assert "webhook_secret: (sensitive)" in first.out
    assert "one PATCH of 7 fields" in first.out
    assert emulator.state.patches() == []

    applied = cli("apply", "--auto-approve", str(path), env=SECRET_ENV)
    assert applied.code == 0, applied.err
    assert "Project 123: applied 7 fields in one PATCH; verified." in applied.out

    again = cli("plan", str(path), env=SECRET_ENV)
    assert again.code == 0
    assert again.out.strip() == f"No changes. Project 123 matches {path}."


def test_patch_body_is_exactly_the_changed_fields(
    cli: Cli, emulator: RunningEmulator, tmp_path: Path
) -> None:
    path = example(tmp_path)
    before = emulator.state.project(123)
    assert cli("apply", "--auto-approve", str(path), env=SECRET_ENV).code == 0
    [patch] = emulator.state.patches()
    assert patch.path == "/user/v1/projects/123/"
    body = patch.json
    assert set(body) == EXAMPLE_CHANGED_FIELDS
    assert body["sample_rate"] == 0.5
    assert body["max_call_duration"] == 900
    assert body["webhook_secret"] == WEBHOOK_SECRET  # the file's content, trailing newline stripped
    assert "vapi_api_key" not in body  # configured live and not rotated
    # The rubric is sent whole: the three live rules plus the new one, never a partial value.
    assert body["rubric_config"]["evaluation_logic"] == "and"
    assert sorted(r["metric_id"] for r in body["rubric_config"]["rules"]) == [5512, 7002, 8821, 115164]
    # A JSON-object setting is sent whole.
    assert body["no_calls_notify_time_period"]["time_zone"] == "America/New_York"
    assert len(body["no_calls_notify_time_period"]["time_periods"]) == 2
    assert before["outbound_timeout"] == 300  # equal in the file: not sent


def test_unmanaged_fields_are_byte_for_byte_unchanged(
    cli: Cli, emulator: RunningEmulator, tmp_path: Path
) -> None:
    path = example(tmp_path)
    before = emulator.state.project(123)
    assert cli("apply", "--auto-approve", str(path), env=SECRET_ENV).code == 0
    after = emulator.state.project(123)
    changed = EXAMPLE_CHANGED_FIELDS | {"updated_at", "webhook_secret_configured"}
    unmanaged = sorted(set(before) - changed)
    assert len(unmanaged) > 40
    for name in unmanaged:
        assert json.dumps(after[name], sort_keys=False) == json.dumps(before[name], sort_keys=False), name
    assert emulator.state.stored_secret(123, "vapi_api_key") == "vapi-demo-not-a-real-key-123"
    assert emulator.state.stored_secret(123, "webhook_secret") == WEBHOOK_SECRET


def test_rubric_merge_keeps_rules_of_unnamed_metrics(
    cli: Cli, emulator: RunningEmulator, tmp_path: Path
) -> None:
    path = write(
        tmp_path,
        """
        version: 1
        project: 123
        rubric:
          rules:
            - metric_id: 5512
              conditions: {operator: and, conditions: [{field: score, op: gte, value: 3}]}
        """,
    )
    before = rules_by_metric(emulator.state.project(123))
    plan = cli("plan", str(path))
    assert (
        "~ metric 5512 Customer Satisfaction (continuous_qualitative): score >= 4 -> score >= 3" in plan.out
    )
    assert "2 rules of 2 metrics not in the file kept" in plan.out
    assert cli("apply", "--auto-approve", str(path)).code == 0
    after = rules_by_metric(emulator.state.project(123))
    assert after[115164] == before[115164]
    assert after[8821] == before[8821]
    assert after[5512][0]["conditions"][0]["value"] == 3


def test_rules_added_live_between_two_applies_survive(
    cli: Cli, emulator: RunningEmulator, tmp_path: Path
) -> None:
    path = write(
        tmp_path,
        """
        version: 1
        project: 123
        rubric:
          rules:
            - metric_id: 5512
              conditions: {operator: and, conditions: [{field: score, op: gte, value: 3}]}
        """,
    )
    assert cli("apply", "--auto-approve", str(path)).code == 0
    # Someone edits the rubric in the web UI: adds a rule for the numeric metric 7001.
    live = emulator.state.project(123)["rubric_config"]
    extra = {
        "metric_id": 7001,
        "conditions": {"operator": "and", "conditions": [{"field": "score", "op": "lt", "value": 2}]},
    }
    emulator.state.set_project_fields(123, rubric_config={**live, "rules": [*live["rules"], extra]})
    path.write_text(path.read_text().replace("value: 3", "value: 5"))
    assert cli("apply", "--auto-approve", str(path)).code == 0
    after = rules_by_metric(emulator.state.project(123))
    assert after[7001] == [extra["conditions"]]
    assert after[5512][0]["conditions"][0]["value"] == 5
    assert set(after) == {115164, 5512, 8821, 7001}


def test_bad_file_changes_nothing_and_names_the_position(
    cli: Cli, emulator: RunningEmulator, tmp_path: Path
) -> None:
    path = write(
        tmp_path,
        """
        version: 1
        project: 123
        settings:
          sample_rate: 1.5
          notify_no_calls: true
        """,
    )
    for command in (["plan"], ["apply", "--auto-approve"]):
        result = cli(*command, str(path))
        assert result.code == 1
        assert f"{path}:4:16: " in result.err
        assert "Traceback" not in result.all
    assert emulator.state.requests == []  # refused before any request, let alone a PATCH


def test_apply_without_a_terminal_refuses(cli: Cli, emulator: RunningEmulator, tmp_path: Path) -> None:
    path = example(tmp_path)
    result = cli("apply", str(path), env=SECRET_ENV)
    assert result.code == 1
    assert "stdin is not a terminal" in result.err
    assert "--auto-approve" in result.err
    assert emulator.state.patches() == []


def test_is_deleted_needs_allow_delete(cli: Cli, emulator: RunningEmulator, tmp_path: Path) -> None:
    path = write(tmp_path, "version: 1\nproject: 124\nsettings:\n  is_deleted: true\n")
    plan = cli("plan", str(path))
    assert "apply refuses it without --allow-delete" in plan.out
    refused = cli("apply", "--auto-approve", str(path))
    assert refused.code == 1
    assert "refusing without --allow-delete" in refused.err
    assert emulator.state.patches() == []
    allowed = cli("apply", "--auto-approve", "--allow-delete", str(path))
    assert allowed.code == 0, allowed.err
    assert emulator.state.project(124)["is_deleted"] is True


def test_detailed_exitcode(cli: Cli, emulator: RunningEmulator, tmp_path: Path) -> None:
    path = write(tmp_path, "version: 1\nproject: 124\nsettings:\n  sample_rate: 0.25\n")
    assert cli("plan", str(path)).code == 0
    assert cli("plan", "--detailed-exitcode", str(path)).code == 2
    assert cli("apply", "--auto-approve", str(path)).code == 0
    assert cli("plan", "--detailed-exitcode", str(path)).code == 0
    missing = write(tmp_path, "version: 1\nproject: 999\nsettings:\n  sample_rate: 0.25\n", "missing.yaml")
    assert cli("plan", "--detailed-exitcode", str(missing)).code == 1


def test_json_plan_document(cli: Cli, emulator: RunningEmulator, tmp_path: Path) -> None:
    path = example(tmp_path)
    result = cli("plan", "--format", "json", str(path), env=SECRET_ENV)
    assert result.code == 0, result.err
    doc = json.loads(result.out)
    assert doc["format_version"] == 1
    [project] = doc["projects"]
    assert project["project_id"] == 123
    assert project["file"] == str(path)
    assert set(project["patch"]) == EXAMPLE_CHANGED_FIELDS
    assert project["patch"]["webhook_secret"] == "(sensitive)"
    assert project["summary"]["fields_in_patch"] == 7
    kinds = {(c["kind"], c.get("path") or c.get("metric_id")) for c in project["changes"]}
    assert ("setting", "sample_rate") in kinds
    assert ("secret", "webhook_secret") in kinds
    assert ("rule", 7002) in kinds
    rule = next(c for c in project["changes"] if c["kind"] == "rule")
    assert rule["metric_name"] == "Followed Script"
    assert rule["eval_type"] == "binary"


def test_wrong_api_key_is_one_line_without_the_key(
    cli: Cli, emulator: RunningEmulator, tmp_path: Path
) -> None:
    path = write(tmp_path, "version: 1\nproject: 124\nsettings:\n  sample_rate: 0.25\n")
    wrong = "wrong-key-SECRET-5d1e"
    result = cli("plan", str(path), env={"CEKURA_API_KEY": wrong})
    assert result.code == 1
    assert wrong not in result.all
    assert "project 124" in result.err
    assert emulator.base_url in result.err
    assert "Traceback" not in result.all
    key_file = tmp_path / "key"
    key_file.write_text(API_KEY + "\n")
    via_file = cli("plan", "--api-key-file", str(key_file), str(path), env={"CEKURA_API_KEY": ""})
    assert via_file.code == 0, via_file.err


def test_unknown_project_is_a_clear_error(cli: Cli, emulator: RunningEmulator, tmp_path: Path) -> None:
    path = write(tmp_path, "version: 1\nproject: 999\nsettings:\n  sample_rate: 0.25\n")
    result = cli("plan", str(path))
    assert result.code == 1
    assert "999" in result.err
    assert "not found" in result.err.lower()


def test_secrets_never_appear_in_any_output(cli: Cli, emulator: RunningEmulator, tmp_path: Path) -> None:
    path = example(tmp_path)
    runs = [
        cli("validate", str(path), env=SECRET_ENV),
        cli("plan", str(path), env=SECRET_ENV),
        cli("-vv", "plan", "--format", "json", str(path), env=SECRET_ENV),
        cli("plan", "--rotate-all", str(path), env=SECRET_ENV),
        cli("-vv", "apply", "--auto-approve", "--rotate", "vapi_api_key", str(path), env=SECRET_ENV),
        cli("-vv", "plan", "--rotate-all", "--format", "json", str(path), env=SECRET_ENV),
    ]
    assert [r.code for r in runs] == [0, 0, 0, 0, 0, 0]
    assert emulator.state.stored_secret(123, "vapi_api_key") == VAPI_SECRET  # it was sent, never shown
    for result in runs:
        for secret in (VAPI_SECRET, WEBHOOK_SECRET, API_KEY):
            assert secret not in result.all


def test_rotation_sends_a_configured_secret_only_when_asked(
    cli: Cli, emulator: RunningEmulator, tmp_path: Path
) -> None:
    path = write(tmp_path, "version: 1\nproject: 123\nsecrets:\n  vapi_api_key: {env: VAPI_API_KEY}\n")
    plain = cli("plan", str(path), env=SECRET_ENV)
    assert plain.out.strip() == f"No changes. Project 123 matches {path}."
    rotated = cli("plan", "--rotate", "vapi_api_key", str(path), env=SECRET_ENV)
    assert "vapi_api_key: (sensitive)" in rotated.out
    # A configured secret that is not rotated is not read: drift checks need no secret values.
    assert cli("plan", str(path), env={"VAPI_API_KEY": ""}).code == 0
    missing = cli("plan", "--rotate", "vapi_api_key", str(path), env={"VAPI_API_KEY": ""})
    assert missing.code == 1
    assert "VAPI_API_KEY" in missing.err
    assert emulator.state.patches() == []


def test_request_counts(cli: Cli, emulator: RunningEmulator, tmp_path: Path) -> None:
    settings_only = write(tmp_path, "version: 1\nproject: 124\nsettings:\n  sample_rate: 0.25\n", "a.yaml")
    assert cli("plan", str(settings_only)).code == 0
    assert [(r.method, r.path) for r in emulator.state.requests] == [("GET", "/user/v1/projects/124/")]

    emulator.state.clear_requests()
    assert cli("apply", "--auto-approve", str(settings_only)).code == 0
    # Plan's read, the fresh read right before the PATCH (nothing moved), the PATCH, the verify.
    assert [(r.method, r.path) for r in emulator.state.requests] == [
        ("GET", "/user/v1/projects/124/"),
        ("GET", "/user/v1/projects/124/"),
        ("PATCH", "/user/v1/projects/124/"),
        ("GET", "/user/v1/projects/124/"),
    ]

    emulator.state.clear_requests()
    (tmp_path / "ex").mkdir()
    path = example(tmp_path / "ex")
    assert cli("plan", str(path), env=SECRET_ENV).code == 0
    assert [(r.method, r.path) for r in emulator.state.requests] == [
        ("GET", "/user/v1/projects/123/"),
        ("GET", "/test_framework/v2/metrics/"),
    ]


def test_emulator_command_serves_and_checks_the_key(tmp_path: Path) -> None:
    import httpx

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "reconciler", "emulator", "--port", "0", "--api-key", "k-1"],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        url = line.strip().rsplit(" ", 1)[-1]
        assert url.startswith("http://127.0.0.1:")
        ok = httpx.get(f"{url}/user/v1/projects/123/", headers={"X-CEKURA-API-KEY": "k-1"})
        assert ok.status_code == 200
        assert ok.json()["vapi_api_key_configured"] == "true"
        assert "vapi_api_key" not in ok.json()
        denied = httpx.get(f"{url}/user/v1/projects/123/", headers={"X-CEKURA-API-KEY": "demo"})
        assert denied.status_code == 401
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_version_and_module_entry_point() -> None:
    from reconciler import __version__

    result = subprocess.run(
        [sys.executable, "-m", "reconciler", "--version"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=False,
    )
    assert result.returncode == 0
    assert __version__ in result.stdout


def test_a_secret_to_set_must_resolve(cli: Cli, emulator: RunningEmulator, tmp_path: Path) -> None:
    path = write(tmp_path, "version: 1\nproject: 124\nsecrets:\n  vapi_api_key: {file: missing/key}\n")
    result = cli("plan", str(path))
    assert result.code == 1
    assert f"{path}:4:" in result.err
    assert "{file: missing/key}" in result.err
    assert "does not exist" in result.err
    assert emulator.state.patches() == []


def test_export_round_trip(cli: Cli, emulator: RunningEmulator, tmp_path: Path) -> None:
    for project in (123, 124, 125):
        target = tmp_path / f"exported-{project}.yaml"
        exported = cli("export", str(project), "-o", str(target))
        assert exported.code == 0, exported.err
        assert cli("validate", str(target)).code == 0
        # No secret variables set: configured secrets are not read unless rotated.
        planned = cli("plan", "--detailed-exitcode", str(target))
        assert planned.code == 0, planned.all
        assert "No changes." in planned.out
    assert emulator.state.patches() == []
    again = cli("export", "123", "-o", str(tmp_path / "exported-123.yaml"))
    assert again.code == 1
    assert "refusing to overwrite" in again.err
    stdout = cli("export", "124", "-o", "-")
    assert stdout.out.startswith("# yaml-language-server: $schema=")
    assert "project: 124" in stdout.out


def test_usage_errors_exit_1_never_2(cli: Cli, emulator: RunningEmulator, tmp_path: Path) -> None:
    # 2 means "changes present" / "drifted" to pipelines: a typo in a pipeline must not look like it.
    for args in (
        ["drift", "--format", "yaml", "x.yaml"],
        ["drift"],
        ["plan", "--timeout", "0", "x"],
        ["nope"],
    ):
        result = cli(*args)
        assert result.code == 1, (args, result.err)
        assert "Traceback" not in result.all
    assert cli("--help").code == 0
    assert cli("plan", "--help").code == 0


def test_input_mistakes_found_in_review(cli: Cli, emulator: RunningEmulator, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    result = cli("plan", str(empty))
    assert result.code == 1
    assert f"{empty}: no project files (*.yaml, *.yml) in this directory" in result.err

    upper = tmp_path / "upper"
    upper.mkdir()
    (upper / "P.YAML").write_text("version: 1\nproject: 124\nsettings:\n  sample_rate: 0.5\n")
    assert cli("plan", str(upper)).code == 0

    path = write(tmp_path, "version: 1\nproject: 124\nsettings:\n  sample_rate: 0.5\n")
    odd_key = "demo\nX-Evil: 1"
    bad_key = cli("plan", str(path), env={"CEKURA_API_KEY": odd_key})
    assert bad_key.code == 1
    assert "X-Evil" not in bad_key.all and "Traceback" not in bad_key.all
    assert cli("plan", str(path), env={"CEKURA_API_KEY": "démo"}).code == 1
    bom = tmp_path / "key-with-bom"
    bom.write_bytes(b"\xef\xbb\xbf" + API_KEY.encode() + b"\r\n")
    assert cli("plan", "--api-key-file", str(bom), str(path), env={"CEKURA_API_KEY": ""}).code == 0
    latin = tmp_path / "key-latin1"
    latin.write_bytes(b"\xff\xfekey")
    not_utf8 = cli("plan", "--api-key-file", str(latin), str(path), env={"CEKURA_API_KEY": ""})
    assert not_utf8.code == 1 and "not UTF-8" in not_utf8.err and "Traceback" not in not_utf8.all

    with_password = emulator.base_url.replace("http://", "http://user:hunter2@")
    refused = cli("plan", "--base-url", with_password, str(path))
    assert refused.code == 1
    assert "hunter2" not in refused.all
    assert cli("plan", "--base-url", emulator.base_url + "/?token=abc", str(path)).code == 1
    assert emulator.state.patches() == []


def test_a_child_of_a_project_file_does_not_inherit_its_project(
    cli: Cli, emulator: RunningEmulator, tmp_path: Path
) -> None:
    (tmp_path / "base.yaml").write_text("version: 1\nproject: 123\nsettings:\n  sample_rate: 0.5\n")
    (tmp_path / "child.yaml").write_text("version: 1\nextends: base.yaml\nsettings:\n  sample_rate: 0.7\n")
    result = cli("validate", str(tmp_path))
    assert result.code == 0, result.err
    assert f"{tmp_path / 'child.yaml'}: valid (base file)" in result.out


def test_emulator_command_errors_are_clean(emulator: RunningEmulator, tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    port = emulator.base_url.rsplit(":", 1)[-1]
    busy = subprocess.run(
        [sys.executable, "-m", "reconciler", "emulator", "--port", port],
        capture_output=True,
        text=True,
        env=env,
    )
    assert busy.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in busy.stderr and "Traceback" not in busy.stderr
    seed = tmp_path / "seed.json"
    seed.write_text('{"projects": 5}')
    bad = subprocess.run(
        [sys.executable, "-m", "reconciler", "emulator", "--port", "0", "--seed", str(seed)],
        capture_output=True,
        text=True,
        env=env,
    )
    assert bad.returncode == 1 and "'projects' list" in bad.stderr and "Traceback" not in bad.stderr


def test_emulator_reads_a_yaml_seed(tmp_path: Path) -> None:
    from reconciler.emulator import EmulatorState, load_seed

    seed = tmp_path / "seed.yaml"
    seed.write_text("projects:\n  - {id: 7, name: Seven}\n")
    assert EmulatorState(load_seed(seed)).project(7)["name"] == "Seven"


def test_whole_numbers_written_as_floats_are_sent_as_integers(
    cli: Cli, emulator: RunningEmulator, tmp_path: Path
) -> None:
    path = write(
        tmp_path,
        """
        version: 1
        project: 124.0
        settings:
          max_call_duration: 1000.0
          sample_rate: 1.0
          daily_report_dashboard_ids: [12.0]
        rubric:
          rules:
            - metric_id: 61207.0
              conditions: {operator: and, conditions: [{field: score, op: gte, value: 4.0}]}
        """,
    )
    assert "valid (project 124)" in cli("validate", str(path)).out
    applied = cli("apply", "--auto-approve", str(path))
    assert applied.code == 0, applied.err
    [patch] = emulator.state.patches()
    assert b'"max_call_duration":1000,' in patch.body  # an integer on the wire, not 1000.0
    assert patch.json["daily_report_dashboard_ids"] == [12]
    [rule_sent] = patch.json["rubric_config"]["rules"]
    assert rule_sent["metric_id"] == 61207 and isinstance(rule_sent["metric_id"], int)
    assert rule_sent["conditions"]["conditions"][0]["value"] == 4.0  # values are sent as written
    assert cli("plan", "--detailed-exitcode", str(path)).code == 0
