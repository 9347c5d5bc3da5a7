"""End to end: the files the tool writes (saved plans, journal entries, exports) and reads back
(journal entries for restore): private, written whole or not at all, and refused cleanly when bad."""

from __future__ import annotations

import json
import os
import resource
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, Cli, Result

from reconciler.diff import rubrics_equal
from reconciler.emulator import RunningEmulator

SECRET = "vapi-PLAN-files-secret-51d0"
FILE = (
    "version: 1\nproject: 124\nsettings:\n  sample_rate: 0.75\n"
    "secrets:\n  vapi_api_key: {env: VAPI_API_KEY}\n"
)


def run(
    cli: Cli,
    *args: str,
    umask: int | None = None,
    max_file_bytes: int | None = None,
    env: dict[str, str] | None = None,
) -> Result:
    """The CLI as `cli` runs it, under a given umask, or with a limit on the size of files it writes
    (RLIMIT_FSIZE: a write past it fails with EFBIG, as on a full disk, and it binds root too)."""

    def limits() -> None:
        if umask is not None:
            os.umask(umask)
        if max_file_bytes is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (max_file_bytes, max_file_bytes))

    proc = subprocess.run(
        [sys.executable, "-m", "reconciler", *args],
        cwd=ROOT,
        env={**cli.env, "VAPI_API_KEY": SECRET, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        preexec_fn=limits,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


def project(tmp_path: Path) -> Path:
    path = tmp_path / "p.yaml"
    path.write_text(FILE)
    return path


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".tmp" in p.name)


def assert_clean_failure(result: Result, where: str) -> None:
    assert result.code == 1, result.all
    assert "Traceback" not in result.all
    assert f"cannot write {where}" in result.err or "refusing to overwrite" in result.err, result.err


# -- 8. private files, atomic writes, clean errors ---------------------------------------------------


@pytest.mark.parametrize("umask", [0o000, 0o022])
def test_saved_plans_and_journal_entries_are_private_whatever_the_umask(
    cli: Cli, emulator: RunningEmulator, tmp_path: Path, umask: int
) -> None:
    out = tmp_path / "reviewed.plan"
    journal = tmp_path / "new" / "journal"
    made = run(cli, "plan", "--out", str(out), str(project(tmp_path)), umask=umask)
    assert made.code == 0, made.err
    assert mode(out) == 0o600
    out.chmod(0o644)  # saved again over a readable file: private again
    assert run(cli, "plan", "--out", str(out), str(project(tmp_path)), umask=umask).code == 0
    assert mode(out) == 0o600
    applied = run(cli, "apply", "--journal-dir", str(journal), str(out), umask=umask)
    assert applied.code == 0, applied.err
    [entry] = journal.glob("*.json")
    assert mode(entry) == 0o600
    assert mode(journal) == 0o700
    restored = run(cli, "restore", "--auto-approve", "--journal-dir", str(journal), str(entry), umask=umask)
    assert restored.code == 0, restored.err
    assert {mode(e) for e in journal.glob("*.json")} == {0o600}
    assert leftovers(tmp_path) == leftovers(journal) == []


def test_plan_out_that_cannot_be_written_is_a_clean_error(
    cli: Cli, emulator: RunningEmulator, tmp_path: Path
) -> None:
    path = project(tmp_path)
    a_file = tmp_path / "a-file"
    a_file.write_text("not a folder\n")
    device_link = tmp_path / "full-link"
    device_link.symlink_to("/dev/full")
    before = sorted(p.name for p in tmp_path.iterdir())
    dev_before = sorted(os.listdir("/dev"))
    # The order matters: /dev/full itself last, once the link to it proved that a character device
    # is refused before any temporary file is made (as root, /dev is writable: a wrong version
    # could replace the device).
    for target in (a_file / "x.plan", device_link, Path("/dev/full")):
        result = run(cli, "plan", "--out", str(target), str(path))
        assert_clean_failure(result, str(target))
        assert "~ sample_rate: 0.5 -> 0.75" in result.out  # the plan itself was still shown
    assert stat.S_ISCHR(os.stat("/dev/full").st_mode)
    assert device_link.is_symlink()
    assert sorted(os.listdir("/dev")) == dev_before
    # A full disk in the middle of the write (EFBIG past RLIMIT_FSIZE): nothing, not half a file.
    full = run(cli, "plan", "--out", str(tmp_path / "big.plan"), str(path), max_file_bytes=200)
    assert_clean_failure(full, str(tmp_path / "big.plan"))
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_export_o_that_cannot_be_written_is_a_clean_error(
    cli: Cli, emulator: RunningEmulator, tmp_path: Path
) -> None:
    a_file = tmp_path / "a-file"
    a_file.write_text("not a folder\n")
    before = sorted(p.name for p in tmp_path.iterdir())
    for target in (a_file / "x.yaml", Path("/dev/full")):
        assert_clean_failure(run(cli, "export", "124", "-o", str(target)), str(target))
    assert stat.S_ISCHR(os.stat("/dev/full").st_mode)
    full = run(cli, "export", "124", "-o", str(tmp_path / "big.yaml"), max_file_bytes=200)
    assert_clean_failure(full, str(tmp_path / "big.yaml"))
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    ok = run(cli, "export", "124", "-o", str(tmp_path / "ok.yaml"), umask=0o022)
    assert ok.code == 0, ok.err
    assert mode(tmp_path / "ok.yaml") == 0o644  # a project file: as readable as any file the user writes


def test_a_journal_entry_that_cannot_be_written_stops_the_apply_cleanly(
    cli: Cli, emulator: RunningEmulator, tmp_path: Path
) -> None:
    journal = tmp_path / "journal"
    journal.mkdir()
    result = run(
        cli,
        "apply",
        "--auto-approve",
        "--journal-dir",
        str(journal),
        str(project(tmp_path)),
        max_file_bytes=64,
    )
    assert result.code == 1, result.all
    assert "Traceback" not in result.all
    assert "cannot write the backup journal entry" in result.err and "nothing was sent" in result.err
    assert emulator.state.patches() == []
    assert list(journal.iterdir()) == []


# -- 9. restore checks its entry before sending anything -----------------------------------------------


def entry_text(emulator: RunningEmulator, **overrides: Any) -> str:
    entry: dict[str, Any] = {
        "kind": "cekura-reconciler/journal-entry",
        "project_id": 124,
        "base_url": emulator.base_url,
        "created_at": "2026-11-28T00:00:00Z",
        "file": "p.yaml",
        "fields": ["sample_rate"],
        "before": {"sample_rate": 0.1},
        "sent": {"sample_rate": 0.75},
        "secrets_sent": [],
    }
    entry.update(overrides)
    return json.dumps(entry, indent=2)


def _rubric(conditions: Any) -> dict[str, Any]:
    return {
        "rubric_config": {
            "evaluation_logic": "and",
            "rules": [{"metric_id": 61207, "conditions": conditions}],
        }
    }


BAD_ENTRIES: dict[str, tuple[Callable[[RunningEmulator], str], str]] = {
    "an out-of-range value": (
        lambda e: entry_text(e, before={"sample_rate": 7}),
        "must be <= 1 (got 7)",
    ),
    "an unknown field": (
        lambda e: entry_text(e, before={"sample_rat": 0.5}),
        "unknown key `sample_rat`; did you mean `sample_rate`?",
    ),
    "a 20 MB name": (
        lambda e: entry_text(e, before={"name": "n" * 20_000_000}),
        "the limit is",
    ),
    "a 300-character name": (
        lambda e: entry_text(e, before={"name": "n" * 300}),
        "must be at most 255 characters",
    ),
    "a non-dict before (a list of pairs)": (
        lambda e: entry_text(e, before=[["sample_rate", 0.1]]),
        "`before` must be an object",
    ),
    "a list instead of an object inside before": (
        lambda e: entry_text(e, before={"no_calls_notify_time_period": []}),
        "before.no_calls_notify_time_period: must be a mapping or null, not a list",
    ),
    "a rubric rule of the wrong shape": (
        lambda e: entry_text(e, before=_rubric("score >= 4")),
        "before.rubric_config.rules[0].conditions: must be a mapping, not text",
    ),
    "a rubric rule with a key restore would send": (
        lambda e: entry_text(
            e,
            before={
                "rubric_config": {
                    "evaluation_logic": "and",
                    "rules": [{"metric_id": 61207, "absent": True}],
                }
            },
        ),
        "a rule of a journal entry is {metric_id, conditions}",
    ),
    "a project id that is a boolean": (
        lambda e: entry_text(e, project_id=True),
        "`project_id` must be a whole number >= 1",
    ),
    "secrets_sent as a string": (
        lambda e: entry_text(e, secrets_sent="vapi_api_key"),
        "`secrets_sent` must be a list of names",
    ),
    "NaN, which JSON does not have": (
        lambda e: entry_text(e).replace('"sample_rate": 0.1', '"sample_rate": NaN'),
        "not valid JSON",
    ),
    "JSON nested too deeply": (
        lambda e: "[" * 100_000 + "]" * 100_000,
        "nested too deeply",
    ),
}


@pytest.mark.parametrize("case", list(BAD_ENTRIES), ids=list(BAD_ENTRIES))
def test_restore_refuses_a_malformed_entry_before_sending_anything(
    cli: Cli, emulator: RunningEmulator, tmp_path: Path, case: str
) -> None:
    make, message = BAD_ENTRIES[case]
    entry = tmp_path / "entry.json"
    entry.write_text(make(emulator))
    emulator.state.clear_requests()
    result = run(cli, "restore", "--auto-approve", "--force", "--allow-delete", str(entry))
    assert result.code == 1, result.all
    assert "Traceback" not in result.all
    assert message in result.err, result.err
    assert str(entry) in result.err
    assert len(result.err) < 2000  # the 20 MB value is not echoed back
    assert emulator.state.patches() == []


def test_restore_errors_point_into_the_entry(cli: Cli, emulator: RunningEmulator, tmp_path: Path) -> None:
    entry = tmp_path / "entry.json"
    entry.write_text(entry_text(emulator, before={"outbound_timeout": 300, "sample_rate": 7}))
    result = run(cli, "restore", "--auto-approve", str(entry))
    assert result.code == 1
    line = next(i for i, text in enumerate(entry.read_text().splitlines(), 1) if '"sample_rate": 7' in text)
    assert f"{entry}:{line}:20: before.sample_rate: must be <= 1 (got 7)" in result.err, result.err
    for broken in ("", "{", '{"kind": "cekura-reconciler/journal-entry",}', "[]", "\xff"):
        entry.write_bytes(broken.encode("latin-1"))
        again = run(cli, "restore", "--auto-approve", str(entry))
        assert again.code == 1 and "Traceback" not in again.all, (broken, again.all)
        assert str(entry) in again.err
    assert emulator.state.patches() == []


def test_a_real_entry_still_restores(cli: Cli, emulator: RunningEmulator, tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text(
        "version: 1\nproject: 123\nsettings:\n  sample_rate: 0.5\n"
        "  no_calls_notify_time_period: {time_zone: Europe/Paris, time_periods: []}\n"
        "rubric:\n  rules:\n    - metric_id: 5512\n"
        "      conditions: {operator: and, conditions: [{field: score, op: gte, value: 2}]}\n"
    )
    journal = tmp_path / "journal"
    before = emulator.state.project(123)
    assert run(cli, "apply", "--auto-approve", "--journal-dir", str(journal), str(path)).code == 0
    [entry] = journal.glob("*.json")
    restored = run(cli, "restore", "--auto-approve", "--journal-dir", str(journal), str(entry))
    assert restored.code == 0, restored.err
    after = emulator.state.project(123)
    for name in ("sample_rate", "no_calls_notify_time_period"):
        assert after[name] == before[name], name
    assert rubrics_equal(after["rubric_config"], before["rubric_config"])  # rule order aside
