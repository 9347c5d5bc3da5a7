"""A local emulator of the slice of the Cekura API this tool uses, for the demo and the tests.

It serves the endpoints of ``ROUTES`` on 127.0.0.1 the way the current API answers them (per
``docs/reference/cekura-openapi-slice.json``, the 2026-08-20 spec): the projects list and detail
(with optional trailing slashes, as the official SDK calls them), the metrics lists v1 and v2 with
create, detail, PATCH and DELETE, the agents lists v1 and v2 and the call-logs lists v1 (deprecated)
and v2, DRF-paginated. ``X-CEKURA-API-KEY`` auth: 401 for a key it does not know, 403 for a key
without the scope (organization, project and read-only keys, :class:`ApiKey`); DRF-style error
bodies; write-only secrets answered only as ``<name>_configured``; unknown PATCH fields ignored;
unknown rubric metric ids rejected with 400; call-log windows over 33 days refused with 400.
``tests/test_contract.py`` validates its answers against the spec's response schemas.

Modes for tests, set on :class:`EmulatorState`: ``v1_retired`` (the v1 lists answer 410 Gone),
``v2_available`` False (a server without the v2 lists: 404), ``link_base`` (the scheme and host a
proxy writes into ``next`` links), ``call_logs_max_window`` and ``call_logs_count_days_inclusively``
(a server stricter about the window), ``hide_deleted`` (a project with ``is_deleted: true`` answers
404).

It keeps real state and records every request, so tests can assert on what the tool sent. Faults
(latency, error statuses with ``Retry-After``, dropped connections, a timeout after the write, and
malformed or truncated bodies) can be injected per method and path, in-process through
:class:`EmulatorState` or from another process through the ``/_emulator/`` admin endpoints.

Standard library only: the emulator must start fast and never be the thing under test.

Its field lists (``SECRET_FIELDS``, ``READ_ONLY_FIELDS``, ``INT_FIELDS``), eval-type families and
rubric-condition checks are deliberate copies, written from the API's documentation, not imported
from the tool's own (``reconciler.model``, ``reconciler.conditions``): the emulator stands for the
server the tool is tested against, so a mistake in the tool's tables must show up as a disagreement
with the server in the end-to-end tests, not be shared by both and pass. ``tests/test_conditions.py``
holds the copies to the spec's eval types so that neither drifts from the API unnoticed.
"""

from __future__ import annotations

import bisect
import copy
import itertools
import json
import math
import re
import shlex
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Mapping
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
    iter_generated_calls,
    metric_defaults,
    project_defaults,
)

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
AGENTS_PAGE_SIZE = 10
CALL_LOGS_PAGE_SIZE = 50
CALL_LOGS_MAX_PAGE_SIZE = 500  # the spec documents no maximum; a server has one, this is ours
# The kernel's queue of connections not yet accepted. socketserver's default is 5: at --parallelism
# 32 or 64 the connections past it waited for SYN retries (1 s, 3 s, 7 s...) or failed. Linux caps
# it at net.core.somaxconn (4096 by default).
LISTEN_BACKLOG = 1024
CALL_LOGS_MAX_WINDOW = timedelta(days=33)
CALL_LOGS_DEFAULT_WINDOW = timedelta(days=30)  # "results default to the last 30 days"
EVAL_TYPES = ("binary", "continuous_qualitative", "numeric", "enum")
LEGACY_BINARY = frozenset({"binary_workflow_adherence", "binary_qualitative"})
FORBIDDEN = "You do not have permission to perform this action."

# (method, path) the emulator answers; "{id}" is a number. Paths are matched with or without the
# trailing slash. tests/test_contract.py checks every one of these against the spec.
ROUTES: tuple[tuple[str, str], ...] = (
    ("GET", "/user/v1/projects/"),
    ("GET", "/user/v1/projects/{id}/"),
    ("PATCH", "/user/v1/projects/{id}/"),
    ("GET", "/test_framework/v1/metrics/"),
    ("GET", "/test_framework/v1/metrics/{id}/"),
    ("GET", "/test_framework/v2/metrics/"),
    ("POST", "/test_framework/v2/metrics/"),
    ("GET", "/test_framework/v2/metrics/{id}/"),
    ("PATCH", "/test_framework/v2/metrics/{id}/"),
    ("DELETE", "/test_framework/v2/metrics/{id}/"),
    ("GET", "/test_framework/v1/aiagents/"),
    ("GET", "/test_framework/v2/aiagents/"),
    ("GET", "/observability/v1/call-logs/"),
    ("GET", "/observability/v2/call-logs/"),
)
_ROUTE_PATTERNS = {template: re.compile(template.replace("{id}", r"(\d+)")) for _, template in ROUTES}
V1_LISTS = ("/test_framework/v1/", "/observability/v1/")
V2_LISTS = ("/test_framework/v2/", "/observability/v2/")

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
    peer: str = ""  # the client's address and port: one per connection

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
    colleague's edit in the web UI: set ``edit["fields"]`` on project ``edit["project"]``, or on
    metric ``edit["metric"]`` (its id), as the request arrives, then answer it normally).
    ``skip``: let that many matching requests through untouched first (e.g. edit a project on the
    tool's second read of it, not the first).
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


@dataclass(frozen=True)
class ApiKey:
    """What an API key may do, as Cekura's kinds of key: an organization key (the default:
    everything), a project key (``project``: that project only) and a read-only key (``read_only``:
    reads only; with ``project`` too, reads of that project only)."""

    project: int | None = None
    read_only: bool = False


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
        self,
        seed: dict[str, Any] | None = None,
        *,
        api_key: str = "demo",
        now: datetime | None = None,
        keys: Mapping[str, ApiKey] | None = None,
    ) -> None:
        """``now`` anchors the generated call logs (default: the seed's ``now``, for tests that
        recompute them); the ``emulator`` command passes the wall clock so `plan --impact` finds
        recent calls. ``api_key`` is an organization key; ``keys`` adds scoped ones."""
        seed = copy.deepcopy(seed) if seed is not None else default_seed()
        self.api_key = api_key
        self.keys: dict[str, ApiKey] = {api_key: ApiKey(), **(keys or {})}
        self.v1_retired = False
        self.v2_available = True
        self.link_base: str | None = None
        self.call_logs_max_window = CALL_LOGS_MAX_WINDOW
        self.call_logs_count_days_inclusively = False
        self.hide_deleted = False
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
        # Metrics by id, and indexed by owning project and by agent: a metrics list, a rubric check
        # and a call-log generation look at one project's metrics, never scan them all.
        self._metric_by_id: dict[int, dict[str, Any]] = {}
        self._metric_seq: dict[int, int] = {}  # id -> order of creation (answers list in it)
        self._seq = itertools.count()
        self._metrics_by_owner: dict[Any, dict[int, dict[str, Any]]] = {}
        self._metrics_by_agent: dict[Any, dict[int, dict[str, Any]]] = {}
        for raw_metric in seed.get("metrics", []):
            metric = {**metric_defaults(), **raw_metric}
            if metric["id"] in self._metric_by_id:
                raise ValueError(f"seed: metric id {metric['id']} appears twice")
            self._index_metric(metric)
        # Agents are fixed after construction (no endpoint creates one).
        self.agents = [{**agent_defaults(), **a} for a in seed.get("agents", [])]
        self._agent_by_id: dict[Any, tuple[int, dict[str, Any]]] = {}
        self._agents_by_project: dict[Any, list[dict[str, Any]]] = {}
        for position, agent in enumerate(self.agents):
            self._agent_by_id.setdefault(agent["id"], (position, agent))
            self._agents_by_project.setdefault(agent.get("project"), []).append(agent)
        # Call logs per project, generated on the first request (or given by set_call_logs).
        self._call_logs: dict[int, _CallIndex] = {}
        self._pinned_calls: set[int] = set()

    # -- for tests --------------------------------------------------------------------------

    def project(self, project_id: int) -> dict[str, Any]:
        """The project as a GET answers it (a copy)."""
        with self.lock:
            return copy.deepcopy(self._view(project_id))

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

    def set_metric_fields(self, metric_id: int, **fields: Any) -> None:
        """Change a metric behind the tool's back, as a person in the web UI would."""
        with self.lock:
            [metric] = [m for m in self.metrics if m["id"] == metric_id]
            metric.update(copy.deepcopy(fields))
            self._call_logs.clear()

    def project_ids(self) -> list[int]:
        with self.lock:
            return sorted(self._projects)

    @property
    def metrics(self) -> list[dict[str, Any]]:
        """Every metric, in the order they were created (the stored objects, not copies)."""
        with self.lock:
            return list(self._metric_by_id.values())

    def delete_metric(self, metric_id: int) -> None:
        with self.lock:
            metric = self._metric_by_id.get(metric_id)
            if metric is not None:
                self._unindex_metric(metric)

    def add_metric(self, **fields: Any) -> dict[str, Any]:
        """Add a metric behind the tool's back (for instance one of a legacy eval_type)."""
        with self.lock:
            metric = {**metric_defaults(), **fields}
            if metric["id"] in self._metric_by_id:
                raise ValueError(f"metric id {metric['id']} exists already")
            self._index_metric(metric)
            self._forget_generated_calls()
            return copy.deepcopy(metric)

    def set_call_logs(self, project_id: int, calls: Iterable[Mapping[str, Any]]) -> None:
        """Serve ``calls`` (API-shaped call logs, each with an ISO 8601 ``timestamp``) as the
        production calls of ``project_id`` instead of generated ones. Each is serialized here,
        once: later changes to the caller's objects are not seen, and the emulator holds bytes,
        not objects (a benchmark may give it 500,000 calls). Raises ValueError for a call without
        a readable timestamp."""
        index = _CallIndex.build(calls)
        with self.lock:
            self._call_logs[project_id] = index
            self._pinned_calls.add(project_id)

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
    ) -> tuple[int, dict[str, str], Encoded | None]:
        """Answer one API request: (status, extra headers, JSON body; None for no body).

        The answer is serialized before the lock is released: handlers answer with the stored
        objects themselves (a deep copy of each answer was most of the emulator's CPU per request),
        and no other request can change them before they are written out."""
        try:
            key = headers.get("x-cekura-api-key")
            if not key:
                raise ApiAnswer(401, {"detail": "Authentication credentials were not provided."})
            scope = self.keys.get(key)
            if scope is None:
                raise ApiAnswer(401, {"detail": "Invalid API key."})
            with self.lock:
                status, answer = self._route(method, path, query, body, base, scope)
                return status, {}, None if answer is None else Encoded(_encode(answer))
        except ApiAnswer as answer:
            return answer.status, {}, Encoded(_encode(answer.body))

    def _route(
        self, method: str, path: str, query: dict[str, list[str]], body: bytes, base: str, scope: ApiKey
    ) -> tuple[int, Any]:
        path = path if path.endswith("/") else path + "/"
        if self.v1_retired and path.startswith(V1_LISTS):
            raise ApiAnswer(410, {"detail": "This API version has been retired; use the v2 endpoint."})
        if not self.v2_available and path.startswith(V2_LISTS):
            raise ApiAnswer(404, {"detail": "Not found."})
        for template, handler in self._handlers().items():
            match = _ROUTE_PATTERNS[template].fullmatch(path)
            if match is None:
                continue
            allowed = [m for m, t in ROUTES if t == template]
            if method not in allowed:
                raise ApiAnswer(405, {"detail": f'Method "{method}" not allowed.'})
            if method != "GET" and scope.read_only:
                raise ApiAnswer(403, {"detail": FORBIDDEN})
            ident = int(match.group(1)) if match.groups() else None
            request = _Request(method, query, body, base + template.replace("{id}", str(ident)), scope, ident)
            return handler(request)
        raise ApiAnswer(404, {"detail": "Not found."})

    # -- indexes ------------------------------------------------------------------------------

    def _index_metric(self, metric: dict[str, Any]) -> None:
        metric_id = metric["id"]
        self._metric_by_id[metric_id] = metric
        self._metric_seq[metric_id] = next(self._seq)
        self._metrics_by_owner.setdefault(metric.get("project"), {})[metric_id] = metric
        for agent in set(metric.get("agents") or []):
            self._metrics_by_agent.setdefault(agent, {})[metric_id] = metric

    def _unindex_metric(self, metric: dict[str, Any]) -> None:
        metric_id = metric["id"]
        self._metric_by_id.pop(metric_id, None)
        self._metric_seq.pop(metric_id, None)
        self._metrics_by_owner.get(metric.get("project"), {}).pop(metric_id, None)
        for agent in set(metric.get("agents") or []):
            self._metrics_by_agent.get(agent, {}).pop(metric_id, None)

    def _forget_generated_calls(self) -> None:
        """Metrics changed: generated call logs are made again on the next request (given ones stay)."""
        for project_id in [p for p in self._call_logs if p not in self._pinned_calls]:
            del self._call_logs[project_id]

    def _handlers(self) -> dict[str, Callable[[_Request], tuple[int, Any]]]:
        return {
            "/user/v1/projects/": self._list_projects,
            "/user/v1/projects/{id}/": self._one_project,
            "/test_framework/v1/metrics/": self._metrics,
            "/test_framework/v1/metrics/{id}/": self._metric,
            "/test_framework/v2/metrics/": self._metrics,
            "/test_framework/v2/metrics/{id}/": self._metric,
            "/test_framework/v1/aiagents/": self._agents_v1,
            "/test_framework/v2/aiagents/": self._agents_v2,
            "/observability/v1/call-logs/": self._call_logs_page,
            "/observability/v2/call-logs/": self._call_logs_page,
        }

    # -- projects -----------------------------------------------------------------------------

    def _visible(self, project_id: int) -> bool:
        project = self._projects.get(project_id)
        return project is not None and not (self.hide_deleted and project.get("is_deleted") is True)

    def _allow_project(self, scope: ApiKey, project_id: int | None) -> None:
        """403 unless the key may see this project (a project key sees only its own)."""
        if scope.project is not None and project_id != scope.project:
            raise ApiAnswer(403, {"detail": FORBIDDEN})

    def _list_projects(self, request: _Request) -> tuple[int, Any]:
        scope = request.scope
        ids = [p for p in sorted(self._projects) if self._visible(p)]
        return 200, [self._view(p) for p in ids if scope.project is None or p == scope.project]

    def _one_project(self, request: _Request) -> tuple[int, Any]:
        project_id = request.ident
        assert project_id is not None
        if not self._visible(project_id):
            raise ApiAnswer(404, {"detail": "No Project matches the given query."})
        self._allow_project(request.scope, project_id)
        if request.method == "PATCH":
            self._patch(project_id, _json_body(request.body) if request.body.strip() else {})
        return 200, self._view(project_id)

    # -- metrics ------------------------------------------------------------------------------

    def _agent(self, agent_id: Any) -> dict[str, Any] | None:
        found = self._agent_by_id.get(agent_id)
        return found[1] if found else None

    def _metric_project(self, metric: Mapping[str, Any]) -> int | None:
        """The project a metric belongs to: its own, or its first agent's (in the agents' order)."""
        if isinstance(metric.get("project"), int):
            return int(metric["project"])
        agents = sorted(
            self._agent_by_id[a] for a in set(metric.get("agents") or []) if a in self._agent_by_id
        )
        return agents[0][1].get("project") if agents else None

    def _metrics(self, request: _Request) -> tuple[int, Any]:
        if request.method == "POST":
            return 201, self._create_metric(_json_body(request.body), request.scope)
        query, scope = request.query, request.scope
        owner, agent_id = _int_param(query, "project_id"), _int_param(query, "agent_id")
        if owner is not None:
            self._allow_project(scope, owner)
        if agent_id is not None:
            agent = self._agent(agent_id)
            self._allow_project(scope, agent.get("project") if agent else None)
        if owner is not None:
            candidates: Iterable[dict[str, Any]] = self._metrics_by_owner.get(owner, {}).values()
        elif agent_id is not None:
            candidates = self._metrics_by_agent.get(agent_id, {}).values()
        else:
            candidates = self._metric_by_id.values()
        return 200, [
            _metric_view(m)
            for m in candidates
            if (owner is None or m.get("project") == owner)
            and (agent_id is None or agent_id in (m.get("agents") or []))
            and (scope.project is None or self._metric_project(m) == scope.project)
        ]

    def _find_metric(self, request: _Request) -> dict[str, Any]:
        metric = self._metric_by_id.get(request.ident) if request.ident is not None else None
        if metric is None:
            raise ApiAnswer(404, {"detail": "Not found."})
        self._allow_project(request.scope, self._metric_project(metric))
        return metric

    def _metric(self, request: _Request) -> tuple[int, Any]:
        metric = self._find_metric(request)
        if request.method == "DELETE":
            self._unindex_metric(metric)
            self._forget_generated_calls()
            return 204, None
        if request.method == "PATCH":
            changes = _json_body(request.body)
            if not isinstance(changes, dict):
                raise ApiAnswer(400, {"non_field_errors": ["Invalid data. Expected a dictionary."]})
            # project and agent are read-only once set; agents (PatchedSchemaPostMetricEdit) are
            # "applicable when project is set": ids of the project's agents
            agents = changes.get("agents")
            changes = {k: v for k, v in changes.items() if k not in ("id", "project", "agent", "agents")}
            if agents is not None and metric.get("project") is not None:
                changes["agents"] = self._project_agents(metric["project"], agents)
            merged = _checked_metric({**metric, **changes})
            metric.update(merged)
            self._forget_generated_calls()
        return 200, _metric_detail(metric)

    def _project_agents(self, project_id: int, agents: Any) -> list[int]:
        """A metric's ``agents`` as a PATCH sets them: ids of agents of its project (DRF's answer
        for anything else)."""
        if not isinstance(agents, list) or not all(type(a) is int for a in agents):
            raise ApiAnswer(400, {"agents": ["Expected a list of items."]})
        mine = {a["id"] for a in self.agents if a.get("project") == project_id}
        unknown = [a for a in agents if a not in mine]
        if unknown:
            raise ApiAnswer(400, {"agents": [f'Invalid pk "{unknown[0]}" - object does not exist.']})
        return list(dict.fromkeys(agents))

    def _create_metric(self, body: Any, scope: ApiKey) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise ApiAnswer(400, {"non_field_errors": ["Invalid data. Expected a dictionary."]})
        errors: dict[str, list[str]] = {}
        if not isinstance(body.get("name"), str) or not body["name"].strip():
            errors["name"] = ["This field is required."]
        project_id = body.get("project")
        agent_id = body.get("agent")
        if project_id is None and isinstance(agent_id, int):
            agent = self._agent(agent_id)
            project_id = agent.get("project") if agent else None
        if not isinstance(project_id, int) or project_id not in self._projects:
            errors["project"] = ["A valid project is required."]
        if errors:
            raise ApiAnswer(400, errors)
        self._allow_project(scope, project_id)
        known = set(metric_defaults()) - {"id"}
        fields = {k: copy.deepcopy(v) for k, v in body.items() if k in known}
        metric = _checked_metric({**metric_defaults(), **fields, "project": project_id})
        metric["id"] = max(self._metric_by_id, default=0) + 1
        if isinstance(agent_id, int) and agent_id not in metric["agents"]:
            metric["agents"].append(agent_id)
        if not metric.get("slug"):
            metric["slug"] = re.sub(r"[^a-z0-9]+", "_", metric["name"].lower()).strip("_")
        self._index_metric(metric)
        self._forget_generated_calls()
        return _metric_detail(metric)

    # -- agents -------------------------------------------------------------------------------

    def _agents_of(self, request: _Request) -> list[dict[str, Any]]:
        owner = _int_param(request.query, "project_id")
        if owner is not None:
            self._allow_project(request.scope, owner)
        mine = request.scope.project
        candidates = self.agents if owner is None else self._agents_by_project.get(owner, [])
        return [a for a in candidates if mine is None or a.get("project") == mine]

    def _agents_v1(self, request: _Request) -> tuple[int, Any]:
        agents = self._agents_of(request)
        return 200, self._paginate(agents, request, AGENTS_PAGE_SIZE)

    def _agents_v2(self, request: _Request) -> tuple[int, Any]:
        agents = [_agent_v2(a) for a in self._agents_of(request)]
        return 200, self._paginate(agents, request, AGENTS_PAGE_SIZE)

    def _link_url(self, request: _Request) -> str:
        """The URL the pages' ``next`` and ``previous`` links name."""
        if self.link_base:
            return self.link_base.rstrip("/") + urlsplit(request.url).path
        return request.url

    def _paginate(self, items: list[dict[str, Any]], request: _Request, size: int) -> dict[str, Any]:
        page = _page(len(items), request.query, self._link_url(request), size)
        return {
            "count": len(items),
            "next": page.next,
            "previous": page.previous,
            "results": items[page.start : page.stop],
        }

    def _view(self, project_id: int) -> dict[str, Any]:
        """The project as a GET answers it: a shallow copy, to serialize before the lock is released."""
        view = dict(self._projects[project_id])
        secrets = self._secrets.get(project_id, {})
        for name in SECRET_FIELDS:
            # The spec types `<name>_configured` as a string.
            view[f"{name}_configured"] = "true" if secrets.get(name) else "false"
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
        """The metrics of a project and of its agents, in the order they were created."""
        found = dict(self._metrics_by_owner.get(project_id, {}))
        for agent in self._agents_by_project.get(project_id, []):
            found.update(self._metrics_by_agent.get(agent["id"], {}))
        return {m["id"]: m for m in sorted(found.values(), key=lambda m: self._metric_seq[m["id"]])}

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

    def _call_logs_page(self, request: _Request) -> tuple[int, Any]:
        query = request.query
        # "project_id is required when using an organization-level API key"; a project key has one.
        project_id = _int_param(query, "project_id") or request.scope.project
        if project_id is None or not self._visible(project_id):
            raise ApiAnswer(400, {"project_id": ["A valid project_id is required."]})
        self._allow_project(request.scope, project_id)
        start = _time_param(query, "timestamp_from") or self.now - CALL_LOGS_DEFAULT_WINDOW
        end = _time_param(query, "timestamp_to") or self.now
        if self._window_too_long(start, end):
            days = self.call_logs_max_window / timedelta(days=1)
            raise ApiAnswer(400, {"detail": f"The time window may not exceed {days:g} days."})
        index = self._call_logs.get(project_id)
        if index is None:
            project = {**self._projects[project_id], "id": project_id}
            agents = self._agents_by_project.get(project_id, [])
            metrics = list(self._project_metrics(project_id).values())
            index = _CallIndex.build(iter_generated_calls(project, metrics, agents, now=self.now))
            self._call_logs[project_id] = index
        first, last = index.window(start, end)
        requested = _int_param(query, "page_size")
        size = (
            min(requested, CALL_LOGS_MAX_PAGE_SIZE)
            if requested is not None and requested > 0
            else CALL_LOGS_PAGE_SIZE
        )
        page = _page(last - first, query, self._link_url(request), size)
        body = b", ".join(index.encoded[first + page.start : first + page.stop])
        head = {"count": last - first, "next": page.next, "previous": page.previous}
        return 200, Encoded(json.dumps(head)[:-1].encode() + b', "results": [' + body + b"]}")

    def _window_too_long(self, start: datetime, end: datetime) -> bool:
        if self.call_logs_count_days_inclusively:
            # A server that counts calendar days with both ends included: 2026-01-01 to 2026-02-02
            # is 33 days, so a window of exactly 33 days (or one starting mid-day) is refused.
            days = (end.astimezone(UTC).date() - start.astimezone(UTC).date()).days + 1
            return days > self.call_logs_max_window / timedelta(days=1)
        return end - start > self.call_logs_max_window


@dataclass(frozen=True)
class _Request:
    """One routed API request, as a handler sees it."""

    method: str
    query: dict[str, list[str]]
    body: bytes
    url: str  # the absolute URL of the route, for pagination links
    scope: ApiKey
    ident: int | None


_DETAIL_ONLY_DROPPED = ("knowledge_base_files",)


def _metric_view(metric: Mapping[str, Any]) -> dict[str, Any]:
    """A metric as the lists (MetricList, MetricListSerializerV2) answer it (serialize it before the
    lock is released: it shares its values with the stored metric)."""
    return dict(metric)


def _metric_detail(metric: Mapping[str, Any]) -> dict[str, Any]:
    """A metric as detail, create and PATCH answer it (MetricDetailSerializerV2, which has
    ``knowledge_base_files`` as a string and no list-only fields; shares its values, as above)."""
    return {k: v for k, v in metric.items() if k not in _DETAIL_ONLY_DROPPED}


def _checked_metric(metric: dict[str, Any]) -> dict[str, Any]:
    """A metric after create or PATCH, or a DRF 400: the current eval_types (legacy binary names
    are mapped to binary, as the spec says), enum metrics need enum_values."""
    errors: dict[str, list[str]] = {}
    eval_type = metric.get("eval_type", "binary")
    if eval_type in LEGACY_BINARY:
        eval_type = "binary"
    if eval_type not in EVAL_TYPES:
        errors["eval_type"] = [f'"{eval_type}" is not a valid choice.']
    values = metric.get("enum_values") or []
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        errors["enum_values"] = ["Expected a list of strings."]
    elif eval_type == "enum" and not values:
        errors["enum_values"] = ["enum_values is required when eval_type is enum."]
    if not isinstance(metric.get("name"), str) or not metric["name"].strip():
        errors["name"] = ["This field may not be blank."]
    if errors:
        raise ApiAnswer(400, errors)
    return {**metric, "eval_type": eval_type, "enum_values": list(values)}


def _agent_v2(agent: Mapping[str, Any]) -> dict[str, Any]:
    """An agent in the v2 format (AIAgentV2): ``name``, and nested ``provider`` and ``telephony``."""
    return {
        "id": agent["id"],
        "name": agent.get("agent_name", ""),
        "description": agent.get("description", ""),
        "project": agent.get("project"),
        "language": agent.get("language", "en"),
        "telephony": {
            "phone_number": agent.get("contact_number", ""),
            "inbound": bool(agent.get("inbound", True)),
            "sip_uri": agent.get("sip_endpoint"),
            "websocket_url": agent.get("websocket_url"),
            "outbound_numbers": [],
        },
        "provider": {
            "type": agent.get("assistant_provider", ""),
            "agent_id": agent.get("assistant_id"),
            "chat_provider": "",
        },
        "agent_speaks_first": None,
        "knowledge_base_files": [],
        "enabled_personalities": [],
        "webhook_url": agent.get("webhook_url", ""),
        "webhook_secret_configured": agent.get("webhook_secret_configured", "false"),
        "mock_tools": [],
        "mock_tools_enabled": False,
        "mock_tools_provider": None,
        "dynamic_variables": [],
        "created_at": agent.get("created_at"),
        "updated_at": agent.get("updated_at"),
    }


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


@dataclass(frozen=True)
class _Page:
    """Which items one DRF page holds (``[start, stop)``) and its links."""

    start: int
    stop: int
    next: str | None
    previous: str | None


def _page(count: int, query: dict[str, list[str]], url: str, size: int) -> _Page:
    page = _int_param(query, "page")
    page = 1 if page is None else page
    if page != 1 and (page < 1 or (page - 1) * size >= count):
        raise ApiAnswer(404, {"detail": "Invalid page."})

    def link(number: int) -> str:
        params = {k: v[0] for k, v in query.items() if k != "page"}
        params["page"] = str(number)
        return f"{url}?{urlencode(params)}"

    return _Page(
        (page - 1) * size,
        min(page * size, count),
        link(page + 1) if page * size < count else None,
        link(page - 1) if page > 1 else None,
    )


@dataclass(frozen=True)
class Encoded:
    """An answer already serialized to JSON (a call-logs page): sent as these bytes."""

    data: bytes


def _encode(answer: Any) -> bytes:
    return answer.data if isinstance(answer, Encoded) else json.dumps(answer).encode()


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def _micros(moment: datetime) -> int:
    """Microseconds since the epoch: exact, where a float timestamp rounds."""
    return (moment - _EPOCH) // _MICROSECOND


@dataclass(frozen=True)
class _CallIndex:
    """One project's call logs, newest first (ties: the higher id first), each serialized once.

    ``keys`` holds each call's time, negated so that the list ascends and a window is two bisections;
    ``encoded`` the JSON of each call. A page is a slice of ``encoded`` joined: nothing is parsed or
    copied per request, and no call is held as objects.
    """

    keys: list[int]
    encoded: list[bytes]

    @classmethod
    def build(cls, calls: Iterable[Mapping[str, Any]]) -> _CallIndex:
        rows = []
        for call in calls:
            stamp = call.get("timestamp")
            when = _parse_time(stamp) if isinstance(stamp, str) else None
            if when is None:
                raise ValueError(f"call {call.get('id')!r}: timestamp {stamp!r} is not an ISO 8601 date-time")
            rows.append((_micros(when), call.get("id"), json.dumps(call).encode()))
        rows.sort(key=lambda row: (row[0], row[1]), reverse=True)
        return cls([-row[0] for row in rows], [row[2] for row in rows])

    def window(self, start: datetime, end: datetime) -> tuple[int, int]:
        """The calls with ``start <= timestamp <= end``: indexes ``[first, last)``."""
        return bisect.bisect_left(self.keys, -_micros(end)), bisect.bisect_right(self.keys, -_micros(start))


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
            peer=f"{self.client_address[0]}:{self.client_address[1]}",
        )
        state.record(request)
        if state.latency:
            time.sleep(state.latency)
        fault = state.take_fault(self.command, split.path)
        if fault and fault.kind == "edit":
            edit = fault.edit or {}
            if "metric" in edit:
                state.set_metric_fields(int(edit["metric"]), **edit.get("fields", {}))
            else:
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
            data = _encode(answer)
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
        data = b"" if status == 204 else _encode(body)
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
    request_queue_size = LISTEN_BACKLOG

    def __init__(self, port: int, state: EmulatorState) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.state = state

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up (its timeout, a test's interrupt) is no error of the emulator's; and
        # nothing goes to sys.stderr, which an in-process CLI under test may be capturing as its own.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        traceback.print_exc(file=sys.__stderr__)


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
    "ROUTES",
    "ApiKey",
    "EmulatorState",
    "Fault",
    "RecordedRequest",
    "RunningEmulator",
    "load_seed",
    "run_forever",
    "start",
]
