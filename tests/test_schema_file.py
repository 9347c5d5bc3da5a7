"""schemas/project.schema.json on its own: a valid 2020-12 schema that matches the API contract.

Independent of the package on purpose: it reads the schema file (and the API reference, when the
shared folder sits beside the clone) by path, so it checks the committed file, not a loaded copy.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator  # type: ignore[import-untyped, unused-ignore]
from jsonschema.exceptions import best_match  # type: ignore[import-untyped, unused-ignore]
from referencing import Registry, Resource

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "schemas" / "project.schema.json"
REFERENCE_DIR = Path(__file__).resolve().parents[1] / "docs" / "reference"
OPENAPI_PATH = REFERENCE_DIR / "cekura-openapi-slice.json"
PATCH_DOC_PATH = REFERENCE_DIR / "cekura-update-project-doc.txt"
FORMAT_CHECKER = Draft202012Validator.FORMAT_CHECKER

SCHEMA_ID = "https://cekura-reconciler.dev/schemas/project.schema.json"
NOT_SETTINGS = {"rubric_config", "organization_id"}
SECRETS = {
    "vapi_api_key",
    "retell_api_key",
    "syntflow_api_key",
    "elevenlabs_api_key",
    "livekit_api_key",
    "pipecat_api_key",
    "webhook_secret",
}

Path_ = tuple[str | int, ...]


@cache
def _schema_text() -> str:
    return SCHEMA_PATH.read_text(encoding="utf-8")


def schema() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(_schema_text())
    return loaded


def validator() -> Draft202012Validator:
    return Draft202012Validator(schema(), format_checker=FORMAT_CHECKER)


def sub_validator(pointer: str) -> Draft202012Validator:
    """A validator for the subschema at ``pointer`` (a JSON pointer), resolving the file's own $refs."""
    registry: Registry[Any] = Registry().with_resource(SCHEMA_ID, Resource.from_contents(schema()))
    return Draft202012Validator(
        {"$ref": f"{SCHEMA_ID}#{pointer}"}, registry=registry, format_checker=FORMAT_CHECKER
    )


def reference_project() -> dict[str, Any]:
    if not OPENAPI_PATH.is_file():
        pytest.skip(f"API reference not present at {REFERENCE_DIR}")
    spec: dict[str, Any] = json.loads(OPENAPI_PATH.read_text(encoding="utf-8"))
    patched: dict[str, Any] = spec["components"]["schemas"]["PatchedProject"]["properties"]
    return patched


def settings_props() -> dict[str, Any]:
    props: dict[str, Any] = schema()["properties"]["settings"]["properties"]
    return props


def walk(node: Any, pointer: str = "") -> Iterator[tuple[str, Any]]:
    """Every (JSON pointer, value) pair of the schema document."""
    yield pointer, node
    if isinstance(node, dict):
        for key, value in node.items():
            escaped = str(key).replace("~", "~0").replace("/", "~1")
            yield from walk(value, f"{pointer}/{escaped}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from walk(value, f"{pointer}/{index}")


def resolve_types(node: dict[str, Any]) -> set[str]:
    """The JSON types a (sub)schema names, following local $refs and allOf."""
    found: set[str] = set()
    declared = node.get("type")
    if isinstance(declared, str):
        found.add(declared)
    elif isinstance(declared, list):
        found.update(declared)
    if "$ref" in node:
        name = node["$ref"].removeprefix("#/$defs/")
        found |= resolve_types(schema()["$defs"][name])
    for part in node.get("allOf", []):
        found |= resolve_types(part)
    return found


# --- the schema document itself ------------------------------------------------------------------


def test_schema_is_valid_draft_2020_12() -> None:
    document = schema()
    Draft202012Validator.check_schema(document)
    assert document["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert document["$id"] == SCHEMA_ID
    assert document["title"] and document["description"]
    assert document["additionalProperties"] is False
    assert document["required"] == ["version"]
    assert set(document["properties"]) == {
        "version",
        "project",
        "extends",
        "settings",
        "secrets",
        "rubric",
        "metrics",
    }


def test_reusable_parts_are_defined() -> None:
    defs = schema()["$defs"]
    for name in ("int32", "secretRef", "timeHHMM", "phoneNumber", "timePeriod", "noCallsNotifyTimePeriod"):
        assert name in defs
    for name in ("rule", "condition", "scoreCondition", "enumCondition", "enumInCondition"):
        assert name in defs
    assert defs["int32"]["minimum"] == -(2**31)
    assert defs["int32"]["maximum"] == 2**31 - 1


def test_every_property_and_definition_has_a_description() -> None:
    missing: list[str] = []
    for pointer, node in walk(schema()):
        if not isinstance(node, dict):
            continue
        for keyword in ("properties", "$defs"):
            children = node.get(keyword)
            # `if` blocks only test values; they document nothing.
            if not isinstance(children, dict) or "/if/" in f"{pointer}/":
                continue
            for name, child in children.items():
                if not (isinstance(child, dict) and str(child.get("description", "")).strip()):
                    missing.append(f"{pointer}/{keyword}/{name}")
    assert missing == []


def test_examples_and_defaults_are_valid_for_their_own_subschema() -> None:
    checked = 0
    for pointer, node in walk(schema()):
        if not isinstance(node, dict) or pointer.endswith(("/properties", "/$defs")):
            continue
        samples = list(node.get("examples", []))
        if "default" in node:
            samples.append(node["default"])
        if not samples:
            continue
        check = sub_validator(pointer)
        for sample in samples:
            errors = [e.message for e in check.iter_errors(sample)]
            assert errors == [], f"{pointer}: example {sample!r} is invalid: {errors}"
            checked += 1
    assert checked > 20


def test_schema_file_is_plain_pretty_json() -> None:
    text = _schema_text()
    assert text.endswith("\n")
    assert json.dumps(json.loads(text), indent=2, ensure_ascii=False) + "\n" == text


# --- coverage of the API contract ----------------------------------------------------------------


def test_settings_cover_every_writable_field_of_patched_project() -> None:
    patched = reference_project()
    writable = {
        name
        for name, prop in patched.items()
        if not prop.get("readOnly") and not prop.get("writeOnly") and name not in NOT_SETTINGS
    }
    assert set(settings_props()) == writable
    read_only = {name for name, prop in patched.items() if prop.get("readOnly")}
    assert read_only & set(settings_props()) == set()


def test_secrets_are_exactly_the_write_only_strings_of_patched_project() -> None:
    patched = reference_project()
    write_only = {
        name
        for name, prop in patched.items()
        if prop.get("writeOnly") and prop.get("type") == "string" and name not in NOT_SETTINGS
    }
    assert write_only == SECRETS
    assert set(schema()["properties"]["secrets"]["properties"]) == SECRETS
    assert {"rubric_config", "organization_id"} & set(settings_props()) == set()


def test_setting_types_match_patched_project() -> None:
    patched = reference_project()
    for name, ours in settings_props().items():
        theirs = patched[name]
        if "type" in theirs:
            assert theirs["type"] in resolve_types(ours), name
        if theirs.get("type") == "integer" and "minimum" in theirs:
            assert ours == {**ours, "$ref": "#/$defs/int32"}, f"{name} keeps the documented int32 range"
    assert settings_props()["webhook_url"]["format"] == patched["webhook_url"]["format"] == "uri"


def test_every_field_of_the_patch_doc_has_a_home() -> None:
    if not PATCH_DOC_PATH.is_file():
        pytest.skip(f"API reference not present at {REFERENCE_DIR}")
    text = PATCH_DOC_PATH.read_text(encoding="utf-8")
    match = re.search(r"--data '\s*(\{.*?\})\s*'", text, re.DOTALL)
    assert match is not None
    body_fields = set(json.loads(match.group(1)))
    assert len(body_fields) > 40
    homes = set(settings_props()) | set(schema()["properties"]["secrets"]["properties"]) | {"rubric_config"}
    assert body_fields - homes == set()


# --- valid documents -----------------------------------------------------------------------------

README_EXAMPLE = """\
# yaml-language-server: $schema=../schemas/project.schema.json
version: 1
project: 123
extends: base.yaml
settings:
  name: Support line QA
  sample_rate: 0.5
  notify_no_calls: true
  no_calls_notify_time_period: {time_zone: America/New_York, time_periods: [{start_time: "09:00",
    end_time: "17:00", time_frame: 30}], exception_numbers: ["+15551234567"], agents: [1, 10]}
secrets:
  vapi_api_key: {env: VAPI_API_KEY}
  webhook_secret: {file: /run/secrets/cekura_webhook}
rubric:
  prune: false
  evaluation_logic: and
  rules:
    - metric_id: 5512
      conditions: {operator: and, conditions: [{field: score, op: gte, value: 4}]}
    - metric: appointment_booked
      conditions: {operator: and, conditions: [{field: score, op: eq, value: true}]}
    - metric_id: 8821
      conditions: {operator: and, conditions: [{field: enum, op: in, value: [resolved, partially_resolved]}]}
    - metric_id: 9999
      absent: true
"""

EVERY_SETTING: dict[str, Any] = {
    "name": "Support line QA",
    "outbound_timeout": 300,
    "max_call_duration": 600,
    "min_call_duration": 0,
    "sample_rate": 1,
    "max_messages_chat_runs_limit": 2147483647,
    "webhook_url": "https://yourdomain.com/webhook",
    "evaluate_relevant_metrics_enabled": True,
    "end_call_enabled": False,
    "generate_scenario_auto_assign_numbers_enabled": True,
    "enable_client_side_testing": False,
    "use_provider_transcript": True,
    "should_show_powered_by": False,
    "notify_results_completion": True,
    "notify_daily_report": True,
    "notify_daily_report_no_calls": False,
    "daily_report_ai_summary_enabled": True,
    "notify_cron_failure": True,
    "notify_cron_success": False,
    "notify_no_calls": True,
    "no_calls_notify_time_period": {
        "time_zone": "America/New_York",
        "time_periods": [
            {"start_time": "09:00", "end_time": "17:00", "time_frame": 30},
            {"start_time": "18:00", "end_time": "23:59", "time_frame": 60},
        ],
        "exception_numbers": ["+15551234567", "+14155552671"],
        "agents": [1, 10, 90],
    },
    "notify_daily_report_webhook": False,
    "notify_pre_run_webhook": True,
    "daily_report_dashboard_ids": [1, 2, 3],
    "notify_result_webhook_failed": True,
    "notify_result_webhook_success": False,
    "notify_result_webhook_error": True,
    "notify_cronjob_webhook_failed": True,
    "notify_cronjob_webhook_success": False,
    "notify_cronjob_webhook_error": True,
    "notify_call_log_webhook_failed": True,
    "notify_call_log_webhook_success": False,
    "notify_frequent_calls_for_number": True,
    "frequent_calls_threshold": -1,
    "frequent_calls_time_period": -2147483648,
    "frequent_calls_cooldown": 2147483647,
    "forward_vapi_webhook": False,
    "forward_retell_webhook": False,
    "is_send_emails_enabled": True,
    "timezone": "Europe/Paris",
    "is_deleted": False,
}


def doc(**parts: Any) -> dict[str, Any]:
    return {"version": 1, "project": 1, **parts}


def with_settings(**fields: Any) -> dict[str, Any]:
    return doc(settings=fields)


def with_rule(rule: dict[str, Any]) -> dict[str, Any]:
    return doc(rubric={"rules": [rule]})


def with_condition(condition: dict[str, Any]) -> dict[str, Any]:
    return with_rule({"metric_id": 7, "conditions": {"operator": "and", "conditions": [condition]}})


def test_the_documented_example_is_valid() -> None:
    data = yaml.safe_load(README_EXAMPLE)
    assert [e.message for e in validator().iter_errors(data)] == []


def test_a_full_document_is_valid() -> None:
    data = doc(
        settings=EVERY_SETTING,
        secrets={name: {"env": name.upper()} for name in sorted(SECRETS)},
        rubric={
            "prune": True,
            "evaluation_logic": "and",
            "rules": yaml.safe_load(README_EXAMPLE)["rubric"]["rules"],
        },
    )
    assert set(data["settings"]) == set(settings_props())
    assert [e.message for e in validator().iter_errors(data)] == []


VALID_SNIPPETS: list[tuple[str, dict[str, Any]]] = [
    ("base file without project", {"version": 1, "settings": {"sample_rate": 0.25}}),
    ("version only", {"version": 1}),
    ("empty rubric", doc(rubric={})),
    ("empty settings and secrets", doc(settings={}, secrets={})),
    ("whole number written as a float", with_settings(outbound_timeout=300.0)),
    ("sample rate bounds", with_settings(sample_rate=0)),
    ("no-calls config cleared", with_settings(no_calls_notify_time_period=None)),
    ("no-calls config partial", with_settings(no_calls_notify_time_period={"time_zone": "UTC"})),
    ("empty dashboard list", with_settings(daily_report_dashboard_ids=[])),
    ("secret from a file", doc(secrets={"webhook_secret": {"file": "secret.txt"}})),
    ("binary metric as 5", with_condition({"field": "score", "op": "eq", "value": 5})),
    ("binary metric as false", with_condition({"field": "score", "op": "neq", "value": False})),
    ("fractional score", with_condition({"field": "score", "op": "lt", "value": 2.5})),
    ("enum neq", with_condition({"field": "enum", "op": "neq", "value": "abandoned"})),
    ("absent by name", with_rule({"metric": "Customer satisfaction", "absent": True})),
    (
        "two conditions",
        with_rule(
            {
                "metric_id": 3,
                "conditions": {
                    "operator": "and",
                    "conditions": [
                        {"field": "score", "op": "gt", "value": 1},
                        {"field": "score", "op": "lte", "value": 4},
                    ],
                },
            }
        ),
    ),
]


@pytest.mark.parametrize(("case", "data"), VALID_SNIPPETS, ids=[c for c, _ in VALID_SNIPPETS])
def test_valid_snippets(case: str, data: dict[str, Any]) -> None:
    assert [e.message for e in validator().iter_errors(data)] == [], case


# --- invalid documents: each fails at exactly one place, with the expected keyword ---------------

PERIOD = {"start_time": "09:00", "end_time": "17:00", "time_frame": 30}


def no_calls(**fields: Any) -> dict[str, Any]:
    return with_settings(no_calls_notify_time_period=fields)


def period(**fields: Any) -> dict[str, Any]:
    """A no-calls document with one time period: a good one, with ``fields`` replacing its parts."""
    return no_calls(time_periods=[{**PERIOD, **fields}])


def secret(name: str, ref: Any) -> dict[str, Any]:
    return doc(secrets={name: ref})


RULE_PATH: Path_ = ("rubric", "rules", 0)
COND_PATH: Path_ = (*RULE_PATH, "conditions", "conditions", 0)
NO_CALLS: Path_ = ("settings", "no_calls_notify_time_period")
GOOD_CONDITIONS = {"operator": "and", "conditions": [{"field": "score", "op": "gte", "value": 4}]}

INVALID_SNIPPETS: list[tuple[str, dict[str, Any], Path_, str]] = [
    # top level
    ("version 2", {"version": 2}, ("version",), "const"),
    ("version as text", {"version": "1"}, ("version",), "const"),
    ("version missing", {"project": 1}, (), "required"),
    ("unknown top-level key", doc(project_id=1), (), "additionalProperties"),
    ("project id 0", doc(project=0), ("project",), "minimum"),
    ("project id as text", doc(project="123"), ("project",), "type"),
    ("empty extends", doc(extends=""), ("extends",), "minLength"),
    ("settings not a mapping", doc(settings=None), ("settings",), "type"),
    # settings
    ("unknown setting key", with_settings(sample_rte=0.5), ("settings",), "additionalProperties"),
    ("rubric_config in settings", with_settings(rubric_config={}), ("settings",), "additionalProperties"),
    ("secret in settings", with_settings(vapi_api_key="k"), ("settings",), "additionalProperties"),
    ("read-only field in settings", with_settings(id=1), ("settings",), "additionalProperties"),
    ("organization_id in settings", with_settings(organization_id=1), ("settings",), "additionalProperties"),
    ("sample_rate 1.5", with_settings(sample_rate=1.5), ("settings", "sample_rate"), "maximum"),
    ("sample_rate negative", with_settings(sample_rate=-0.1), ("settings", "sample_rate"), "minimum"),
    ("sample_rate as text", with_settings(sample_rate="50%"), ("settings", "sample_rate"), "type"),
    ("empty name", with_settings(name=""), ("settings", "name"), "minLength"),
    ("name too long", with_settings(name="x" * 256), ("settings", "name"), "maxLength"),
    (
        "int32 overflow",
        with_settings(frequent_calls_threshold=2**31),
        ("settings", "frequent_calls_threshold"),
        "maximum",
    ),
    (
        "int32 underflow",
        with_settings(frequent_calls_cooldown=-(2**31) - 1),
        ("settings", "frequent_calls_cooldown"),
        "minimum",
    ),
    (
        "duration overflow",
        with_settings(max_call_duration=2**31),
        ("settings", "max_call_duration"),
        "maximum",
    ),
    ("negative timeout", with_settings(outbound_timeout=-1), ("settings", "outbound_timeout"), "minimum"),
    ("fractional duration", with_settings(min_call_duration=1.5), ("settings", "min_call_duration"), "type"),
    ("boolean as text", with_settings(notify_no_calls="yes"), ("settings", "notify_no_calls"), "type"),
    ("boolean as number", with_settings(is_deleted=0), ("settings", "is_deleted"), "type"),
    (
        "duplicate dashboard id",
        with_settings(daily_report_dashboard_ids=[1, 1]),
        ("settings", "daily_report_dashboard_ids"),
        "uniqueItems",
    ),
    (
        "dashboard id 0",
        with_settings(daily_report_dashboard_ids=[0]),
        ("settings", "daily_report_dashboard_ids", 0),
        "minimum",
    ),
    ("empty timezone", with_settings(timezone=""), ("settings", "timezone"), "minLength"),
    # no_calls_notify_time_period
    ("no-calls config as text", with_settings(no_calls_notify_time_period="always"), NO_CALLS, "type"),
    ("no-calls unknown key", no_calls(timezone="UTC"), NO_CALLS, "additionalProperties"),
    ("bad HH:MM 9:00", period(start_time="9:00"), (*NO_CALLS, "time_periods", 0, "start_time"), "pattern"),
    ("bad HH:MM 24:00", period(end_time="24:00"), (*NO_CALLS, "time_periods", 0, "end_time"), "pattern"),
    ("time as minutes", period(start_time=540), (*NO_CALLS, "time_periods", 0, "start_time"), "type"),
    ("time_frame 0", period(time_frame=0), (*NO_CALLS, "time_periods", 0, "time_frame"), "minimum"),
    (
        "period without time_frame",
        no_calls(time_periods=[{"start_time": "09:00", "end_time": "17:00"}]),
        (*NO_CALLS, "time_periods", 0),
        "required",
    ),
    ("period with unknown key", period(days="mon"), (*NO_CALLS, "time_periods", 0), "additionalProperties"),
    (
        "phone without +",
        no_calls(exception_numbers=["15551234567"]),
        (*NO_CALLS, "exception_numbers", 0),
        "pattern",
    ),
    (
        "phone with spaces",
        no_calls(exception_numbers=["+1 555 123 4567"]),
        (*NO_CALLS, "exception_numbers", 0),
        "pattern",
    ),
    (
        "phone as number",
        no_calls(exception_numbers=[15551234567]),
        (*NO_CALLS, "exception_numbers", 0),
        "type",
    ),
    ("agent id 0", no_calls(agents=[0]), (*NO_CALLS, "agents", 0), "minimum"),
    # secrets
    ("secret as a plain string", secret("vapi_api_key", "sk-live-123"), ("secrets", "vapi_api_key"), "type"),
    (
        "secret with both env and file",
        secret("retell_api_key", {"env": "A", "file": "b"}),
        ("secrets", "retell_api_key"),
        "maxProperties",
    ),
    ("empty secret reference", secret("retell_api_key", {}), ("secrets", "retell_api_key"), "minProperties"),
    (
        "secret with unknown source",
        secret("pipecat_api_key", {"value": "x"}),
        ("secrets", "pipecat_api_key"),
        "additionalProperties",
    ),
    ("bad env name", secret("vapi_api_key", {"env": "1VAPI"}), ("secrets", "vapi_api_key", "env"), "pattern"),
    (
        "empty file path",
        secret("webhook_secret", {"file": ""}),
        ("secrets", "webhook_secret", "file"),
        "minLength",
    ),
    ("unknown secret", secret("openai_api_key", {"env": "OPENAI"}), ("secrets",), "additionalProperties"),
    (
        "synthflow misspelt the usual way",
        secret("synthflow_api_key", {"env": "S"}),
        ("secrets",),
        "additionalProperties",
    ),
    # rubric
    ("unknown rubric key", doc(rubric={"rule": []}), ("rubric",), "additionalProperties"),
    ("evaluation_logic or", doc(rubric={"evaluation_logic": "or"}), ("rubric", "evaluation_logic"), "const"),
    ("prune as text", doc(rubric={"prune": "yes"}), ("rubric", "prune"), "type"),
    ("rules not a list", doc(rubric={"rules": {"metric_id": 1}}), ("rubric", "rules"), "type"),
    (
        "rule with both metric_id and metric",
        with_rule({"metric_id": 1, "metric": "m", "conditions": GOOD_CONDITIONS}),
        (*RULE_PATH, "metric"),
        "not",
    ),
    ("rule without a metric", with_rule({"conditions": GOOD_CONDITIONS}), RULE_PATH, "required"),
    (
        "rule with absent and conditions",
        with_rule({"metric_id": 1, "absent": True, "conditions": GOOD_CONDITIONS}),
        (*RULE_PATH, "conditions"),
        "not",
    ),
    ("rule with neither conditions nor absent", with_rule({"metric_id": 1}), RULE_PATH, "required"),
    ("absent false", with_rule({"metric_id": 1, "absent": False}), (*RULE_PATH, "absent"), "const"),
    ("metric_id 0", with_rule({"metric_id": 0, "absent": True}), (*RULE_PATH, "metric_id"), "minimum"),
    (
        "metric_id as text",
        with_rule({"metric_id": "5512", "absent": True}),
        (*RULE_PATH, "metric_id"),
        "type",
    ),
    ("empty metric name", with_rule({"metric": "", "absent": True}), (*RULE_PATH, "metric"), "minLength"),
    (
        "unknown rule key",
        with_rule({"metric_id": 1, "absent": True, "note": "x"}),
        RULE_PATH,
        "additionalProperties",
    ),
    (
        "operator or",
        with_rule({"metric_id": 1, "conditions": {**GOOD_CONDITIONS, "operator": "or"}}),
        (*RULE_PATH, "conditions", "operator"),
        "const",
    ),
    (
        "operator missing",
        with_rule({"metric_id": 1, "conditions": {"conditions": GOOD_CONDITIONS["conditions"]}}),
        (*RULE_PATH, "conditions"),
        "required",
    ),
    (
        "empty conditions list",
        with_rule({"metric_id": 1, "conditions": {"operator": "and", "conditions": []}}),
        (*RULE_PATH, "conditions", "conditions"),
        "minItems",
    ),
    # conditions
    (
        "enum op in with string value",
        with_condition({"field": "enum", "op": "in", "value": "resolved"}),
        (*COND_PATH, "value"),
        "type",
    ),
    (
        "enum op in with empty list",
        with_condition({"field": "enum", "op": "in", "value": []}),
        (*COND_PATH, "value"),
        "minItems",
    ),
    (
        "enum op in with a number in the list",
        with_condition({"field": "enum", "op": "in", "value": ["a", 1]}),
        (*COND_PATH, "value", 1),
        "type",
    ),
    (
        "enum op eq with list value",
        with_condition({"field": "enum", "op": "eq", "value": ["resolved"]}),
        (*COND_PATH, "value"),
        "type",
    ),
    (
        "enum op gte",
        with_condition({"field": "enum", "op": "gte", "value": "resolved"}),
        (*COND_PATH, "op"),
        "enum",
    ),
    (
        "score with string value",
        with_condition({"field": "score", "op": "gte", "value": "4"}),
        (*COND_PATH, "value"),
        "type",
    ),
    (
        "score with list value",
        with_condition({"field": "score", "op": "eq", "value": [4]}),
        (*COND_PATH, "value"),
        "type",
    ),
    ("score op in", with_condition({"field": "score", "op": "in", "value": 4}), (*COND_PATH, "op"), "enum"),
    ("score op ge", with_condition({"field": "score", "op": "ge", "value": 4}), (*COND_PATH, "op"), "enum"),
    (
        "unknown field",
        with_condition({"field": "scores", "op": "gte", "value": 4}),
        (*COND_PATH, "field"),
        "enum",
    ),
    ("condition without value", with_condition({"field": "score", "op": "gte"}), COND_PATH, "required"),
    (
        "condition with unknown key",
        with_condition({"field": "score", "op": "gte", "value": 4, "weight": 2}),
        COND_PATH,
        "additionalProperties",
    ),
]


@pytest.mark.parametrize(
    ("case", "data", "path", "keyword"), INVALID_SNIPPETS, ids=[c for c, *_ in INVALID_SNIPPETS]
)
def test_invalid_snippets_fail_at_the_offending_key(
    case: str, data: dict[str, Any], path: Path_, keyword: str
) -> None:
    errors = list(validator().iter_errors(data))
    assert errors, f"{case}: expected a failure"
    found = {(tuple(e.absolute_path), e.validator) for e in errors}
    assert found == {(path, keyword)}, f"{case}: {[(list(e.absolute_path), e.message) for e in errors]}"
    top = best_match(errors)
    assert tuple(top.absolute_path) == path


def test_invalid_snippet_table_is_broad() -> None:
    assert len(INVALID_SNIPPETS) >= 20
    assert len({case for case, *_ in INVALID_SNIPPETS}) == len(INVALID_SNIPPETS)


def test_webhook_url_must_be_a_uri_when_the_checker_knows_uris() -> None:
    data = with_settings(webhook_url="not a url")
    if "uri" not in FORMAT_CHECKER.checkers:
        pytest.skip("jsonschema's uri format check needs the optional rfc3987 package")
    errors = list(validator().iter_errors(data))
    assert [(tuple(e.absolute_path), e.validator) for e in errors] == [
        (("settings", "webhook_url"), "format")
    ]
