"""The library under the CLI: operations take options and callbacks and return typed results.

Driven against the emulator over loopback HTTP, without click: what a Python caller gets.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest
from conftest import API_KEY, ROOT

from reconciler import operations
from reconciler.changes import ProjectPlan
from reconciler.client import CekuraClient
from reconciler.emulator import Fault, RunningEmulator
from reconciler.errors import PlanError
from reconciler.files import load_projects
from reconciler.operations import (
    ApplyListener,
    ApplyOptions,
    Failure,
    PlanOptions,
    ProjectResult,
    Terminated,
)


def _files(tmp_path: Path, *settings: tuple[int, str]) -> list[str]:
    paths = []
    for index, (project, body) in enumerate(settings):
        path = tmp_path / f"p{index}.yaml"
        path.write_text(f"version: 1\nproject: {project}\nsettings:\n{body}")
        paths.append(str(path))
    return paths


class Recorder(ApplyListener):
    """Records every call; ``stop_after`` raises an interruption once that many projects finished."""

    def __init__(
        self, *, approve: bool = True, stop_after: int | None = None, signal: type = KeyboardInterrupt
    ):
        self.calls: list[tuple[str, object]] = []
        self.approve = approve
        self.stop_after = stop_after
        self.signal = signal

    def failed(self, failures: Sequence[Failure]) -> None:
        self.calls.append(("failed", tuple(failures)))

    def confirm(self, projects: int) -> bool:
        self.calls.append(("confirm", projects))
        return self.approve

    def writing(self, projects: int) -> None:
        self.calls.append(("writing", projects))

    def replanned(self, plan: ProjectPlan, moved: Sequence[str]) -> None:
        self.calls.append(("replanned", (plan.project_id, tuple(moved))))

    def finished(self, result: ProjectResult) -> None:
        self.calls.append(("finished", (result.project_id, result.outcome)))
        if self.stop_after is not None and sum(c[0] == "finished" for c in self.calls) == self.stop_after:
            raise self.signal()


def _client(emulator: RunningEmulator) -> CekuraClient:
    return CekuraClient(emulator.base_url, API_KEY)


def test_plan_returns_plans_and_failures_as_values(emulator: RunningEmulator, tmp_path: Path) -> None:
    paths = _files(tmp_path, (124, "  sample_rate: 0.9\n"), (999, "  sample_rate: 0.9\n"))
    seen: list[tuple[int, int]] = []
    with _client(emulator) as client:
        run = operations.plan(
            client,
            load_projects(paths),
            options=PlanOptions(parallelism=2),
            progress=lambda d, t: seen.append((d, t)),
        )
    assert [p.project_id for p in run.plan.projects] == [124]
    assert run.has_changes
    (failure,) = run.failures
    assert isinstance(failure, Failure) and failure.file == paths[1] and "999" in failure.message
    assert sorted(seen) == [(1, 2), (2, 2)]


def test_apply_calls_back_in_order_and_reports_each_project(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    rate = emulator.state.project(125)["sample_rate"]
    paths = _files(
        tmp_path,
        (123, "  is_deleted: true\n"),
        (124, "  sample_rate: 0.9\n"),
        (125, f"  sample_rate: {rate}\n"),
    )
    listener = Recorder()
    out, err = io.StringIO(), io.StringIO()
    with _client(emulator) as client, redirect_stdout(out), redirect_stderr(err):
        run = operations.plan(client, load_projects(paths))
        report = operations.apply(
            client, run, options=ApplyOptions(journal_dir=str(tmp_path / "journal")), listener=listener
        )
    assert out.getvalue() == err.getvalue() == ""  # library code never prints
    assert [name for name, _ in listener.calls] == ["failed", "confirm", "writing", "finished"]
    failures = listener.calls[0][1]
    assert isinstance(failures, tuple) and len(failures) == 1
    refused = failures[0]
    assert refused.file == paths[0] and "--allow-delete" in refused.message
    assert listener.calls[1:] == [("confirm", 1), ("writing", 1), ("finished", (124, "changed"))]
    assert [(p.project_id, p.outcome) for p in report.projects] == [
        (123, "refused"),
        (124, "changed"),
        (125, "no_changes"),
    ]
    assert (report.changed, report.failed, report.unchanged) == (1, 1, 1)
    assert report.status == "applied" and report.interrupted is None and not report.ok
    changed = report.projects[1]
    assert changed.journal_entry and Path(changed.journal_entry).is_file()
    assert changed.fields_sent == 1
    assert emulator.state.project(124)["sample_rate"] == 0.9


def test_confirmation_refused_sends_nothing(emulator: RunningEmulator, tmp_path: Path) -> None:
    paths = _files(tmp_path, (124, "  sample_rate: 0.9\n"))
    with _client(emulator) as client:
        run = operations.plan(client, load_projects(paths))
        report = operations.apply(
            client, run, options=ApplyOptions(journal_dir=str(tmp_path)), listener=Recorder(approve=False)
        )
    assert report.status == "cancelled" and not report.ok
    assert [p.outcome for p in report.projects] == ["not_changed"]
    assert emulator.state.patches() == []


@pytest.mark.parametrize(("signal", "name"), [(KeyboardInterrupt, "SIGINT"), (Terminated, "SIGTERM")])
def test_an_interruption_is_reported_not_raised(
    emulator: RunningEmulator, tmp_path: Path, signal: type, name: str
) -> None:
    paths = _files(tmp_path, (123, "  sample_rate: 0.9\n"), (124, "  sample_rate: 0.8\n"))
    with _client(emulator) as client:
        run = operations.plan(client, load_projects(paths))
        report = operations.apply(
            client,
            run,
            options=ApplyOptions(journal_dir=str(tmp_path)),
            listener=Recorder(stop_after=1, signal=signal),
        )
    assert report.interrupted == name
    assert [(p.project_id, p.outcome) for p in report.projects] == [(123, "changed"), (124, "not_changed")]
    assert len(emulator.state.patches()) == 1


def test_a_moved_project_is_replanned_only_when_asked(emulator: RunningEmulator, tmp_path: Path) -> None:
    paths = _files(tmp_path, (124, "  sample_rate: 0.9\n  outbound_timeout: 40\n"))
    edit = {"project": 124, "fields": {"outbound_timeout": 55}}
    with _client(emulator) as client:
        run = operations.plan(client, load_projects(paths))
        emulator.state.add_fault(Fault(kind="edit", method="GET", path="/user/v1/projects/124/", edit=edit))
        refused = operations.apply(client, run, options=ApplyOptions(journal_dir=str(tmp_path)))
        assert [p.outcome for p in refused.projects] == ["not_changed"]
        assert "changed since the plan was shown: outbound_timeout" in refused.projects[0].message
        listener = Recorder()
        replanned = operations.apply(
            client, run, options=ApplyOptions(journal_dir=str(tmp_path), replan=True), listener=listener
        )
    assert ("replanned", (124, ("outbound_timeout",))) in listener.calls
    assert [p.outcome for p in replanned.projects] == ["changed"]
    assert emulator.state.project(124)["outbound_timeout"] == 40


def test_select_projects_refuses_unknown_ids(tmp_path: Path) -> None:
    projects = load_projects(_files(tmp_path, (124, "  sample_rate: 0.9\n")))
    assert operations.select_projects(projects, [124]) == projects
    with pytest.raises(PlanError, match="--project 7: no file given manages such a project"):
        operations.select_projects(projects, [7])


def test_failure_text_names_its_file_once() -> None:
    assert Failure("a.yaml", "boom").text() == "a.yaml: boom"
    assert Failure("a.yaml", "a.yaml:1:1: boom").text() == "a.yaml:1:1: boom"
    assert Failure("", "boom").text() == "boom"


def test_a_cli_run_in_a_callers_process_gives_the_collector_its_thresholds_back() -> None:
    # The CLI makes the garbage collector run less often for its own run (objects that live until it
    # ends); a program that runs it in its own process (click's CliRunner, a notebook) keeps its own.
    import gc

    from click.testing import CliRunner

    from reconciler.cli import main

    before = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    try:
        for args in (["validate", str(ROOT / "examples" / "project.yaml")], ["validate", "no-such.yaml"]):
            CliRunner().invoke(main, args)
            assert gc.get_threshold() == (700, 10, 10)
    finally:
        gc.set_threshold(*before)
