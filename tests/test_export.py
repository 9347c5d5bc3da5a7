"""Export: a live project as a project file that validates and plans to no changes against it.

Set CEKURA_UPDATE_GOLDEN=1 to rewrite tests/data/golden/export-123.yaml from the current output.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import API_KEY, Cli

from reconciler.client import CekuraClient
from reconciler.diff import diff_project
from reconciler.emulator import EmulatorState, RunningEmulator
from reconciler.emulator_seed import default_seed
from reconciler.errors import ReconcilerError
from reconciler.export import export_project, fetch_export_inputs, quote, secret_env_name
from reconciler.files import load_projects
from reconciler.kinds.metrics import metrics_read
from reconciler.loader import load_text
from reconciler.model import SECRET_FIELDS, is_configured
from reconciler.reconcile import plan_project
from reconciler.rubric import MetricCatalog, resolve_rules
from reconciler.validate import validate_document

GOLDEN = Path(__file__).parent / "data" / "golden" / "export-123.yaml"
SEED_PROJECTS = [int(p["id"]) for p in default_seed()["projects"]]


def plan_offline(text: str, live: dict[str, Any], metrics: list[dict[str, Any]]) -> Any:
    """Validate the text as the CLI does, resolve the rubric, and diff it against ``live``."""
    desired = validate_document(load_text("exported.yaml", text))
    catalog = MetricCatalog()
    catalog.add(metrics)
    rules, _ = resolve_rules(desired, catalog) if desired.rubric is not None else ((), [])
    reads = {"metrics": metrics_read(metrics, desired)}
    return desired, diff_project(desired, live, rules=rules, metrics=catalog.metrics, reads=reads)


def assert_no_changes(plan: Any) -> None:
    assert plan.metric_changes == ()
    assert plan.field_changes == ()
    assert plan.rule_changes == ()
    assert plan.patch == {}


def seed_live(project_id: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    state = EmulatorState()
    return state.project(project_id), state.metrics


# -- round trip over the default seed ------------------------------------------------------------


@pytest.mark.parametrize("project_id", SEED_PROJECTS)
def test_seed_project_exports_valid_and_unchanged(project_id: int, tmp_path: Path) -> None:
    live, metrics = seed_live(project_id)
    text = export_project(live, metrics, base_url_comment="https://api.cekura.ai")
    # Validated through the same entry point as `cekura-reconciler validate`.
    path = tmp_path / f"export-{project_id}.yaml"
    path.write_text(text, encoding="utf-8")
    [loaded] = load_projects([str(path)])
    assert loaded.project_id == project_id
    desired, plan = plan_offline(text, live, metrics)
    assert_no_changes(plan)
    assert desired.rubric is not None and desired.rubric.prune is False
    assert text.startswith("# yaml-language-server: $schema=")
    assert text.splitlines()[2:4] == [
        f"# Exported by `cekura-reconciler export {project_id}` from https://api.cekura.ai",
        f"# Project {project_id}: {quote(live['name'])}",
    ]


@pytest.mark.parametrize("project_id", SEED_PROJECTS)
def test_every_setting_is_exported_in_schema_order(project_id: int) -> None:
    from reconciler.validate import load_schema

    live, metrics = seed_live(project_id)
    data = yaml.safe_load(export_project(live, metrics))
    schema_names = list(load_schema()["properties"]["settings"]["properties"])
    expected = [n for n in schema_names if n != "is_deleted" and live.get(n) is not None]
    expected += [n for n in schema_names if n == "no_calls_notify_time_period" and live.get(n) is None]
    assert list(data["settings"]) == [n for n in schema_names if n in expected]
    for name in expected:
        assert data["settings"][name] == live[name]
        assert type(data["settings"][name]) is type(live[name])
    assert "is_deleted" not in data["settings"]


def test_rubric_rules_are_exported_with_metric_comments() -> None:
    live, metrics = seed_live(123)
    text = export_project(live, metrics)
    label = "Customer Satisfaction (continuous_qualitative), metric 5512"
    assert f'    - metric: "customer_satisfaction_5512"  # {label}\n' in text
    data = yaml.safe_load(text)
    assert data["rubric"]["prune"] is False
    slugs = {m["id"]: m["slug"] for m in metrics}
    rules = live["rubric_config"]["rules"]
    live_rules = [{"metric": slugs[r["metric_id"]], "conditions": r["conditions"]} for r in rules]
    assert data["rubric"]["rules"] == live_rules


def test_empty_live_rubric_exports_a_rubric_that_manages_nothing() -> None:
    live, metrics = seed_live(124)
    assert live["rubric_config"] == {}
    text = export_project(live, metrics)
    assert yaml.safe_load(text)["rubric"] == {"prune": False, "rules": []}
    assert_no_changes(plan_offline(text, live, metrics)[1])
    live["rubric_config"] = None
    assert_no_changes(plan_offline(export_project(live, metrics), live, metrics)[1])


def test_export_is_deterministic() -> None:
    live, metrics = seed_live(123)
    assert export_project(live, metrics) == export_project(dict(reversed(live.items())), metrics[::-1])


def test_binary_rules_are_written_in_the_current_form() -> None:
    """Legacy 5/0 on a binary metric is exported as true/false (the spec's form); other metrics'
    numbers stay numbers; the file still plans to no change against the legacy live rubric."""
    live, metrics = seed_live(123)
    live["rubric_config"] = {
        "evaluation_logic": "and",
        "rules": [
            {"metric_id": 115164, "conditions": {"operator": "and", "conditions": [
                {"field": "score", "op": "eq", "value": 5}]}},
            {"metric_id": 7002, "conditions": {"operator": "and", "conditions": [
                {"field": "score", "op": "neq", "value": 0}]}},
            {"metric_id": 5512, "conditions": {"operator": "and", "conditions": [
                {"field": "score", "op": "gte", "value": 5}]}},
        ],
    }  # fmt: skip
    text = export_project(live, metrics)
    rules = {r["metric"]: r["conditions"]["conditions"][0] for r in yaml.safe_load(text)["rubric"]["rules"]}
    assert rules["appointment_booked_115164"]["value"] is True
    assert rules["followed_script_7002"]["value"] is False
    assert rules["customer_satisfaction_5512"]["value"] == 5
    assert rules["customer_satisfaction_5512"]["value"] is not True
    assert_no_changes(plan_offline(text, live, metrics)[1])


def test_golden_project_123() -> None:
    live, metrics = seed_live(123)
    text = export_project(live, metrics, base_url_comment="https://api.cekura.ai")
    if os.environ.get("CEKURA_UPDATE_GOLDEN"):
        GOLDEN.parent.mkdir(parents=True, exist_ok=True)
        GOLDEN.write_text(text, encoding="utf-8")
    assert text == GOLDEN.read_text(encoding="utf-8")


# -- values YAML would misread ---------------------------------------------------------------------

TRICKY = [
    "09:00",
    "9:00",
    "+15551234567",
    "yes",
    "No",
    "on",
    "OFF",
    "y",
    "null",
    "~",
    "true",
    "0755",
    "0x1F",
    "1e5",
    "12",
    "3.14",
    ".inf",
    "2026-01-01",
    "a: b",
    "x #y",
    "# leading hash",
    "- dash",
    "*alias",
    "&anchor",
    "!tag",
    "{flow}",
    "[list]",
    "'single'",
    '"double"',
    "back\\slash",
    "tab\there",
    "line\nbreak",
    "nel\x85sep\u2028par\u2029bom\ufeffend",
    "bell\x07",
    "caf\u00e9 \u65e5\u672c \U0001f600",
    " padded ",
    "",
]


@pytest.mark.parametrize("text", TRICKY)
def test_quote_reads_back_as_the_same_string(text: str) -> None:
    assert yaml.safe_load(f"key: {quote(text)}") == {"key": text}
    assert load_text("t.yaml", f"key: {quote(text)}\n").data == {"key": text}


def test_times_and_phone_numbers_survive_as_strings() -> None:
    live, metrics = seed_live(123)
    live["no_calls_notify_time_period"] = {
        "time_zone": "UTC",
        "time_periods": [{"start_time": "09:00", "end_time": "17:30", "time_frame": 30}],
        "exception_numbers": ["+15551234567", "+442071838750"],
        "agents": [301],
    }
    live["name"] = "yes: 09:00 # +15551234567"
    live["webhook_url"] = "https://hooks.example.com/x?a=1#frag"
    text = export_project(live, metrics)
    assert '"09:00"' in text and '"+15551234567"' in text
    settings = yaml.safe_load(text)["settings"]
    assert settings["no_calls_notify_time_period"] == live["no_calls_notify_time_period"]
    assert settings["name"] == live["name"]
    assert settings["webhook_url"] == live["webhook_url"]
    assert_no_changes(plan_offline(text, live, metrics)[1])


@pytest.mark.parametrize("value", [1.0, 0.5, 0.1, 1e-05, 0.000123, 1, 0])
def test_numbers_keep_their_type(value: float) -> None:
    live, metrics = seed_live(124)
    live["sample_rate"] = value
    text = export_project(live, metrics)
    exported = yaml.safe_load(text)["settings"]["sample_rate"]
    assert exported == value and type(exported) is type(value)
    assert_no_changes(plan_offline(text, live, metrics)[1])


# -- secrets ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("project_id", SEED_PROJECTS)
def test_secrets_appear_only_as_references(project_id: int) -> None:
    state = EmulatorState()
    live = state.project(project_id)
    text = export_project(live, state.metrics)
    for name in SECRET_FIELDS:
        stored = state.stored_secret(project_id, name)
        if stored:
            assert stored not in text
    secrets = yaml.safe_load(text).get("secrets") or {}
    configured = {n for n in SECRET_FIELDS if is_configured(live[f"{n}_configured"])}
    assert set(secrets) == configured
    for name, ref in secrets.items():
        assert ref == {"env": secret_env_name(project_id, name)}
    for name in set(SECRET_FIELDS) - configured:
        assert f"  # {name}: {{env: {secret_env_name(project_id, name)}}}  # not configured live" in text


@pytest.mark.parametrize(
    ("flag", "configured"),
    [
        (True, True),
        ("true", True),
        ("True", True),
        (False, False),
        ("false", False),
        ("", False),
        (None, False),
    ],
)
def test_configured_flag_is_read_robustly(flag: Any, configured: bool) -> None:
    live, metrics = seed_live(124)
    live["webhook_secret_configured"] = flag
    secrets = yaml.safe_load(export_project(live, metrics)).get("secrets") or {}
    assert ("webhook_secret" in secrets) is configured


def test_secret_value_from_an_older_api_is_never_written() -> None:
    live, metrics = seed_live(124)
    live["vapi_api_key"] = "sk-live-value-4711"  # older API versions answered with the value itself
    del live["vapi_api_key_configured"]
    text = export_project(live, metrics)
    assert "sk-live-value-4711" not in text
    assert yaml.safe_load(text)["secrets"]["vapi_api_key"] == {"env": "CEKURA_124_VAPI_API_KEY"}


def test_no_configured_secret_comments_out_the_section() -> None:
    live, metrics = seed_live(124)
    live["retell_api_key_configured"] = False
    text = export_project(live, metrics)
    assert "\n# secrets:\n" in text
    assert "secrets" not in yaml.safe_load(text)
    assert_no_changes(plan_offline(text, live, metrics)[1])


# -- what cannot be written is left out, with a reason ---------------------------------------------


def test_unknown_live_fields_are_left_out() -> None:
    live, metrics = seed_live(123)
    live["brand_new_field"] = {"nested": [1, 2]}
    live["another_one"] = "09:00"
    text = export_project(live, metrics)
    data = yaml.safe_load(text)
    assert "brand_new_field" not in data["settings"] and "brand_new_field" not in data
    assert "# Live fields this version does not know, not exported: another_one, brand_new_field" in text
    assert_no_changes(plan_offline(text, live, metrics)[1])


def test_null_is_kept_only_where_the_schema_accepts_it() -> None:
    live, metrics = seed_live(124)
    live["webhook_url"] = None
    text = export_project(live, metrics)
    settings = yaml.safe_load(text)["settings"]
    assert "webhook_url" not in settings
    assert "# webhook_url: left out (unmanaged): null live" in text
    assert "no_calls_notify_time_period" in settings and settings["no_calls_notify_time_period"] is None
    assert_no_changes(plan_offline(text, live, metrics)[1])


def test_missing_and_invalid_live_settings_are_left_out() -> None:
    live, metrics = seed_live(123)
    del live["use_provider_transcript"]
    live["sample_rate"] = 2.5
    live["timezone"] = "Mars/Olympus"
    live["min_call_duration"] = 1000
    text = export_project(live, metrics)
    settings = yaml.safe_load(text)["settings"]
    for name in (
        "use_provider_transcript",
        "sample_rate",
        "timezone",
        "min_call_duration",
        "max_call_duration",
    ):
        assert name not in settings
        assert f"# {name}: left out (unmanaged): " in text
    assert "not returned by the API" in text
    assert_no_changes(plan_offline(text, live, metrics)[1])


def test_soft_deleted_project_exports_without_is_deleted() -> None:
    live, metrics = seed_live(123)
    live["is_deleted"] = True
    text = export_project(live, metrics)
    assert "is_deleted" not in yaml.safe_load(text)["settings"]
    assert "soft-deleted" in text
    assert_no_changes(plan_offline(text, live, metrics)[1])


def test_rules_that_do_not_fit_are_left_out_and_kept() -> None:
    live, metrics = seed_live(123)
    rules = live["rubric_config"]["rules"]
    rules.append({"metric_id": 7001, "conditions": {"operator": "and", "conditions": []}})  # no condition
    rules.append({"metric_id": 99999, "conditions": rules[0]["conditions"]})  # deleted metric
    rules.append({"metric_id": 7002, "conditions": rules[0]["conditions"], "note": "x"})  # unknown key
    rules.append("not a rule")
    rules.append(  # does not fit the metric's type
        {
            "metric_id": 8821,
            "conditions": {"operator": "and", "conditions": [{"field": "score", "op": "gte", "value": 1}]},
        }
    )
    text = export_project(live, metrics)
    exported = yaml.safe_load(text)["rubric"]["rules"]
    assert [r["metric"] for r in exported] == ["appointment_booked_115164", "customer_satisfaction_5512"]
    for metric_id in (7001, 99999, 7002, 8821):
        assert f"# metric {metric_id}: its " in text
    assert "a live rule without a whole-number metric_id" in text
    assert_no_changes(plan_offline(text, live, metrics)[1])


def test_rubric_with_other_logic_is_left_unmanaged() -> None:
    live, metrics = seed_live(123)
    live["rubric_config"]["evaluation_logic"] = "or"
    text = export_project(live, metrics)
    assert "rubric" not in yaml.safe_load(text)
    assert "# rubric: left out (unmanaged)" in text
    assert_no_changes(plan_offline(text, live, metrics)[1])


def test_header_names_the_source_without_credentials() -> None:
    live, metrics = seed_live(123)
    text = export_project(live, metrics, base_url_comment="https://user:pw@api.example.com:8443/?token=abc")
    header = text.splitlines()[2]
    assert "https://api.example.com:8443/" in header
    assert "pw" not in text and "token" not in text


def test_project_without_id_is_refused() -> None:
    live, metrics = seed_live(123)
    del live["id"]
    with pytest.raises(ReconcilerError):
        export_project(live, metrics)


# -- over HTTP, through the real client and the real CLI --------------------------------------------


@pytest.mark.parametrize("project_id", SEED_PROJECTS)
def test_exported_file_plans_no_changes_over_http(
    project_id: int, emulator: RunningEmulator, cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with CekuraClient(emulator.base_url, API_KEY) as client:
        live, metrics = fetch_export_inputs(client, project_id)
        text = export_project(live, metrics, base_url_comment=emulator.base_url)
        path = tmp_path / "project.yaml"
        path.write_text(text, encoding="utf-8")
        env = {
            secret_env_name(project_id, name): "placeholder-value"
            for name in SECRET_FIELDS
            if is_configured(live[f"{name}_configured"])
        }
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        [desired] = load_projects([str(path)])
        assert_no_changes(plan_project(client, desired).plan)
    assert cli("validate", str(path)).code == 0
    result = cli("plan", "--detailed-exitcode", str(path), env=env)
    assert result.code == 0, result.all
    assert emulator.state.patches() == []


def test_agent_scoped_metric_rules_are_fetched_and_exported(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    live_rules = emulator.state.project(123)["rubric_config"]["rules"]
    binary = {"operator": "and", "conditions": [{"field": "score", "op": "eq", "value": True}]}
    rubric = {"evaluation_logic": "and", "rules": [*live_rules, {"metric_id": 9101, "conditions": binary}]}
    emulator.state.set_project_fields(123, rubric_config=rubric)
    with CekuraClient(emulator.base_url, API_KEY) as client:
        live, metrics = fetch_export_inputs(client, 123)
        assert 9101 in {m["id"] for m in metrics}
        text = export_project(live, metrics)
        label = "Greeting Compliance (binary), metric 9101"
        assert f'    - metric: "greeting_compliance_9101"  # {label}\n' in text
        path = tmp_path / "project.yaml"
        path.write_text(text, encoding="utf-8")
        [desired] = load_projects([str(path)])
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("CEKURA_123_VAPI_API_KEY", "placeholder-value")
            assert_no_changes(plan_project(client, desired).plan)
    # Without the agent-scoped metrics, its rule is left out (and kept: prune is false).
    project_only = [m for m in metrics if m["id"] != 9101]
    text = export_project(live, project_only)
    assert "# metric 9101: its 1 rule left out (unmanaged, kept as they are): not among" in text
    assert_no_changes(plan_offline(text, live, project_only)[1])


# -- metrics by slug, secret comments, file names (export --all) ------------------------------------


def test_rules_name_their_metric_by_slug_when_the_slug_is_unique_in_the_project() -> None:
    live, metrics = seed_live(123)
    text = export_project(live, metrics)
    label = "Customer Satisfaction (continuous_qualitative)"
    assert f'    - metric: "customer_satisfaction_5512"  # {label}, ' in text
    assert "metric_id: 5512" not in text
    data = yaml.safe_load(text)
    assert [r.get("metric") for r in data["rubric"]["rules"]] == [
        "appointment_booked_115164",
        "customer_satisfaction_5512",
        "call_resolution_8821",
    ]
    assert_no_changes(plan_offline(text, live, metrics)[1])


def test_rules_name_their_metric_by_id_when_the_slug_is_shared_or_missing() -> None:
    live, metrics = seed_live(123)
    by_id = {m["id"]: m for m in metrics}
    twin = {**by_id[5512], "id": 5599, "name": "Satisfaction (copy)"}  # same slug as 5512
    by_id[8821] = {**by_id[8821], "slug": None}
    catalog = [*by_id.values(), twin]
    text = export_project(live, catalog)
    assert "    - metric_id: 5512  # customer_satisfaction_5512: Customer Satisfaction" in text
    assert "    - metric_id: 8821  # Call Resolution (enum)" in text
    assert '    - metric: "appointment_booked_115164"' in text
    assert_no_changes(plan_offline(text, live, catalog)[1])


def test_configured_secrets_say_which_variable_to_set() -> None:
    live, metrics = seed_live(123)
    text = export_project(live, metrics)
    line = next(x for x in text.splitlines() if x.startswith("  vapi_api_key:"))
    assert line.startswith("  vapi_api_key: {env: CEKURA_123_VAPI_API_KEY}  # ")
    assert "set CEKURA_123_VAPI_API_KEY" in line.split("#", 1)[1]


@pytest.mark.parametrize(
    ("project_id", "name", "expected"),
    [
        (123, "Support line QA", "123-support-line-qa.yaml"),
        (7, "  Café Ünïcode / Test!! ", "7-cafe-unicode-test.yaml"),
        (8, "日本語", "8.yaml"),
        (9, None, "9.yaml"),
        (10, "../../etc/passwd", "10-etc-passwd.yaml"),
        (11, "x" * 200, f"11-{'x' * 60}.yaml"),
    ],
)
def test_project_file_names_are_recognisable_and_safe(project_id: int, name: Any, expected: str) -> None:
    from reconciler.export import project_file_name

    assert project_file_name(project_id, name) == expected


MULTILINE_PROMPT = "Did the agent greet the caller by name?\n\nAnswer TRUE or FALSE.\n"


def test_the_projects_metric_definitions_are_exported_and_plan_to_no_change(
    emulator: RunningEmulator, cli: Cli, tmp_path: Path
) -> None:
    emulator.state.add_metric(
        id=9800, project=123, slug="greets_by_name", name="Greets by name", prompt=MULTILINE_PROMPT
    )
    with CekuraClient(emulator.base_url, API_KEY) as client:
        live, metrics = fetch_export_inputs(client, 123)
    text = export_project(live, metrics)
    data = yaml.safe_load(text)
    slugs = [d["slug"] for d in data["metrics"]["definitions"]]
    own = sorted(m["slug"] for m in metrics if m.get("project") == 123)
    assert slugs == own and "greets_by_name" in slugs
    # A prompt of several lines reads as a block scalar, and loads back to the same text.
    assert '    - slug: "greets_by_name"\n' in text
    assert "      prompt: |\n        Did the agent greet the caller by name?\n\n        Answer TRUE" in text
    [greets] = [d for d in data["metrics"]["definitions"] if d["slug"] == "greets_by_name"]
    assert greets["prompt"] == MULTILINE_PROMPT
    path = tmp_path / "project.yaml"
    path.write_text(text, encoding="utf-8")
    result = cli("plan", "--detailed-exitcode", str(path), env={"CEKURA_123_VAPI_API_KEY": "placeholder"})
    assert result.code == 0, result.all
    # The exported file manages the prompt: an edit to it is a metric PATCH.
    path.write_text(text.replace("Answer TRUE or FALSE.", "Answer YES or NO."), encoding="utf-8")
    result = cli("plan", str(path), env={"CEKURA_123_VAPI_API_KEY": "placeholder"})
    assert "~ metric greets_by_name (Greets by name), id 9800:" in result.out, result.all


@pytest.mark.parametrize(
    "text", ["one line", "two\nlines", "ends\nwith two\n\n", " leading space\nx", "tab\tin\nit"]
)
def test_a_metric_text_field_loads_back_exactly(text: str) -> None:
    live, metrics = seed_live(123)
    metrics = [{**m, "description": text} if m["id"] == 7002 else m for m in metrics]
    exported = export_project(live, metrics)
    [definition] = [
        d for d in yaml.safe_load(exported)["metrics"]["definitions"] if d["slug"] == "followed_script_7002"
    ]
    assert definition["description"] == text
