"""`validate --format github`: problems as GitHub workflow commands, escaped by GitHub's rules."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, validate_offline

from reconciler.annotations import annotation, escape_data, escape_property, plain_annotation
from reconciler.errors import Position, Problem


def test_escaping_follows_the_workflow_command_rules() -> None:
    assert escape_data("100% sure\r\nnext") == "100%25 sure%0D%0Anext"
    assert escape_data("%0A") == "%250A"  # never decoded into a line break
    assert escape_property("a,b:c%d\n") == "a%2Cb%3Ac%25d%0A"
    problem = Problem(Position("projects/x,y:z.yaml", 4, 3), "unknown key `a`: 50%\nsecond line")
    assert annotation(problem) == (
        "::error file=projects/x%2Cy%3Az.yaml,line=4,col=3::unknown key `a`: 50%25%0Asecond line"
    )
    assert annotation(problem, "warning").startswith("::warning file=")
    assert plain_annotation("no files:\nhere") == "::error::no files:%0Ahere"


def test_an_absolute_path_in_the_work_tree_is_made_relative(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # a step runs in the repository root
    inside = annotation(Problem(Position(str(tmp_path / "projects" / "a.yaml"), 1, 1), "m"))
    assert inside == "::error file=projects/a.yaml,line=1,col=1::m"
    outside = annotation(Problem(Position("/elsewhere/a.yaml", 1, 1), "m"))
    assert outside == "::error file=/elsewhere/a.yaml,line=1,col=1::m"


def run(*args: str) -> tuple[int, str, str]:
    proc = subprocess.run(
        [sys.executable, "-m", "reconciler", "validate", *args],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "NO_COLOR": "1"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return proc.returncode, proc.stdout, proc.stderr


def test_validate_format_github_prints_one_annotation_per_problem(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nproject: 123\nsettings:\n  sample_rat: 0.5\n  sample_rate: 2\n")
    code, out, err = run("--format", "github", str(bad))
    assert code == 1
    lines = out.splitlines()
    assert len(lines) == 2, out
    assert lines[0].startswith(f"::error file={escape_property(str(bad))},line=4,col=3::unknown key")
    assert lines[1].startswith(f"::error file={escape_property(str(bad))},line=5,col=16::")
    assert "2 problems found." in err
    assert "Traceback" not in err


def test_validate_format_github_of_valid_files_and_of_a_missing_directory(tmp_path: Path) -> None:
    code, out, _ = run("--format", "github", "examples/project.yaml")
    assert code == 0 and "::error" not in out and "examples/project.yaml: valid" in out
    empty = tmp_path / "empty"
    empty.mkdir()
    code, out, _ = run("--format", "github", str(empty))
    assert code == 1 and out.startswith("::error::") and "no project files" in out


def test_the_text_format_is_unchanged() -> None:
    result = validate_offline("examples/project.yaml")
    assert result.returncode == 0 and "valid (project" in result.stdout
