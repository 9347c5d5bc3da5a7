"""The Cekura API client: the only module that speaks HTTP and the only one that sees httpx errors.

It turns every failure into an ``ApiError`` subclass whose message names what was asked for and the
URL, and never contains the API key or a secret value in any form: every message and log line goes
through the client's ``Redactor`` (reconciler/redact.py), which knows the key and every secret value
a request carried (callers pass them in ``redact``), so even an error body, a header or a next-page
link that echoes one escaped or cut short is masked. Requests are logged here (method, path, status,
time), never their headers.

GETs are retried on connection errors, timeouts, 429 and 502/503/504, with exponential backoff and
jitter or the server's Retry-After, for as long as the retry budget (``RetryPolicy.budget``, 60 s by
default) allows: no wait goes past it, and a Retry-After longer than what is left of it ends the
retries at once instead of hanging. A PATCH is retried only when the server cannot have seen it
(connection refused, 429), so that an outcome is never guessed. Time is read from an injectable
``clock`` and waited with an injectable ``sleep``.
"""

from __future__ import annotations

import email.utils
import ipaddress
import logging
import math
import random
import threading
import time
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urljoin, urlsplit

import httpx

from reconciler import __version__
from reconciler.errors import (
    ApiError,
    AuthError,
    MalformedResponse,
    NotFoundError,
    RequestRejected,
    ServerError,
    TransportError,
)
from reconciler.redact import Redactor

log = logging.getLogger("reconciler.client")

DEFAULT_BASE_URL = "https://api.cekura.ai"
_RETRY_STATUSES = frozenset({429, 502, 503, 504})

# The documented current lists, each with the deprecated one used only when a server answers 404
# for the current one (an older deployment, or a proxy that does not route it yet).
METRICS_LISTS = ("/test_framework/v2/metrics/", "/test_framework/v1/metrics/")
AGENTS_LISTS = ("/test_framework/v2/aiagents/", "/test_framework/v1/aiagents/")
CALL_LOGS_LISTS = ("/observability/v2/call-logs/", "/observability/v1/call-logs/")
MAX_PAGES = 10_000
MAX_BODY_BYTES = 64 << 20  # one answer; a page of 100 call logs with transcripts is far less


@dataclass(frozen=True)
class RetryPolicy:
    """How long one request may keep being retried.

    ``budget``: seconds from the first attempt after which no retry starts (0: never retry); every
    wait, a Retry-After included, fits in what is left of it. ``attempts``: an optional cap on the
    number of attempts on top of that (None: the budget alone bounds them).
    """

    budget: float = 60.0
    base_delay: float = 0.5
    max_delay: float = 8.0
    attempts: int | None = None

    def backoff(self, waits: int) -> float:
        """The wait before retry number ``waits`` (1-based) when the server named none."""
        ceiling = min(self.max_delay, self.base_delay * (2 ** min(waits - 1, 32)))
        return random.uniform(ceiling / 2, ceiling)  # "equal jitter": never zero, never in lockstep


def check_base_url(base_url: str) -> str:
    """https, unless the host is loopback (the emulator, a local proxy). Returns it without a trailing /."""
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ApiError(f"--base-url {base_url!r} is not an http(s) URL")
    try:
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError:
        raise ApiError(f"--base-url {base_url!r} has an invalid port") from None
    # "?" and "#" themselves, not only a non-empty query or fragment: paths are appended to the base
    # URL, and after a bare `#` they would never be sent.
    if parts.username or parts.password or "?" in base_url or "#" in base_url:
        raise ApiError(
            "--base-url must be scheme://host[:port][/path] only: no user name or password (the key "
            "goes in CEKURA_API_KEY), no ?query and no #fragment"
        )
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        raise ApiError(
            f"--base-url {base_url} uses plain http to a non-loopback host; the API key would travel "
            "unencrypted. Use https (plain http is allowed only for 127.0.0.1/localhost)"
        )
    return base_url.rstrip("/")


_LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
_DEFAULT_PORTS = {"http": 80, "https": 443}


def same_server(a: str, b: str) -> bool:
    """Whether two base URLs name the same API: scheme, host and path compared without case (host)
    or trailing slash, a default port equal to none, and `localhost`, `127.0.0.1` and `[::1]` one
    host (the emulator is reached by any of them). A saved plan or journal entry made against one
    applies against the other."""

    def key(url: str) -> tuple[str, str, int | None, str]:
        parts = urlsplit(url.strip())
        scheme = parts.scheme.lower()
        host = (parts.hostname or "").lower()
        try:
            port = parts.port
        except ValueError:
            port = None
        if host in _LOOPBACK_NAMES:
            host = "loopback"
        return scheme, host, port if port is not None else _DEFAULT_PORTS.get(scheme), parts.path.rstrip("/")

    return key(a) == key(b)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _retry_after(response: httpx.Response) -> float | None:
    """Seconds the server asks to wait: >= 0, possibly ``inf``; None when it names no usable wait.

    Delay-seconds or an HTTP-date (a date in the past: 0). NaN, a negative number and anything else
    (a proxy's garbage) are ignored, never a crash: the normal backoff applies.
    """
    value = response.headers.get("Retry-After", "").strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            parsed = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        if parsed.tzinfo is None:  # HTTP-dates are GMT
            parsed = parsed.replace(tzinfo=UTC)
        return max(0.0, parsed.timestamp() - time.time())
    return seconds if seconds >= 0 else None  # NaN compares False: ignored too


def _seconds(value: float) -> str:
    return "without end" if math.isinf(value) else f"{value:.3g} s" if value < 1000 else f"{value:.0f} s"


def describe_drf_body(body: Any) -> str:
    """DRF errors -> one readable line: ``field: message; other.sub: message``."""
    if isinstance(body, dict):
        if set(body) == {"detail"}:
            return str(body["detail"])
        parts = []
        for key, value in body.items():
            inner = describe_drf_body(value)
            parts.append(inner if key in ("detail", "non_field_errors") else f"{key}: {inner}")
        return "; ".join(parts)
    if isinstance(body, list):
        return " ".join(describe_drf_body(item) for item in body)
    return str(body)


class RateLimiter:
    """A request rate shared by every thread of one client: at most ``rate`` requests a second,
    and a pause for everyone when the server answers 429 with Retry-After."""

    def __init__(
        self,
        rate: float | None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        max_pause: float = 60.0,
    ) -> None:
        self.interval = 1.0 / rate if rate else 0.0
        self._clock, self._sleep = clock, sleep
        self.max_pause = max_pause
        self._next = 0.0
        self._paused_until = 0.0
        self._lock = threading.Lock()

    def pause(self, seconds: float) -> None:
        """Hold every request for ``seconds``, at most ``max_pause``; NaN or a negative is ignored."""
        if not seconds > 0:
            return
        with self._lock:
            self._paused_until = max(self._paused_until, self._clock() + min(seconds, self.max_pause))

    def acquire(self) -> None:
        """Wait for this request's slot (the slot is taken under the lock, the wait outside it)."""
        with self._lock:
            now = self._clock()
            at = max(now, self._paused_until, self._next if self.interval else now)
            if self.interval:
                self._next = at + self.interval
        if at > now:
            self._sleep(at - now)


def _shown(url: str) -> str:
    """A request's path?query, as the log shows it (made only when something is logged)."""
    return urlsplit(url)._replace(scheme="", netloc="").geturl()


class _NoCookies(httpx.Cookies):
    """A cookie store that never stores one."""

    def extract_cookies(self, response: httpx.Response) -> None:
        return None


class _Http(httpx.Client):
    """httpx's client without a cookie store. The API authenticates by key, never by cookie, yet
    httpx passed every answer through urllib's cookie machinery (9% of the CPU of a plan of 2,000
    projects, in profiles), and a server or proxy could have set cookies that every later request
    sent back."""

    _no_cookies = _NoCookies()

    @property
    def cookies(self) -> httpx.Cookies:
        return self._no_cookies

    @cookies.setter
    def cookies(self, cookies: Any) -> None:
        raise TypeError("the Cekura client keeps no cookies")


class CekuraClient:
    """A small typed client for the endpoints the reconciler needs."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        max_rps: float | None = None,
        redactor: Redactor | None = None,
        parallelism: int = 1,
    ) -> None:
        """``parallelism``: how many threads will share this client; the pool keeps that many
        connections open between requests."""
        # The key is masked from the start: even check_base_url's message goes through the redactor.
        self.redactor = redactor if redactor is not None else Redactor()
        self.redactor.add(api_key)
        try:
            self.base_url = check_base_url(base_url)
        except ApiError as exc:
            raise ApiError(self.redactor(str(exc))) from None
        self.retry = retry or RetryPolicy()
        self.timeout = timeout
        self._clock, self._sleep = clock, sleep
        self.limiter = RateLimiter(max_rps, clock=clock, sleep=sleep, max_pause=self.retry.budget)
        self._legacy_only: set[str] = set()  # current lists this server answered 404 for
        self._http = _Http(
            base_url=self.base_url,
            headers={
                "X-CEKURA-API-KEY": api_key,
                "User-Agent": f"cekura-reconciler/{__version__}",
                "Accept": "application/json",
            },
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            transport=transport,
            follow_redirects=False,
            # TLS is verified for every https base URL. Plain http is only accepted for loopback
            # hosts (check_base_url), redirects are not followed and pages are followed on the same
            # origin only, so such a client never opens a TLS connection: skip building the
            # certificate store (~40 ms of start-up per run).
            verify=self.base_url.startswith("https://"),
            # One kept-alive connection per thread. httpx keeps 20 by default: at --parallelism 32
            # or 64 every round of requests closed the extra connections and opened new ones (a
            # TCP and, for https, a TLS handshake per request beyond 20). Never fewer than
            # httpx's own 100 allowed open, so no thread ever waits for the pool.
            limits=httpx.Limits(
                max_connections=max(100, parallelism), max_keepalive_connections=max(20, parallelism)
            ),
        )
        self._extensions = {"timeout": self._http.timeout.as_dict()}

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> CekuraClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- endpoints -------------------------------------------------------------------------------

    def get_project(self, project_id: int) -> dict[str, Any]:
        body = self._request("GET", f"/user/v1/projects/{project_id}/", what=f"project {project_id}")
        return _expect_object(body, f"project {project_id}")

    def patch_project(
        self, project_id: int, body: dict[str, Any], *, redact: Collection[str] = ()
    ) -> dict[str, Any]:
        """``redact``: the secret values in ``body``; from now on the client masks them everywhere."""
        self.redactor.add(*redact)
        answer = self._request(
            "PATCH", f"/user/v1/projects/{project_id}/", what=f"project {project_id}", json=body
        )
        return _expect_object(answer, f"project {project_id}")

    def list_projects(self) -> list[dict[str, Any]]:
        """Every project the key can see. The API answers a bare array (it documents no paging);
        a paginated answer (``results`` and ``next``) is followed too, on the base URL."""
        return [item for page in self._pages("/user/v1/projects/", {}, "the projects") for item in page]

    def list_metrics(
        self, *, project_id: int | None = None, agent_id: int | None = None
    ) -> list[dict[str, Any]]:
        params = {k: str(v) for k, v in (("project_id", project_id), ("agent_id", agent_id)) if v is not None}
        owner = f"project {project_id}" if project_id is not None else f"agent {agent_id}"
        what = f"the metrics of {owner}"
        return list(self._list_current(METRICS_LISTS, params, what))

    def write_object(self, method: str, path: str, body: dict[str, Any] | None, *, what: str) -> Any:
        """One write of an object kind (POST, PATCH by id, DELETE) on the configured base URL;
        its answer (None for a 204). Retried only when the server cannot have seen it."""
        return self._request(method, path, what=what, json=body)

    def create_metric(self, body: dict[str, Any]) -> dict[str, Any]:
        """POST a metric (``body`` names its ``project``); the API's answer, with the new id."""
        answer = self._request(
            "POST", METRICS_LISTS[0], what=f"metric {body.get('slug') or ''}".strip(), json=body
        )
        return _expect_object(answer, "the created metric")

    def patch_metric(self, metric_id: int, body: dict[str, Any]) -> dict[str, Any]:
        """PATCH the fields of ``body`` of one metric."""
        answer = self._request(
            "PATCH", f"{METRICS_LISTS[0]}{metric_id}/", what=f"metric {metric_id}", json=body
        )
        return _expect_object(answer, f"metric {metric_id}")

    def delete_metric(self, metric_id: int) -> None:
        """DELETE one metric (the API answers 204, no body)."""
        self._request("DELETE", f"{METRICS_LISTS[0]}{metric_id}/", what=f"metric {metric_id}")

    def list_agents(self, project_id: int) -> list[dict[str, Any]]:
        return list(
            self._list_current(
                AGENTS_LISTS, {"project_id": str(project_id)}, f"the agents of project {project_id}"
            )
        )

    def iter_call_logs(
        self, project_id: int, start: datetime, end: datetime, *, page_size: int = 100
    ) -> Iterator[dict[str, Any]]:
        """The production calls of a project between ``start`` and ``end``, one at a time.

        Pages ``/observability/v2/call-logs/`` (v1 only where a server answers 404 for v2) by
        following ``next``, so only one page is in memory. The API refuses a window wider than 33
        days (400): split longer spans first (``reconciler.impact.split_window``). Naive datetimes
        are taken as UTC. Which end is inclusive is the server's business; callers that stitch
        windows de-duplicate at the seams.
        """
        stamps = []
        for moment in (start, end):
            moment = (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)
            stamps.append(moment.isoformat().replace("+00:00", "Z"))
        params = {
            "project_id": str(project_id),
            "timestamp_from": stamps[0],
            "timestamp_to": stamps[1],
            "page_size": str(page_size),
        }
        return self._list_current(CALL_LOGS_LISTS, params, f"the call logs of project {project_id}")

    # -- plumbing --------------------------------------------------------------------------------

    def _list_current(
        self, paths: tuple[str, str], params: dict[str, str], what: str
    ) -> Iterator[dict[str, Any]]:
        """The items of the current list ``paths[0]``; the deprecated ``paths[1]`` only when the
        server answers 404 for the current one's first page (remembered for this client)."""
        current, legacy = paths
        if current not in self._legacy_only:
            pages = self._pages(current, params, what)
            try:
                first = next(pages, None)
            except NotFoundError as missing:
                self._legacy_only.add(current)
                log.debug("%s%s answered 404; using %s: %s", self.base_url, current, legacy, missing)
            else:
                if first is None:
                    return
                yield from first
                for page in pages:
                    yield from page
                return
        try:
            for page in self._pages(legacy, params, what):
                yield from page
        except ApiError as exc:
            # Say that the current list was tried first: a 410 here means v1 is gone and v2 is not
            # routed either (a proxy?), not that the tool asked for the wrong thing.
            raise type(exc)(
                f"{exc} (tried because {self.base_url}{current} answered 404 for {what})"
            ) from None

    def _pages(self, path: str, params: dict[str, str], what: str) -> Iterator[list[dict[str, Any]]]:
        """Each page's items. A list answer may be a bare array or DRF-paginated; ``next`` is
        followed by its path and query on the configured base URL, whatever scheme or host it
        names (a proxy may write http:// or an internal host there), so the key never goes to
        another host. ``count`` is never trusted: the pages end when ``next`` does. A ``next``
        that leads back to a page already read is an error, not an endless loop."""
        url = path
        query: dict[str, str] | None = params
        seen = {_page_key(path, params)}
        for _ in range(MAX_PAGES):
            body = self._request("GET", url, what=what, params=query)
            if isinstance(body, list):
                yield [item for item in body if isinstance(item, dict)]
                return
            if not (isinstance(body, dict) and isinstance(body.get("results"), list)):
                raise self._redacted(
                    MalformedResponse(
                        f"{what}: expected a list or a paginated object from {self.base_url}{path}"
                    )
                )
            yield [item for item in body["results"] if isinstance(item, dict)]
            link = body.get("next")
            if not link:
                return
            if not isinstance(link, str):
                raise self._redacted(MalformedResponse(f"{what}: the next page link is not a URL: {link!r}"))
            url, query = self._same_origin(link, url), None
            key = _page_key(url, {})
            if key in seen:
                raise self._redacted(
                    MalformedResponse(f"{what}: the next page ({link}) is one already read; stopping")
                )
            seen.add(key)
        raise MalformedResponse(f"{what}: more than {MAX_PAGES:,} pages; giving up")

    def _same_origin(self, link: str, current: str) -> str:
        """``link`` (a ``next`` URL, absolute or relative to the page ``current``) as a path and
        query on the configured base URL: the base's own path prefix is not repeated."""
        parts = urlsplit(link)
        if not parts.scheme and not parts.netloc:
            parts = urlsplit(urljoin(urlsplit(current).path, link))
        path = parts.path or urlsplit(current).path
        prefix = urlsplit(self.base_url).path.rstrip("/")
        if prefix and (path == prefix or path.startswith(prefix + "/")):
            path = path[len(prefix) :] or "/"
        if not path.startswith("/") or path.startswith("//"):
            # "http:http://host/x" has a scheme, no host and a URL for a path; "//host/x" reads as
            # a host. Sent as they are, either would take the key to that host.
            raise self._redacted(
                MalformedResponse(f"the next page link ({link}) names no path on {self.base_url}")
            )
        if parts.netloc and (parts.scheme, parts.netloc) != urlsplit(self.base_url)[:2]:
            log.debug("next page link names %s://%s; following its path on %s", *parts[:2], self.base_url)
        return path + (f"?{parts.query}" if parts.query else "")

    def _request(
        self,
        method: str,
        url: str,
        *,
        what: str,
        params: dict[str, str] | None = None,
        json: Any = None,
    ) -> Any:
        try:
            return self._retrying(method, url, what=what, params=params, json=json)
        except ApiError as exc:
            raise self._redacted(exc) from None

    def _retrying(self, method: str, url: str, *, what: str, params: dict[str, str] | None, json: Any) -> Any:
        full = url if url.startswith("http") else f"{self.base_url}{url}"
        budget = self.retry.budget
        started = self._clock()
        attempt = waits = 0
        while True:
            attempt += 1
            retry_after: float | None = None
            shared_pause = False
            failure: ApiError
            self.limiter.acquire()
            sent_at = self._clock()
            try:
                response = self._read_bounded(method, full, params=params, json=json, what=what)
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
                # Nothing reached the server: safe to retry for any method.
                self._log_request(method, full, "not sent", sent_at)
                failure = TransportError(f"cannot reach {full} for {what}: {_reason(exc)}{self._hint(exc)}")
            except httpx.HTTPError as exc:
                self._log_request(method, full, "no answer", sent_at)
                sent = method != "GET"
                failure = TransportError(
                    f"{method} {full} for {what} did not complete: {_reason(exc)}{self._hint(exc)}",
                    maybe_sent=sent,
                )
                if sent:
                    raise failure from None
            else:
                self._log_request(method, full, str(response.status_code), sent_at)
                if response.status_code not in _RETRY_STATUSES or (
                    method != "GET" and response.status_code != 429
                ):
                    return self._answer(response, method, full, what)
                retry_after = _retry_after(response)
                shared_pause = response.status_code == 429
                failure = self._error(response, method, full, what)
            left = budget - (self._clock() - started)
            if retry_after is not None and retry_after > left:
                raise _noted(
                    failure,
                    f"; the server asks to wait {_seconds(retry_after)} before retrying, more than the "
                    f"{budget:g} s retry budget has left (--retry-budget)",
                )
            if retry_after is None:
                waits += 1  # the backoff grows with its own waits; a Retry-After does not count
            wait = retry_after if retry_after is not None else self.retry.backoff(waits)
            if wait > left or (self.retry.attempts is not None and attempt >= self.retry.attempts):
                if attempt == 1:
                    raise failure
                spent = self._clock() - started
                raise _noted(failure, f" ({attempt} attempts in {spent:.1f} s; --retry-budget {budget:g})")
            if shared_pause and retry_after is not None:
                self.limiter.pause(wait)  # every thread waits, not only this one
            log.debug(
                "%s",
                self.redactor(
                    f"retrying {method} {_shown(full)} in {wait:.2f} s (attempt {attempt + 1}): {failure}"
                ),
            )
            self._sleep(wait)

    def _hint(self, exc: httpx.HTTPError) -> str:
        """What to check when the server cannot be reached or does not answer in time."""
        if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
            host = urlsplit(self.base_url).hostname or ""
            server = (
                "that the emulator is running there (cekura-reconciler emulator --port PORT)"
                if _is_loopback(host)
                else "the network (proxy, firewall, DNS)"
            )
            return f"; check --base-url (or CEKURA_BASE_URL) and {server}"
        if isinstance(exc, httpx.ReadTimeout | httpx.WriteTimeout):
            return (
                f"; no answer within --timeout {self.timeout:g} s: raise --timeout if the API is slow, "
                "or check --base-url"
            )
        return ""

    def _read_bounded(
        self, method: str, url: str, *, params: dict[str, str] | None, json: Any, what: str
    ) -> httpx.Response:
        """The answer, its body read whole but never past MAX_BODY_BYTES (decoded): a body without
        end (a broken proxy, a hostile server; the read timeout is per chunk) is refused, not
        read until memory runs out."""
        # ``url`` is the full URL (the base URL and the path). The request is the one build_request
        # makes (the client's headers and timeout) without merging a relative URL into the base URL:
        # two more parses, half of a request's CPU before it is sent (16-32 us of 36-60).
        request = httpx.Request(
            method, url, params=params, json=json, headers=self._http.headers, extensions=self._extensions
        )
        response = self._http.send(request, stream=True)
        length = response.headers.get("content-length", "")
        encoding = response.headers.get("content-encoding", "identity").strip().lower()
        if length.isdigit() and int(length) <= MAX_BODY_BYTES and encoding in ("identity", ""):
            # The usual answer, bounded already: its framing ends the body at Content-Length and
            # nothing is decoded. Read as httpx reads it, without copying it into a new response.
            try:
                response.read()
            finally:
                response.close()
                _release(response)
            return response
        body = bytearray()
        try:
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > MAX_BODY_BYTES:
                    raise MalformedResponse(
                        f"{method} {request.url} for {what} answered {response.status_code} with a body "
                        f"larger than {MAX_BODY_BYTES >> 20} MiB; stopped reading it"
                    )
        finally:
            response.close()
            _release(response)
        # The body is decoded already: the new answer must not decode it again.
        headers = [
            (k, v)
            for k, v in response.headers.multi_items()
            if k.lower() not in ("content-encoding", "content-length", "transfer-encoding")
        ]
        return httpx.Response(
            response.status_code,
            headers=headers,
            content=bytes(body),
            request=request,
            extensions=response.extensions,
        )

    def _log_request(self, method: str, full: str, outcome: str, sent_at: float) -> None:
        """One line per request: never its headers or body (httpx's and httpcore's logs are off)."""
        if log.isEnabledFor(logging.DEBUG):
            elapsed = 1000 * (self._clock() - sent_at)
            log.debug("%s", self.redactor(f"{method} {_shown(full)} -> {outcome} ({elapsed:.0f} ms)"))

    def _redacted(self, error: ApiError) -> ApiError:
        """``error`` with its message masked (same type, same ``maybe_sent``)."""
        error.args = (self.redactor(str(error)),)
        return error

    def _answer(self, response: httpx.Response, method: str, full: str, what: str) -> Any:
        if response.status_code >= 400:
            raise self._error(response, method, full, what)
        if response.status_code == 204:
            return None  # No Content (a DELETE): there is no body to read
        try:
            return response.json()
        except ValueError:
            raise MalformedResponse(
                f"{method} {full} for {what} answered {response.status_code} with a body that is not "
                f"valid JSON "
                f"({len(response.content)} bytes of {response.headers.get('content-type', 'unknown type')})"
            ) from None

    def _error(self, response: httpx.Response, method: str, full: str, what: str) -> ApiError:
        status = response.status_code
        try:
            detail = describe_drf_body(response.json())
        except ValueError:
            detail = response.reason_phrase
        if status == 401:
            return AuthError(
                f"authentication failed for {what} at {full} (401): {detail.rstrip('.')}. "
                "Check CEKURA_API_KEY or --api-key-file"
            )
        if status == 403:
            # Cekura has organization, project and read-only keys: say which scope is missing.
            lacks = "has no access to" if method == "GET" else "lacks write permission on"
            return AuthError(
                f"permission denied for {what} at {full} (403): the API key {lacks} it: {detail}"
            )
        if status == 404:
            return NotFoundError(f"{what} not found at {full} (404): check the id and --base-url")
        if status >= 500 or status in _RETRY_STATUSES:
            return ServerError(f"{method} {full} for {what} failed with {status}: {detail}")
        return RequestRejected(f"the API rejected {method} {full} for {what} ({status}): {detail}")


def _release(response: httpx.Response) -> None:
    """Break the reference cycle httpx leaves between a response and its stream, once read and
    closed: the response is then freed as soon as it is done with, not when the cycle collector
    runs (rarely, in the CLI: cli.py), which let pages of call logs pile up."""
    try:
        content = response.content
    except httpx.ResponseNotRead:  # a read that failed, or the bounded read: its body is elsewhere
        content = b""
    response.stream = httpx.ByteStream(content)


def _noted(error: ApiError, note: str) -> ApiError:
    error.args = (f"{error}{note}",)
    return error


def _page_key(url: str, params: dict[str, str]) -> tuple[str, tuple[tuple[str, str], ...]]:
    parts = urlsplit(url)
    return parts.path, tuple(sorted([*parse_qsl(parts.query), *params.items()]))


def _reason(exc: httpx.HTTPError) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return f"timed out ({type(exc).__name__})"
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0]


def _expect_object(body: Any, what: str) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise MalformedResponse(f"{what}: expected a JSON object, got {type(body).__name__}")
    return body
