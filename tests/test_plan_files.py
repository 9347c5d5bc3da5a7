"""End to end: the files the tool writes (saved plans, journal entries, exports) and reads back
(journal entries for restore): private, written whole or not at all, and refused cleanly when bad."""

from __future__ import annotations

import os
import resource
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, Cli, Result

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
