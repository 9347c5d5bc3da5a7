"""Many projects at once: connections kept for every thread, writes and impact previews run in
parallel under --parallelism, with each project's own order (journal, fresh read, PATCH, verify)
intact. Never timed: what is checked is what the emulator saw."""

from __future__ import annotations

import copy
import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import API_KEY, Cli

from reconciler.emulator import EmulatorState, RunningEmulator, start
from reconciler.emulator_seed import default_seed

FIRST = 500_000


def fleet_seed(count: int) -> dict[str, Any]:
    """The default seed plus ``count`` copies of project 124 (ids FIRST, FIRST + 1, ...)."""
    seed = default_seed()
    template = next(p for p in seed["projects"] if p["id"] == 124)
    for index in range(count):
        seed["projects"].append({**copy.deepcopy(template), "id": FIRST + index, "name": f"Fleet {index}"})
    return seed


def settings_files(folder: Path, count: int, *, sample_rate: float = 0.25) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        (folder / f"p{index:04d}.yaml").write_text(
            f"version: 1\nproject: {FIRST + index}\nsettings:\n  sample_rate: {sample_rate}\n",
            encoding="utf-8",
        )
    return folder


@pytest.fixture
def fleet() -> Iterator[RunningEmulator]:
    with start(EmulatorState(fleet_seed(96), api_key=API_KEY)) as running:
        yield running


def test_every_thread_keeps_its_connection(fleet: RunningEmulator, tmp_path: Path) -> None:
    """--parallelism 32 over 96 projects: 32 connections in all. httpx's default pool keeps 20 idle
    connections, so each round of 32 requests closed 12 and the next opened 12 new ones."""
    folder = settings_files(tmp_path / "projects", 96)
    fleet.state.latency = 0.05  # every thread has its request in flight at the same time
    result = Cli(fleet.base_url, tmp_path)("plan", "--parallelism", "32", str(folder))
    assert result.code == 0, result.all
    requests = fleet.state.requests_to("GET", "/user/v1/projects/")
    assert len(requests) == 96
    assert len({r.peer for r in requests}) <= 32


def test_apply_writes_projects_in_parallel_each_in_its_own_order(
    fleet: RunningEmulator, tmp_path: Path
) -> None:
    """24 changed projects at --parallelism 8: the writes of different projects overlap in the
    emulator's log (they were one after the other), while each project still goes plan read,
    fresh read, PATCH, verifying read, with its journal entry of the fresh read, and the report
    lists every project."""
    folder = settings_files(tmp_path / "projects", 24, sample_rate=0.35)
    fleet.state.latency = 0.02
    result = Cli(fleet.base_url, tmp_path)("apply", "--auto-approve", "--parallelism", "8", str(folder))
    assert result.code == 0, result.all
    assert "Apply complete: 24 changed, 0 failed, 0 unchanged." in result.out
    log = [(r.method, r.path) for r in fleet.state.requests]
    paths = [f"/user/v1/projects/{FIRST + i}/" for i in range(24)]
    for path in paths:
        assert [m for m, p in log if p == path] == ["GET", "GET", "PATCH", "GET"]
        assert fleet.state.project(int(path.split("/")[-2]))["sample_rate"] == 0.35
    # Each project's write: from its fresh read to its verifying read. Some start before others end.
    spans = []
    for path in paths:
        at = [i for i, (_, p) in enumerate(log) if p == path]
        spans.append((at[1], at[3]))
    spans.sort()
    assert any(later[0] < earlier[1] for earlier, later in itertools.pairwise(spans))
    entries = [json.loads(p.read_text()) for p in (tmp_path / "journal").glob("*.json")]
    assert sorted(e["project_id"] for e in entries) == [FIRST + i for i in range(24)]
    assert all(e["before"] == {"sample_rate": 0.5} and e["sent"] == {"sample_rate": 0.35} for e in entries)


IMPACT_FIRST = 510_000


def impact_state(count: int, calls: int) -> EmulatorState:
    """``count`` copies of project 123 (its rubric, its metrics under new ids), each with ``calls``
    calls over the last 90 days of the wall clock."""
    from datetime import UTC, datetime

    from reconciler.emulator_seed import iter_generated_calls

    seed = default_seed()
    template = next(p for p in seed["projects"] if p["id"] == 123)
    metrics = [m for m in seed["metrics"] if m.get("project") == 123]
    copies = []
    for index in range(count):
        pid = IMPACT_FIRST + index
        new_id = {m["id"]: pid * 10 + k for k, m in enumerate(metrics)}
        rules = [{**r, "metric_id": new_id[r["metric_id"]]} for r in template["rubric_config"]["rules"]]
        rules = [r for r in rules if r["metric_id"] in new_id.values()]
        project = {
            **copy.deepcopy(template),
            "id": pid,
            "rubric_config": {"evaluation_logic": "and", "rules": rules},
        }
        seed["projects"].append(project)
        mine = [{**copy.deepcopy(m), "id": new_id[m["id"]], "project": pid} for m in metrics]
        seed["metrics"] += mine
        copies.append((project, mine))
    now = datetime.now(UTC)
    state = EmulatorState(seed, api_key=API_KEY, now=now)
    for project, mine in copies:
        state.set_call_logs(
            project["id"], iter_generated_calls(project, mine, [], now=now, count=calls, days=90)
        )
    return state


def test_plan_impact_previews_the_projects_in_parallel_in_pages_of_500(tmp_path: Path) -> None:
    """Four projects whose rubric changes, 3,000 calls each over 90 days (3 windows of 2 or 3
    pages): every call-log page is asked for 500 calls, and the projects are fetched at the same
    time: the second project's first page is asked for before the first project's last one (they
    were one project after the other, in pages of 100)."""
    folder = tmp_path / "projects"
    folder.mkdir()
    for index in range(4):
        pid = IMPACT_FIRST + index
        (folder / f"p{index}.yaml").write_text(
            f"version: 1\nproject: {pid}\nrubric:\n  rules:\n    - metric_id: {pid * 10}\n"
            "      conditions: {operator: and, conditions: [{field: score, op: gte, value: 5}]}\n",
            encoding="utf-8",
        )
    with start(impact_state(4, 3_000)) as emu:
        emu.state.latency = 0.02
        args = ("plan", "--impact", "--since", "90d", "--parallelism", "8", "--format", "json", str(folder))
        result = Cli(emu.base_url, tmp_path)(*args)
        assert result.code == 0, result.all
        pages = emu.state.requests_to("GET", "/observability/v2/call-logs/")
    reports = json.loads(result.out)["impact"]
    assert [r["project_id"] for r in reports] == [IMPACT_FIRST + i for i in range(4)]
    assert all(r["calls"] == 3_000 for r in reports)
    assert {r.query["page_size"][0] for r in pages if "page_size" in r.query} == {"500"}
    # 12 windows, 8 threads: the first pages of the first two projects' windows are all asked for
    # at once, before the first project's next pages.
    owners = [r.query["project_id"][0] for r in pages]
    first, second = str(IMPACT_FIRST), str(IMPACT_FIRST + 1)
    assert owners.index(second) < len(owners) - 1 - owners[::-1].index(first)
