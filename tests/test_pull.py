"""End to end: `export --all` onboards every project, `pull` adopts edits made in the web UI.

The CLI runs as a subprocess against the emulator over 127.0.0.1; the web UI's edits are made
through the emulator's control endpoint (PATCH /_emulator/projects/{id}), as a person would behind
the tool's back. Files before and after a pull are compared with golden files in tests/data/pull/
(CEKURA_UPDATE_GOLDEN=1 rewrites the "after" files from the current output; review the diff).
"""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path
from typing import Any

import httpx
from conftest import API_KEY, Cli

from reconciler.emulator import EmulatorState, RunningEmulator, start
from reconciler.emulator_seed import default_seed

DATA = Path(__file__).parent / "data" / "pull"
SECRETS = {"VAPI_API_KEY": "sk-vapi-never-in-a-file-5150"}


def ui_edit(emulator: RunningEmulator, project_id: int, **fields: Any) -> None:
    """Change a project as the web UI would: through the emulator's control endpoint."""
    answer = httpx.patch(f"{emulator.base_url}/_emulator/projects/{project_id}", json=fields, timeout=10)
    assert answer.status_code == 200, answer.text


def rubric(*rules: tuple[int, str, str, Any]) -> dict[str, Any]:
    return {
        "evaluation_logic": "and",
        "rules": [
            {
                "metric_id": metric,
                "conditions": {"operator": "and", "conditions": [{"field": field, "op": op, "value": value}]},
            }
            for metric, field, op, value in rules
        ],
    }


def golden(path: Path, text: str) -> None:
    if os.environ.get("CEKURA_UPDATE_GOLDEN"):
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8"), f"differs from {path.name}"


def clean_plan(cli: Cli, *paths: str) -> None:
    result = cli("plan", "--detailed-exitcode", *paths, env=SECRETS)
    assert result.code == 0, result.all
    assert "No changes." in result.out


# -- export --all --------------------------------------------------------------------------------


def test_export_all_writes_one_named_file_per_project_and_plans_clean(
    cli: Cli, emulator: RunningEmulator, tmp_path: Path
) -> None:
    out = tmp_path / "projects"
    result = cli("export", "--all", "-o", str(out))
    assert result.code == 0, result.all
    names = sorted(p.name for p in out.iterdir())
    assert names == [
        "123-support-line-qa.yaml",
        "124-sales-outbound-staging.yaml",
        "125-sales-outbound-production.yaml",
    ]
    assert "Wrote 3 project files" in result.err
    text = (out / "124-sales-outbound-staging.yaml").read_text(encoding="utf-8")
    # Secrets as references, with the variable to set; their values nowhere.
    assert "retell_api_key: {env: CEKURA_124_RETELL_API_KEY}  # configured live; to rotate it, set " in text
    for project_id in (123, 124, 125):
        for name in ("vapi_api_key", "retell_api_key"):
            stored = emulator.state.stored_secret(project_id, name)
            assert not stored or all(stored not in p.read_text(encoding="utf-8") for p in out.iterdir())
    # The seed's project 125 carries a rule of a deleted metric: export leaves it unmanaged.
    emulator.state.clear_requests()
    result = cli("plan", "--detailed-exitcode", str(out))
    assert result.code == 0, result.all
    assert result.out.count("No changes.") == 3
    assert emulator.state.patches() == []
    pulled = cli("pull", "--check", str(out))
    assert pulled.code == 0, pulled.all
    assert "Nothing to pull" in pulled.out


def test_export_all_names_metrics_by_slug_where_unique(
    cli: Cli, emulator: RunningEmulator, tmp_path: Path
) -> None:
    emulator.state.set_project_fields(
        124, rubric_config=rubric((61208, "score", "eq", 5), (61207, "score", "gte", 3))
    )
    out = tmp_path / "projects"
    assert cli("export", "--all", "--project", "124", "-o", str(out)).code == 0
    text = (out / "124-sales-outbound-staging.yaml").read_text(encoding="utf-8")
    assert '    - metric: "appointment_booked"  # Appointment Booked (binary), metric 61208\n' in text
    label = "Customer Satisfaction (continuous_qualitative), metric 61207"
    assert f'    - metric: "customer_satisfaction"  # {label}\n' in text
    assert [p.name for p in out.iterdir()] == ["124-sales-outbound-staging.yaml"]
    clean_plan(cli, str(out))


def test_export_all_refuses_to_overwrite_and_writes_nothing(cli: Cli, tmp_path: Path) -> None:
    out = tmp_path / "projects"
    out.mkdir()
    (out / "support.yaml").write_text("version: 1\nproject: 123\n", encoding="utf-8")
    result = cli("export", "--all", "-o", str(out))
    assert result.code == 1
    assert "support.yaml (manages project 123)" in result.err and "nothing was written" in result.err
    assert [p.name for p in out.iterdir()] == ["support.yaml"]
    assert cli("export", "--all").code == 1
    assert "-o DIR" in cli("export", "--all").err
    missing = cli("export", "--all", "--project", "999", "-o", str(out))
    assert missing.code == 1 and "--project 999: not among the projects this key can see" in missing.err


def test_export_all_of_many_projects_reports_progress_and_skips_deleted(tmp_path: Path) -> None:
    seed = default_seed()
    template = next(p for p in seed["projects"] if p["id"] == 124)
    for n in range(11):
        seed["projects"].append({**template, "id": 900 + n, "name": f"Clinic {n:02d} — Ünïcode"})
    seed["projects"].append({**template, "id": 990, "name": "Gone", "is_deleted": True})
    with start(EmulatorState(seed, api_key=API_KEY)) as emulator:
        cli = Cli(emulator.base_url, tmp_path)
        out = tmp_path / "org"
        result = cli("export", "--all", "-o", str(out))
        assert result.code == 0, result.all
        assert "Exporting projects: 14/14" in result.err  # 3 seeded + 11 (one line per quarter off a tty)
        assert "skipping soft-deleted project(s) 990" in result.err
        assert (out / "905-clinic-05-unicode.yaml").is_file()
        assert not any(p.name.startswith("990") for p in out.iterdir())
        assert len(list(out.iterdir())) == 14
        plan = cli("plan", "--detailed-exitcode", str(out))
        assert plan.code == 0, plan.all
        deleted = cli("export", "--all", "--project", "990", "-o", str(tmp_path / "gone"))
        assert deleted.code == 0 and (tmp_path / "gone" / "990-gone.yaml").is_file()


# -- pull: one file ------------------------------------------------------------------------------


def support_file(tmp_path: Path) -> Path:
    path = tmp_path / "support.yaml"
    shutil.copy(DATA / "support.before.yaml", path)
    return path


def test_pull_adopts_ui_edits_and_keeps_comments_order_and_quoting(
    cli: Cli, emulator: RunningEmulator, tmp_path: Path
) -> None:
    path = support_file(tmp_path)
    clean_plan(cli, str(path))
    live = emulator.state.project(123)
    period = live["no_calls_notify_time_period"]
    ui_edit(
        emulator,
        123,
        sample_rate=0.25,
        timezone="Europe/Lisbon",
        webhook_url="https://hooks.acme-health.example/cekura/v2",
        daily_report_dashboard_ids=[17, 23, 31],
        no_calls_notify_time_period={
            **period,
            "time_periods": [period["time_periods"][0], {**period["time_periods"][1], "end_time": "22:00"}],
            "agents": [305],
        },
        rubric_config=rubric(
            (115164, "score", "eq", 0),  # the UI stores binary rules as 5/0
            (5512, "score", "gte", 3),
            (8821, "enum", "in", ["resolved"]),
            (7002, "score", "eq", 5),  # a metric the file does not name: not its business
        ),
        notify_cron_success=True,  # a setting the file does not name: not written
    )
    emulator.state.clear_requests()
    result = cli("pull", str(path))
    assert result.code == 0, result.all
    golden(DATA / "support.after.yaml", path.read_text(encoding="utf-8"))
    assert result.out == (
        f"{path} (project 123):\n"
        "  settings.sample_rate: 1.0 -> 0.25\n"
        '  settings.webhook_url: "https://hooks.acme-health.example/cekura/results" -> '
        '"https://hooks.acme-health.example/cekura/v2"\n'
        "  settings.daily_report_dashboard_ids: [17, 23] -> [17, 23, 31]\n"
        '  settings.no_calls_notify_time_period.time_periods: [{"start_time": "09:00", "end_time": "17:00", '
        '"time_frame": 30}, {"start_time": "18:00", "end_time": "23:59", "time_frame": 60}] -> '
        '[{"start_time": "09:00", "end_time": "17:00", "time_frame": 30}, '
        '{"start_time": "18:00", "end_time": "22:00", "time_frame": 60}]\n'
        "  settings.no_calls_notify_time_period.agents: [305, 312] -> [305]\n"
        '  settings.timezone: "America/New_York" -> "Europe/Lisbon"\n'
        "  rubric: metric 115164 (Appointment Booked): 1 rule, changed\n"
        "  rubric: metric 5512 (Customer Satisfaction): 1 rule, changed\n"
        "  rubric: metric 8821 (Call Resolution): 1 rule, changed\n"
        "Pulled 9 changes into 1 file; nothing was sent to Cekura.\n"
    )
    assert emulator.state.patches() == []  # pull only reads
    assert all(r.method == "GET" for r in emulator.state.requests)
    clean_plan(cli, str(path))
    again = cli("pull", "--check", str(path))
    assert again.code == 0 and "Nothing to pull" in again.out


def test_pull_check_exits_2_and_writes_nothing(cli: Cli, emulator: RunningEmulator, tmp_path: Path) -> None:
    path = support_file(tmp_path)
    before = path.read_bytes()
    ui_edit(emulator, 123, sample_rate=0.5)
    result = cli("pull", "--check", str(path))
    assert result.code == 2, result.all
    assert "settings.sample_rate: 1.0 -> 0.5" in result.out
    assert "Would pull 1 change into 1 file" in result.out
    assert path.read_bytes() == before
    assert "Wrote" not in result.err


def test_pull_writes_only_managed_fields_and_never_a_secret(
    cli: Cli, emulator: RunningEmulator, tmp_path: Path
) -> None:
    path = support_file(tmp_path)
    before = path.read_bytes()
    live_rules = emulator.state.project(123)["rubric_config"]["rules"]
    extra = rubric((7002, "score", "eq", 0))["rules"]
    ui_edit(
        emulator,
        123,
        notify_cron_success=True,
        frequent_calls_threshold=9,
        rubric_config={"evaluation_logic": "and", "rules": [*live_rules, *extra]},
        vapi_api_key="sk-rotated-in-the-ui-8842",
        webhook_secret="whsec-set-in-the-ui-2231",
    )
    result = cli("pull", str(path))
    assert result.code == 0, result.all
    assert "Nothing to pull" in result.out
    assert path.read_bytes() == before
    # A secret the file references that is not configured live is only noted.
    emulator.state.set_project_fields(123, vapi_api_key="")
    result = cli("pull", str(path))
    assert result.code == 0, result.all
    assert "secret vapi_api_key is not configured in Cekura; pull never writes secrets" in result.err
    assert path.read_bytes() == before
    for value in ("sk-rotated-in-the-ui-8842", "whsec-set-in-the-ui-2231", SECRETS["VAPI_API_KEY"]):
        assert value not in result.all


def test_pull_writes_binary_rules_in_the_files_own_style(
    cli: Cli, emulator: RunningEmulator, tmp_path: Path
) -> None:
    path = tmp_path / "numeric.yaml"
    path.write_text(
        "version: 1\nproject: 123\nrubric:\n  rules:\n"
        "    - metric_id: 115164   # written as 5/0 here\n"
        "      conditions: {operator: and, conditions: [{field: score, op: eq, value: 5}]}\n"
        "    - metric_id: 7002\n"
        "      conditions: {operator: and, conditions: [{field: score, op: eq, value: true}]}\n",
        encoding="utf-8",
    )
    clean = rubric((115164, "score", "eq", 5), (7002, "score", "eq", 5))
    emulator.state.set_project_fields(123, rubric_config=clean)
    ui_edit(
        emulator,
        123,
        rubric_config=rubric((115164, "score", "eq", 0), (7002, "score", "eq", 0), (7002, "score", "neq", 5)),
    )
    result = cli("pull", str(path))
    assert result.code == 0, result.all
    assert path.read_text(encoding="utf-8") == (
        "version: 1\nproject: 123\nrubric:\n  rules:\n"
        "    - metric_id: 115164   # written as 5/0 here\n"
        "      conditions: {operator: and, conditions: [{field: score, op: eq, value: 0}]}\n"
        "    - metric_id: 7002\n"
        "      conditions: {operator: and, conditions: [{field: score, op: eq, value: false}]}\n"
        "    - metric_id: 7002\n"
        "      conditions: {operator: and, conditions: [{field: score, op: neq, value: true}]}\n"
    )
    clean_plan(cli, str(path))
    # Every rule of a named metric removed in the UI: the file keeps managing it as absent.
    ui_edit(emulator, 123, rubric_config=rubric((115164, "score", "eq", 0)))
    assert cli("pull", str(path)).code == 0
    text = path.read_text(encoding="utf-8")
    assert text.endswith("    - metric_id: 7002\n      absent: true\n"), text
    clean_plan(cli, str(path))


def test_pull_with_prune_adopts_rules_of_metrics_the_file_does_not_name(
    cli: Cli, emulator: RunningEmulator, tmp_path: Path
) -> None:
    path = tmp_path / "pruned.yaml"
    path.write_text(
        "version: 1\nproject: 123\nrubric:\n  prune: true   # this file owns the whole rubric\n  rules:\n"
        "    - metric_id: 5512\n"
        "      conditions: {operator: and, conditions: [{field: score, op: gte, value: 4}]}\n",
        encoding="utf-8",
    )
    ui_edit(
        emulator,
        123,
        rubric_config=rubric((5512, "score", "gte", 4), (7002, "score", "eq", 5), (9101, "score", "eq", 0)),
    )
    result = cli("pull", str(path))
    assert result.code == 0, result.all
    assert path.read_text(encoding="utf-8").endswith(
        "    - metric_id: 5512\n"
        "      conditions: {operator: and, conditions: [{field: score, op: gte, value: 4}]}\n"
        "    - metric: followed_script_7002\n"
        "      conditions: {operator: and, conditions: [{field: score, op: eq, value: true}]}\n"
        "    - metric: greeting_compliance_9101\n"
        "      conditions: {operator: and, conditions: [{field: score, op: eq, value: false}]}\n"
    )
    clean_plan(cli, str(path))


def test_pull_refuses_a_value_shared_through_an_anchor(
    cli: Cli, emulator: RunningEmulator, tmp_path: Path
) -> None:
    path = tmp_path / "anchored.yaml"
    text = (
        "version: 1\nproject: 123\nsettings:\n"
        "  no_calls_notify_time_period:\n"
        "    time_zone: America/New_York\n"
        "    time_periods:\n"
        '      - &day {start_time: "09:00", end_time: "17:00", time_frame: 30}\n'
        "      - <<: *day\n"
        '        start_time: "18:00"\n'
        '        end_time: "23:59"\n'
        "        time_frame: 60\n"
        '    exception_numbers: ["+15551234567", "+14155552671"]\n'
        "    agents: [305, 312]\n"
    )
    path.write_text(text, encoding="utf-8")
    clean_plan(cli, str(path))
    period = emulator.state.project(123)["no_calls_notify_time_period"]
    first = {**period["time_periods"][0], "time_frame": 45}
    ui_edit(
        emulator,
        123,
        no_calls_notify_time_period={**period, "time_periods": [first, period["time_periods"][1]]},
    )
    result = cli("pull", str(path))
    assert result.code == 1
    assert (
        f"{path}:7:9: settings.no_calls_notify_time_period.time_periods[0] is inside a YAML anchor (&day)"
        in result.err
    )
    assert "nothing was changed" in result.err and "Traceback" not in result.err
    assert path.read_text(encoding="utf-8") == text


def test_pull_keeps_line_ends_byte_order_mark_and_permissions(
    cli: Cli, emulator: RunningEmulator, tmp_path: Path
) -> None:
    path = tmp_path / "windows.yaml"
    lines = ["# saved on Windows", "version: 1", "project: 123", "settings:", "  sample_rate: 1.0  # all", ""]
    path.write_bytes(b"\xef\xbb\xbf" + "\r\n".join(lines).encode())
    path.chmod(0o640)
    ui_edit(emulator, 123, sample_rate=0.75)
    result = cli("pull", str(path))
    assert result.code == 0, result.all
    lines[4] = "  sample_rate: 0.75  # all"
    assert path.read_bytes() == b"\xef\xbb\xbf" + "\r\n".join(lines).encode()
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary file left


# -- pull: a base shared by two children ---------------------------------------------------------


def shared_files(tmp_path: Path) -> dict[str, Path]:
    folder = tmp_path / "sales"
    folder.mkdir()
    paths = {}
    for name in ("base", "staging", "prod"):
        paths[name] = folder / f"{name}.yaml"
        shutil.copy(DATA / "shared" / f"{name}.before.yaml", paths[name])
    return paths


def test_pull_updates_a_shared_base_or_writes_overrides_where_children_differ(
    cli: Cli, emulator: RunningEmulator, tmp_path: Path
) -> None:
    paths = shared_files(tmp_path)
    children = [str(paths["staging"]), str(paths["prod"])]
    applied = cli("apply", "--auto-approve", *children)  # the projects start as the files say
    assert applied.code == 0, applied.all
    clean_plan(cli, *children)
    # Both projects moved the same way (timezone, the appointment rule): the base takes it.
    # Only production changed its sample rate, only staging its satisfaction rule: overrides.
    for project_id, booked, satisfied in ((124, 61208, 61207), (125, 61316, 61315)):
        threshold = 3 if project_id == 124 else 4
        ui_edit(
            emulator,
            project_id,
            timezone="America/Chicago",
            rubric_config=rubric((booked, "score", "eq", 0), (satisfied, "score", "gte", threshold)),
        )
    ui_edit(emulator, 125, sample_rate=0.25)
    result = cli("pull", *children)
    assert result.code == 0, result.all
    for name, path in paths.items():
        golden(DATA / "shared" / f"{name}.after.yaml", path.read_text(encoding="utf-8"))
    base, staging, prod = (str(paths[n]) for n in ("base", "staging", "prod"))
    assert result.out == (
        f"{staging} (project 124):\n"
        f"  rubric: metric 61207 (Customer Satisfaction): 1 rule (an override: {base} has 1 rule)\n"
        f"{prod} (project 125):\n"
        f"  settings.sample_rate: 0.25 (an override: {base} has 0.5)\n"
        f"{base} (base of {staging}, {prod}):\n"
        '  settings.timezone: "UTC" -> "America/Chicago"\n'
        "  rubric: metric 61208 (Appointment Booked): 1 rule, changed\n"
        "Pulled 4 changes into 3 files; nothing was sent to Cekura.\n"
    )
    assert (
        f"{base}: updated as a base; files not given here that extend it inherit the new value" in result.err
    )
    clean_plan(cli, *children)


def test_pull_of_one_child_updates_the_base_for_the_children_not_given(
    cli: Cli, emulator: RunningEmulator, tmp_path: Path
) -> None:
    """A child not given is not read: a base updated for the ones given is what it inherits too,
    so its next plan proposes the new value to its project (the note says so)."""
    paths = shared_files(tmp_path)
    assert cli("apply", "--auto-approve", str(paths["staging"]), str(paths["prod"])).code == 0
    ui_edit(emulator, 124, timezone="Asia/Tokyo")
    result = cli("pull", str(paths["staging"]))
    assert result.code == 0, result.all
    assert "timezone: Asia/Tokyo" in paths["base"].read_text(encoding="utf-8")
    assert "files not given here that extend it inherit the new value" in result.err
    clean_plan(cli, str(paths["staging"]))
    plan = cli("plan", "--detailed-exitcode", str(paths["prod"]))
    assert plan.code == 2 and 'timezone: "UTC" -> "Asia/Tokyo"' in plan.out


def test_pull_does_not_edit_a_base_when_one_of_its_projects_cannot_be_read(
    cli: Cli, emulator: RunningEmulator, tmp_path: Path
) -> None:
    paths = shared_files(tmp_path)
    assert cli("apply", "--auto-approve", str(paths["staging"]), str(paths["prod"])).code == 0
    base_before = paths["base"].read_bytes()
    ui_edit(emulator, 124, timezone="Asia/Tokyo", sample_rate=0.1)
    text = paths["prod"].read_text(encoding="utf-8").replace("project: 125", "project: 4040")
    paths["prod"].write_text(text, encoding="utf-8")  # a project that does not exist
    result = cli("pull", str(paths["staging"]), str(paths["prod"]))
    assert result.code == 1
    assert "project 4040 not found" in result.err
    assert "settings.timezone not pulled: a project reading it from this file could not be read" in result.err
    assert paths["base"].read_bytes() == base_before


# -- metric definitions --------------------------------------------------------------------------

METRICS_FILE = """version: 1
project: 123
metrics:
  definitions:
    # The script check the QA team reviews.
    - slug: followed_script_7002
      description: "Whether the agent followed the support script."
      prompt: |
        Did the agent follow the support script?
        Answer from the transcript only.
    - slug: topic_7003  # enum outcomes
      enum_values: [billing, booking, other]
"""


def test_pull_writes_a_metric_edited_in_the_ui_into_its_definition(
    cli: Cli, emulator: RunningEmulator, tmp_path: Path
) -> None:
    emulator.state.set_metric_fields(
        7002, prompt="Did the agent follow the support script?\nAnswer from the transcript only.\n"
    )
    [topic] = [m for m in emulator.state.metrics if m["id"] == 7003]
    path = tmp_path / "p123.yaml"
    path.write_text(METRICS_FILE.replace("[billing, booking, other]", str(topic["enum_values"])))
    clean_plan(cli, str(path))
    # A colleague rewrites the prompt and the description in the web UI.
    new_prompt = "Did the agent follow the support script, in order?\nAnswer from the transcript only.\n"
    emulator.state.set_metric_fields(7002, prompt=new_prompt, description="Script, in order.")
    result = cli("pull", str(path))
    assert result.code == 0, result.all
    assert "metrics.followed_script_7002.prompt:" in result.out, result.out
    assert "metrics.followed_script_7002.description: " in result.out
    text = path.read_text()
    assert "    # The script check the QA team reviews.\n" in text  # comments kept
    assert "    - slug: topic_7003  # enum outcomes\n" in text
    assert 'description: "Script, in order."' in text
    assert "support script, in order?" in text
    clean_plan(cli, str(path))
    # Nothing left to pull.
    again = cli("pull", "--check", str(path))
    assert again.code == 0, again.all
