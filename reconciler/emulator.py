"""A local emulator of the slice of the Cekura API this tool uses, for the demo and the tests.

It serves ``/user/v1/projects/``, ``/test_framework/v1/metrics/``, ``/test_framework/v1/aiagents/``
and ``/observability/v1/call-logs/`` on 127.0.0.1 the way the real API answers them (per
``../shared/reference/``): ``X-CEKURA-API-KEY`` auth with 401 for any other key, DRF-style error
bodies, write-only secrets answered only as ``<name>_configured``, unknown PATCH fields ignored,
unknown rubric metric ids rejected with 400, DRF pagination for agents and call logs.

It keeps real state and records every request, so tests can assert on what the tool sent. Faults
(latency, error statuses with ``Retry-After``, dropped connections, a timeout after the write, and
malformed or truncated bodies) can be injected per method and path, in-process through
:class:`EmulatorState` or from another process through the ``/_emulator/`` admin endpoints.

Standard library only: the emulator must start fast and never be the thing under test.
"""

from __future__ import annotations

import copy
import json
import math
import re
import shlex
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import parse_qs, urlencode, urlsplit

from reconciler.emulator_seed import (
    BINARY_EVAL_TYPES,
    ENUM_EVAL_TYPES,
    SCORE_EVAL_TYPES,
    SECRET_FIELDS,
    agent_defaults,
    default_seed,
    generate_call_logs,
    metric_defaults,
    project_defaults,
)

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
AGENTS_PAGE_SIZE = 10
CALL_LOGS_PAGE_SIZE = 50
CALL_LOGS_MAX_WINDOW = timedelta(days=33)

READ_ONLY_FIELDS = frozenset({"id", "members", "organization", "created_at", "updated_at"})
BOOL_FIELDS = frozenset(k for k, v in project_defaults().items() if isinstance(v, bool))
INT_FIELDS = frozenset(
    {
        "outbound_timeout",
        "max_call_duration",
        "min_call_duration",
        "max_messages_chat_runs_limit",
        "frequent_calls_threshold",
        "frequent_calls_time_period",
        "frequent_calls_cooldown",
    }
)
FAULT_KINDS = ("latency", "status", "drop", "timeout_after_write", "malformed", "truncated", "edit")


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the emulator received it (admin requests are not recorded)."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    at: float = field(default_factory=time.monotonic)  # when it arrived (time.monotonic)

    @property
    def json(self) -> Any:
        return json.loads(self.body) if self.body else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "headers": self.headers,
            "body": self.body.decode("utf-8", "replace"),
        }


@dataclass
class Fault:
    """A fault applied to the next ``times`` matching requests (``times=0``: every one).

    kinds: ``latency`` (sleep ``seconds``, then answer normally), ``status`` (answer ``status``
    with ``Retry-After: retry_after`` when set, without touching state), ``drop`` (close the
    connection without an answer, state untouched), ``timeout_after_write`` (apply the request,
    then hold the connection ``seconds`` and close it unanswered), ``malformed`` (200 with a body
    that is not JSON), ``truncated`` (a JSON body cut short of its Content-Length), ``edit`` (a
    colleague's edit in the web UI: set ``edit["fields"]`` on project ``edit["project"]`` as the
    request arrives, then answer it normally). ``skip``: let that many matching requests through
    untouched first (e.g. edit a project on the tool's second read of it, not the first).
    """

    kind: str
    method: str | None = None
    path: str | None = None  # a prefix of the request path
    times: int = 1
    status: int = 503
    retry_after: float | None = None
    seconds: float = 0.0
    edit: dict[str, Any] | None = None
    skip: int = 0
    hits: int = 0

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; known: {', '.join(FAULT_KINDS)}")

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method.upper() != method:
            return False
        return self.path is None or path.startswith(self.path)


class ApiAnswer(Exception):
    """An error answer, raised from deep inside a handler."""

    def __init__(self, status: int, body: Any) -> None:
        super().__init__(status)
        self.status = status
        self.body = body


def load_seed(path: str | Path) -> dict[str, Any]:
    """A seed file (JSON, or YAML for *.yaml/*.yml) with ``projects``, and optionally ``metrics``,
    ``agents``, ``now``."""
    try:
        text = Path(path).read_text(encoding="utf-8")
        if str(path).lower().endswith((".yaml", ".yml")):
            import yaml

            data = yaml.safe_load(text)
        else:
            data = json.loads(text)
    except Exception as exc:  # OSError, ValueError (JSON), yaml.YAMLError
        raise ValueError(f"cannot read seed file {path}: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("projects"), list):
        raise ValueError(f"seed file {path}: expected an object with a 'projects' list")
    return data


class EmulatorState:
    """All of the emulator's state: projects, secrets, metrics, agents, requests and faults."""

    def __init__(
        self, seed: dict[str, Any] | None = None, *, api_key: str = "demo", now: datetime | None = None
    ) -> None:
        """``now`` anchors the generated call logs (default: the seed's ``now``, for tests that
        recompute them); the ``emulator`` command passes the wall clock so `plan --impact` finds
        recent calls."""
        seed = copy.deepcopy(seed) if seed is not None else default_seed()
        self.api_key = api_key
        self.lock = threading.RLock()
        self.latency = 0.0
        self.requests: list[RecordedRequest] = []
        self.faults: list[Fault] = []
        self.now = now or _parse_time(str(seed.get("now", "2026-11-28T12:00:00Z"))) or datetime.now(UTC)
        self._projects: dict[int, dict[str, Any]] = {}
        self._secrets: dict[int, dict[str, str]] = {}
        for raw in seed.get("projects", []):
            project = project_defaults()
            secrets = {name: str(raw[name]) for name in SECRET_FIELDS if raw.get(name)}
            project.update({k: v for k, v in raw.items() if k not in SECRET_FIELDS})
            self._projects[int(project["id"])] = project
            self._secrets[int(project["id"])] = secrets
        self.metrics = [{**metric_defaults(), **m} for m in seed.get("metrics", [])]
        self.agents = [{**agent_defaults(), **a} for a in seed.get("agents", [])]
        self._call_logs: dict[int, list[dict[str, Any]]] = {}

    # -- for tests --------------------------------------------------------------------------

    def project(self, project_id: int) -> dict[str, Any]:
        """The project as a GET answers it (a copy)."""
        with self.lock:
            return self._view(project_id)

    def stored_secret(self, project_id: int, name: str) -> str | None:
        with self.lock:
            return self._secrets.get(project_id, {}).get(name)

    def set_project_fields(self, project_id: int, **fields: Any) -> None:
        """Change a project behind the tool's back, as a person in the web UI would."""
        with self.lock:
            for name, value in fields.items():
                if name in SECRET_FIELDS:
                    self._secrets[project_id][name] = value
                else:
                    self._projects[project_id][name] = copy.deepcopy(value)

    def project_ids(self) -> list[int]:
        with self.lock:
            return sorted(self._projects)

    def delete_metric(self, metric_id: int) -> None:
        with self.lock:
            self.metrics = [m for m in self.metrics if m["id"] != metric_id]

    def add_fault(self, fault: Fault) -> Fault:
        with self.lock:
            self.faults.append(fault)
        return fault

    def clear_requests(self) -> None:
        with self.lock:
            self.requests.clear()

    def requests_to(self, method: str, path_prefix: str = "/") -> list[RecordedRequest]:
        with self.lock:
            return [r for r in self.requests if r.method == method and r.path.startswith(path_prefix)]

    def patches(self) -> list[RecordedRequest]:
        return self.requests_to("PATCH")

    # -- request handling -------------------------------------------------------------------

    def take_fault(self, method: str, path: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.matches(method, path):
                    if fault.skip > 0:
                        fault.skip -= 1
                        continue
                    fault.hits += 1
                    if fault.times and fault.hits >= fault.times:
                        self.faults.remove(fault)
                    return fault
        return None

    def record(self, request: RecordedRequest) -> None:
        with self.lock:
            self.requests.append(request)

    def handle(
        self,
        method: str,
        path: str,
        query: dict[str, list[str]],
        headers: dict[str, str],
        body: bytes,
        base: str,
    ) -> tuple[int, dict[str, str], Any]:
        """Answer one API request: (status, extra headers, JSON body)."""
        try:
            key = headers.get("x-cekura-api-key")
            if not key:
                raise ApiAnswer(401, {"detail": "Authentication credentials were not provided."})
            if key != self.api_key:
                raise ApiAnswer(401, {"detail": "Invalid API key."})
            with self.lock:
                return 200, {}, self._route(method, path, query, body, base)
        except ApiAnswer as answer:
            return answer.status, {}, answer.body

    def _route(self, method: str, path: str, query: dict[str, list[str]], body: bytes, base: str) -> Any:
        if path == "/user/v1/projects/":
            _allow(method, "GET")
            return [self._view(pid) for pid in sorted(self._projects)]
        if match := re.fullmatch(r"/user/v1/projects/(\d+)/", path):
            project_id = int(match.group(1))
            if project_id not in self._projects:
                raise ApiAnswer(404, {"detail": "No Project matches the given query."})
            if method == "GET":
                return self._view(project_id)
            _allow(method, "GET", "PATCH")
            self._patch(project_id, _json_body(body) if body.strip() else {})
            return self._view(project_id)
        if path == "/test_framework/v1/metrics/":
            _allow(method, "GET")
            scope, agent_id = _int_param(query, "project_id"), _int_param(query, "agent_id")
            return [
                copy.deepcopy(m)
                for m in self.metrics
                if (scope is None or m.get("project") == scope)
                and (agent_id is None or agent_id in (m.get("agents") or []))
            ]
        if match := re.fullmatch(r"/test_framework/v1/metrics/(\d+)/", path):
            _allow(method, "GET")
            for metric in self.metrics:
                if metric["id"] == int(match.group(1)):
                    return copy.deepcopy(metric)
            raise ApiAnswer(404, {"detail": "Not found."})
        if path == "/test_framework/v1/aiagents/":
            _allow(method, "GET")
            owner = _int_param(query, "project_id")
            agents = [a for a in self.agents if owner is None or a.get("project") == owner]
            return _paginate(agents, query, base + path, AGENTS_PAGE_SIZE)
        if path == "/observability/v1/call-logs/":
            _allow(method, "GET")
            return self._call_logs_page(query, base + path)
        raise ApiAnswer(404, {"detail": "Not found."})

    def _view(self, project_id: int) -> dict[str, Any]:
        view = copy.deepcopy(self._projects[project_id])
        secrets = self._secrets.get(project_id, {})
        for name in SECRET_FIELDS:
            view[f"{name}_configured"] = bool(secrets.get(name))
        return view

    def _patch(self, project_id: int, body: Any) -> None:
        if not isinstance(body, dict):
            kind = type(body).__name__ if body is not None else "null"
            raise ApiAnswer(
                400, {"non_field_errors": [f"Invalid data. Expected a dictionary, but got {kind}."]}
            )
        errors: dict[str, list[str]] = {}
        accepted: dict[str, Any] = {}
        for name, value in body.items():
            if name in READ_ONLY_FIELDS or name.endswith("_configured") or name == "organization_id":
                continue
            if name not in self._projects[project_id] and name not in SECRET_FIELDS:
                continue  # DRF ignores fields the serializer does not know
            problem = self._check_field(project_id, name, value)
            if problem:
                errors[name] = [problem]
            else:
                accepted[name] = value
        if errors:
            raise ApiAnswer(400, errors)
        for name, value in accepted.items():
            if name in SECRET_FIELDS:
                self._secrets.setdefault(project_id, {})[name] = value
            elif name == "sample_rate":
                self._projects[project_id][name] = float(value)
            else:
                self._projects[project_id][name] = copy.deepcopy(value)
        self._projects[project_id]["updated_at"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    def _check_field(self, project_id: int, name: str, value: Any) -> str | None:
        if name in BOOL_FIELDS:
            return None if isinstance(value, bool) else "Must be a valid boolean."
        if name in INT_FIELDS:
            if isinstance(value, bool) or not isinstance(value, int):
                return "A valid integer is required."
            if value > INT32_MAX:
                return f"Ensure this value is less than or equal to {INT32_MAX}."
            if value < INT32_MIN:
                return f"Ensure this value is greater than or equal to {INT32_MIN}."
            return None
        if name == "sample_rate":
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                return "A valid number is required."
            if value < 0:
                return "Ensure this value is greater than or equal to 0.0."
            return "Ensure this value is less than or equal to 1.0." if value > 1 else None
        if name in ("name", "timezone"):
            if not isinstance(value, str):
                return "Not a valid string."
            return "This field may not be blank." if not value.strip() else None
        if name in SECRET_FIELDS:
            return None if isinstance(value, str) else "Not a valid string."
        if name == "webhook_url":
            if value is None or value == "":
                return None
            ok = isinstance(value, str) and re.match(r"^https?://[^\s/$.?#][^\s]*$", value)
            return None if ok else "Enter a valid URL."
        if name == "daily_report_dashboard_ids":
            if not isinstance(value, list):
                return f'Expected a list of items but got type "{type(value).__name__}".'
            if any(isinstance(v, bool) or not isinstance(v, int) for v in value):
                return "A valid integer is required."
            return None
        if name == "no_calls_notify_time_period":
            return None if value is None or isinstance(value, dict) else "Value must be valid JSON."
        if name == "rubric_config":
            return self._check_rubric(project_id, value)
        return None

    def _project_metrics(self, project_id: int) -> dict[int, dict[str, Any]]:
        agent_ids = {a["id"] for a in self.agents if a.get("project") == project_id}
        return {
            m["id"]: m
            for m in self.metrics
            if m.get("project") == project_id or agent_ids & set(m.get("agents") or [])
        }

    def _check_rubric(self, project_id: int, value: Any) -> str | None:
        if value is None or value == {}:
            return None
        if not isinstance(value, dict):
            return "rubric_config must be an object."
        if value.get("evaluation_logic") != "and":
            return 'evaluation_logic must be "and".'
        rules = value.get("rules")
        if not isinstance(rules, list):
            return "rules must be a list."
        metrics = self._project_metrics(project_id)
        for index, rule in enumerate(rules):
            if not isinstance(rule, dict):
                return f"rules[{index}] must be an object."
            metric_id = rule.get("metric_id")
            if isinstance(metric_id, bool) or not isinstance(metric_id, int) or metric_id not in metrics:
                return f"rules[{index}]: Metric with id {metric_id} does not exist in this project."
            conditions = rule.get("conditions")
            inner = conditions.get("conditions") if isinstance(conditions, dict) else None
            if not isinstance(inner, list) or not inner or conditions.get("operator") != "and":  # type: ignore[union-attr]
                return f'rules[{index}]: conditions must be {{"operator": "and", "conditions": [...]}}.'
            eval_type = metrics[metric_id].get("eval_type")
            for condition in inner:
                problem = _check_condition(condition, eval_type, metrics[metric_id])
                if problem:
                    return f"rules[{index}] (metric {metric_id}): {problem}"
        return None

    def _call_logs_page(self, query: dict[str, list[str]], url: str) -> dict[str, Any]:
        project_id = _int_param(query, "project_id")
        if project_id is None or project_id not in self._projects:
            raise ApiAnswer(400, {"project_id": ["A valid project_id is required."]})
        start = _time_param(query, "timestamp_from") or self.now - timedelta(days=7)
        end = _time_param(query, "timestamp_to") or self.now
        if end - start > CALL_LOGS_MAX_WINDOW:
            raise ApiAnswer(400, {"detail": "The time window may not exceed 33 days."})
        if project_id not in self._call_logs:
            project = {**self._projects[project_id], "id": project_id}
            agents = [a for a in self.agents if a.get("project") == project_id]
            self._call_logs[project_id] = generate_call_logs(
                project, list(self._project_metrics(project_id).values()), agents, now=self.now
            )
        calls = [
            c for c in self._call_logs[project_id] if start <= (_parse_time(c["timestamp"]) or start) <= end
        ]
        requested = _int_param(query, "page_size")
        size = min(requested, 500) if requested is not None and requested > 0 else CALL_LOGS_PAGE_SIZE
        return _paginate(calls, query, url, size)


def _check_condition(condition: Any, eval_type: Any, metric: dict[str, Any]) -> str | None:
    if not isinstance(condition, dict):
        return "a condition must be an object."
    field_, op, value = condition.get("field"), condition.get("op"), condition.get("value")
    if eval_type in BINARY_EVAL_TYPES:
        if field_ != "score" or op not in ("eq", "neq"):
            return 'binary metrics take field "score" with op eq or neq.'
        ok = isinstance(value, bool) or (isinstance(value, int | float) and value in (0, 5))
        return None if ok else "binary metrics take true/false or 5/0."
    if eval_type in SCORE_EVAL_TYPES:
        if field_ != "score" or op not in ("eq", "gt", "gte", "lt", "lte"):
            return 'score metrics take field "score" with op gt, gte, lt, lte or eq.'
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return None if ok else "score metrics take a number."
    if eval_type in ENUM_EVAL_TYPES:
        allowed = set(metric.get("enum_values") or [])
        values = value if op == "in" else [value]
        if field_ != "enum" or op not in ("eq", "neq", "in") or not isinstance(values, list):
            return 'enum metrics take field "enum" with op eq, neq (a string) or in (a list).'
        bad = [v for v in values if not isinstance(v, str) or v not in allowed]
        return f"{bad[0]!r} is not one of the metric's enum_values." if bad else None
    return None


def _allow(method: str, *allowed: str) -> None:
    if method not in allowed:
        raise ApiAnswer(405, {"detail": f'Method "{method}" not allowed.'})


def _json_body(body: bytes) -> Any:
    try:
        return json.loads(body or b"null")
    except ValueError as exc:
        raise ApiAnswer(400, {"detail": f"JSON parse error - {exc}"}) from exc


def _int_param(query: dict[str, list[str]], name: str) -> int | None:
    values = query.get(name)
    if not values:
        return None
    try:
        return int(values[0])
    except ValueError as exc:
        raise ApiAnswer(400, {name: ["A valid integer is required."]}) from exc


def _parse_time(text: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _time_param(query: dict[str, list[str]], name: str) -> datetime | None:
    values = query.get(name)
    if not values:
        return None
    parsed = _parse_time(values[0])
    if parsed is None:
        raise ApiAnswer(400, {name: ["Enter a valid date/time."]})
    return parsed


def _paginate(
    items: list[dict[str, Any]], query: dict[str, list[str]], url: str, size: int
) -> dict[str, Any]:
    page = _int_param(query, "page")
    page = 1 if page is None else page
    if page != 1 and (page < 1 or (page - 1) * size >= len(items)):
        raise ApiAnswer(404, {"detail": "Invalid page."})
    chunk = items[(page - 1) * size : page * size]

    def link(number: int) -> str:
        params = {k: v[0] for k, v in query.items() if k != "page"}
        params["page"] = str(number)
        return f"{url}?{urlencode(params)}"

    return {
        "count": len(items),
        "next": link(page + 1) if page * size < len(items) else None,
        "previous": link(page - 1) if page > 1 else None,
        "results": copy.deepcopy(chunk),
    }


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; with Nagle on, the body waits for the client's delayed
    # ACK (~40 ms on Linux) on every keep-alive request.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._serve()

    def do_PATCH(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def _serve(self) -> None:
        state = self.server.state
        split = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if split.path.startswith("/_emulator/"):
            self._admin(split.path, body)
            return
        request = RecordedRequest(
            method=self.command,
            path=split.path,
            query=parse_qs(split.query),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
        )
        state.record(request)
        if state.latency:
            time.sleep(state.latency)
        fault = state.take_fault(self.command, split.path)
        if fault and fault.kind == "edit":
            edit = fault.edit or {}
            state.set_project_fields(int(edit["project"]), **edit.get("fields", {}))
            fault = None
        if fault and fault.kind == "latency":
            time.sleep(fault.seconds)
            fault = None
        if fault and fault.kind == "drop":
            self.close_connection = True
            return
        if fault and fault.kind == "status":
            headers = {"Retry-After": f"{fault.retry_after:g}"} if fault.retry_after is not None else {}
            self._send(fault.status, {"detail": "Injected fault."}, headers)
            return
        base = f"http://{self.headers.get('Host') or '127.0.0.1'}"
        status, headers, answer = state.handle(
            self.command, split.path, request.query, request.headers, body, base
        )
        if fault and fault.kind == "timeout_after_write":
            time.sleep(fault.seconds)
            self.close_connection = True
            return
        if fault and fault.kind == "malformed":
            self._send_raw(200, b"<html>502 Bad Gateway</html>", "text/html")
            return
        if fault and fault.kind == "truncated":
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[: max(len(data) // 2, 1)])
            self.close_connection = True
            return
        self._send(status, answer, headers)

    def _admin(self, path: str, body: bytes) -> None:
        state = self.server.state
        try:
            payload = json.loads(body) if body else {}
            if not isinstance(payload, dict):
                raise ValueError("expected a JSON object")
            if path == "/_emulator/requests" and self.command == "GET":
                with state.lock:
                    self._send(200, [r.to_dict() for r in state.requests])
            elif path == "/_emulator/requests" and self.command == "DELETE":
                state.clear_requests()
                self._send(200, {})
            elif path == "/_emulator/faults" and self.command == "POST":
                state.add_fault(Fault(**payload))
                self._send(200, {})
            elif path == "/_emulator/faults" and self.command == "DELETE":
                with state.lock:
                    state.faults.clear()
                self._send(200, {})
            elif (match := re.fullmatch(r"/_emulator/projects/(\d+)", path)) and self.command in (
                "GET",
                "PATCH",
            ):
                project_id = int(match.group(1))
                if project_id not in state.project_ids():
                    self._send(404, {"detail": f"No project {project_id}."})
                elif self.command == "GET":
                    self._send(200, state.project(project_id))
                else:
                    state.set_project_fields(project_id, **payload)
                    self._send(200, {})
            else:
                self._send(404, {"detail": "Unknown admin endpoint."})
        except (TypeError, ValueError, KeyError) as exc:
            self._send(400, {"detail": str(exc)})

    def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self._send_raw(status, data, "application/json", headers)

    def _send_raw(
        self, status: int, data: bytes, content_type: str, headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, port: int, state: EmulatorState) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.state = state


@dataclass
class RunningEmulator:
    """An emulator serving in a background thread; use as a context manager or call close()."""

    base_url: str
    state: EmulatorState
    _server: _Server = field(repr=False)
    _thread: threading.Thread = field(repr=False)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> RunningEmulator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def start(state: EmulatorState | None = None, *, port: int = 0) -> RunningEmulator:
    """Serve ``state`` on 127.0.0.1:``port`` (0: a free port) in a background thread."""
    state = state or EmulatorState()
    server = _Server(port, state)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.02}, name="cekura-emulator", daemon=True
    )
    thread.start()
    host, bound = server.server_address[:2]
    return RunningEmulator(f"http://{host!s}:{bound}", state, server, thread)


def run_forever(
    *,
    port: int = 8787,
    seed_file: str | None = None,
    api_key: str = "demo",
    latency_ms: float = 0.0,
    out: TextIO = sys.stdout,
) -> None:
    """The ``emulator`` command: serve until interrupted. The first line printed names the URL."""
    seed = load_seed(seed_file) if seed_file else None
    clock = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    state = EmulatorState(seed, api_key=api_key, now=clock)
    state.latency = latency_ms / 1000
    running = start(state, port=port)
    out.write(f"Cekura API emulator listening on {running.base_url}\n")
    out.write(f"Projects: {', '.join(map(str, state.project_ids()))}.\n")
    # The key is the emulator's own (a local fake): printed so that it can be pasted.
    out.write(
        "To use it from another shell:\n"
        f"  export CEKURA_BASE_URL={shlex.quote(running.base_url)}\n"
        f"  export CEKURA_API_KEY={shlex.quote(api_key)}\n"
        "Faults, a colleague's edits and the recorded requests are driven through /_emulator/ "
        "(docs/emulator.md).\n"
        "Stop with Ctrl-C.\n"
    )
    out.flush()
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        running.close()


__all__ = [
    "EmulatorState",
    "Fault",
    "RecordedRequest",
    "RunningEmulator",
    "load_seed",
    "run_forever",
    "start",
]
