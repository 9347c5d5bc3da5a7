"""The emulator against the spec: every answer it gives on an endpoint the spec slice documents
validates against that endpoint's response schema, so the emulator cannot drift from the spec
silently (and the tests that run against it cannot pass on a shared wrong belief).

The slice is ``docs/reference/cekura-openapi-slice.json`` (OpenAPI 3.1). Its ``$ref``s are resolved
into ``components/schemas`` with a ``referencing`` registry. Two OpenAPI 3.0 idioms its generator
still writes are read as the generator means them, and nothing else is relaxed: ``nullable: true``
allows ``null``, and ``oneOf: [{}, {"type": "null"}]`` ("any value, or null", which as JSON Schema
accepts no null at all) allows anything.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from jsonschema import Draft202012Validator  # type: ignore[import-untyped, unused-ignore]
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from reconciler.emulator import ROUTES, ApiKey, EmulatorState, RunningEmulator, start

SLICE = Path(__file__).resolve().parents[1] / "docs" / "reference" / "cekura-openapi-slice.json"
SLICE_URI = "urn:cekura:openapi-slice"
KEY = "contract-key"
PROJECTS = (123, 124, 125)


def _as_json_schema(node: Any) -> Any:
    """The slice's schemas as plain JSON Schema 2020-12 (the two generator idioms above)."""
    if isinstance(node, list):
        return [_as_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    if node.get("oneOf") == [{}, {"type": "null"}]:
        return {k: _as_json_schema(v) for k, v in node.items() if k != "oneOf"}
    out = {k: _as_json_schema(v) for k, v in node.items() if k != "nullable"}
    if node.get("nullable") is True:
        return {"anyOf": [out, {"type": "null"}]}
    return out


@cache
def spec() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(SLICE.read_text(encoding="utf-8"))
    return loaded


@cache
def registry() -> Registry[Any]:
    resource: Resource[Any] = Resource.from_contents(
        _as_json_schema(spec()), default_specification=DRAFT202012
    )
    empty: Registry[Any] = Registry()
    registered: Registry[Any] = empty.with_resource(SLICE_URI, resource)
    return registered


def response_validator(method: str, path: str, status: int) -> Draft202012Validator:
    """A validator for the JSON answer the slice documents for ``method path`` with ``status``."""
    operation = spec()["paths"][path][method.lower()]
    assert "application/json" in operation["responses"][str(status)]["content"], (method, path, status)
    escaped = path.replace("~", "~0").replace("/", "~1")
    parts = ("paths", escaped, method.lower(), "responses", str(status), "content", "application~1json")
    pointer = "/" + "/".join((*parts, "schema"))
    return Draft202012Validator({"$ref": f"{SLICE_URI}#{quote(pointer)}"}, registry=registry())


CHECKED: set[tuple[str, str]] = set()
RAN: set[str] = set()  # the tests of this module run in this process (xdist spreads them over workers)


@pytest.fixture(autouse=True)
def _record_run(request: pytest.FixtureRequest) -> None:
    RAN.add(request.node.name.split("[")[0])


def check(response: httpx.Response, method: str, path: str, status: int = 200) -> Any:
    """Assert the answer has ``status`` and validates against the spec; returns its JSON."""
    assert response.status_code == status, response.text
    CHECKED.add((method, path))
    if status == 204:
        assert response.content == b""
        return None
    body = response.json()
    errors = sorted(response_validator(method, path, status).iter_errors(body), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors[:20])
    return body


@pytest.fixture(scope="module")
def emu() -> Iterator[RunningEmulator]:
    with start(EmulatorState(api_key=KEY)) as running:
        yield running


@pytest.fixture
def api(emu: RunningEmulator) -> Iterator[httpx.Client]:
    headers = {"X-CEKURA-API-KEY": KEY}
    with httpx.Client(base_url=emu.base_url, headers=headers, timeout=10, trust_env=False) as client:
        yield client


def pages(api: httpx.Client, path: str, params: dict[str, str]) -> Iterator[httpx.Response]:
    response = api.get(path, params=params)
    while True:
        yield response
        following = response.json().get("next")
        if not following:
            return
        response = api.get(following)


def test_the_slice_validates_as_json_schema() -> None:
    for schema in _as_json_schema(spec())["components"]["schemas"].values():
        Draft202012Validator.check_schema(schema)


def test_the_validator_catches_a_wrong_answer(api: httpx.Client) -> None:
    """The check can fail: a project whose sample_rate is text, a metric with a made-up eval_type."""
    body = api.get("/user/v1/projects/123/").json()
    validator = response_validator("GET", "/user/v1/projects/{id}/", 200)
    assert validator.is_valid(body)
    assert not validator.is_valid({**body, "sample_rate": "high"})
    metrics = api.get("/test_framework/v2/metrics/", params={"project_id": "123"}).json()
    listing = response_validator("GET", "/test_framework/v2/metrics/", 200)
    assert listing.is_valid(metrics)
    assert not listing.is_valid([{**metrics[0], "eval_type": "sentiment_v2"}])
    calls = api.get("/observability/v2/call-logs/", params={"project_id": "123"}).json()
    call_list = response_validator("GET", "/observability/v2/call-logs/", 200)
    assert call_list.is_valid(calls)
    broken = json.loads(json.dumps(calls))
    broken["results"][0]["metrics"][0]["score"] = None
    assert not call_list.is_valid(broken)


def test_projects(api: httpx.Client) -> None:
    listed = check(api.get("/user/v1/projects/"), "GET", "/user/v1/projects/")
    assert [p["id"] for p in listed] == list(PROJECTS)
    for project_id in PROJECTS:
        check(api.get(f"/user/v1/projects/{project_id}/"), "GET", "/user/v1/projects/{id}/")
    patched = check(
        api.patch("/user/v1/projects/124/", json={"sample_rate": 0.5}), "PATCH", "/user/v1/projects/{id}/"
    )
    assert patched["sample_rate"] == 0.5


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_metric_lists(api: httpx.Client, version: str) -> None:
    path = f"/test_framework/{version}/metrics/"
    for params in ({"project_id": "123"}, {"project_id": "125"}, {"agent_id": "301"}, {}):
        assert check(api.get(path, params=params), "GET", path)
    check(api.get(f"{path}5512/"), "GET", f"{path}{{id}}/")


def test_metric_create_detail_patch_delete(api: httpx.Client) -> None:
    path, one = "/test_framework/v2/metrics/", "/test_framework/v2/metrics/{id}/"
    created = check(
        api.post(
            path,
            json={
                "project": 124,
                "name": "Was the caller greeted by name",
                "description": "Pass when the agent greets the caller by name.",
                "type": "llm_judge",
                "eval_type": "enum",
                "enum_values": ["yes", "no"],
            },
        ),
        "POST",
        path,
        201,
    )
    url = f"{path}{created['id']}/"
    assert check(api.get(url), "GET", one)["enum_values"] == ["yes", "no"]
    renamed = check(api.patch(url, json={"name": "Greeted by name"}), "PATCH", one)
    assert renamed["name"] == "Greeted by name"
    bad = check(api.post(path, json={"project": 124, "eval_type": "sentiment_v2"}), "POST", path, 400)
    assert set(bad) == {"name"}
    check(api.delete(url), "DELETE", one, 204)
    check(api.get(url), "GET", one, 404)


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_agent_lists_every_page(api: httpx.Client, version: str) -> None:
    path = f"/test_framework/{version}/aiagents/"
    for params in ({"project_id": "123"}, {"project_id": "125"}, {}):
        for response in pages(api, path, params):
            check(response, "GET", path)


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_call_log_lists_every_page_of_every_project(api: httpx.Client, version: str) -> None:
    path = f"/observability/{version}/call-logs/"
    seen = 0
    for project_id in PROJECTS:
        params = {"project_id": str(project_id), "page_size": "100"}
        for response in pages(api, path, params):
            seen += len(check(response, "GET", path)["results"])
    assert seen == 900


def test_scoped_and_retired_answers_are_drf_errors(emu: RunningEmulator) -> None:
    """A 403 and a 410 carry a DRF body (the spec documents their bodies on no list)."""
    emu.state.keys["read-only"] = ApiKey(read_only=True)
    with httpx.Client(base_url=emu.base_url, headers={"X-CEKURA-API-KEY": "read-only"}) as reader:
        refused = reader.patch("/user/v1/projects/123/", json={"sample_rate": 0.5})
        assert refused.status_code == 403
        assert set(refused.json()) == {"detail"}
        emu.state.v1_retired = True
        try:
            gone = reader.get("/observability/v1/call-logs/", params={"project_id": "123"})
        finally:
            emu.state.v1_retired = False
        assert gone.status_code == 410
        assert set(gone.json()) == {"detail"}


def test_every_route_the_emulator_serves_is_documented_and_checked(request: pytest.FixtureRequest) -> None:
    """Runs last in this module: a route added to the emulator without a contract check fails here."""
    documented = {(m.upper(), p) for p, ops in spec()["paths"].items() for m in ops}
    assert set(ROUTES) <= documented, set(ROUTES) - documented
    defined = {name for name in vars(request.module) if name.startswith("test_")}
    if defined != RAN:
        pytest.skip("the coverage of ROUTES is known only when the whole module runs in one process")
    assert set(ROUTES) <= CHECKED, set(ROUTES) - CHECKED
