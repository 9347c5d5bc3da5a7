"""The saved-plan codec, built from the plan's dataclasses: every field round-trips, secrets stay
references, and anything else is refused."""

from __future__ import annotations

import json
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.apply import changed_since
from reconciler.changes import FieldChange, ProjectPlan, RuleChange
from reconciler.errors import PlanError
from reconciler.model import SecretRef
from reconciler.saved import decode_plan, encode_plan, read_saved_plan, write_saved_plan

_names = st.text(min_size=1, max_size=12)
_keys = _names.filter(lambda k: k != "$secret")
_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**53), max_value=2**53),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
)
_json = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_keys, inner, max_size=4),
    max_leaves=12,
)
_refs = st.builds(SecretRef, st.sampled_from(["env", "file"]), _names)
_counts = st.integers(min_value=0, max_value=10_000)
_ids = st.integers(min_value=1, max_value=10**9)
_rule = st.fixed_dictionaries({"metric_id": _ids, "conditions": st.dictionaries(_keys, _json, max_size=3)})

_setting_changes = st.builds(
    FieldChange,
    path=_names,
    before=_json,
    after=_json,
    sensitive=st.just(False),
    action=st.sampled_from(["update", "set", "rotate"]),
    before_missing=st.booleans(),
    after_missing=st.booleans(),
)
_secret_changes = st.builds(
    FieldChange,
    path=_names,
    before=st.none(),
    after=_refs,
    sensitive=st.just(True),
    action=st.sampled_from(["update", "set", "rotate"]),
)
_rule_changes = st.builds(
    RuleChange,
    metric_id=_ids,
    action=st.sampled_from(["add", "change", "remove"]),
    before=st.tuples(_rule),
    after=st.lists(_rule, max_size=2).map(tuple),
    metric_name=st.none() | st.text(max_size=10),
    eval_type=st.none() | st.text(max_size=10),
)
_plans = st.builds(
    ProjectPlan,
    project_id=_ids,
    file=_names,
    field_changes=st.lists(_setting_changes | _secret_changes, max_size=4).map(tuple),
    rule_changes=st.lists(_rule_changes, max_size=3).map(tuple),
    rules_kept=_counts,
    metrics_kept=_counts,
    patch=st.dictionaries(_keys, _json | _refs, max_size=4),
    fingerprint=st.text(max_size=20),
    expected_fingerprint=st.text(max_size=20),
    warnings=st.lists(st.text(max_size=20), max_size=2).map(tuple),
    managed_settings=st.lists(_names, max_size=3).map(tuple),
    managed_secrets=st.lists(_names, max_size=3).map(tuple),
    manages_rubric=st.booleans(),
    stale_rule_metrics=st.lists(_ids, max_size=2).map(tuple),
    previous=st.dictionaries(_keys, _json, max_size=3),
    metric_names=st.dictionaries(_ids, st.text(max_size=10), max_size=3),
    rules_live=_counts,
    baseline=st.dictionaries(_keys, _json, max_size=3),
    managed_kinds=st.dictionaries(_names, st.lists(_names, max_size=2).map(tuple), max_size=2),
)


@settings(max_examples=200, deadline=None)
@given(plan=_plans)
def test_a_plan_survives_the_round_trip_through_json(plan: ProjectPlan) -> None:
    text = json.dumps(encode_plan(plan, Path.cwd()))
    again = decode_plan(json.loads(text))
    assert again == plan
    for field in fields(ProjectPlan):  # == and the fields agree (none compares loosely)
        assert getattr(again, field.name) == getattr(plan, field.name)
    # Secrets stay references: the same SecretRef, never a value.
    assert [c.after for c in again.secret_changes] == [c.after for c in plan.secret_changes]
    assert all(isinstance(c.after, SecretRef) for c in again.secret_changes)
    refs = {k: v for k, v in plan.patch.items() if isinstance(v, SecretRef)}
    assert {k: v for k, v in again.patch.items() if isinstance(v, SecretRef)} == refs


def _plan() -> ProjectPlan:
    return ProjectPlan(
        project_id=124,
        file="p.yaml",
        field_changes=(
            FieldChange("sample_rate", 0.75, 0.5),
            FieldChange("vapi_api_key", None, SecretRef("env", "VAPI_API_KEY"), sensitive=True, action="set"),
        ),
        patch={"sample_rate": 0.5, "vapi_api_key": SecretRef("env", "VAPI_API_KEY")},
        managed_settings=("sample_rate",),
        managed_secrets=("vapi_api_key",),
        baseline={"sample_rate": 0.75, "vapi_api_key_configured": False},
        metric_names={5512: "CSAT"},
        fingerprint="sha256:x",
    )


def test_the_saved_plan_keeps_the_baseline_so_apply_can_say_what_moved(tmp_path: Path) -> None:
    path = tmp_path / "x.plan"
    write_saved_plan(str(path), [_plan()], base_url="http://127.0.0.1:1", created_at="now")
    [saved] = read_saved_plan(str(path)).projects
    assert saved.plan == _plan()
    assert saved.plan.baseline == {"sample_rate": 0.75, "vapi_api_key_configured": False}
    assert saved.plan.metric_names == {5512: "CSAT"}
    live = {"sample_rate": 0.9, "vapi_api_key_configured": "true"}
    assert changed_since(saved.plan, live) == ["sample_rate", "vapi_api_key (configured)"]


def test_a_secret_value_never_reaches_the_file(tmp_path: Path) -> None:
    leaky = replace(
        _plan(),
        field_changes=(
            FieldChange("webhook_secret", "old-hook-value", SecretRef("env", "HOOK"), sensitive=True),
        ),
    )
    text = json.dumps(encode_plan(leaky, tmp_path))
    assert "old-hook-value" not in text
    assert '{"$secret": {"env": "HOOK"}}' in text


_BAD: dict[str, Any] = {
    "a key too many": lambda p: p.update(extra=1),
    "a key missing": lambda p: p.pop("baseline"),
    "a count below zero": lambda p: p.update(rules_kept=-1),
    "a project id of zero": lambda p: p.update(project_id=0),
    "a boolean as a count": lambda p: p.update(rules_live=True),
    "an unknown action": lambda p: p["field_changes"][0].update(action="delete"),
    "a secret change without a reference": lambda p: p["field_changes"][1].update(after="a-value"),
    "a metric name keyed by text": lambda p: p.update(metric_names={"CSAT": "x"}),
    "managed names that are not text": lambda p: p.update(managed_settings=[1]),
    "a change that is not an object": lambda p: p.update(field_changes=["sample_rate"]),
}


@pytest.mark.parametrize("edit", list(_BAD), ids=list(_BAD))
def test_what_the_codec_did_not_write_is_refused(edit: str) -> None:
    data = json.loads(json.dumps(encode_plan(_plan(), Path.cwd())))
    _BAD[edit](data)
    with pytest.raises((ValueError, TypeError)):
        decode_plan(data)


def test_a_saved_plan_of_the_previous_format_is_refused_with_a_reason(tmp_path: Path) -> None:
    path = tmp_path / "old.plan"
    write_saved_plan(str(path), [_plan()], base_url="http://127.0.0.1:1", created_at="now")
    document = json.loads(path.read_text())
    document["format_version"] = 2
    path.write_text(json.dumps(document))
    with pytest.raises(PlanError, match="format 2 is not supported"):
        read_saved_plan(str(path))
