""".pre-commit-hooks.yaml: the hook other repositories use runs a real command on the right files."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = ROOT / ".pre-commit-hooks.yaml"
HOOK_ID = "cekura-reconciler-validate"

# The keys pre-commit accepts in a hook manifest (pre_commit.clientlib.MANIFEST_HOOK_DICT).
REQUIRED_KEYS = {"id", "name", "entry", "language"}
KNOWN_KEYS = REQUIRED_KEYS | {
    "alias",
    "files",
    "exclude",
    "types",
    "types_or",
    "exclude_types",
    "additional_dependencies",
    "args",
    "always_run",
    "fail_fast",
    "pass_filenames",
    "description",
    "language_version",
    "log_file",
    "minimum_pre_commit_version",
    "require_serial",
    "stages",
    "verbose",
}


def hook() -> dict[str, Any]:
    hooks = yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))
    assert isinstance(hooks, list)
    [found] = [h for h in hooks if h.get("id") == HOOK_ID]
    assert isinstance(found, dict)
    return found


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "reconciler", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_manifest_shape() -> None:
    found = hook()
    assert set(found) >= REQUIRED_KEYS, f"missing: {REQUIRED_KEYS - set(found)}"
    assert set(found) <= KNOWN_KEYS, f"unknown manifest keys: {set(found) - KNOWN_KEYS}"
    assert found["language"] == "python"
    assert found["pass_filenames"] is True
    assert found["entry"] == "cekura-reconciler validate"
    assert "yaml" in found.get("types", []) + found.get("types_or", [])


def test_entry_is_the_installed_script_and_a_real_subcommand() -> None:
    program, *args = hook()["entry"].split()
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["scripts"]
    assert scripts[program] == "reconciler.cli:main"
    result = run_cli(*args, "--help")
    assert result.returncode == 0, result.stderr
    assert "Usage:" in result.stdout and "validate" in result.stdout


@pytest.mark.parametrize(
    ("path", "selected"),
    [
        ("projects/support.yaml", True),
        ("projects/team/billing.yml", True),
        ("cekura/base.yaml", True),
        (".github/workflows/ci.yaml", False),
        ("docker-compose.yaml", False),
        ("examples/ci/gitlab/.gitlab-ci.yml", False),
        ("projects/README.md", False),
        ("projects/support.yaml.bak", False),
    ],
)
def test_files_pattern(path: str, selected: bool) -> None:
    # pre-commit matches `files` with re.search against paths relative to the repository root.
    assert bool(re.search(hook()["files"], path)) is selected


def test_entry_passes_a_project_file_and_fails_a_non_project_yaml(tmp_path: Path) -> None:
    """What the hook runs: a valid project file passes; any other YAML fails, hence `files`."""
    args = hook()["entry"].split()[1:]
    ok = run_cli(*args, str(ROOT / "examples" / "project.yaml"))
    assert ok.returncode == 0, ok.stdout + ok.stderr
    workflow = tmp_path / "ci.yaml"
    workflow.write_text("name: ci\non: push\njobs: {}\n", encoding="utf-8")
    bad = run_cli(*args, str(workflow))
    assert bad.returncode == 1
    assert f"{workflow}:" in bad.stdout + bad.stderr
