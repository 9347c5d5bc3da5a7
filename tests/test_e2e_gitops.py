"""End to end for pipelines: drift, markdown for pull requests, directories of many projects."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import API_KEY, Cli
from markdown_it import MarkdownIt

from reconciler.emulator import EmulatorState, RunningEmulator, start
from reconciler.emulator_seed import default_seed

FLEET = 50


def settings_file(path: Path, project: int, sample_rate: float) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"version: 1\nproject: {project}\nsettings:\n  sample_rate: {sample_rate}\n")
    return path


def test_drift_exit_codes_and_formats(cli: Cli, emulator: RunningEmulator, tmp_path: Path) -> None:
    path = settings_file(tmp_path / "p.yaml", 124, 0.5)  # the seed's value: in sync
    in_sync = cli("drift", str(path))
    assert in_sync.code == 0, in_sync.all
    assert in_sync.out.strip() == f"In sync. Project 124 matches {path}."

    emulator.state.set_project_fields(124, sample_rate=0.9)  # someone changes it in the UI
    drifted = cli("drift", str(path))
    assert drifted.code == 2
    assert f"Project 124 ({path}) has drifted from its file:" in drifted.out
    assert "~ sample_rate: 0.9 -> 0.5" in drifted.out
    assert "Drift in project 124: 1 setting differs (live -> file)." in drifted.out

    as_json = cli("drift", "--format", "json", str(path))
    assert as_json.code == 2
    doc = json.loads(as_json.out)
    assert doc["projects"][0]["changes"][0] == {
        "kind": "setting",
        "path": "sample_rate",
        "action": "update",
        "before": 0.9,
        "after": 0.5,
    }
    as_markdown = cli("drift", "--format", "markdown", str(path))
    assert as_markdown.code == 2
    assert as_markdown.out.startswith("<!-- cekura-reconciler:drift -->\n")
    assert emulator.state.patches() == []  # drift never changes anything

    secret = tmp_path / "secret.yaml"
    secret.write_text("version: 1\nproject: 123\nsecrets:\n  webhook_secret: {env: UNSET_HOOK_SECRET}\n")
    unset = cli("drift", str(secret))
    assert unset.code == 2, unset.err  # not configured live: drift, and the variable is not needed
    assert "+ webhook_secret: (sensitive) (not configured)\n" in unset.out  # drift sends nothing

    broken = settings_file(tmp_path / "broken.yaml", 999, 0.5)
    assert cli("drift", str(path), str(broken)).code == 1  # errors win over drift


def test_markdown_plan_renders_as_tables(cli: Cli, emulator: RunningEmulator, tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(
        "version: 1\nproject: 123\nsettings:\n  sample_rate: 0.5\n  outbound_timeout: 240\n"
        "secrets:\n  webhook_secret: {env: HOOK}\n"
        "rubric:\n  rules:\n    - metric_id: 5512\n"
        "      conditions: {operator: and, conditions: [{field: score, op: gte, value: 3}]}\n"
    )
    result = cli("plan", "--format", "markdown", str(path), env={"HOOK": "hook-SECRET-c0ffee"})
    assert result.code == 0, result.err
    assert result.out.splitlines()[0] == "<!-- cekura-reconciler:plan -->"
    assert "hook-SECRET-c0ffee" not in result.all
    tokens = MarkdownIt("commonmark").enable("table").parse(result.out)
    assert sum(t.type == "table_open" for t in tokens) == 2  # settings and rubric
    cells = [t.content for t in tokens if t.type == "inline"]
    assert "`1.0`" in cells and "`0.5`" in cells
    assert any("Customer Satisfaction" in c for c in cells)


@pytest.fixture
def fleet() -> Iterator[RunningEmulator]:
    seed = default_seed()
    base = seed["projects"][1]
    seed["projects"] = [{**base, "id": 1000 + i, "name": f"Fleet {i}"} for i in range(FLEET)]
    running = start(EmulatorState(seed, api_key=API_KEY))
    try:
        yield running
    finally:
        running.close()


def test_a_directory_of_fifty_projects_with_one_failing(fleet: RunningEmulator, tmp_path: Path) -> None:
    cli = Cli(fleet.base_url, tmp_path)
    root = tmp_path / "projects"
    for i in range(FLEET):
        # Every third project's file differs from live; the others match.
        settings_file(root / f"team-{i % 5}" / f"p{i:02d}.yaml", 1000 + i, 0.3 if i % 3 == 0 else 0.5)
    settings_file(root / "zz" / "gone.yml", 4040, 0.5)  # no such project: fails
    (root / "README.md").write_text("not a project file\n")

    result = cli("plan", "--parallelism", "8", "--format", "json", str(root))
    assert result.code == 1  # one failure: errors win over changes
    doc = json.loads(result.out)
    ids = [p["project_id"] for p in doc["projects"]]
    assert len(ids) == FLEET
    files = [p["file"] for p in doc["projects"]]
    assert files == sorted(files)  # stable order, whatever order the threads finished in
    assert sum(p["has_changes"] for p in doc["projects"]) == len(range(0, FLEET, 3))
    [failure] = doc["failures"]
    assert failure["file"].endswith("gone.yml")
    assert "4040" in failure["error"]
    assert "gone.yml" in result.err and "4040" in result.err
    assert f"Reading projects: {FLEET + 1}/{FLEET + 1}" in result.err  # progress on stderr, not stdout

    text = cli("plan", str(root))
    assert text.code == 1
    assert f"{len(range(0, FLEET, 3))} of {FLEET} projects to change." in text.out

    applied = cli("apply", "--auto-approve", str(root))
    assert applied.code == 1
    assert f"Apply complete: {len(range(0, FLEET, 3))} changed, 1 failed" in applied.out
    assert len(fleet.state.patches()) == len(range(0, FLEET, 3))

    only = cli("plan", "--project", "1003", "--project", "1004", "--format", "json", str(root))
    assert only.code == 0
    assert [p["project_id"] for p in json.loads(only.out)["projects"]] == [1003, 1004]


def test_two_files_for_one_project_are_an_error(cli: Cli, emulator: RunningEmulator, tmp_path: Path) -> None:
    settings_file(tmp_path / "a.yaml", 124, 0.5)
    settings_file(tmp_path / "b.yaml", 124, 0.7)
    result = cli("plan", str(tmp_path))
    assert result.code == 1
    assert f"{tmp_path / 'b.yaml'}:2:10: project 124 is also managed by {tmp_path / 'a.yaml'}" in result.err
    assert emulator.state.requests == []


def test_max_rps_limits_the_request_rate_across_threads(
    cli: Cli, emulator: RunningEmulator, tmp_path: Path
) -> None:
    for i, project in enumerate((123, 124, 125)):
        settings_file(tmp_path / f"p{i}.yaml", project, 0.5)
    result = cli("plan", "--parallelism", "3", "--max-rps", "5", str(tmp_path))
    assert result.code == 0, result.err
    times = sorted(r.at for r in emulator.state.requests)
    assert len(times) == 3
    # Three requests at 5 a second from three threads: the last starts at least 0.4 s after the first.
    assert times[-1] - times[0] >= 0.35


def test_a_deleted_project_is_pointed_out(cli: Cli, emulator: RunningEmulator, tmp_path: Path) -> None:
    emulator.state.set_project_fields(124, is_deleted=True)
    path = settings_file(tmp_path / "p.yaml", 124, 0.5)
    for command in ("plan", "drift"):
        result = cli(command, str(path))
        assert result.code == 0, result.err
        assert "Warning: project 124 is deleted in Cekura (is_deleted: true)" in result.out


def test_json_output_survives_a_bad_file(cli: Cli, emulator: RunningEmulator, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nproject: 124\nsettings:\n  sample_rat: 1\n")
    for command in ("plan", "drift"):
        result = cli(command, "--format", "json", str(bad))
        assert result.code == 1
        doc = json.loads(result.out)  # a program parsing stdout still gets a document
        assert doc["projects"] == []
        assert doc["failures"][0]["file"] == str(bad)
        assert "did you mean `sample_rate`" in doc["failures"][0]["error"]
    assert emulator.state.requests == []
