"""End to end: saved plans (plan --out, apply FILE), the backup journal and restore."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import API_KEY, Cli

from reconciler.emulator import RunningEmulator

SECRET = "vapi-SAVED-plan-secret-93af"


def project_file(tmp_path: Path) -> Path:
    path = tmp_path / "p.yaml"
    path.write_text(
        "version: 1\nproject: 124\n"
        "settings:\n  sample_rate: 0.75\n  outbound_timeout: 200\n"
        "secrets:\n  vapi_api_key: {env: VAPI_API_KEY}\n"
        "rubric:\n  rules:\n    - metric_id: 61207\n"
        "      conditions: {operator: and, conditions: [{field: score, op: gte, value: 4}]}\n"
    )
    return path


def saved_plan(cli: Cli, tmp_path: Path, *extra: str) -> Path:
    out = tmp_path / "reviewed.plan"
    result = cli("plan", "--out", str(out), *extra, str(project_file(tmp_path)), env={"VAPI_API_KEY": SECRET})
    assert result.code == 0, result.err
    return out


def test_saved_plan_applies_exactly_the_reviewed_change(
    cli: Cli, emulator: RunningEmulator, tmp_path: Path
) -> None:
    out = saved_plan(cli, tmp_path)
    text = out.read_text()
    assert SECRET not in text and API_KEY not in text
    assert '"env": "VAPI_API_KEY"' in text
    assert emulator.state.patches() == []
    # No terminal, no --auto-approve: the review was the approval.
    result = cli("apply", str(out), env={"VAPI_API_KEY": SECRET})
    assert result.code == 0, result.err
    [patch] = emulator.state.patches()
    assert set(patch.json) == {"sample_rate", "outbound_timeout", "vapi_api_key", "rubric_config"}
    assert patch.json["vapi_api_key"] == SECRET
    assert emulator.state.project(124)["sample_rate"] == 0.75
    assert SECRET not in result.out + result.err


def test_stale_plan_is_refused_and_nothing_is_sent(
    cli: Cli, emulator: RunningEmulator, tmp_path: Path
) -> None:
    out = saved_plan(cli, tmp_path)
    emulator.state.set_project_fields(124, outbound_timeout=150)  # someone edits a managed field
    result = cli("apply", str(out), env={"VAPI_API_KEY": SECRET})
    assert result.code == 1
    assert "stale plan" in result.err
    assert "project 124" in result.err
    assert emulator.state.patches() == []


def test_an_unmanaged_change_does_not_make_the_plan_stale(
    cli: Cli, emulator: RunningEmulator, tmp_path: Path
) -> None:
    out = saved_plan(cli, tmp_path)
    emulator.state.set_project_fields(124, max_call_duration=1200)  # not in the file
    result = cli("apply", str(out), env={"VAPI_API_KEY": SECRET})
    assert result.code == 0, result.err
    assert emulator.state.project(124)["max_call_duration"] == 1200


def test_a_rubric_edited_live_makes_the_plan_stale(
    cli: Cli, emulator: RunningEmulator, tmp_path: Path
) -> None:
    out = saved_plan(cli, tmp_path)
    emulator.state.set_project_fields(124, rubric_config={})
    emulator.state.set_project_fields(
        124,
        rubric_config={
            "evaluation_logic": "and",
            "rules": [
                {
                    "metric_id": 61208,
                    "conditions": {
                        "operator": "and",
                        "conditions": [{"field": "score", "op": "eq", "value": 5}],
                    },
                }
            ],
        },
    )
    result = cli("apply", str(out), env={"VAPI_API_KEY": SECRET})
    assert result.code == 1
    assert "stale plan" in result.err
    assert emulator.state.patches() == []


def test_edited_plan_file_is_refused(cli: Cli, emulator: RunningEmulator, tmp_path: Path) -> None:
    out = saved_plan(cli, tmp_path)
    emulator.state.clear_requests()
    out.write_text(out.read_text().replace("0.75", "0.95"))
    result = cli("apply", str(out), env={"VAPI_API_KEY": SECRET})
    assert result.code == 1
    assert "checksum does not match" in result.err
    assert emulator.state.requests == []


def test_plan_for_another_base_url_is_refused(cli: Cli, emulator: RunningEmulator, tmp_path: Path) -> None:
    out = saved_plan(cli, tmp_path)
    other = emulator.base_url.rsplit(":", 1)[0] + ":1"  # another port: another server
    result = cli("apply", "--base-url", other, str(out), env={"VAPI_API_KEY": SECRET})
    assert result.code == 1
    assert "was made against" in result.err
    assert emulator.state.patches() == []


def test_saved_plan_records_a_rotation_not_a_value(
    cli: Cli, emulator: RunningEmulator, tmp_path: Path
) -> None:
    path = tmp_path / "r.yaml"
    path.write_text("version: 1\nproject: 123\nsecrets:\n  vapi_api_key: {env: VAPI_API_KEY}\n")
    out = tmp_path / "rotate.plan"
    made = cli("plan", "--rotate", "vapi_api_key", "--out", str(out), str(path), env={"VAPI_API_KEY": SECRET})
    assert made.code == 0, made.err
    doc = json.loads(out.read_text())
    assert doc["projects"][0]["patch"] == {"vapi_api_key": {"$secret": {"env": "VAPI_API_KEY"}}}
    assert doc["projects"][0]["field_changes"][0]["action"] == "rotate"
    rotated = "vapi-ROTATED-value-55e1"
    result = cli("apply", str(out), env={"VAPI_API_KEY": rotated})
    assert result.code == 0, result.err
    assert emulator.state.stored_secret(123, "vapi_api_key") == rotated


def test_journal_and_restore(cli: Cli, emulator: RunningEmulator, tmp_path: Path) -> None:
    journal = tmp_path / "journal"
    before = emulator.state.project(124)
    applied = cli(
        "apply",
        "--auto-approve",
        "--journal-dir",
        str(journal),
        str(project_file(tmp_path)),
        env={"VAPI_API_KEY": SECRET},
    )
    assert applied.code == 0, applied.err
    [entry] = sorted(journal.glob("*.json"))
    record = json.loads(entry.read_text())
    assert record["project_id"] == 124
    assert record["before"] == {
        "sample_rate": before["sample_rate"],
        "outbound_timeout": before["outbound_timeout"],
        "rubric_config": before["rubric_config"],
    }
    assert record["secrets_sent"] == ["vapi_api_key"]
    assert SECRET not in entry.read_text()

    emulator.state.clear_requests()
    restored = cli("restore", "--auto-approve", "--journal-dir", str(journal), str(entry))
    assert restored.code == 0, restored.err
    assert "~ sample_rate: 0.75 -> 0.5" in restored.out
    after = emulator.state.project(124)
    for name in ("sample_rate", "outbound_timeout", "rubric_config"):
        assert after[name] == before[name], name
    [patch] = emulator.state.patches()
    assert set(patch.json) == {"sample_rate", "outbound_timeout", "rubric_config"}
    assert len(list(journal.glob("*.json"))) == 2  # the restore was journaled too

    again = cli("restore", "--auto-approve", "--journal-dir", str(journal), str(entry))
    assert again.code == 0
    assert "No changes." in again.out
    assert len(emulator.state.patches()) == 1


def test_restore_without_a_terminal_refuses(cli: Cli, emulator: RunningEmulator, tmp_path: Path) -> None:
    journal = tmp_path / "journal"
    assert (
        cli(
            "apply",
            "--auto-approve",
            "--journal-dir",
            str(journal),
            str(project_file(tmp_path)),
            env={"VAPI_API_KEY": SECRET},
        ).code
        == 0
    )
    [entry] = journal.glob("*.json")
    emulator.state.clear_requests()
    result = cli("restore", str(entry))
    assert result.code == 1
    assert "--auto-approve" in result.err
    assert emulator.state.patches() == []


def test_a_saved_plan_refuses_other_arguments(cli: Cli, emulator: RunningEmulator, tmp_path: Path) -> None:
    out = saved_plan(cli, tmp_path)
    emulator.state.clear_requests()
    for extra in (
        ["--project", "123"],
        ["--rotate", "vapi_api_key"],
        ["--rotate-all"],
        [str(tmp_path / "p.yaml")],
    ):
        result = cli("apply", *extra, str(out), env={"VAPI_API_KEY": SECRET})
        assert result.code == 1, extra
        assert "must be apply's only argument" in result.err
    assert emulator.state.requests == []


def test_no_partial_saved_plan(cli: Cli, emulator: RunningEmulator, tmp_path: Path) -> None:
    project_file(tmp_path)
    (tmp_path / "ghost.yaml").write_text("version: 1\nproject: 99999\nsettings:\n  sample_rate: 0.5\n")
    out = tmp_path / "partial.plan"
    result = cli("plan", "--out", str(out), str(tmp_path), env={"VAPI_API_KEY": SECRET})
    assert result.code == 1
    assert "Not saving the plan" in result.err
    assert not out.exists()


def test_restore_keeps_rules_added_since_and_keeps_the_guards(
    cli: Cli, emulator: RunningEmulator, tmp_path: Path
) -> None:
    journal = tmp_path / "journal"
    path = tmp_path / "r.yaml"
    path.write_text(
        "version: 1\nproject: 124\nrubric:\n  rules:\n    - metric_id: 61207\n"
        "      conditions: {operator: and, conditions: [{field: score, op: gte, value: 4}]}\n"
    )
    assert cli("apply", "--auto-approve", "--journal-dir", str(journal), str(path)).code == 0
    [entry] = journal.glob("*.json")
    # Someone adds a rule for another metric after that apply.
    live = emulator.state.project(124)["rubric_config"]
    theirs = {
        "metric_id": 61208,
        "conditions": {"operator": "and", "conditions": [{"field": "score", "op": "eq", "value": 5}]},
    }
    emulator.state.set_project_fields(124, rubric_config={**live, "rules": [*live["rules"], theirs]})
    restored = cli("restore", "--auto-approve", "--journal-dir", str(journal), str(entry))
    assert restored.code == 0, restored.err
    assert "- metric 61207" in restored.out
    assert emulator.state.project(124)["rubric_config"]["rules"] == [theirs]

    # A restore that would delete the project needs --allow-delete, as apply does.
    emulator.state.set_project_fields(124, is_deleted=True)
    undelete = tmp_path / "u.yaml"
    undelete.write_text("version: 1\nproject: 124\nsettings:\n  is_deleted: false\n")
    assert cli("apply", "--auto-approve", "--journal-dir", str(journal), str(undelete)).code == 0
    newest = max(journal.glob("*.json"), key=lambda p: p.name)
    refused = cli("restore", "--auto-approve", "--journal-dir", str(journal), str(newest))
    assert refused.code == 1 and "--allow-delete" in refused.err
    assert emulator.state.project(124)["is_deleted"] is False
    allowed = cli("restore", "--auto-approve", "--allow-delete", "--journal-dir", str(journal), str(newest))
    assert allowed.code == 0, allowed.err
    assert emulator.state.project(124)["is_deleted"] is True


def test_restore_refuses_an_edited_entry(cli: Cli, emulator: RunningEmulator, tmp_path: Path) -> None:
    entry = tmp_path / "edited.json"
    entry.write_text(
        json.dumps(
            {
                "kind": "cekura-reconciler/journal-entry",
                "project_id": 124,
                "base_url": emulator.base_url,
                "created_at": "2026-11-28T00:00:00Z",
                "file": "x.yaml",
                "before": {"sample_rate": 0.1, "vapi_api_key": "sneaky-value"},
            }
        )
    )
    result = cli("restore", "--auto-approve", str(entry))
    assert result.code == 1
    assert "restore never sends (vapi_api_key)" in result.err
    assert "sneaky-value" not in result.all
    assert emulator.state.patches() == []


def test_a_saved_plan_applied_twice_says_it_is_already_applied(
    cli: Cli, emulator: RunningEmulator, tmp_path: Path
) -> None:
    out = saved_plan(cli, tmp_path)
    assert cli("apply", str(out), env={"VAPI_API_KEY": SECRET}).code == 0
    again = cli("apply", str(out), env={"VAPI_API_KEY": SECRET})
    assert again.code == 0, again.err
    assert "Project 124 already matches this plan" in again.out
    assert len(emulator.state.patches()) == 1


def test_a_saved_plan_applies_from_another_checkout(
    cli: Cli, emulator: RunningEmulator, tmp_path: Path
) -> None:
    import shutil
    import subprocess
    import sys

    first = tmp_path / "checkout-1"
    (first / "projects" / "secrets").mkdir(parents=True)
    (first / "projects" / "p.yaml").write_text(
        "version: 1\nproject: 124\nsettings:\n  sample_rate: 0.6\n"
        "secrets:\n  webhook_secret: {file: secrets/hook}\n"
    )
    (first / "projects" / "secrets" / "hook").write_text("hook-from-checkout\n")

    def run(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "reconciler", *args], cwd=cwd, env=cli.env, capture_output=True, text=True
        )

    made = run(first, "plan", "--out", "reviewed.plan", "projects")
    assert made.returncode == 0, made.stderr
    second = tmp_path / "checkout-2"
    shutil.copytree(first, second)
    shutil.rmtree(first)  # the checkout the plan was made in is gone
    applied = run(second, "apply", "reviewed.plan")
    assert applied.returncode == 0, applied.stderr
    assert emulator.state.stored_secret(124, "webhook_secret") == "hook-from-checkout"


def test_rotate_over_many_files_rotates_where_referenced(
    cli: Cli, emulator: RunningEmulator, tmp_path: Path
) -> None:
    (tmp_path / "a.yaml").write_text(
        "version: 1\nproject: 123\nsecrets:\n  vapi_api_key: {env: VAPI_API_KEY}\n"
    )
    (tmp_path / "b.yaml").write_text("version: 1\nproject: 124\nsettings:\n  sample_rate: 0.5\n")
    result = cli("plan", "--rotate", "vapi_api_key", str(tmp_path), env={"VAPI_API_KEY": SECRET})
    assert result.code == 0, result.err
    assert "vapi_api_key: (sensitive) (will be rotated)" in result.out
    unknown = cli("plan", "--rotate", "pipecat_api_key", str(tmp_path))
    assert unknown.code == 1 and "no file given references such a secret" in unknown.err


def test_second_bug_hunt(cli: Cli, emulator: RunningEmulator, tmp_path: Path) -> None:
    import shutil
    import subprocess
    import sys

    # A base's secret file, planned in one checkout and applied from another.
    first = tmp_path / "one"
    (first / "base" / "secrets").mkdir(parents=True)
    (first / "proj").mkdir()
    (first / "base" / "base.yaml").write_text(
        "version: 1\nsecrets:\n  webhook_secret: {file: secrets/hook}\n"
    )
    (first / "base" / "secrets" / "hook").write_text("hook-of-the-base\n")
    (first / "proj" / "p.yaml").write_text("version: 1\nproject: 124\nextends: ../base/base.yaml\n")
    made = subprocess.run(
        [sys.executable, "-m", "reconciler", "plan", "--out", "x.plan", "proj"],
        cwd=first,
        env=cli.env,
        capture_output=True,
        text=True,
    )
    assert made.returncode == 0, made.stderr
    assert str(first) not in (first / "x.plan").read_text()
    second = tmp_path / "two"
    shutil.copytree(first, second)
    shutil.rmtree(first)
    applied = subprocess.run(
        [sys.executable, "-m", "reconciler", "apply", "x.plan"],
        cwd=second,
        env=cli.env,
        capture_output=True,
        text=True,
    )
    assert applied.returncode == 0, applied.stderr
    assert emulator.state.stored_secret(124, "webhook_secret") == "hook-of-the-base"

    # "Already matches" only when every managed field is where the plan leads.
    two = tmp_path / "s.yaml"
    two.write_text("version: 1\nproject: 125\nsettings:\n  max_call_duration: 980\n  min_call_duration: 0\n")
    out = tmp_path / "s.plan"
    assert cli("plan", "--out", str(out), str(two)).code == 0
    emulator.state.set_project_fields(125, max_call_duration=980, min_call_duration=50)
    stale = cli("apply", str(out))
    assert stale.code == 1 and "stale plan" in stale.err

    # Only base files: an error, not a silent "in sync".
    base_only = tmp_path / "bases"
    base_only.mkdir()
    (base_only / "b.yaml").write_text("version: 1\nsettings:\n  sample_rate: 0.5\n")
    for command in ("plan", "drift"):
        result = cli(command, str(base_only))
        assert result.code == 1 and "no file given manages a project" in result.err
    as_json = cli("plan", "--format", "json", str(base_only))
    assert (
        as_json.code == 1
        and "no file given manages a project" in json.loads(as_json.out)["failures"][0]["error"]
    )


def test_restore_warns_when_restored_rules_moved_since(
    cli: Cli, emulator: RunningEmulator, tmp_path: Path
) -> None:
    journal = tmp_path / "journal"
    path = tmp_path / "r.yaml"
    path.write_text(
        "version: 1\nproject: 124\nrubric:\n  rules:\n    - metric_id: 61207\n"
        "      conditions: {operator: and, conditions: [{field: score, op: gte, value: 4}]}\n"
    )
    assert cli("apply", "--auto-approve", "--journal-dir", str(journal), str(path)).code == 0
    [entry] = journal.glob("*.json")
    loosened = {
        "metric_id": 61207,
        "conditions": {"operator": "and", "conditions": [{"field": "score", "op": "gte", "value": 2}]},
    }
    emulator.state.set_project_fields(124, rubric_config={"evaluation_logic": "and", "rules": [loosened]})
    restored = cli("restore", "--auto-approve", "--journal-dir", str(journal), str(entry))
    assert restored.code == 0, restored.err
    assert "the rules of metric(s) 61207 changed again since that apply" in restored.out


def test_apply_summary_counts_each_project_once(cli: Cli, emulator: RunningEmulator, tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(
        "version: 1\nproject: 123\nrubric:\n  prune: true\n  rules:\n    - metric_id: 7001\n"
        "      conditions: {operator: and, conditions: [{field: score, op: gte, value: 1}]}\n"
    )
    (tmp_path / "b.yaml").write_text("version: 1\nproject: 125\nsettings:\n  sample_rate: 0.9\n")
    result = cli("apply", "--auto-approve", str(tmp_path))
    assert result.code == 1  # 123 is refused without --force
    assert "Apply complete: 1 changed, 1 failed, 0 unchanged." in result.out


def test_small_usage_slips(cli: Cli, emulator: RunningEmulator, tmp_path: Path) -> None:
    out = saved_plan(cli, tmp_path)
    planned = cli("plan", str(out))
    assert planned.code == 1 and f"apply it with: apply {out}" in planned.err
    noted = cli("plan", "--since", "3d", str(tmp_path / "p.yaml"), env={"VAPI_API_KEY": SECRET})
    assert noted.code == 0 and "--since only applies with --impact" in noted.err
    bad_port = cli("plan", "--base-url", "http://127.0.0.1:99999", str(tmp_path / "p.yaml"))
    assert bad_port.code == 1 and "invalid port" in bad_port.err


# -- a saved plan edited by hand, its checksum recomputed (anyone can) -------------------------------


def resealed(path: Path, edit: Callable[[dict[str, Any]], None]) -> None:
    """Edit the saved plan's JSON and recompute its checksum, as anyone who can write the file can."""
    document = json.loads(path.read_text())
    document.pop("checksum")
    edit(document)
    blob = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    document["checksum"] = "sha256:" + hashlib.sha256(blob).hexdigest()
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False))


def _project0(edit: Callable[[dict[str, Any]], None]) -> Callable[[dict[str, Any]], None]:
    return lambda document: edit(document["projects"][0])


def _change(project: dict[str, Any], path: str) -> dict[str, Any]:
    [change] = [c for c in project["field_changes"] if c["path"] == path]
    assert isinstance(change, dict)
    return change


def _add_secret(project: dict[str, Any]) -> None:
    project["patch"]["retell_api_key"] = {"$secret": {"env": "EVIL_KEY"}}
    project["managed_secrets"].append("retell_api_key")


_THEIR_RULE = {
    "metric_id": 61208,
    "conditions": {"operator": "and", "conditions": [{"field": "score", "op": "eq", "value": 5}]},
}

EDITS: dict[str, Callable[[dict[str, Any]], None]] = {
    "a field added to the PATCH": lambda p: p["patch"].update(max_call_duration=5),
    "a value changed in the PATCH only": lambda p: p["patch"].update(sample_rate=0.95),
    "the rubric emptied in the PATCH": lambda p: p["patch"].update(rubric_config={}),
    "a rule added to the PATCH only": lambda p: p["patch"]["rubric_config"]["rules"].append(_THEIR_RULE),
    "the secret reference swapped in the PATCH": lambda p: p["patch"].update(
        vapi_api_key={"$secret": {"env": "EVIL_KEY"}}
    ),
    "is_deleted added to the PATCH": lambda p: p["patch"].update(is_deleted=True),
    "a secret added to the PATCH and the managed secrets": _add_secret,
    "a change's before value altered": lambda p: _change(p, "sample_rate").update(before=0.74),
    "a rule change's after differing from the PATCH": lambda p: p["rule_changes"][0]["after"][0][
        "conditions"
    ]["conditions"][0].update(value=1),
    "a setting dropped from the managed settings": lambda p: p["managed_settings"].remove("sample_rate"),
    "the rubric no longer managed": lambda p: p.update(manages_rubric=False),
    "a secret reference that is not an object": lambda p: p["patch"].update(vapi_api_key={"$secret": "X"}),
    "NaN as a value shown": lambda p: _change(p, "sample_rate").update(before=float("nan")),
    "the changes are not a list": lambda p: p.update(field_changes={"path": "sample_rate"}),
    "the PATCH is not an object": lambda p: p.update(patch=["sample_rate"]),
}


@pytest.mark.parametrize("edit", list(EDITS), ids=list(EDITS))
def test_an_edited_saved_plan_with_a_recomputed_checksum_sends_nothing_unshown(
    cli: Cli, emulator: RunningEmulator, tmp_path: Path, edit: str
) -> None:
    from reconciler.diff import fingerprint

    out = saved_plan(cli, tmp_path)
    live = emulator.state.project(124)

    def edit_and_refingerprint(project: dict[str, Any]) -> None:
        EDITS[edit](project)
        # The fingerprint is a digest of live values anyone who can read the project can recompute.
        project["fingerprint"] = fingerprint(
            live,
            settings=project["managed_settings"],
            secrets=project["managed_secrets"],
            rubric=project["manages_rubric"],
        )

    resealed(out, _project0(edit_and_refingerprint))
    emulator.state.clear_requests()
    # Even with both guard flags given: they allow what the plan shows, not what it hides.
    result = cli(
        "apply", "--force", "--allow-delete", str(out), env={"VAPI_API_KEY": SECRET, "EVIL_KEY": "evil-9c1"}
    )
    assert result.code == 1, result.all
    assert "Traceback" not in result.err
    assert "nothing was sent" in result.err
    assert emulator.state.patches() == []


def test_a_swapped_secret_reference_is_shown_by_apply(
    cli: Cli, emulator: RunningEmulator, tmp_path: Path
) -> None:
    made = cli(
        "plan", "--out", str(tmp_path / "x.plan"), str(project_file(tmp_path)), env={"VAPI_API_KEY": SECRET}
    )
    assert (
        "vapi_api_key: (sensitive) (not configured, will be set), read from {env: VAPI_API_KEY}" in made.out
    )
    out = tmp_path / "x.plan"

    def swap(project: dict[str, Any]) -> None:
        project["patch"]["vapi_api_key"] = {"$secret": {"env": "EVIL_KEY"}}
        _change(project, "vapi_api_key")["after"] = {"$secret": {"env": "EVIL_KEY"}}

    resealed(out, _project0(swap))
    result = cli("apply", str(out), env={"VAPI_API_KEY": SECRET, "EVIL_KEY": "evil-9c1"})
    sent = [p.json.get("vapi_api_key") for p in emulator.state.patches()]
    if "evil-9c1" in sent:  # sent only as shown: apply's plan names the reference it read
        assert "read from {env: EVIL_KEY}" in result.out
        assert "VAPI_API_KEY" not in result.out
    assert "evil-9c1" not in result.all


def test_a_moved_secret_folder_is_shown_by_apply(cli: Cli, emulator: RunningEmulator, tmp_path: Path) -> None:
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "hook").write_text("hook-reviewed\n")
    other = tmp_path / "elsewhere"
    (other / "secrets").mkdir(parents=True)
    (other / "secrets" / "hook").write_text("hook-NOT-reviewed\n")
    path = tmp_path / "h.yaml"
    path.write_text("version: 1\nproject: 124\nsecrets:\n  webhook_secret: {file: secrets/hook}\n")
    out = tmp_path / "h.plan"
    assert cli("plan", "--out", str(out), str(path)).code == 0
    resealed(out, _project0(lambda p: p.update(secret_dir=str(other))))
    result = cli("apply", str(out))
    if emulator.state.stored_secret(124, "webhook_secret") == "hook-NOT-reviewed":
        assert f"read from {{file: {other / 'secrets' / 'hook'}}}" in result.out
    assert "hook-NOT-reviewed" not in result.all


def test_the_guards_see_what_an_edited_saved_plan_would_send(
    cli: Cli, emulator: RunningEmulator, tmp_path: Path
) -> None:
    from reconciler.diff import fingerprint

    path = tmp_path / "prune.yaml"
    path.write_text(
        "version: 1\nproject: 123\nrubric:\n  prune: true\n  rules:\n    - metric_id: 7001\n"
        "      conditions: {operator: and, conditions: [{field: score, op: gte, value: 1}]}\n"
    )
    out = tmp_path / "prune.plan"
    assert cli("plan", "--out", str(out), str(path)).code == 0
    honest = out.read_text()
    assert cli("apply", str(out)).code == 1  # removes all 3 live rules: needs --force

    def removals_as_changes(project: dict[str, Any]) -> None:
        for change in project["rule_changes"]:
            if change["action"] == "remove":
                change["action"] = "change"

    hidden: list[Callable[[dict[str, Any]], None]] = [
        lambda p: p.update(rules_live=100),
        lambda p: p.update(rules_live=100, rules_kept=97, metrics_kept=40),
        removals_as_changes,
    ]
    for edit in hidden:
        out.write_text(honest)
        resealed(out, _project0(edit))
        emulator.state.clear_requests()
        result = cli("apply", str(out))
        assert result.code == 1, result.all
        assert "Traceback" not in result.err
        assert emulator.state.patches() == []

    # is_deleted shown in full (change, PATCH, managed settings, fingerprint): the guard still holds.
    live = emulator.state.project(123)

    def delete(project: dict[str, Any]) -> None:
        project["field_changes"].append(
            {
                "path": "is_deleted",
                "before": False,
                "after": True,
                "sensitive": False,
                "action": "update",
                "before_missing": False,
                "after_missing": False,
            }
        )
        project["patch"]["is_deleted"] = True
        project["managed_settings"].append("is_deleted")
        project["fingerprint"] = fingerprint(
            live, settings=project["managed_settings"], secrets=(), rubric=True
        )

    out.write_text(honest)
    resealed(out, _project0(delete))
    emulator.state.clear_requests()
    refused = cli("apply", "--force", str(out))
    assert refused.code == 1 and "--allow-delete" in refused.err, refused.all
    assert "is_deleted: false -> true" in refused.out
    assert emulator.state.patches() == []


def test_apply_of_a_saved_plan_shows_what_plan_showed(
    cli: Cli, emulator: RunningEmulator, tmp_path: Path
) -> None:
    # Sub-keys of a JSON-object setting, a named metric left unchanged beside a changed one, a rule
    # of another metric kept: what apply shows and sends is rebuilt from the changes, the same plan.
    path = tmp_path / "s.yaml"
    path.write_text(
        "version: 1\nproject: 123\nsettings:\n  sample_rate: 0.5\n"
        "  no_calls_notify_time_period:\n    time_zone: Europe/Paris\n    time_periods:\n"
        "      - {start_time: '18:00', end_time: '23:59', time_frame: 60}\n"
        "      - {start_time: '09:00', end_time: '17:00', time_frame: 30}\n"
        "    exception_numbers: ['+14155552671', '+15551234567']\n    agents: [312, 305]\n"
        "rubric:\n  rules:\n"
        "    - metric_id: 5512\n"
        "      conditions: {operator: and, conditions: [{field: score, op: gte, value: 4}]}\n"
        "    - metric_id: 8821\n"
        "      conditions: {operator: and, conditions: [{field: enum, op: eq, value: resolved}]}\n"
    )
    out = tmp_path / "s.plan"
    made = cli("plan", "--out", str(out), str(path))
    assert made.code == 0, made.err
    assert "no_calls_notify_time_period.time_zone" in made.out
    assert "1 rule of 1 metric not in the file kept" in made.out
    applied = cli("apply", str(out))
    assert applied.code == 0, applied.err
    assert applied.out.startswith(made.out), (made.out, applied.out)
    [patch] = emulator.state.patches()
    assert set(patch.json) == {"sample_rate", "no_calls_notify_time_period", "rubric_config"}
    assert patch.json["no_calls_notify_time_period"]["time_zone"] == "Europe/Paris"
    assert len(patch.json["rubric_config"]["rules"]) == 3


def test_a_saved_plan_nested_too_deeply_is_a_clean_error(
    cli: Cli, emulator: RunningEmulator, tmp_path: Path
) -> None:
    out = tmp_path / "deep.plan"
    out.write_text('{"kind": "cekura-reconciler/saved-plan", "x": ' + "[" * 100_000 + "]" * 100_000 + "}")
    result = cli("apply", str(out))
    assert result.code == 1 and "Traceback" not in result.err, result.err
    assert "(nested too deeply); nothing was sent" in result.err
    assert emulator.state.requests == []
