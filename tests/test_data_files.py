"""`validate` over the corpus in tests/data: every bad file gives its exact, recorded messages.

tests/data/invalid/NN-name.yaml is a project file with something wrong; NN-name.expected beside it is
the exact stderr of `python -m reconciler validate tests/data/invalid/NN-name.yaml` run from the repo
root. tests/data/valid/*.yaml and examples/*.yaml must validate. After a deliberate change to a
message, rewrite the .expected files with `UPDATE_EXPECTED=1 pytest tests/test_data_files.py` and
review the diff.
"""

from __future__ import annotations

import os
import re
import subprocess
import zoneinfo
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from pathlib import Path

import pytest
from conftest import ROOT, SUBPROCESS, validate_in_process

DATA = ROOT / "tests" / "data"
INVALID = sorted((DATA / "invalid").glob("*.yaml"))
VALID = sorted((DATA / "valid").glob("*.yaml"))
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))

NAME = re.compile(r"^[0-9]{2}-[a-z0-9]+(?:-[a-z0-9]+)*\.yaml$")
SUMMARY = re.compile(r"^[0-9]+ problems? found; nothing was changed\.$")
# Literal secret values written in invalid files: they must never be echoed back.
SECRET_VALUES = {
    "09-secret-literal.yaml": ["sk-live-9f8e7d6c5b4a3210", "9f8e7d6c"],
    "39-secret-value-key.yaml": ["whsec-0c1d2e3f4a5b", "0c1d2e3f"],
    "65-secret-read-as-number.yaml": ["0x5eC12e7f00d", "5eC12e7f", "0731554210", "731554210"],
    "67-secret-as-flow-key.yaml": ["sk-live-77aa88bb99cc", "77aa88bb"],
}


def _rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def _validate(path: Path) -> subprocess.CompletedProcess[str]:
    return validate_in_process(_rel(path))


@cache
def _results() -> dict[Path, subprocess.CompletedProcess[str]]:
    """Every corpus file validated once: in this process one after the other, or (with
    CEKURA_TEST_SUBPROCESS=1) several processes at a time (each one starts Python)."""
    paths = [*INVALID, *VALID, *EXAMPLES]
    if not SUBPROCESS:
        return {path: _validate(path) for path in paths}
    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
        return dict(zip(paths, pool.map(_validate, paths), strict=True))


def test_the_invalid_corpus_is_large_enough() -> None:
    assert len(INVALID) >= 25, [p.name for p in INVALID]
    assert len(VALID) >= 5, [p.name for p in VALID]


def test_every_yaml_has_an_expected_file_and_back() -> None:
    yamls = {p.stem for p in INVALID}
    expected = {p.stem for p in (DATA / "invalid").glob("*.expected")}
    assert sorted(yamls - expected) == [], "invalid files without a .expected"
    assert sorted(expected - yamls) == [], "stale .expected files without a .yaml"
    others = [p.name for p in (DATA / "invalid").iterdir() if p.suffix not in (".yaml", ".expected")]
    assert others == []


def test_invalid_file_names_follow_the_convention() -> None:
    bad = [p.name for p in INVALID if not NAME.match(p.name)]
    assert bad == []
    numbers = [p.name[:2] for p in INVALID]
    assert len(numbers) == len(set(numbers)), "two invalid files share a number"


@pytest.mark.parametrize("path", INVALID, ids=[p.name for p in INVALID])
def test_invalid_file_reports_exactly_the_expected_problems(path: Path) -> None:
    expected_path = path.with_suffix(".expected")
    expected = expected_path.read_text(encoding="utf-8") if expected_path.exists() else None
    if expected is not None and "unknown time zone" in expected and not zoneinfo.available_timezones():
        pytest.skip("no time zone database on this machine: time zones are not checked")

    result = _results()[path]

    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert result.stdout == ""
    if os.environ.get("UPDATE_EXPECTED"):
        expected_path.write_text(result.stderr, encoding="utf-8")
        expected = result.stderr
    assert expected is not None, f"missing {_rel(expected_path)}"
    assert result.stderr == expected

    lines = result.stderr.splitlines()
    assert len(lines) >= 2
    *problems, summary = lines
    assert SUMMARY.match(summary), summary
    count = len(problems)
    assert summary.startswith(f"{count} problem{'s' if count != 1 else ''} found")
    prefix = re.compile(rf"^{re.escape(_rel(path))}:[1-9][0-9]*:[1-9][0-9]*: \S")
    for line in problems:
        assert prefix.match(line), line
    positions = [tuple(int(n) for n in line[len(_rel(path)) + 1 :].split(":", 2)[:2]) for line in problems]
    assert positions == sorted(positions), "problems are not in file order"
    for value in SECRET_VALUES.get(path.name, []):
        assert value not in result.stderr


def test_secret_values_are_really_in_the_files_they_guard() -> None:
    """Otherwise the check above would pass for the wrong reason."""
    for name, values in SECRET_VALUES.items():
        text = (DATA / "invalid" / name).read_text(encoding="utf-8")
        for value in values:
            assert value in text, (name, value)


@pytest.mark.parametrize("path", VALID + EXAMPLES, ids=[_rel(p) for p in VALID + EXAMPLES])
def test_valid_file_validates(path: Path) -> None:
    result = _results()[path]
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert result.stdout.startswith(f"{_rel(path)}: valid (project ")


def test_valid_files_validate_together() -> None:
    """One project per file: the valid corpus names distinct projects, so it validates as a directory."""
    result = _validate(DATA / "valid")
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == len(VALID)
