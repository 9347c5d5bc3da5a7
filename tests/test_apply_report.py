"""apply and restore through the renderers' registry: `--format json` gives a versioned apply report.

The report says what became of every project (outcome, message, journal entry) for a pipeline to
read; stdout holds nothing but the document. Also: every reporting command takes its `--format`
choices from the registry.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import click
import pytest
from conftest import ROOT, Cli

from reconciler import __version__
from reconciler.emulator import Fault, RunningEmulator
from reconciler.renderers import REGISTRY


def _file(tmp_path: Path, name: str, project: int, body: str) -> str:
    path = tmp_path / name
    path.write_text(f"version: 1\nproject: {project}\n{body}")
    return str(path)


def _document(text: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(text)  # stdout is the document and nothing else
    assert document["format_version"] == 1
    assert document["tool_version"] == __version__
    return document


def test_apply_json_reports_every_project_with_its_outcome_and_backup(
    cli: Cli, emulator: RunningEmulator, tmp_path: Path
) -> None:
    changed = _file(tmp_path, "a.yaml", 124, "settings:\n  sample_rate: 0.9\n")
    same = _file(
        tmp_path, "b.yaml", 125, f"settings:\n  sample_rate: {emulator.state.project(125)['sample_rate']}\n"
    )
    result = cli("apply", "--auto-approve", "--format", "json", changed, same)
    assert result.code == 0, result.err
    document = _document(result.out)
    assert document["command"] == "apply"
    assert document["status"] == "applied"
    assert document["interrupted"] is None
    assert document["failures"] == []
    assert document["summary"] == {"changed": 1, "failed": 0, "unchanged": 1}
    first, second = document["projects"]
    assert first["project_id"] == 124 and first["file"] == changed
    assert first["outcome"] == "changed"
    assert first["message"] == "applied 1 field in one PATCH; verified."
    assert first["changes"] == [
        {"kind": "setting", "path": "sample_rate", "action": "update", "before": 0.5, "after": 0.9}
    ]
    (entry,) = sorted((tmp_path / "journal").glob("*.json"))
    assert first["journal_entry"] == str(entry)
    assert second["project_id"] == 125 and second["outcome"] == "no_changes"
    assert second["journal_entry"] is None
    assert emulator.state.project(124)["sample_rate"] == 0.9


def test_apply_json_failures_are_values_and_exit_1(
    cli: Cli, emulator: RunningEmulator, tmp_path: Path
) -> None:
    deleting = _file(tmp_path, "a.yaml", 124, "settings:\n  is_deleted: true\n")
    gone = _file(tmp_path, "b.yaml", 999, "settings:\n  sample_rate: 0.9\n")
    fine = _file(tmp_path, "c.yaml", 125, "settings:\n  sample_rate: 0.3\n")
    result = cli("apply", "--auto-approve", "--format", "json", deleting, gone, fine)
    assert result.code == 1, result.all
    document = _document(result.out)
    assert [(p["project_id"], p["outcome"]) for p in document["projects"]] == [
        (124, "refused"),
        (125, "changed"),
    ]
    assert "refusing without --allow-delete" in document["projects"][0]["message"]
    (failure,) = document["failures"]
    assert failure["file"] == gone and "999" in failure["error"]
    assert document["summary"] == {"changed": 1, "failed": 2, "unchanged": 0}
    # The errors are on stderr too, as with every format.
    assert "refusing without --allow-delete" in result.err
    assert [p.path for p in emulator.state.patches()] == ["/user/v1/projects/125/"]


def test_apply_json_with_nothing_to_apply(cli: Cli, emulator: RunningEmulator, tmp_path: Path) -> None:
    rate = emulator.state.project(124)["sample_rate"]
    result = cli(
        "apply",
        "--auto-approve",
        "--format",
        "json",
        _file(tmp_path, "a.yaml", 124, f"settings:\n  sample_rate: {rate}\n"),
    )
    assert result.code == 0, result.err
    document = _document(result.out)
    assert document["status"] == "nothing_to_apply"
    assert [p["outcome"] for p in document["projects"]] == ["no_changes"]


@pytest.mark.parametrize("fmt", ["json", "markdown"])
def test_a_document_format_needs_auto_approve(
    cli: Cli, emulator: RunningEmulator, tmp_path: Path, fmt: str
) -> None:
    result = cli("apply", "--format", fmt, _file(tmp_path, "a.yaml", 124, "settings:\n  sample_rate: 0.9\n"))
    assert result.code == 1
    assert f"apply --format {fmt} asks no question" in result.err
    assert result.out == ""
    assert emulator.state.requests == []


def test_apply_markdown_is_a_comment_with_a_table(
    cli: Cli, emulator: RunningEmulator, tmp_path: Path
) -> None:
    result = cli(
        "apply",
        "--auto-approve",
        "--format",
        "markdown",
        _file(tmp_path, "a|b.yaml", 124, "settings:\n  sample_rate: 0.9\n"),
    )
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[:2] == ["<!-- cekura-reconciler:apply -->", "## Cekura apply"]
    assert "1 changed, 0 failed, 0 unchanged." in lines
    (row,) = [line for line in lines if line.startswith("| 124 ")]
    assert "| changed |" in row and "a\\|b.yaml" in row and "applied 1 field in one PATCH; verified." in row


def test_saved_plan_apply_json_needs_no_auto_approve(
    cli: Cli, emulator: RunningEmulator, tmp_path: Path
) -> None:
    saved = tmp_path / "reviewed.plan"
    made = cli("plan", "--out", str(saved), _file(tmp_path, "a.yaml", 124, "settings:\n  sample_rate: 0.9\n"))
    assert made.code == 0, made.err
    result = cli("apply", "--format", "json", str(saved))
    assert result.code == 0, result.err
    assert [p["outcome"] for p in _document(result.out)["projects"]] == ["changed"]
    again = cli("apply", "--format", "json", str(saved))
    assert again.code == 0, again.err
    assert [p["outcome"] for p in _document(again.out)["projects"]] == ["already_applied"]


def test_restore_json_names_the_entry(cli: Cli, emulator: RunningEmulator, tmp_path: Path) -> None:
    before = emulator.state.project(124)["sample_rate"]
    applied = cli(
        "apply", "--auto-approve", _file(tmp_path, "a.yaml", 124, "settings:\n  sample_rate: 0.9\n")
    )
    assert applied.code == 0, applied.err
    (entry,) = sorted((tmp_path / "journal").glob("*.json"))
    result = cli("restore", "--auto-approve", "--format", "json", str(entry))
    assert result.code == 0, result.err
    document = _document(result.out)
    assert document["command"] == "restore"
    assert document["entry"] == str(entry)
    assert document["secrets_not_restored"] == []
    (project,) = document["projects"]
    assert project["outcome"] == "changed" and project["journal_entry"] != str(entry)
    assert emulator.state.project(124)["sample_rate"] == before


def test_sigterm_during_apply_json_still_writes_the_report(
    cli: Cli, emulator: RunningEmulator, tmp_path: Path
) -> None:
    emulator.state.add_fault(Fault(kind="latency", method="PATCH", seconds=8))
    files = [
        _file(tmp_path, "a.yaml", 123, "settings:\n  sample_rate: 0.9\n"),
        _file(tmp_path, "b.yaml", 124, "settings:\n  sample_rate: 0.8\n"),
    ]
    # One project at a time: 124 has not started when 123's PATCH hangs (test_apply_races.py has
    # the same interruption with projects written in parallel).
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "reconciler",
            "apply",
            "--auto-approve",
            "--parallelism",
            "1",
            "--format",
            "json",
            *files,
        ],
        cwd=ROOT,
        env=cli.env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 30
    while len(emulator.state.patches()) < 1:
        assert time.monotonic() < deadline, "the PATCH never came"
        time.sleep(0.02)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 143, out + err
    document = _document(out)
    assert document["interrupted"] == "SIGTERM"
    assert [(p["project_id"], p["outcome"]) for p in document["projects"]] == [
        (123, "unknown"),
        (124, "not_changed"),
    ]
    assert document["projects"][0]["journal_entry"]
    assert "Terminated (SIGTERM) during apply" in err


@pytest.mark.parametrize("command", ["plan", "drift", "show", "apply", "restore"])
def test_format_choices_come_from_the_registry(command: str) -> None:
    from reconciler.cli import main

    [option] = [p for p in main.commands[command].params if p.name == "fmt"]
    assert isinstance(option.type, click.Choice)
    assert list(option.type.choices) == list(REGISTRY)


@pytest.mark.parametrize("command", ["plan", "drift", "apply"])
def test_a_bad_file_is_reported_before_the_api_key_is_needed(cli: Cli, tmp_path: Path, command: str) -> None:
    bad = _file(tmp_path, "a.yaml", 124, "settings:\n  sample_rat: 0.9\n")
    result = cli(command, bad, env={"CEKURA_API_KEY": ""})
    assert result.code == 1
    assert f"{bad}:4:3: unknown key `sample_rat`" in result.err, result.err
    assert "1 problem found; nothing was changed." in result.err
    assert "API key" not in result.err
