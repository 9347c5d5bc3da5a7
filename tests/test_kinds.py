"""The seam for resource kinds: a kind defined here, in a test, and registered, is validated,
planned, applied, verified, journaled, fingerprinted and saved like the shipped ones, with no
change to any module of the package (docs/architecture.md, "Resource kinds").

The fake kind manages the project's ``labels``, a made-up field: the emulator stores and returns
any field a project was seeded with, so the test seeds it there and nothing in the emulator changes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

import pytest
from conftest import Cli

from reconciler.changes import FieldChange, ProjectPlan
from reconciler.emulator import RunningEmulator
from reconciler.kinds import (
    Kind,
    PlanInputs,
    Request,
    SavedPart,
    kinds,
    register_kind,
    unregister_kind,
)
from reconciler.model import SecretRef


class LabelsKind(Kind):
    """``labels: [..]``: the project's labels, a set of strings, sent in the project PATCH."""

    name: ClassVar[str] = "labels"
    key: ClassVar[str] = "labels"
    schema: ClassVar[Mapping[str, Any] | None] = {
        "type": "array",
        "items": {"type": "string", "minLength": 1},
        "uniqueItems": True,
    }

    def plan(self, plan: ProjectPlan, inputs: PlanInputs) -> ProjectPlan:
        wanted = inputs.desired.parts[self.key]
        now = inputs.live.get("labels")
        changes: tuple[FieldChange, ...] = ()
        patch: dict[str, Any] = {}
        if not isinstance(now, list) or sorted(now) != sorted(wanted):
            changes = (FieldChange("labels", now, wanted, before_missing="labels" not in inputs.live),)
            patch = {"labels": wanted}
        return replace(
            plan,
            field_changes=(*plan.field_changes, *changes),
            patch={**plan.patch, **patch},
            managed_kinds={**plan.managed_kinds, self.name: ("labels",)},
        )

    def from_plan(
        self, plan: ProjectPlan, live: Mapping[str, Any], refs: Mapping[str, SecretRef]
    ) -> SavedPart:
        if self.name not in plan.managed_kinds:
            return SavedPart(None)
        changed = [c.after for c in plan.field_changes if c.path == "labels"]
        return SavedPart(changed[0] if changed else live.get("labels"))


@pytest.fixture
def labels() -> Iterator[Kind]:
    kind = register_kind(LabelsKind())
    try:
        yield kind
    finally:
        unregister_kind(kind.name)


@pytest.fixture
def labelled(emulator: RunningEmulator) -> RunningEmulator:
    emulator.state.set_project_fields(124, labels=["beta"])
    return emulator


FILE = "version: 1\nproject: 124\nsettings:\n  sample_rate: 0.25\nlabels: [beta, support]\n"


def project_file(tmp_path: Path, text: str = FILE) -> Path:
    path = tmp_path / "p.yaml"
    path.write_text(text)
    return path


def test_a_kind_registered_outside_the_package_is_planned_and_applied(
    labels: Kind, labelled: RunningEmulator, cli: Cli, tmp_path: Path
) -> None:
    path = project_file(tmp_path)
    # In-process: the kind is registered in this process (a subprocess would not have it).
    shown = cli.in_process("plan", "--detailed-exitcode", str(path))
    assert shown.code == 2, shown.all
    assert "labels" in shown.out and "support" in shown.out, shown.out
    as_json = json.loads(cli.in_process("plan", "--format", "json", str(path)).out)
    [project] = as_json["projects"]
    assert project["patch"] == {"sample_rate": 0.25, "labels": ["beta", "support"]}

    applied = cli.in_process("apply", "--auto-approve", str(path))
    assert applied.code == 0, applied.all
    [patch] = labelled.state.patches()
    assert patch.json == {"sample_rate": 0.25, "labels": ["beta", "support"]}
    assert labelled.state.project(124)["labels"] == ["beta", "support"]
    # Journaled like a setting: its previous value is kept for restore.
    [entry] = (tmp_path / "journal").iterdir()
    assert json.loads(entry.read_text())["before"]["labels"] == ["beta"]
    # Converged, and planned again: nothing to do (the order of a set does not matter).
    labelled.state.set_project_fields(124, labels=["support", "beta"])
    again = cli.in_process("plan", "--detailed-exitcode", str(path))
    assert again.code == 0, again.all
    # restore knows settings and the rubric only: it refuses the entry cleanly, sending nothing.
    labelled.state.clear_requests()
    restored = cli.in_process("restore", "--auto-approve", str(entry))
    assert restored.code == 1 and "Traceback" not in restored.all, restored.all
    assert "labels" in restored.err and labelled.state.patches() == []


def test_its_part_of_the_file_is_validated(labels: Kind, cli: Cli, tmp_path: Path) -> None:
    path = project_file(tmp_path, "version: 1\nproject: 124\nlabels: [beta, 7]\n")
    result = cli.in_process("validate", str(path))
    assert result.code == 1
    assert f"{path}:3:16: labels[1]: must be text, not an integer" in result.err, result.err


def test_without_its_registration_its_key_is_unknown(cli: Cli, tmp_path: Path) -> None:
    result = cli.in_process("validate", str(project_file(tmp_path)))
    assert result.code == 1
    assert "unknown key `labels`" in result.err, result.err


def test_a_fresh_read_sees_when_its_field_moved(
    labels: Kind, labelled: RunningEmulator, cli: Cli, tmp_path: Path
) -> None:
    path = project_file(tmp_path)
    saved = tmp_path / "p.plan"
    made = cli.in_process("plan", "--out", str(saved), str(path))
    assert made.code == 0, made.all
    labelled.state.set_project_fields(124, labels=["someone-else"])  # after the plan was made
    labelled.state.clear_requests()
    refused = cli.in_process("apply", str(saved))
    assert refused.code == 1, refused.all
    assert "stale plan" in refused.err, refused.err
    assert labelled.state.patches() == []


def test_a_saved_plan_carries_it_and_apply_rebuilds_it(
    labels: Kind, labelled: RunningEmulator, cli: Cli, tmp_path: Path
) -> None:
    path = project_file(tmp_path)
    saved = tmp_path / "p.plan"
    made = cli.in_process("plan", "--out", str(saved), str(path))
    assert made.code == 0, made.all
    [project] = json.loads(saved.read_text())["projects"]
    assert project["managed_kinds"] == {"labels": ["labels"]}
    assert project["baseline"]["labels"] == ["beta"]
    applied = cli.in_process("apply", str(saved))
    assert applied.code == 0, applied.all
    assert applied.out.startswith(made.out)
    [patch] = labelled.state.patches()
    assert patch.json["labels"] == ["beta", "support"]


# -- the registry ------------------------------------------------------------------------------------


class _ObjectKind(Kind):
    """A kind of objects of its own (as metrics will be), for the order of the registry."""

    key: ClassVar[str] = ""

    def plan(self, plan: ProjectPlan, inputs: PlanInputs) -> ProjectPlan:
        return plan

    def from_plan(
        self, plan: ProjectPlan, live: Mapping[str, Any], refs: Mapping[str, SecretRef]
    ) -> SavedPart:
        return SavedPart(None)


def _object_kind(name: str, *depends_on: str) -> Kind:
    kind_type = type(name, (_ObjectKind,), {"name": name, "key": f"{name}_objects", "depends_on": depends_on})
    kind: Kind = kind_type()
    return kind


SHIPPED = ["settings", "secrets", "metrics", "rubric"]


@pytest.fixture
def fake_metrics() -> Iterator[None]:
    """The shipped metrics kind out of the registry for a test that registers a fake one by its name."""
    from reconciler.kinds import get_kind

    shipped = get_kind("metrics")
    unregister_kind("metrics")
    try:
        yield
    finally:
        register_kind(shipped)


def test_the_shipped_kinds_in_the_order_of_a_file() -> None:
    assert [k.name for k in kinds()] == SHIPPED


@pytest.mark.usefixtures("fake_metrics")
def test_a_kind_comes_after_the_kinds_it_depends_on() -> None:
    # Registered last, "metrics" still comes before the rubric, whose rules need metric ids.
    register_kind(_object_kind("metrics"))
    try:
        register_kind(_object_kind("alerts", "metrics"))
        try:
            names = [k.name for k in kinds()]
            assert names.index("metrics") < names.index("rubric")
            assert names.index("metrics") < names.index("alerts")
            assert names[:2] == ["settings", "secrets"]  # otherwise in the order registered
        finally:
            unregister_kind("alerts")
    finally:
        unregister_kind("metrics")
    assert [k.name for k in kinds()] == ["settings", "secrets", "rubric"]


def test_a_dependency_cycle_or_a_taken_name_or_key_is_refused() -> None:
    register_kind(_object_kind("a", "b"))
    try:
        with pytest.raises(ValueError, match="cycle"):
            register_kind(_object_kind("b", "a"))
        with pytest.raises(ValueError, match="already registered"):
            register_kind(_object_kind("a"))
        taken = _object_kind("c")
        type(taken).key = "settings"
        with pytest.raises(ValueError, match="already taken"):
            register_kind(taken)
    finally:
        unregister_kind("a")
    assert [k.name for k in kinds()] == SHIPPED


class _Writes(_ObjectKind):
    """An object kind whose plan creates one object and deletes another."""

    def requests(self, plan: ProjectPlan) -> tuple[Request, ...]:
        return (
            Request("DELETE", f"/{self.name}/9/", None, self.name, f"delete {self.name} 9"),
            Request("POST", f"/{self.name}/", {"n": 1}, self.name, f"create {self.name}"),
        )


@pytest.mark.usefixtures("fake_metrics")
def test_writes_are_ordered_by_dependency() -> None:
    from reconciler.kinds import write_order

    metrics = type("metrics", (_Writes,), {"name": "metrics", "key": "metrics_objects"})()
    alerts = type(
        "alerts", (_Writes,), {"name": "alerts", "key": "alerts_objects", "depends_on": ("metrics",)}
    )()
    register_kind(alerts)  # registered first, written after what it depends on
    register_kind(metrics)
    try:
        plan = ProjectPlan(project_id=7, file="p.yaml", patch={"rubric_config": {}})
        order = [r.describe for r in write_order(plan)]
        assert order == [
            "create metrics",
            "create alerts",
            "update project 7",  # the rubric names new metrics: after their POST
            "delete alerts 9",
            "delete metrics 9",  # a metric goes once nothing names it
        ]
        assert [r.describe for r in write_order(replace(plan, patch={}))][2:] == [
            "delete alerts 9",
            "delete metrics 9",
        ]
    finally:
        unregister_kind("metrics")
        unregister_kind("alerts")
