"""Secret values and the API key never appear in any output, log, written file or error text.

Every command and format runs with distinctive values; then all stdout, stderr and every file the
runs wrote (saved plans, journal entries, exports) are searched for them.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from conftest import API_KEY, ROOT, Cli

from reconciler.emulator import Fault, RunningEmulator

VAPI = "vapi-EVERYWHERE-5a1f0c"
HOOK = "whsec-EVERYWHERE-88d2be"
RETELL = "retell-EVERYWHERE-c47e19"
SECRETS = (VAPI, HOOK, RETELL, API_KEY)


def test_no_secret_in_any_output_or_file(cli: Cli, emulator: RunningEmulator, tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    shutil.copy(ROOT / "examples" / "project.yaml", work / "project.yaml")
    (work / "secrets").mkdir()
    (work / "secrets" / "webhook_secret").write_text(HOOK + "\n")
    (work / "p124.yaml").write_text(
        "version: 1\nproject: 124\nsettings:\n  sample_rate: 0.3\nsecrets:\n  retell_api_key: {env: RETELL}\n"
    )
    env = {"VAPI_API_KEY": VAPI, "RETELL": RETELL}
    project = str(work / "project.yaml")
    saved = str(tmp_path / "out.plan")
    results = []

    def run(*args: str) -> None:
        results.append(cli(*args, env=env))

    run("validate", str(work))
    for fmt in ("text", "json", "markdown"):
        run("-vv", "plan", "--rotate-all", "--format", fmt, str(work))
        run("-vv", "drift", "--format", fmt, str(work))
    run("plan", "--impact", "--since", "30d", "--format", "json", project)
    run("-vv", "plan", "--rotate-all", "--out", saved, str(work))
    run("-vv", "apply", saved)
    run("-vv", "apply", "--auto-approve", "--rotate-all", str(work))
    run("export", "123", "-o", str(tmp_path / "exported.yaml"))
    # Project 124's first entry (apply writes projects in parallel: the two projects' entries
    # interleave in time).
    entries = sorted((tmp_path / "journal").glob("*-project-124.json"))
    assert entries
    run("-vv", "restore", "--auto-approve", str(entries[0]))

    # Error paths: a PATCH the server rejects, and one whose answer is lost.
    emulator.state.add_fault(Fault("status", method="PATCH", status=400))
    run("-vv", "apply", "--auto-approve", "--rotate-all", project)
    emulator.state.add_fault(Fault("drop", method="PATCH"))
    run("-vv", "apply", "--auto-approve", "--rotate-all", project)
    run("-vv", "plan", project, "--api-key-file", str(tmp_path / "missing-key-file"))
    # The apply report for machines, of a success and of a rejected PATCH.
    run("-vv", "apply", "--auto-approve", "--rotate-all", "--format", "json", project)
    emulator.state.add_fault(Fault("status", method="PATCH", status=400))
    run("-vv", "apply", "--auto-approve", "--rotate-all", "--format", "markdown", project)

    assert [r.code for r in results] == [0, 0, 2, 0, 2, 0, 2, 0, 0, 0, 0, 0, 0, 1, 1, 1, 0, 1]
    # A lost answer to a PATCH that only rotates secrets cannot be decided by reading back.
    assert "outcome UNKNOWN" in results[14].err and "--rotate" in results[14].err
    assert emulator.state.stored_secret(124, "retell_api_key") == RETELL  # the values did go out
    assert emulator.state.stored_secret(123, "vapi_api_key") == VAPI
    for result in results:
        assert "Traceback" not in result.all
        for secret in SECRETS:
            assert secret not in result.all
    written = [p for p in tmp_path.rglob("*") if p.is_file() and "secrets" not in p.parts]
    assert any(p.suffix == ".plan" for p in written)
    for path in written:
        text = path.read_text(errors="replace")
        for secret in SECRETS:
            assert secret not in text, path
