"""Start-up: `validate` and `--help` import nothing they do not need (module names, never times).

The network stack (httpx and what it pulls in) and deepdiff belong to plan/apply only; jsonschema is
needed by `validate` only for a file with problems (to word them), never for a valid one: a valid
file is decided by jsonschema-rs alone (no hand-written checker).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NETWORK_AND_DIFF = ("httpx", "httpcore", "anyio", "h11", "deepdiff")
ROUND_TRIP_EDITOR = "ruamel"  # only `pull` edits files in place
SCHEMA_LIBRARY = ("jsonschema", "referencing", "rpds", "jsonschema_specifications")


def imported(*args: str) -> set[str]:
    """Top-level packages imported by `python -m reconciler ARGS`, from -X importtime."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "reconciler", *args],
        cwd=ROOT,
        env={"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT), "NO_COLOR": "1"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    lines = [line for line in proc.stderr.splitlines() if line.startswith("import time:")]
    assert lines, proc.stderr
    # "import time: self [us] | cumulative | imported package", then one line per module
    modules = {line.rsplit("|", 1)[1].strip() for line in lines[1:]}
    return {name.split(".")[0] for name in modules}


@pytest.mark.parametrize(
    "args", [("validate", "examples/project.yaml"), ("--help",), ("validate", "--help")], ids=" ".join
)
def test_validate_and_help_import_no_network_stack_or_deepdiff(args: tuple[str, ...]) -> None:
    found = imported(*args)
    assert "reconciler" in found and "click" in found
    assert not found & set(NETWORK_AND_DIFF)
    assert ROUND_TRIP_EDITOR not in found


@pytest.mark.parametrize("args", [("validate", "examples/project.yaml"), ("--help",)], ids=" ".join)
def test_a_valid_file_needs_no_jsonschema(args: tuple[str, ...]) -> None:
    assert not imported(*args) & set(SCHEMA_LIBRARY)


def test_a_valid_file_is_decided_by_jsonschema_rs() -> None:
    assert "jsonschema_rs" in imported("validate", "examples/project.yaml")


def test_an_invalid_file_is_still_checked_by_jsonschema(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nproject: 1\nsettings:\n  sample_rate: 2\n", encoding="utf-8")
    found = imported("validate", str(bad))
    assert "jsonschema" in found
    assert not found & set(NETWORK_AND_DIFF)


@pytest.mark.parametrize("args", [("export", "--help"), ("pull", "--help")], ids=" ".join)
def test_the_round_trip_editor_is_imported_only_when_pull_edits(args: tuple[str, ...]) -> None:
    assert ROUND_TRIP_EDITOR not in imported(*args)


def imported_modules(*args: str, env: dict[str, str]) -> set[str]:
    """Every module imported by `python -m reconciler ARGS` (full dotted names), from -X importtime."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "reconciler", *args],
        cwd=ROOT,
        env={"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT), "NO_COLOR": "1", **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = [line for line in proc.stderr.splitlines() if line.startswith("import time:")]
    return {line.rsplit("|", 1)[1].strip() for line in lines[1:]}


def test_plan_imports_neither_the_impact_nor_the_saved_plan_module(tmp_path: Path) -> None:
    """A plain `plan` (the most common command, often run for hundreds of files) pays for neither
    `--impact` nor saved plans; `plan --impact` does import the impact module."""
    from reconciler.emulator import EmulatorState, start

    project = tmp_path / "project.yaml"
    project.write_text("version: 1\nproject: 124\nsettings:\n  sample_rate: 0.5\n", encoding="utf-8")
    with start(EmulatorState(api_key="k")) as emu:
        env = {"CEKURA_BASE_URL": emu.base_url, "CEKURA_API_KEY": "k"}
        plain = imported_modules("plan", str(project), env=env)
        with_impact = imported_modules("plan", "--impact", str(project), env=env)
    assert "reconciler.reconcile" in plain
    assert not plain & {"reconciler.impact", "reconciler.saved"}
    assert "reconciler.impact" in with_impact
