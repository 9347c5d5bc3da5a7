"""Unit tests of the API client over httpx.MockTransport: auth, errors, retries, redaction."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from datetime import datetime

import httpx
import pytest

from reconciler.client import CekuraClient, RetryPolicy, describe_drf_body
from reconciler.errors import (
    ApiError,
    AuthError,
    MalformedResponse,
    NotFoundError,
    RequestRejected,
    ServerError,
    TransportError,
)

KEY = "ck_live_0123456789abcdef"
BASE = "https://api.example.test"


def make(
    handler: Callable[[httpx.Request], httpx.Response], *, attempts: int = 4
) -> tuple[CekuraClient, list[float]]:
    sleeps: list[float] = []
    client = CekuraClient(
        BASE,
        KEY,
        transport=httpx.MockTransport(handler),
        retry=RetryPolicy(attempts=attempts, base_delay=0.01, max_delay=0.02, budget=5),
        sleep=sleeps.append,
    )
    return client, sleeps


def test_sends_the_key_header_and_reads_a_project() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"id": 7, "name": "x"})

    client, _ = make(handler)
    assert client.get_project(7) == {"id": 7, "name": "x"}
    assert seen[0].headers["X-CEKURA-API-KEY"] == KEY
    assert seen[0].url.path == "/user/v1/projects/7/"


@pytest.mark.parametrize(
    ("status", "error", "words"),
    [
        (401, AuthError, "authentication failed for project 7"),
        (
            403,
            AuthError,
            "permission denied for project 7 at https://api.example.test/user/v1/projects/7/ (403): "
            "the API key has no access to it",
        ),
        (404, NotFoundError, "project 7 not found at https://api.example.test/user/v1/projects/7/"),
        (400, RequestRejected, "sample_rate: A valid number is required."),
    ],
)
def test_errors_are_one_line_and_never_show_the_key(status: int, error: type[ApiError], words: str) -> None:
    body = {"sample_rate": ["A valid number is required."]} if status == 400 else {"detail": f"bad key {KEY}"}
    client, _ = make(lambda request: httpx.Response(status, json=body))
    with pytest.raises(error) as info:
        client.get_project(7)
    message = str(info.value)
    assert words in message
    assert KEY not in message
    assert "\n" not in message


def test_drf_bodies_are_readable() -> None:
    assert describe_drf_body({"detail": "Not found."}) == "Not found."
    assert (
        describe_drf_body(
            {"name": ["This field may not be blank."], "rubric_config": {"rules": ["Bad rule."]}}
        )
        == "name: This field may not be blank.; rubric_config: rules: Bad rule."
    )
    assert describe_drf_body({"non_field_errors": ["Nope."]}) == "Nope."


def test_get_retries_on_503_and_honours_retry_after() -> None:
    answers = iter(
        [httpx.Response(503, headers={"Retry-After": "2"}), httpx.Response(429), httpx.Response(200, json={})]
    )
    client, sleeps = make(lambda request: next(answers))
    assert client.get_project(1) == {}
    assert sleeps[0] == 2.0
    assert len(sleeps) == 2


def test_get_gives_up_after_bounded_attempts() -> None:
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(502, json={"detail": "bad gateway"})

    client, _ = make(handler, attempts=3)
    with pytest.raises(ServerError):
        client.get_project(1)
    assert len(calls) == 3


def test_get_retries_connection_errors() -> None:
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        if len(calls) < 3:
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(200, json={"id": 1})

    client, _ = make(handler)
    assert client.get_project(1) == {"id": 1}


def test_patch_is_not_retried_on_a_server_error() -> None:
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(503)

    client, _ = make(handler)
    with pytest.raises(ServerError):
        client.patch_project(1, {"name": "x"})
    assert len(calls) == 1


def test_patch_read_timeout_is_maybe_sent() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    client, _ = make(handler)
    with pytest.raises(TransportError) as info:
        client.patch_project(1, {"name": "x"})
    assert info.value.maybe_sent


def test_patch_connect_error_is_retried_because_nothing_was_sent() -> None:
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        if len(calls) == 1:
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(200, json={"id": 1})

    client, _ = make(handler)
    assert client.patch_project(1, {"name": "x"}) == {"id": 1}


def test_error_bodies_echoing_a_secret_are_scrubbed() -> None:
    secret = "whsec_supersecret_value"
    client, _ = make(
        lambda request: httpx.Response(400, json={"webhook_secret": [f"'{secret}' is too long"]})
    )
    with pytest.raises(RequestRejected) as info:
        client.patch_project(1, {"webhook_secret": secret}, redact=[secret])
    assert secret not in str(info.value)
    assert "(sensitive)" in str(info.value)


def test_malformed_json_is_an_error_not_a_crash() -> None:
    client, _ = make(lambda request: httpx.Response(200, content=b"<html>oops"))
    with pytest.raises(MalformedResponse):
        client.get_project(1)
    client, _ = make(lambda request: httpx.Response(200, json=[1, 2]))
    with pytest.raises(MalformedResponse):
        client.get_project(1)


def test_lists_accept_bare_arrays_and_follow_pages() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.startswith("/test_framework/v2/metrics/"):
            return httpx.Response(200, json=[{"id": 1}, {"id": 2}])
        page = request.url.params.get("page")
        if page is None:
            return httpx.Response(
                200,
                json={
                    "count": 3,
                    "next": f"{BASE}/test_framework/v2/aiagents/?page=2",
                    "results": [{"id": 1}],
                },
            )
        return httpx.Response(200, json={"count": 3, "next": None, "results": [{"id": 2}, {"id": 3}]})

    client, _ = make(handler)
    assert [m["id"] for m in client.list_metrics(project_id=1)] == [1, 2]
    assert [a["id"] for a in client.list_agents(1)] == [1, 2, 3]


def test_next_page_on_another_server_is_followed_on_the_base_url_only() -> None:
    """A proxy may write another scheme or host into ``next``: its path and query are followed on
    the configured base URL, and the key never goes to the other host."""
    seen: list[httpx.URL] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url)
        if request.url.params.get("page") == "2":
            return httpx.Response(200, json={"count": 2, "next": None, "results": [{"id": 2}]})
        nxt = "http://cekura-internal:8000/test_framework/v2/aiagents/?project_id=1&page=2"
        return httpx.Response(200, json={"count": 2, "next": nxt, "results": [{"id": 1}]})

    client, _ = make(handler)
    assert [a["id"] for a in client.list_agents(1)] == [1, 2]
    assert [(u.scheme, u.host) for u in seen] == [("https", "api.example.test")] * 2
    assert seen[1].path == "/test_framework/v2/aiagents/"
    assert dict(seen[1].params) == {"project_id": "1", "page": "2"}


@pytest.mark.parametrize(
    "link",
    [
        "https://api.example.test/cekura/test_framework/v2/aiagents/?project_id=1&page=2",  # rewritten
        "http://10.0.0.7:8000/test_framework/v2/aiagents/?project_id=1&page=2",  # the backend's own
        "/cekura/test_framework/v2/aiagents/?project_id=1&page=2",
        "?project_id=1&page=2",
    ],
)
def test_next_page_under_a_base_url_with_a_path_keeps_the_prefix_once(link: str) -> None:
    seen: list[httpx.URL] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url)
        if request.url.params.get("page") == "2":
            return httpx.Response(200, json={"next": None, "results": [{"id": 2}]})
        return httpx.Response(200, json={"next": link, "results": [{"id": 1}]})

    client = CekuraClient(
        "https://api.example.test/cekura", KEY, transport=httpx.MockTransport(handler), sleep=lambda s: None
    )
    assert [a["id"] for a in client.list_agents(1)] == [1, 2]
    assert [u.path for u in seen] == ["/cekura/test_framework/v2/aiagents/"] * 2
    assert seen[1].host == "api.example.test"
    assert seen[1].params["page"] == "2"


def test_pages_that_lead_back_to_a_page_already_read_are_an_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        page = int(request.url.params.get("page", "1"))
        following = f"{BASE}/test_framework/v2/aiagents/?project_id=1&page={page % 2 + 1}"
        return httpx.Response(200, json={"count": 1, "next": following, "results": [{"id": page}]})

    client, _ = make(handler)
    with pytest.raises(MalformedResponse, match="already read"):
        client.list_agents(1)


def test_count_is_never_trusted() -> None:
    """Pages end where ``next`` does: a low count does not stop early, a high one does not go on."""
    pages = {
        None: {"count": 1, "next": f"{BASE}/test_framework/v2/aiagents/?page=2", "results": [{"id": 1}]},
        "2": {"count": 1, "next": f"{BASE}/test_framework/v2/aiagents/?page=3", "results": [{"id": 2}]},
        "3": {"count": 99, "next": None, "results": [{"id": 3}]},
    }
    client, _ = make(lambda request: httpx.Response(200, json=pages[request.url.params.get("page")]))
    assert [a["id"] for a in client.list_agents(1)] == [1, 2, 3]


def test_lists_use_the_current_endpoints_and_v1_only_where_v2_is_404() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        if request.url.path == "/test_framework/v2/metrics/":
            return httpx.Response(404, json={"detail": "Not found."})
        if request.url.path == "/test_framework/v1/metrics/":
            return httpx.Response(200, json=[{"id": 1}])
        return httpx.Response(200, json={"count": 1, "next": None, "results": [{"id": 9}]})

    client, _ = make(handler)
    assert [m["id"] for m in client.list_metrics(project_id=1)] == [1]
    assert [m["id"] for m in client.list_metrics(agent_id=2)] == [1]
    assert [a["id"] for a in client.list_agents(1)] == [9]
    assert list(client.iter_call_logs(1, datetime(2026, 1, 1), datetime(2026, 1, 2))) == [{"id": 9}]
    assert seen == [
        "/test_framework/v2/metrics/",
        "/test_framework/v1/metrics/",
        "/test_framework/v1/metrics/",  # this server's answer is remembered: no second 404
        "/test_framework/v2/aiagents/",
        "/observability/v2/call-logs/",
    ]


@pytest.mark.parametrize(("status", "error"), [(403, AuthError), (500, ServerError), (410, RequestRejected)])
def test_no_fallback_to_v1_for_anything_but_404(status: int, error: type[ApiError]) -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        return httpx.Response(status, json={"detail": "no"})

    client, _ = make(handler, attempts=1)
    with pytest.raises(error):
        client.list_agents(1)
    assert seen == ["/test_framework/v2/aiagents/"]


def test_a_failing_fallback_says_that_v2_was_404() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if "/v2/" in request.url.path:
            return httpx.Response(404, json={"detail": "Not found."})
        return httpx.Response(410, json={"detail": "This API version has been retired."})

    client, _ = make(handler)
    with pytest.raises(RequestRejected) as info:
        list(client.iter_call_logs(1, datetime(2026, 1, 1), datetime(2026, 1, 2)))
    message = str(info.value)
    assert "/observability/v1/call-logs/" in message and "(410)" in message
    assert f"tried because {BASE}/observability/v2/call-logs/ answered 404" in message
    assert KEY not in message


@pytest.mark.parametrize("url", ["http://api.cekura.ai", "ftp://x", "http://10.0.0.1:8000"])
def test_plain_http_only_to_loopback(url: str) -> None:
    with pytest.raises(ApiError):
        CekuraClient(url, KEY)


@pytest.mark.parametrize("url", ["http://127.0.0.1:8787", "http://localhost:1", "http://[::1]:2", BASE])
def test_loopback_and_https_are_allowed(url: str) -> None:
    CekuraClient(url, KEY).close()


def test_request_body_is_json() -> None:
    bodies: list[object] = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.content))
        return httpx.Response(200, json={})

    client, _ = make(handler)
    client.patch_project(3, {"sample_rate": 0.5})
    assert bodies == [{"sample_rate": 0.5}]


def test_rate_limiter_spaces_requests_and_shares_a_429_pause() -> None:
    from reconciler.client import RateLimiter

    now = [100.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(round(seconds, 6))
        now[0] += seconds

    limiter = RateLimiter(4.0, clock=lambda: now[0], sleep=sleep)
    for _ in range(3):
        limiter.acquire()
    assert slept == [0.25, 0.25]  # the first goes at once, then one every 1/4 s
    limiter.pause(2.0)
    limiter.acquire()
    assert slept[-1] == 2.0
    unlimited = RateLimiter(None, clock=lambda: now[0], sleep=sleep)
    before = len(slept)
    unlimited.acquire()
    unlimited.acquire()
    assert len(slept) == before  # no limit: no waiting


def test_tls_is_verified_for_https_base_urls() -> None:
    import ssl

    from reconciler.client import CekuraClient

    with CekuraClient("https://api.cekura.ai", "k") as client:
        context = client._http._transport._pool._ssl_context  # type: ignore[attr-defined]
        assert context.verify_mode == ssl.CERT_REQUIRED
        assert context.check_hostname is True


# -- retries bounded by a time budget, on an injected clock --------------------------------------


class FakeClock:
    """Monotonic time that moves only when the client sleeps: no test waits for real."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert math.isfinite(seconds) and seconds >= 0, seconds
        self.slept.append(seconds)
        self.now += seconds


def timed(
    handler: Callable[[httpx.Request], httpx.Response], *, budget: float = 60.0, max_rps: float | None = None
) -> tuple[CekuraClient, FakeClock]:
    clock = FakeClock()
    client = CekuraClient(
        BASE,
        KEY,
        transport=httpx.MockTransport(handler),
        retry=RetryPolicy(budget=budget),
        clock=clock,
        sleep=clock.sleep,
        max_rps=max_rps,
    )
    return client, clock


def answers(*responses: httpx.Response | type[Exception]) -> Callable[[httpx.Request], httpx.Response]:
    queue = list(responses)

    def handler(request: httpx.Request) -> httpx.Response:
        answer = queue.pop(0) if queue else httpx.Response(200, json={"id": 1})
        if isinstance(answer, httpx.Response):
            return answer
        raise answer("injected", request=request)  # type: ignore[call-arg]

    return handler


def test_a_short_outage_of_429s_503s_and_drops_on_one_get_is_ridden_out() -> None:
    outage: list[httpx.Response | type[Exception]] = [
        httpx.Response(429, headers={"Retry-After": "3"}),
        httpx.Response(429, headers={"Retry-After": "3"}),
        httpx.Response(503),
        httpx.Response(503),
        httpx.Response(502),
        httpx.ConnectError,
        httpx.RemoteProtocolError,
        httpx.ReadTimeout,
        httpx.Response(504),
    ]
    client, clock = timed(answers(*outage))
    assert client.get_project(1) == {"id": 1}
    assert len(clock.slept) == len(outage)
    assert clock.slept[:2] == [3.0, 3.0]
    assert sum(clock.slept) <= 60.0


def test_a_get_that_keeps_failing_gives_up_when_the_budget_is_spent() -> None:
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(503, json={"detail": "busy"})

    client, clock = timed(handler, budget=20)
    with pytest.raises(ServerError, match=r"failed with 503: busy .*attempts in .* s; --retry-budget 20"):
        client.get_project(1)
    assert len(calls) > 4  # bounded by time, not by a small count
    assert sum(clock.slept) <= 20
    assert all(0 < seconds <= 8.0 for seconds in clock.slept)  # exponential backoff, capped at 8 s


@pytest.mark.parametrize(
    ("retry_after", "gives_up"),
    [
        ("1000000000", True),
        ("inf", True),
        ("Infinity", True),
        ("1e400", True),
        ("Fri, 31 Dec 9999 23:59:59 GMT", True),
        ("nan", False),
        ("-5", False),
        ("Thu, 01 Jan 1970 00:00:00 GMT", False),
        ("soon", False),
    ],
)
def test_any_retry_after_is_handled_within_the_budget(retry_after: str, gives_up: bool) -> None:
    handler = answers(httpx.Response(429, headers={"Retry-After": retry_after}, json={"detail": "slow down"}))
    client, clock = timed(handler, budget=30, max_rps=5)
    if gives_up:
        with pytest.raises(
            ServerError, match=r"429: slow down; the server asks to wait .* more than the 30 s"
        ):
            client.get_project(1)
    else:
        assert client.get_project(1) == {"id": 1}
    # The shared rate limiter was not paused for longer than the budget either: the next request goes.
    assert client.get_project(1) == {"id": 1}
    assert sum(clock.slept) <= 30


def test_an_http_date_retry_after_is_waited_until() -> None:
    import email.utils
    import time

    when = email.utils.formatdate(time.time() + 20, usegmt=True)
    client, clock = timed(answers(httpx.Response(503, headers={"Retry-After": when})))
    assert client.get_project(1) == {"id": 1}
    assert len(clock.slept) == 1 and 18 <= clock.slept[0] <= 20


def test_a_retry_after_longer_than_what_is_left_of_the_budget_ends_the_retries() -> None:
    client, clock = timed(
        answers(*[httpx.Response(503, headers={"Retry-After": "8"})] * 3, httpx.Response(200, json={})),
        budget=20,
    )
    with pytest.raises(ServerError, match="more than the 20 s retry budget has left"):
        client.get_project(1)
    assert clock.slept == [8.0, 8.0]


def test_a_zero_budget_means_no_retry() -> None:
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(503)

    client, clock = timed(handler, budget=0)
    with pytest.raises(ServerError):
        client.get_project(1)
    assert calls == [1] and clock.slept == []


def test_the_rate_limiter_pause_is_capped() -> None:
    from reconciler.client import RateLimiter

    clock = FakeClock()
    limiter = RateLimiter(None, clock=clock, sleep=clock.sleep, max_pause=10.0)
    for seconds in (1e9, math.inf, math.nan, -5.0):
        limiter.pause(seconds)
        limiter.acquire()
    assert clock.slept == [10.0, 10.0]


@pytest.mark.parametrize("paginated", [False, True], ids=["bare array", "paginated"])
def test_list_projects_accepts_a_bare_array_and_follows_pages(paginated: bool) -> None:
    """GET /user/v1/projects/ is documented as a bare array; a paginated answer is followed too."""
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        assert request.url.path == "/user/v1/projects/"
        if not paginated:
            return httpx.Response(200, json=[{"id": 123, "name": "A"}, {"id": 124, "name": "B"}])
        if request.url.params.get("page") != "2":
            # a proxy may write another scheme or host in `next`: it is followed on the base URL
            nxt = "http://internal.proxy/user/v1/projects/?page=2"
            return httpx.Response(200, json={"next": nxt, "results": [{"id": 123, "name": "A"}]})
        return httpx.Response(200, json={"next": None, "results": [{"id": 124, "name": "B"}]})

    client, _ = make(handler)
    assert [p["id"] for p in client.list_projects()] == [123, 124]
    assert all(url.startswith(f"{BASE}/user/v1/projects/") for url in seen)
    assert len(seen) == (2 if paginated else 1)


def test_answers_are_freed_when_read_not_left_to_the_cycle_collector() -> None:
    """httpx leaves a response in a reference cycle with its stream; the CLI runs the cycle collector
    rarely, so every answer (a page of 500 calls among them) waited for it. Read answers are freed
    as soon as they are done with, whether framed by Content-Length or not."""
    import gc

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/1/"):
            return httpx.Response(200, json={"id": 1})  # Content-Length
        return httpx.Response(200, content=iter([b'{"id": ', b"2}"]))  # no length: read in pieces

    client, _ = make(handler)
    client.get_project(1)
    client.get_project(2)  # warm-up: imports, pools
    gc.collect()
    gc.disable()
    try:
        before = sum(isinstance(o, httpx.Response) for o in gc.get_objects())
        for _ in range(10):
            assert client.get_project(1) == {"id": 1}
            assert client.get_project(2) == {"id": 2}
        left = sum(isinstance(o, httpx.Response) for o in gc.get_objects()) - before
    finally:
        gc.enable()
    assert left == 0


def test_cookies_a_server_sets_are_never_sent_back() -> None:
    # The API authenticates by key. A cookie set by a server or a proxy on the way is not kept, so no
    # later request (another project, another page) carries it; nor does reading answers pay for
    # urllib's cookie parsing.
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(
            200,
            json={"id": 7},
            headers=[("Set-Cookie", "sessionid=planted; Path=/"), ("Set-Cookie", "csrftoken=x; Path=/")],
        )

    client, _ = make(handler)
    client.get_project(7)
    client.get_project(8)
    assert [r.headers.get("cookie") for r in seen] == [None, None]
    with pytest.raises(TypeError, match="keeps no cookies"):
        client._http.cookies = {"sessionid": "given"}


@pytest.mark.parametrize("base", ["https://api.example.test", "https://api.example.test/cekura/"])
def test_requests_are_the_ones_httpx_build_request_makes(base: str) -> None:
    # The client builds each request from the full URL itself (build_request's URL merging was half
    # of a request's CPU); what goes out must not change: URL, query, headers, timeout.
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=[] if "metrics" in request.url.path else {"id": 7})

    client = CekuraClient(base, KEY, transport=httpx.MockTransport(handler), timeout=12.5)
    client.get_project(7)
    client.list_metrics(project_id=5)
    client.patch_project(7, {"sample_rate": 0.5})
    reference = httpx.Client(
        base_url=base.rstrip("/"), headers=client._http.headers, timeout=client._http.timeout
    )
    expected = [
        reference.build_request("GET", "/user/v1/projects/7/"),
        reference.build_request("GET", "/test_framework/v2/metrics/", params={"project_id": "5"}),
        reference.build_request("PATCH", "/user/v1/projects/7/", json={"sample_rate": 0.5}),
    ]
    assert [(r.method, str(r.url), r.headers.raw, r.extensions, r.content) for r in seen] == [
        (r.method, str(r.url), r.headers.raw, r.extensions, r.read()) for r in expected
    ]
    assert str(seen[0].url) == f"{base.rstrip('/')}/user/v1/projects/7/"
    assert seen[0].extensions["timeout"]["read"] == 12.5


@pytest.mark.parametrize(
    "url",
    [
        "https://api.example.test/api#",
        "https://api.example.test/api?",
        "https://api.example.test/api#top",
        "https://api.example.test/?page=1",
        "https://user@api.example.test",
    ],
)
def test_a_base_url_with_a_query_or_fragment_even_empty_is_refused(url: str) -> None:
    # Paths are appended to the base URL: after a bare `#` they would never be sent, so every
    # request would read the base URL itself.
    with pytest.raises(ApiError, match="no \\?query and no #fragment"):
        CekuraClient(url, KEY)
