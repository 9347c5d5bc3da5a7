"""The API emulator over real HTTP: auth, project shape, PATCH semantics, rubric checks, lists,
pagination, the request log, every fault kind and the admin endpoints."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from reconciler.emulator import EmulatorState, Fault, RunningEmulator, load_seed, start
from reconciler.emulator_seed import SECRET_FIELDS, default_seed, project_defaults

KEY = "k"
P123 = "/user/v1/projects/123/"
P124 = "/user/v1/projects/124/"
METRICS = "/test_framework/v1/metrics/"
AGENTS = "/test_framework/v1/aiagents/"
CALLS = "/observability/v1/call-logs/"
SEED_SECRETS = (
    "vapi-demo-not-a-real-key-123",
    "retell-demo-not-a-real-key-124",
    "retell-demo-not-a-real-key-125",
    "whsec-demo-not-a-real-secret-125",
)
SEED_RUBRIC_123 = {
    "evaluation_logic": "and",
    "rules": [
        {
            "metric_id": 115164,
            "conditions": {"operator": "and", "conditions": [{"op": "eq", "field": "score", "value": True}]},
        },
        {
            "metric_id": 5512,
            "conditions": {"operator": "and", "conditions": [{"op": "gte", "field": "score", "value": 4}]},
        },
        {
            "metric_id": 8821,
            "conditions": {
                "operator": "and",
                "conditions": [{"op": "in", "field": "enum", "value": ["resolved", "partially_resolved"]}],
            },
        },
    ],
}


@pytest.fixture
def emu() -> Iterator[RunningEmulator]:
    with start(EmulatorState(api_key=KEY)) as running:
        yield running


def make_client(base_url: str, key: str | None = KEY) -> httpx.Client:
    """A plain-HTTP client: no proxies from the environment, no (slow to load) CA bundle."""
    headers = {"X-CEKURA-API-KEY": key} if key else {}
    return httpx.Client(base_url=base_url, headers=headers, timeout=5, verify=False, trust_env=False)


@pytest.fixture
def client(emu: RunningEmulator) -> Iterator[httpx.Client]:
    with make_client(emu.base_url) as c:
        yield c


@pytest.fixture
def anon(emu: RunningEmulator) -> Iterator[httpx.Client]:
    """No API key: for the admin endpoints and the 401s."""
    with make_client(emu.base_url, key=None) as c:
        yield c


def rule(metric_id: int, field: str, op: str, value: Any) -> dict[str, Any]:
    return {
        "metric_id": metric_id,
        "conditions": {"operator": "and", "conditions": [{"field": field, "op": op, "value": value}]},
    }


def rubric(*rules: dict[str, Any], logic: str = "and") -> dict[str, Any]:
    return {"evaluation_logic": logic, "rules": list(rules)}


def without_updated_at(project: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in project.items() if k != "updated_at"}


def follow(client: httpx.Client, url: str, params: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """Every page of a DRF-paginated list, following ``next`` until it is None."""
    pages: list[dict[str, Any]] = []
    response = client.get(url, params=params)
    while True:
        assert response.status_code == 200, response.text
        page = response.json()
        pages.append(page)
        if page["next"] is None:
            return pages
        response = client.get(page["next"])


# -- auth -------------------------------------------------------------------------------------


def test_no_key_is_a_drf_401(anon: httpx.Client) -> None:
    response = anon.get(P123)
    assert response.status_code == 401
    assert response.json() == {"detail": "Authentication credentials were not provided."}


def test_a_wrong_key_is_a_drf_401_and_changes_nothing(emu: RunningEmulator, anon: httpx.Client) -> None:
    before = emu.state.project(123)
    headers = {"X-CEKURA-API-KEY": "not-k"}
    response = anon.get(P123, headers=headers)
    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid API key."}
    patched = anon.patch(P123, headers=headers, json={"name": "hijacked"})
    assert patched.status_code == 401
    assert emu.state.project(123) == before


# -- project shape ----------------------------------------------------------------------------


def test_get_project_has_every_default_field_in_order_and_no_secrets(client: httpx.Client) -> None:
    response = client.get(P123)
    assert response.status_code == 200
    body = response.json()
    assert list(body) == list(project_defaults())
    assert body["id"] == 123
    assert body["name"] == "Support line QA"
    assert body["timezone"] == "America/New_York"
    assert body["rubric_config"] == SEED_RUBRIC_123
    for name in SECRET_FIELDS:
        assert name not in body
    for secret in SEED_SECRETS:
        assert secret not in response.text


@pytest.mark.parametrize(
    ("project_id", "configured"),
    [
        (123, {"vapi_api_key"}),
        (124, {"retell_api_key"}),
        (125, {"retell_api_key", "webhook_secret"}),
    ],
)
def test_configured_flags_follow_the_seeded_secrets(
    client: httpx.Client, project_id: int, configured: set[str]
) -> None:
    body = client.get(f"/user/v1/projects/{project_id}/").json()
    flags = {name: body[f"{name}_configured"] for name in SECRET_FIELDS}
    # The spec types `<name>_configured` as a string.
    assert flags == {name: "true" if name in configured else "false" for name in SECRET_FIELDS}
    assert body["vapi_public_key_configured"] == "false"


def test_project_list_is_a_plain_array_without_secret_values(client: httpx.Client) -> None:
    response = client.get("/user/v1/projects/")
    assert response.status_code == 200
    body = response.json()
    assert isinstance(body, list)
    assert [p["id"] for p in body] == [123, 124, 125]
    assert body[2]["webhook_secret_configured"] == "true"
    for secret in SEED_SECRETS:
        assert secret not in response.text


def test_unknown_project_is_404(client: httpx.Client) -> None:
    for response in (client.get("/user/v1/projects/999/"), client.patch("/user/v1/projects/999/", json={})):
        assert response.status_code == 404
        assert response.json() == {"detail": "No Project matches the given query."}


def test_unknown_path_is_404_and_unsupported_methods_are_405(client: httpx.Client) -> None:
    assert client.get("/nope/").status_code == 404
    deleted = client.delete(P123)
    assert deleted.status_code == 405
    assert deleted.json() == {"detail": 'Method "DELETE" not allowed.'}
    assert client.post("/user/v1/projects/", json={"name": "x"}).status_code == 405


# -- PATCH ------------------------------------------------------------------------------------


def test_patch_changes_only_the_sent_fields_and_returns_the_new_view(
    emu: RunningEmulator, client: httpx.Client
) -> None:
    before = emu.state.project(123)
    response = client.patch(P123, json={"outbound_timeout": 450, "notify_cron_success": True})
    assert response.status_code == 200
    body = response.json()
    assert body == client.get(P123).json()
    assert body["outbound_timeout"] == 450
    assert body["notify_cron_success"] is True
    expected = {**before, "outbound_timeout": 450, "notify_cron_success": True}
    assert without_updated_at(body) == without_updated_at(expected)
    assert body["updated_at"] != before["updated_at"]


def test_patch_stores_values_of_every_kind(emu: RunningEmulator, client: httpx.Client) -> None:
    period = {
        "time_zone": "UTC",
        "time_periods": [{"start_time": "08:00", "end_time": "09:00", "time_frame": 5}],
    }
    sent = {
        "sample_rate": 0,
        "frequent_calls_threshold": 2**31 - 1,
        "frequent_calls_cooldown": -(2**31),
        "webhook_url": None,
        "daily_report_dashboard_ids": [1, 2],
        "no_calls_notify_time_period": period,
        "timezone": "Europe/Paris",
        "is_deleted": True,
    }
    response = client.patch(P123, json=sent)
    assert response.status_code == 200, response.text
    project = emu.state.project(123)
    assert {k: project[k] for k in sent} == {**sent, "sample_rate": 0.0}
    assert isinstance(project["sample_rate"], float)
    assert client.patch(P123, json={"webhook_url": ""}).json()["webhook_url"] == ""


def test_patch_ignores_unknown_fields(emu: RunningEmulator, client: httpx.Client) -> None:
    response = client.patch(P123, json={"no_such_field": 1, "vapi_public_key": "p", "name": "Renamed"})
    assert response.status_code == 200
    body = response.json()
    assert "no_such_field" not in body
    assert "vapi_public_key" not in body
    assert body["name"] == "Renamed"
    assert body["vapi_public_key_configured"] == "false"
    assert "no_such_field" not in emu.state.project(123)


def test_patch_ignores_read_only_fields(emu: RunningEmulator, client: httpx.Client) -> None:
    before = emu.state.project(123)
    response = client.patch(
        P123,
        json={
            "id": 999,
            "created_at": "2000-01-01T00:00:00Z",
            "updated_at": "2000-01-01T00:00:00Z",
            "members": [],
            "organization": {"id": 1, "name": "Other"},
            "organization_id": 1,
            "vapi_api_key_configured": False,
            "retell_api_key_configured": True,
            "webhook_secret_configured": True,
            "vapi_public_key_configured": True,
        },
    )
    assert response.status_code == 200
    after = response.json()
    assert without_updated_at(after) == without_updated_at(before)
    assert after["updated_at"] != "2000-01-01T00:00:00Z"
    assert after["vapi_api_key_configured"] == "true"
    assert after["retell_api_key_configured"] == "false"
    assert after["vapi_public_key_configured"] == "false"
    assert client.get("/user/v1/projects/999/").status_code == 404


def test_an_empty_patch_changes_nothing(emu: RunningEmulator, client: httpx.Client) -> None:
    before = emu.state.project(123)
    for response in (client.patch(P123, json={}), client.patch(P123)):
        assert response.status_code == 200, response.text
        assert without_updated_at(response.json()) == without_updated_at(before)


def test_secrets_are_write_only(emu: RunningEmulator, anon: httpx.Client, client: httpx.Client) -> None:
    secret = "retell-rotated-s3cr3t-value-77"
    assert client.get(P123).json()["retell_api_key_configured"] == "false"
    patched = client.patch(P123, json={"retell_api_key": secret})
    assert patched.status_code == 200
    assert secret not in patched.text
    assert "retell_api_key" not in patched.json()
    got = client.get(P123)
    assert got.json()["retell_api_key_configured"] == "true"
    assert secret not in got.text
    assert secret not in client.get("/user/v1/projects/").text
    assert secret not in anon.get("/_emulator/projects/123").text
    assert secret not in json.dumps(emu.state.project(123))
    assert emu.state.stored_secret(123, "retell_api_key") == secret
    assert emu.state.stored_secret(123, "vapi_api_key") == "vapi-demo-not-a-real-key-123"
    assert emu.state.stored_secret(124, "retell_api_key") == "retell-demo-not-a-real-key-124"
    assert emu.state.stored_secret(123, "pipecat_api_key") is None


def test_a_secret_must_be_a_string(emu: RunningEmulator, client: httpx.Client) -> None:
    response = client.patch(P124, json={"vapi_api_key": 12345})
    assert response.status_code == 400
    assert response.json() == {"vapi_api_key": ["Not a valid string."]}
    assert emu.state.stored_secret(124, "vapi_api_key") is None


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("notify_cron_success", "maybe", "Must be a valid boolean."),
        ("end_call_enabled", None, "Must be a valid boolean."),
        ("outbound_timeout", "1.5", "A valid integer is required."),
        ("max_call_duration", 1.5, "A valid integer is required."),
        ("min_call_duration", True, "A valid integer is required."),
        ("sample_rate", 1.5, "Ensure this value is less than or equal to 1.0."),
        ("sample_rate", -0.1, "Ensure this value is greater than or equal to 0.0."),
        ("sample_rate", "abc", "A valid number is required."),
        ("frequent_calls_threshold", 2**31, "Ensure this value is less than or equal to 2147483647."),
        (
            "frequent_calls_cooldown",
            -(2**31) - 1,
            "Ensure this value is greater than or equal to -2147483648.",
        ),
        ("webhook_url", "not a url", "Enter a valid URL."),
        ("webhook_url", "ftp://example.com/hook", "Enter a valid URL."),
        ("daily_report_dashboard_ids", "17", 'Expected a list of items but got type "str".'),
        ("daily_report_dashboard_ids", [1, "x"], "A valid integer is required."),
        ("name", "   ", "This field may not be blank."),
        ("timezone", 5, "Not a valid string."),
        ("no_calls_notify_time_period", "daily", "Value must be valid JSON."),
    ],
)
def test_a_wrong_type_is_a_drf_400_and_changes_nothing(
    emu: RunningEmulator, client: httpx.Client, field: str, value: Any, message: str
) -> None:
    before = emu.state.project(123)
    response = client.patch(P123, json={field: value})
    assert response.status_code == 400
    assert response.json() == {field: [message]}
    assert emu.state.project(123) == before


def test_a_bad_field_among_good_ones_changes_none(emu: RunningEmulator, client: httpx.Client) -> None:
    before = emu.state.project(123)
    response = client.patch(
        P123,
        json={
            "outbound_timeout": 999,
            "name": "Should not stick",
            "retell_api_key": "should-not-be-stored",
            "rubric_config": {},
            "sample_rate": 2,
            "notify_cron_failure": "nope",
        },
    )
    assert response.status_code == 400
    assert response.json() == {
        "sample_rate": ["Ensure this value is less than or equal to 1.0."],
        "notify_cron_failure": ["Must be a valid boolean."],
    }
    assert emu.state.project(123) == before
    assert emu.state.stored_secret(123, "retell_api_key") is None


def test_a_body_that_is_not_an_object_is_a_400(client: httpx.Client) -> None:
    listed = client.patch(P123, json=[1, 2])
    assert listed.status_code == 400
    assert listed.json() == {"non_field_errors": ["Invalid data. Expected a dictionary, but got list."]}
    garbled = client.patch(P123, content=b"{not json", headers={"Content-Type": "application/json"})
    assert garbled.status_code == 400
    assert garbled.json()["detail"].startswith("JSON parse error")


# -- rubric_config ----------------------------------------------------------------------------


def assert_rubric_rejected(
    emu: RunningEmulator, client: httpx.Client, project_id: int, value: Any, *words: str
) -> str:
    before = emu.state.project(project_id)
    response = client.patch(f"/user/v1/projects/{project_id}/", json={"rubric_config": value})
    assert response.status_code == 400, response.text
    body = response.json()
    assert list(body) == ["rubric_config"]
    [message] = body["rubric_config"]
    for word in words:
        assert word in message
    assert emu.state.project(project_id) == before
    return str(message)


def test_an_unknown_metric_id_is_rejected_by_name(emu: RunningEmulator, client: httpx.Client) -> None:
    value = rubric(rule(115164, "score", "eq", 5), rule(424242, "score", "gte", 4))
    message = assert_rubric_rejected(emu, client, 123, value, "424242")
    assert "rules[1]" in message
    assert emu.state.project(123)["rubric_config"] == SEED_RUBRIC_123


def test_a_metric_of_another_project_is_rejected(emu: RunningEmulator, client: httpx.Client) -> None:
    assert_rubric_rejected(emu, client, 123, rubric(rule(61316, "score", "eq", 5)), "61316")
    assert_rubric_rejected(emu, client, 124, rubric(rule(9101, "score", "eq", 5)), "9101")


@pytest.mark.parametrize("logic", ["or", "AND", ""])
def test_evaluation_logic_must_be_and(emu: RunningEmulator, client: httpx.Client, logic: str) -> None:
    assert_rubric_rejected(emu, client, 123, rubric(rule(115164, "score", "eq", 5), logic=logic), '"and"')


def test_a_missing_evaluation_logic_is_rejected(emu: RunningEmulator, client: httpx.Client) -> None:
    assert_rubric_rejected(emu, client, 123, {"rules": [rule(115164, "score", "eq", 5)]}, '"and"')


@pytest.mark.parametrize(
    ("metric_id", "field", "op", "value", "words"),
    [
        (115164, "score", "gte", 5, ("115164", "eq or neq")),
        (115164, "score", "eq", 3, ("115164", "5/0")),
        (115164, "score", "eq", 1, ("115164", "5/0")),
        (115164, "enum", "eq", 5, ("115164", "eq or neq")),
        (7002, "score", "lt", 5, ("7002",)),
        (5512, "score", "in", [4, 5], ("5512",)),
        (5512, "score", "gte", "4", ("5512", "number")),
        (5512, "score", "gte", True, ("5512", "number")),
        (8821, "enum", "eq", "maybe", ("8821", "'maybe'")),
        (8821, "enum", "in", ["resolved", "bogus"], ("8821", "'bogus'")),
        (8821, "enum", "in", "resolved", ("8821",)),
        (8821, "enum", "eq", ["resolved"], ("8821",)),
        (8821, "enum", "in", [["resolved"]], ("8821",)),
        (8821, "score", "eq", "resolved", ("8821",)),
        (7003, "enum", "eq", "weather", ("7003", "'weather'")),
    ],
)
def test_a_condition_that_does_not_fit_the_metric_is_rejected(
    emu: RunningEmulator,
    client: httpx.Client,
    metric_id: int,
    field: str,
    op: str,
    value: Any,
    words: tuple[str, ...],
) -> None:
    assert_rubric_rejected(emu, client, 123, rubric(rule(metric_id, field, op, value)), *words)


@pytest.mark.parametrize(
    "value",
    [
        "and",
        {"evaluation_logic": "and", "rules": {}},
        {"evaluation_logic": "and", "rules": ["x"]},
        {"evaluation_logic": "and", "rules": [{"metric_id": 115164}]},
        {"evaluation_logic": "and", "rules": [{"metric_id": "115164", "conditions": {}}]},
        {
            "evaluation_logic": "and",
            "rules": [{"metric_id": 115164, "conditions": {"operator": "or", "conditions": []}}],
        },
    ],
)
def test_a_malformed_rubric_is_rejected(emu: RunningEmulator, client: httpx.Client, value: Any) -> None:
    assert_rubric_rejected(emu, client, 123, value)


def test_a_valid_rubric_is_stored_as_sent(emu: RunningEmulator, client: httpx.Client) -> None:
    # A metric of an eval_type the spec does not list (not in the seed): its rules are not checked.
    emu.state.add_metric(id=7004, project=123, name="Politeness", eval_type="sentiment_v2")
    value = rubric(
        rule(115164, "score", "eq", True),
        rule(7002, "score", "neq", 0),
        rule(5512, "score", "gte", 3.5),
        rule(7001, "score", "lte", 2),
        rule(8821, "enum", "eq", "resolved"),
        rule(7003, "enum", "in", ["billing", "insurance"]),
        rule(7004, "score", "gt", 2),
    )
    response = client.patch(P123, json={"rubric_config": value})
    assert response.status_code == 200, response.text
    assert response.json()["rubric_config"] == value
    assert emu.state.project(123)["rubric_config"] == value


def test_an_agent_scoped_metric_is_accepted_in_its_agents_project(
    emu: RunningEmulator, client: httpx.Client
) -> None:
    value = rubric(rule(9101, "score", "eq", 5))
    response = client.patch(P123, json={"rubric_config": value})
    assert response.status_code == 200, response.text
    assert emu.state.project(123)["rubric_config"] == value


def test_an_empty_object_clears_the_rubric(emu: RunningEmulator, client: httpx.Client) -> None:
    response = client.patch(P123, json={"rubric_config": {}})
    assert response.status_code == 200
    assert response.json()["rubric_config"] == {}
    assert emu.state.project(123)["rubric_config"] == {}


# -- metrics ----------------------------------------------------------------------------------


def test_metrics_filter_by_project_as_a_plain_array(client: httpx.Client) -> None:
    response = client.get(METRICS, params={"project_id": "123"})
    assert response.status_code == 200
    body = response.json()
    assert isinstance(body, list)
    assert {m["id"] for m in body} == {5512, 115164, 8821, 7001, 7002, 7003}
    assert {m["eval_type"] for m in body} == {"binary", "continuous_qualitative", "numeric", "enum"}
    assert all(m["project"] == 123 for m in body)
    by_id = {m["id"]: m for m in body}
    assert by_id[8821]["enum_values"] == ["resolved", "partially_resolved", "unresolved"]
    assert by_id[115164]["eval_type"] == "binary"
    assert {m["id"] for m in client.get(METRICS, params={"project_id": "125"}).json()} == {
        61315,
        61316,
        61317,
        61318,
        61319,
    }
    assert client.get(METRICS, params={"project_id": "999"}).json() == []


def test_metrics_filter_by_agent(client: httpx.Client) -> None:
    body = client.get(METRICS, params={"agent_id": "301"}).json()
    assert isinstance(body, list)
    assert [m["id"] for m in body] == [9101]
    assert body[0]["agents"] == [301]
    assert body[0]["project"] is None
    assert client.get(METRICS, params={"agent_id": "302"}).json() == []
    assert client.get(METRICS, params={"project_id": "123", "agent_id": "301"}).json() == []


def test_metrics_unfiltered_and_by_id(client: httpx.Client) -> None:
    everything = client.get(METRICS).json()
    assert isinstance(everything, list)
    assert len(everything) == len(default_seed()["metrics"])
    one = client.get(METRICS + "9101/")
    assert one.status_code == 200
    assert one.json()["name"] == "Greeting Compliance"
    assert client.get(METRICS + "1/").status_code == 404
    bad = client.get(METRICS, params={"project_id": "abc"})
    assert bad.status_code == 400
    assert bad.json() == {"project_id": ["A valid integer is required."]}


# -- agents -----------------------------------------------------------------------------------


def test_agents_are_paginated_by_ten_with_absolute_next_links(
    emu: RunningEmulator, client: httpx.Client
) -> None:
    pages = follow(client, AGENTS, {"project_id": "123"})
    assert len(pages) == 2
    assert [len(p["results"]) for p in pages] == [10, 2]
    assert {p["count"] for p in pages} == {12}
    assert pages[0]["previous"] is None
    assert pages[1]["previous"] is not None
    first_next = httpx.URL(pages[0]["next"])
    assert str(first_next).startswith(emu.base_url + AGENTS)
    assert first_next.params["project_id"] == "123"
    assert first_next.params["page"] == "2"
    ids = [a["id"] for p in pages for a in p["results"]]
    assert ids == list(range(301, 313))
    assert all(a["project"] == 123 for p in pages for a in p["results"])


def test_agents_of_a_small_project_fit_one_page(client: httpx.Client) -> None:
    page = client.get(AGENTS, params={"project_id": "124"}).json()
    assert page["count"] == 2
    assert page["next"] is None
    assert [a["id"] for a in page["results"]] == [401, 402]
    everyone = follow(client, AGENTS)
    assert everyone[0]["count"] == 16
    assert sum(len(p["results"]) for p in everyone) == 16


@pytest.mark.parametrize("page", ["3", "0", "-1"])
def test_a_page_past_the_end_is_404(client: httpx.Client, page: str) -> None:
    response = client.get(AGENTS, params={"project_id": "123", "page": page})
    assert response.status_code == 404
    assert response.json() == {"detail": "Invalid page."}


# -- call logs --------------------------------------------------------------------------------


def all_calls(client: httpx.Client, params: dict[str, str]) -> tuple[int, list[dict[str, Any]]]:
    pages = follow(client, CALLS, params)
    counts = {p["count"] for p in pages}
    assert len(counts) == 1
    return counts.pop(), [c for p in pages for c in p["results"]]


WINDOW = {
    "project_id": "123",
    "timestamp_from": "2026-10-29T12:00:00Z",
    "timestamp_to": "2026-11-28T12:00:00Z",
    "page_size": "40",
}


def test_call_logs_are_paginated_and_filtered_by_window(client: httpx.Client) -> None:
    count, calls = all_calls(client, WINDOW)
    assert count == len(calls) == 300  # the seed spreads 300 calls over the 30 days before "now"
    assert len({c["id"] for c in calls}) == 300
    timestamps = [c["timestamp"] for c in calls]
    assert timestamps == sorted(timestamps, reverse=True)
    week = {
        "project_id": "123",
        "timestamp_from": "2026-11-21T12:00:00Z",
        "timestamp_to": "2026-11-28T12:00:00Z",
    }
    week_count, week_calls = all_calls(client, week)
    assert week_count == len(week_calls)
    assert 0 < week_count < 300
    assert all("2026-11-21T12:00:00Z" <= c["timestamp"] <= "2026-11-28T12:00:00Z" for c in week_calls)
    assert week_calls == [c for c in calls if c["timestamp"] >= "2026-11-21T12:00:00Z"]
    default_count, _ = all_calls(client, {"project_id": "123"})  # the default window: the last 30 days
    assert default_count == 300


def test_call_logs_carry_metric_results_of_the_project_and_its_agents(client: httpx.Client) -> None:
    _, calls = all_calls(client, WINDOW)
    project_metrics = {5512, 115164, 8821, 7001, 7002, 7003}
    for call in calls:
        ids = {m["id"] for m in call["metrics"]}
        assert ids <= project_metrics | {9101}
        if 9101 in ids:
            assert call["agent"] == 301
        assert 301 <= call["agent"] <= 312
    assert any(9101 in {m["id"] for m in c["metrics"]} for c in calls)


def test_call_logs_are_deterministic_across_emulators(client: httpx.Client) -> None:
    _, first = all_calls(client, WINDOW)
    with (
        start(EmulatorState(api_key="other")) as other,
        make_client(other.base_url, key="other") as other_client,
    ):
        _, second = all_calls(other_client, WINDOW)
    assert first == second


def test_call_logs_refuse_a_window_over_33_days(client: httpx.Client) -> None:
    too_long = {**WINDOW, "timestamp_from": "2026-10-26T11:59:59Z"}
    response = client.get(CALLS, params=too_long)
    assert response.status_code == 400
    assert "33 days" in response.json()["detail"]
    exactly = {**WINDOW, "timestamp_from": "2026-10-26T12:00:00Z"}
    assert client.get(CALLS, params=exactly).status_code == 200


def test_call_logs_need_a_known_project_and_valid_times(client: httpx.Client) -> None:
    for params in ({}, {"project_id": "999"}):
        response = client.get(CALLS, params=params)
        assert response.status_code == 400
        assert response.json() == {"project_id": ["A valid project_id is required."]}
    bad_time = client.get(CALLS, params={"project_id": "123", "timestamp_from": "yesterday"})
    assert bad_time.status_code == 400
    assert bad_time.json() == {"timestamp_from": ["Enter a valid date/time."]}


@pytest.mark.parametrize("size", ["0", "-5", "x5"])
def test_a_bad_page_size_falls_back_or_is_rejected(client: httpx.Client, size: str) -> None:
    response = client.get(CALLS, params={**WINDOW, "page_size": size})
    if size == "x5":
        assert response.status_code == 400
        return
    assert response.status_code == 200
    page = response.json()
    assert len(page["results"]) == 50
    assert page["next"] is not None
    count, calls = all_calls(client, {**WINDOW, "page_size": size})
    assert count == len(calls) == 300


def test_set_call_logs_serves_a_snapshot_newest_first_with_both_window_ends(
    emu: RunningEmulator, client: httpx.Client
) -> None:
    """Calls given with set_call_logs are held as given then (serialized once, not the caller's
    objects), newest first (ties: the higher id first), and a window includes both of its ends."""
    days = (3, 28, 10, 10, 1, 27)
    calls: list[dict[str, Any]] = [
        {"id": n, "timestamp": f"2026-11-{day:02d}T12:00:00Z", "metrics": [{"id": 5512, "score": n}]}
        for n, day in enumerate(days, start=1)
    ]
    emu.state.set_call_logs(123, calls)
    calls[0]["metrics"][0]["score"] = 99  # edits of the caller's objects afterwards are not seen
    calls.append({"id": 7, "timestamp": "2026-11-15T12:00:00Z", "metrics": []})
    window = {
        "project_id": "123",
        "timestamp_from": "2026-11-03T12:00:00Z",
        "timestamp_to": "2026-11-27T12:00:00Z",
        "page_size": "2",
    }
    count, got = all_calls(client, window)
    assert count == 4
    assert [c["id"] for c in got] == [6, 4, 3, 1]
    assert got[-1] == {"id": 1, "timestamp": "2026-11-03T12:00:00Z", "metrics": [{"id": 5512, "score": 1}]}
    with pytest.raises(ValueError, match="timestamp"):
        emu.state.set_call_logs(123, [{"id": 1, "timestamp": "yesterday"}])


def test_many_clients_queue_while_the_emulator_is_busy() -> None:
    """At --parallelism 64 connections arrive faster than one thread accepts them; the kernel must
    queue them all. With socketserver's listen backlog of 5, the rest waited for SYN retries (1 s,
    3 s, 7 s...) or failed. The server here listens but accepts nothing, so none is ever taken off
    the queue: without room for all of them, some never connect however long we wait."""
    import select
    import socket

    from reconciler.emulator import _Server

    server = _Server(0, EmulatorState(api_key=KEY))
    host, port = server.server_address[:2]
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(100)]
    try:
        for sock in sockets:
            sock.setblocking(False)
            sock.connect_ex((str(host), int(port)))
        connected: set[socket.socket] = set()
        deadline = time.monotonic() + 3
        while len(connected) < len(sockets) and time.monotonic() < deadline:
            _, writable, _ = select.select([], [s for s in sockets if s not in connected], [], 0.1)
            connected.update(s for s in writable if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0)
        assert len(connected) == len(sockets)
    finally:
        for sock in sockets:
            sock.close()
        server.server_close()


def test_metric_lists_follow_creates_and_deletes(emu: RunningEmulator, client: httpx.Client) -> None:
    """The metrics are indexed by project and agent; every list answers what a scan would."""
    v2 = "/test_framework/v2/metrics/"
    made = client.post(v2, json={"project": 124, "name": "Polite", "eval_type": "binary"}).json()
    scoped = client.post(v2, json={"agent": 301, "name": "Greets", "eval_type": "binary"}).json()
    assert client.delete(f"{v2}{made['id']}/").status_code == 204
    again = client.post(v2, json={"project": 124, "name": "Kind", "eval_type": "binary"}).json()
    everything = emu.state.metrics
    for params in ({"project_id": "124"}, {"project_id": "123"}, {"agent_id": "301"}, {}):
        answer = [m["id"] for m in client.get(v2, params=params).json()]
        scan = [
            m["id"]
            for m in everything
            if ("project_id" not in params or m.get("project") == int(params["project_id"]))
            and ("agent_id" not in params or int(params["agent_id"]) in (m.get("agents") or []))
        ]
        assert answer == scan
    assert again["id"] in [m["id"] for m in client.get(v2, params={"project_id": "124"}).json()]
    assert made["id"] not in [m["id"] for m in everything]
    # An agent-scoped metric belongs to its agent's project: a rubric rule of project 123 may name it.
    rules = rubric(rule(scoped["id"], "score", "eq", True))
    assert client.patch(P123, json={"rubric_config": rules}).status_code == 200
    assert client.patch(P124, json={"rubric_config": rules}).status_code == 400


# -- the request log --------------------------------------------------------------------------


def test_requests_are_recorded_and_can_be_cleared(
    emu: RunningEmulator, anon: httpx.Client, client: httpx.Client
) -> None:
    client.get(METRICS, params={"project_id": "123"})
    client.patch(P123, json={"name": "Logged"})
    anon.get("/_emulator/requests")  # admin requests are not recorded
    requests = emu.state.requests
    assert [(r.method, r.path) for r in requests] == [("GET", METRICS), ("PATCH", P123)]
    assert requests[0].query == {"project_id": ["123"]}
    assert requests[0].body == b""
    assert requests[0].json is None
    assert requests[1].query == {}
    assert requests[1].json == {"name": "Logged"}
    assert requests[1].headers["x-cekura-api-key"] == KEY
    assert emu.state.patches() == [requests[1]]
    assert emu.state.requests_to("GET", "/test_framework/") == [requests[0]]
    assert emu.state.requests_to("GET", "/user/") == []
    emu.state.clear_requests()
    assert emu.state.requests == []


def test_rejected_requests_are_recorded_too(emu: RunningEmulator, anon: httpx.Client) -> None:
    anon.patch(P123, json={"name": "x"})
    [recorded] = emu.state.requests
    assert (recorded.method, recorded.path, recorded.json) == ("PATCH", P123, {"name": "x"})
    assert "x-cekura-api-key" not in recorded.headers


# -- faults -----------------------------------------------------------------------------------


def test_a_latency_fault_delays_a_correct_answer(emu: RunningEmulator, client: httpx.Client) -> None:
    emu.state.add_fault(Fault("latency", seconds=0.15, path=P123))
    started = time.monotonic()
    response = client.get(P123)
    assert time.monotonic() - started >= 0.15
    assert response.status_code == 200
    assert response.json() == emu.state.project(123)
    assert emu.state.faults == []


def test_a_429_fault_carries_retry_after_and_changes_nothing(
    emu: RunningEmulator, client: httpx.Client
) -> None:
    before = emu.state.project(123)
    emu.state.add_fault(Fault("status", status=429, retry_after=2))
    response = client.patch(P123, json={"name": "not applied"})
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "2"
    assert response.json() == {"detail": "Injected fault."}
    assert emu.state.project(123) == before
    assert client.get(P123).status_code == 200  # times=1: spent


def test_a_503_fault_has_no_retry_after_by_default(emu: RunningEmulator, client: httpx.Client) -> None:
    emu.state.add_fault(Fault("status"))
    response = client.get(P123)
    assert response.status_code == 503
    assert "Retry-After" not in response.headers
    emu.state.add_fault(Fault("status", retry_after=0.5))
    assert client.get(P123).headers["Retry-After"] == "0.5"


def test_a_drop_fault_closes_the_connection_and_changes_nothing(
    emu: RunningEmulator, client: httpx.Client
) -> None:
    before = emu.state.project(123)
    emu.state.add_fault(Fault("drop", method="PATCH"))
    with pytest.raises(httpx.RemoteProtocolError):
        client.patch(P123, json={"name": "dropped"})
    assert emu.state.project(123) == before
    assert [r.method for r in emu.state.requests] == ["PATCH"]
    assert client.get(P123).json()["name"] == "Support line QA"


def test_a_timeout_after_write_applies_the_patch(emu: RunningEmulator, client: httpx.Client) -> None:
    emu.state.add_fault(Fault("timeout_after_write", method="PATCH", seconds=1.0))
    with pytest.raises(httpx.ReadTimeout):
        client.patch(P123, json={"outbound_timeout": 777}, timeout=0.2)
    # The write happens before the server starts holding the connection; allow a starved thread.
    deadline = time.monotonic() + 2
    while emu.state.project(123)["outbound_timeout"] != 777 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert emu.state.project(123)["outbound_timeout"] == 777
    assert [r.json for r in emu.state.patches()] == [{"outbound_timeout": 777}]
    assert client.get(P123).json()["outbound_timeout"] == 777


def test_a_malformed_fault_answers_200_with_a_body_that_is_not_json(
    emu: RunningEmulator, client: httpx.Client
) -> None:
    emu.state.add_fault(Fault("malformed"))
    response = client.get(P123)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/html"
    with pytest.raises(json.JSONDecodeError):
        response.json()
    assert client.get(P123).json()["id"] == 123


def test_a_truncated_fault_cuts_the_body_short(emu: RunningEmulator, client: httpx.Client) -> None:
    emu.state.add_fault(Fault("truncated"))
    with pytest.raises(httpx.RemoteProtocolError):
        client.get(P123)
    assert client.get(P123).json()["id"] == 123


def test_fault_times_are_counted(emu: RunningEmulator, client: httpx.Client) -> None:
    fault = emu.state.add_fault(Fault("status", status=502, times=2))
    assert [client.get(P123).status_code for _ in range(3)] == [502, 502, 200]
    assert fault.hits == 2
    assert emu.state.faults == []
    forever = emu.state.add_fault(Fault("status", status=500, times=0))
    assert [client.get(P123).status_code for _ in range(3)] == [500, 500, 500]
    assert forever.hits == 3
    assert emu.state.faults == [forever]


def test_faults_match_method_and_path_prefix(emu: RunningEmulator, client: httpx.Client) -> None:
    emu.state.add_fault(Fault("status", method="patch", path=P123))
    assert client.get(P123).status_code == 200
    assert client.patch(P124, json={}).status_code == 200
    assert client.patch(P123, json={}).status_code == 503
    emu.state.add_fault(Fault("status", status=429, path="/test_framework/", times=2))
    assert client.get(P123).status_code == 200
    assert client.get(METRICS).status_code == 429
    assert client.get(AGENTS).status_code == 429
    assert client.get(METRICS).status_code == 200


def test_an_unknown_fault_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown fault kind 'explode'"):
        Fault("explode")


# -- admin endpoints --------------------------------------------------------------------------


def test_admin_requests_endpoint_lists_and_clears(
    emu: RunningEmulator, anon: httpx.Client, client: httpx.Client
) -> None:
    client.patch(P123, json={"name": "Admin seen"}, params={"x": "1"})
    listed = anon.get("/_emulator/requests")
    assert listed.status_code == 200
    [entry] = listed.json()
    assert entry["method"] == "PATCH"
    assert entry["path"] == P123
    assert entry["query"] == {"x": ["1"]}
    assert json.loads(entry["body"]) == {"name": "Admin seen"}
    assert entry["headers"]["x-cekura-api-key"] == KEY
    assert anon.delete("/_emulator/requests").status_code == 200
    assert emu.state.requests == []
    assert anon.get("/_emulator/requests").json() == []


def test_admin_faults_endpoint_adds_and_clears(
    emu: RunningEmulator, anon: httpx.Client, client: httpx.Client
) -> None:
    added = anon.post(
        "/_emulator/faults",
        json={"kind": "status", "status": 429, "retry_after": 1, "path": P123, "times": 0},
    )
    assert added.status_code == 200
    [fault] = emu.state.faults
    assert (fault.kind, fault.status, fault.path, fault.times) == ("status", 429, P123, 0)
    response = client.get(P123)
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "1"
    assert anon.delete("/_emulator/faults").status_code == 200
    assert emu.state.faults == []
    assert client.get(P123).status_code == 200


@pytest.mark.parametrize(
    "payload", [b'{"kind": "explode"}', b'{"kind": "drop", "colour": "red"}', b"[1]", b"{nope"]
)
def test_admin_faults_endpoint_refuses_bad_faults(
    emu: RunningEmulator, anon: httpx.Client, payload: bytes
) -> None:
    response = anon.post("/_emulator/faults", content=payload)
    assert response.status_code == 400
    assert response.json()["detail"]
    assert emu.state.faults == []


def test_admin_project_endpoint_reads_and_edits(
    emu: RunningEmulator, anon: httpx.Client, client: httpx.Client
) -> None:
    read = anon.get("/_emulator/projects/125")
    assert read.status_code == 200
    assert read.json() == emu.state.project(125)
    for secret in SEED_SECRETS:
        assert secret not in read.text
    edited = anon.patch(
        "/_emulator/projects/123",
        json={"name": "Edited in the UI", "sample_rate": 0.3, "webhook_secret": "whsec-ui"},
    )
    assert edited.status_code == 200
    body = client.get(P123).json()
    assert (body["name"], body["sample_rate"], body["webhook_secret_configured"]) == (
        "Edited in the UI",
        0.3,
        "true",
    )
    assert emu.state.stored_secret(123, "webhook_secret") == "whsec-ui"
    assert emu.state.requests_to("PATCH") == []  # an out-of-band edit is not an API request


def test_admin_endpoints_answer_404_for_unknown_things(anon: httpx.Client) -> None:
    assert anon.get("/_emulator/projects/999").status_code == 404
    assert anon.patch("/_emulator/projects/999", json={"name": "x"}).status_code == 404
    assert anon.get("/_emulator/nothing").status_code == 404
    assert anon.post("/_emulator/requests").status_code == 404


# -- seeds and out-of-band edits --------------------------------------------------------------


def test_a_minimal_seed_project_gets_the_full_default_shape(tmp_path: Path) -> None:
    path = tmp_path / "seed.json"
    path.write_text(json.dumps({"projects": [{"id": 1, "name": "x", "vapi_api_key": "seeded-key"}]}))
    state = EmulatorState(load_seed(path), api_key=KEY)
    with (
        start(state) as running,
        make_client(running.base_url) as client,
    ):
        response = client.get("/user/v1/projects/1/")
        assert response.status_code == 200
        body = response.json()
        assert body == {**project_defaults(), "id": 1, "name": "x", "vapi_api_key_configured": "true"}
        assert "seeded-key" not in response.text
        assert client.get(METRICS, params={"project_id": "1"}).json() == []
        assert client.get(AGENTS, params={"project_id": "1"}).json()["count"] == 0
        assert client.get("/user/v1/projects/123/").status_code == 404
    assert state.stored_secret(1, "vapi_api_key") == "seeded-key"


def test_load_seed_refuses_bad_files(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cannot read seed file"):
        load_seed(tmp_path / "missing.json")
    garbled = tmp_path / "garbled.json"
    garbled.write_text("{")
    with pytest.raises(ValueError, match="cannot read seed file"):
        load_seed(garbled)
    wrong = tmp_path / "wrong.json"
    wrong.write_text('{"projects": {}}')
    with pytest.raises(ValueError, match="'projects' list"):
        load_seed(wrong)


def test_set_project_fields_simulates_an_out_of_band_edit(emu: RunningEmulator, client: httpx.Client) -> None:
    period = {"time_zone": "UTC", "time_periods": []}
    emu.state.set_project_fields(123, notify_no_calls=False, no_calls_notify_time_period=period)
    emu.state.set_project_fields(124, vapi_api_key="oob-key")
    period["time_zone"] = "mutated after the edit"
    body = client.get(P123).json()
    assert body["notify_no_calls"] is False
    assert body["no_calls_notify_time_period"] == {"time_zone": "UTC", "time_periods": []}
    assert client.get(P124).json()["vapi_api_key_configured"] == "true"
    assert emu.state.stored_secret(124, "vapi_api_key") == "oob-key"
    assert emu.state.requests_to("PATCH") == []


def test_state_project_is_a_copy(emu: RunningEmulator) -> None:
    copy_ = emu.state.project(123)
    copy_["name"] = "changed in the copy"
    copy_["rubric_config"]["rules"].clear()
    assert emu.state.project(123)["name"] == "Support line QA"
    assert emu.state.project(123)["rubric_config"] == SEED_RUBRIC_123
    assert emu.state.project_ids() == [123, 124, 125]
