"""Fault injection, end to end: the real CLI in a subprocess against the emulator misbehaving.

Every test injects a fault (``EmulatorState.add_fault``) and asserts four things: no traceback, the
exit code, exactly which PATCHes reached the emulator, and the live project afterwards (untouched, or
changed exactly as planned and nothing else). ``docs/fault-matrix.md`` is the table of these cases.

Retried cases really wait, but briefly: one backoff is 0.25-0.5 s, a GET that keeps failing runs
with ``--retry-budget 1`` (it gives up within a second), and the injected ``Retry-After`` values are
fractions of a second. The full 60 s budget and the huge or absurd ``Retry-After`` values are
checked on ``CekuraClient`` with an injected clock in tests/test_client.py. Waits that honour
``Retry-After`` are checked on the emulator's side, as the gap between two recorded requests: a
behaviour check, not a benchmark.
"""

from __future__ import annotations

import math
import textwrap
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import Cli, Result

from reconciler.client import CekuraClient, RetryPolicy
from reconciler.emulator import EmulatorState, Fault, RecordedRequest, RunningEmulator
from reconciler.errors import MalformedResponse

P123 = "/user/v1/projects/123/"
P124 = "/user/v1/projects/124/"
P125 = "/user/v1/projects/125/"
PATHS = {123: P123, 124: P124, 125: P125}
TARGETS = {123: 0.5, 124: 0.25, 125: 0.1}  # sample_rate in the file; live: 1.0, 0.5, 0.25
SHORT_BUDGET = ("--retry-budget", "1")  # for a GET that keeps failing: give up within a second


def settings_file(tmp_path: Path, project: int = 124, sample_rate: float = 0.25) -> str:
    path = tmp_path / f"project-{project}.yaml"
    path.write_text(
        textwrap.dedent(
            f"""\
            version: 1
            project: {project}
            settings:
              sample_rate: {sample_rate}
            """
        )
    )
    return str(path)


def target_files(tmp_path: Path) -> list[str]:
    return [settings_file(tmp_path, pid, rate) for pid, rate in TARGETS.items()]


def run(cli: Cli, *args: str) -> Result:
    # Journal entries (written before each PATCH) go to the test's directory, not the repository.
    result = cli(*args, env={"CEKURA_JOURNAL_DIR": str(cli.tmp_path / "journal")})
    assert "Traceback" not in result.all, result.all
    return result


def patches(emulator: RunningEmulator) -> list[tuple[str, Any]]:
    return [(r.path, r.json) for r in emulator.state.patches()]


def gets(emulator: RunningEmulator, path: str = P124) -> int:
    return len(emulator.state.requests_to("GET", path))


def assert_changed_only(before: dict[str, Any], after: dict[str, Any], **expected: Any) -> None:
    """``after`` is ``before`` with exactly ``expected`` applied (and ``updated_at`` bumped if so)."""
    assert set(after) == set(before)
    for name, value in before.items():
        if name in expected:
            assert after[name] == expected[name], name
        elif name == "updated_at" and expected:
            continue
        else:
            assert after[name] == value, name


@pytest.fixture
def stamps(emulator: RunningEmulator, monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, float]]:
    """(method, path, monotonic time) of every request, in the order the emulator received them."""
    seen: list[tuple[str, str, float]] = []
    record = emulator.state.record

    def stamped(request: RecordedRequest) -> None:
        seen.append((request.method, request.path, time.monotonic()))
        record(request)

    monkeypatch.setattr(emulator.state, "record", stamped)
    return seen


# -- GET: retried when it is safe and useful ------------------------------------------------------


def test_get_429_waits_for_retry_after_then_succeeds(
    cli: Cli, emulator: RunningEmulator, tmp_path: Path, stamps: list[tuple[str, str, float]]
) -> None:
    before = emulator.state.project(124)
    emulator.state.add_fault(Fault("status", method="GET", path=P124, status=429, retry_after=0.6))
    result = run(cli, "plan", settings_file(tmp_path))
    assert result.code == 0, result.err
    assert "~ sample_rate: 0.5 -> 0.25" in result.out
    first, second = (t for method, path, t in stamps if (method, path) == ("GET", P124))
    assert second - first >= 0.55  # Retry-After: 0.6 was honoured (seen from the emulator's side)
    assert gets(emulator) == 2
    assert patches(emulator) == []
    assert emulator.state.project(124) == before


def test_get_gateway_errors_are_retried(cli: Cli, emulator: RunningEmulator, tmp_path: Path) -> None:
    """One 502, 503 and 504 for the GET of each of three projects (read in parallel: one wait)."""
    before = {pid: emulator.state.project(pid) for pid in TARGETS}
    for pid, status in zip(TARGETS, (502, 503, 504), strict=True):
        emulator.state.add_fault(Fault("status", method="GET", path=PATHS[pid], status=status))
    result = run(cli, "plan", *target_files(tmp_path))
    assert result.code == 0, result.err
    assert result.err == ""
    for pid in TARGETS:
        assert f"~ sample_rate: {before[pid]['sample_rate']} -> {TARGETS[pid]}" in result.out
        assert gets(emulator, PATHS[pid]) == 2
    assert patches(emulator) == []
    assert {pid: emulator.state.project(pid) for pid in TARGETS} == before


def test_get_cut_short_is_retried(cli: Cli, emulator: RunningEmulator, tmp_path: Path) -> None:
    """123's first GET is dropped, 124's truncated, 125's answered after the 1 s timeout."""
    before = {pid: emulator.state.project(pid) for pid in TARGETS}
    emulator.state.add_fault(Fault("drop", method="GET", path=P123))
    emulator.state.add_fault(Fault("truncated", method="GET", path=P124))
    emulator.state.add_fault(Fault("latency", method="GET", path=P125, seconds=2.5))
    result = run(cli, "plan", "--timeout", "1", *target_files(tmp_path))
    assert result.code == 0, result.err
    assert result.err == ""
    for pid in TARGETS:
        assert f"~ sample_rate: {before[pid]['sample_rate']} -> {TARGETS[pid]}" in result.out
        assert gets(emulator, PATHS[pid]) == 2
    assert patches(emulator) == []
    assert {pid: emulator.state.project(pid) for pid in TARGETS} == before


def test_get_that_keeps_failing_gives_up_when_the_retry_budget_is_spent(
    cli: Cli, emulator: RunningEmulator, tmp_path: Path
) -> None:
    """Every GET of 124 answers 503 and every GET of 125 is truncated (read in parallel: one wait)."""
    before = {pid: emulator.state.project(pid) for pid in (124, 125)}
    emulator.state.add_fault(Fault("status", method="GET", path=P124, status=503, times=0))
    emulator.state.add_fault(Fault("truncated", method="GET", path=P125, times=0))
    files = [settings_file(tmp_path, 124, 0.25), settings_file(tmp_path, 125, 0.1)]
    result = run(cli, "apply", "--auto-approve", *SHORT_BUDGET, *files)
    assert result.code == 1
    assert f"GET {cli.base_url}{P124} for project 124 failed with 503: Injected fault. (" in result.err
    assert f"GET {cli.base_url}{P125} for project 125 did not complete: " in result.err
    assert "peer closed connection without sending complete message body" in result.err
    assert result.err.count(" s; --retry-budget 1)") == 2  # "(N attempts in X s; --retry-budget 1)"
    assert "Nothing was applied." in result.err
    assert gets(emulator, P124) >= 2 and gets(emulator, P125) >= 2
    assert patches(emulator) == []
    assert {pid: emulator.state.project(pid) for pid in (124, 125)} == before


def test_get_500_is_not_retried(cli: Cli, emulator: RunningEmulator, tmp_path: Path) -> None:
    before = emulator.state.project(124)
    emulator.state.add_fault(Fault("status", method="GET", path=P124, status=500, times=0))
    result = run(cli, "apply", "--auto-approve", settings_file(tmp_path))
    assert result.code == 1
    assert f"GET {cli.base_url}{P124} for project 124 failed with 500: Injected fault." in result.err
    assert gets(emulator) == 1
    assert patches(emulator) == []
    assert emulator.state.project(124) == before


def test_get_malformed_json_is_an_error_not_a_crash(
    cli: Cli, emulator: RunningEmulator, tmp_path: Path
) -> None:
    before = emulator.state.project(124)
    emulator.state.add_fault(Fault("malformed", method="GET", path=P124))
    result = run(cli, "apply", "--auto-approve", settings_file(tmp_path))
    assert result.code == 1
    assert (
        f"GET {cli.base_url}{P124} for project 124 answered 200 with a body that is not valid JSON "
        "(28 bytes of text/html)"
    ) in result.err
    assert gets(emulator) == 1  # a 200 is an answer: not retried
    assert patches(emulator) == []
    assert emulator.state.project(124) == before


def test_retry_after_nan_is_ignored_not_a_crash(cli: Cli, emulator: RunningEmulator, tmp_path: Path) -> None:
    before = emulator.state.project(124)
    emulator.state.add_fault(Fault("status", method="GET", path=P124, status=429, retry_after=math.nan))
    result = run(cli, "plan", settings_file(tmp_path))
    assert result.code == 0, result.err
    assert gets(emulator) == 2
    assert patches(emulator) == []
    assert emulator.state.project(124) == before


def test_a_short_outage_of_429s_503s_and_drops_on_one_get_is_ridden_out(
    cli: Cli, emulator: RunningEmulator, tmp_path: Path
) -> None:
    """Four failures in a row on one GET: a fixed four attempts (the old rule) did not survive them."""
    before = emulator.state.project(124)
    emulator.state.add_fault(Fault("status", method="GET", path=P124, status=429, retry_after=0.1, times=2))
    emulator.state.add_fault(Fault("status", method="GET", path=P124, status=503))
    emulator.state.add_fault(Fault("drop", method="GET", path=P124))
    result = run(cli, "plan", "--retry-budget", "10", settings_file(tmp_path))
    assert result.code == 0, result.err
    assert result.err == ""
    assert "~ sample_rate: 0.5 -> 0.25" in result.out
    assert gets(emulator) == 5
    assert patches(emulator) == []
    assert emulator.state.project(124) == before


@pytest.mark.parametrize("retry_after", [1_000_000_000, math.inf], ids=["1e9", "inf"])
def test_a_huge_retry_after_neither_hangs_nor_crashes_apply(
    cli: Cli, emulator: RunningEmulator, tmp_path: Path, retry_after: float
) -> None:
    """124's GET is told to come back in 31 years (or never). Before the fix the shared rate limiter
    took that as it was: the other projects' PATCHes then waited forever (or crashed on ``inf``)."""
    before = {pid: emulator.state.project(pid) for pid in TARGETS}
    emulator.state.add_fault(Fault("status", method="GET", path=P124, status=429, retry_after=retry_after))
    result = run(cli, "apply", "--auto-approve", "--retry-budget", "5", *target_files(tmp_path))
    assert result.code == 1
    assert (
        f"GET {cli.base_url}{P124} for project 124 failed with 429: Injected fault.; the server asks to wait "
    ) in result.err
    assert "more than the 5 s retry budget has left (--retry-budget)" in result.err
    assert "Apply complete: 2 changed, 1 failed, 0 unchanged." in result.out
    assert gets(emulator) == 1
    assert sorted(patches(emulator)) == [(P123, {"sample_rate": 0.5}), (P125, {"sample_rate": 0.1})]
    assert emulator.state.project(124) == before[124]
    assert_changed_only(before[123], emulator.state.project(123), sample_rate=0.5)
    assert_changed_only(before[125], emulator.state.project(125), sample_rate=0.1)


@pytest.mark.parametrize("command", ["plan", "apply", "drift", "restore", "export"])
def test_every_command_that_talks_to_the_api_takes_a_retry_budget(cli: Cli, command: str) -> None:
    result = cli(command, "--help")
    assert result.code == 0, result.err
    assert "--retry-budget SECONDS" in result.out


def test_latency_below_the_timeout_is_just_slow(cli: Cli, emulator: RunningEmulator, tmp_path: Path) -> None:
    before = emulator.state.project(124)
    emulator.state.add_fault(Fault("latency", path=P124, seconds=0.3, times=0))
    result = run(cli, "apply", "--auto-approve", "--timeout", "1", settings_file(tmp_path))
    assert result.code == 0, result.err
    assert "Project 124: applied 1 field in one PATCH; verified." in result.out
    assert gets(emulator) == 3  # plan, the fresh read before the PATCH, verify
    assert patches(emulator) == [(P124, {"sample_rate": 0.25})]
    assert_changed_only(before, emulator.state.project(124), sample_rate=0.25)


# -- PATCH: never re-sent blindly; a lost answer is settled by reading the project back ----------


def test_patch_503_is_not_retried_and_reported_not_changed(
    cli: Cli, emulator: RunningEmulator, tmp_path: Path
) -> None:
    status = 503  # any 5xx answer to a PATCH; the three-project test below uses a 500
    before = emulator.state.project(124)
    emulator.state.add_fault(Fault("status", method="PATCH", path=P124, status=status))
    result = run(cli, "apply", "--auto-approve", settings_file(tmp_path))
    assert result.code == 1
    assert (
        f"Error: project 124: NOT changed: the PATCH failed (PATCH {cli.base_url}{P124} for project 124 "
        f"failed with {status}: Injected fault.) and the project reads back as before; it is safe to run "
        "apply again"
    ) in result.err
    assert "Apply complete: 0 changed, 1 failed, 0 unchanged.\n  NOT changed: project 124\n" in result.out
    assert patches(emulator) == [(P124, {"sample_rate": 0.25})]
    assert gets(emulator) == 3  # plan, the fresh read, then the read-back that decided the outcome
    assert emulator.state.project(124) == before


def test_patch_429_is_retried_after_retry_after(
    cli: Cli, emulator: RunningEmulator, tmp_path: Path, stamps: list[tuple[str, str, float]]
) -> None:
    before = emulator.state.project(124)
    emulator.state.add_fault(Fault("status", method="PATCH", path=P124, status=429, retry_after=0.6))
    result = run(cli, "apply", "--auto-approve", settings_file(tmp_path))
    assert result.code == 0, result.err
    assert "Project 124: applied 1 field in one PATCH; verified." in result.out
    # The 429 was refused unprocessed, so the same PATCH went again once Retry-After had passed.
    assert patches(emulator) == [(P124, {"sample_rate": 0.25})] * 2
    first, second = (t for method, _, t in stamps if method == "PATCH")
    assert second - first >= 0.55
    assert_changed_only(before, emulator.state.project(124), sample_rate=0.25)


@pytest.mark.parametrize(
    "fault",
    [
        {"kind": "timeout_after_write", "seconds": 2.5},  # longer than --timeout 1
        {"kind": "truncated"},
        {"kind": "malformed"},
    ],
    ids=["timeout_after_write", "truncated", "malformed"],
)
def test_patch_applied_but_answer_lost_is_read_back_as_changed(
    cli: Cli, emulator: RunningEmulator, tmp_path: Path, fault: dict[str, Any]
) -> None:
    """The emulator applies these PATCHes, then loses, cuts or garbles the answer."""
    before = emulator.state.project(124)
    emulator.state.add_fault(Fault(method="PATCH", path=P124, **fault))
    result = run(cli, "apply", "--auto-approve", "--timeout", "1", settings_file(tmp_path))
    assert result.code == 0, result.all
    assert (
        "Project 124: applied 1 field in one PATCH; verified. (the PATCH's answer was lost; reading the "
        "project back shows it was applied)"
    ) in result.out
    assert "Apply complete: 1 changed, 0 failed, 0 unchanged." in result.out
    assert patches(emulator) == [(P124, {"sample_rate": 0.25})]  # never re-sent
    assert gets(emulator) == 3
    assert_changed_only(before, emulator.state.project(124), sample_rate=0.25)


def test_patch_dropped_is_read_back_as_not_changed_and_safe_to_rerun(
    cli: Cli, emulator: RunningEmulator, tmp_path: Path
) -> None:
    before = emulator.state.project(124)
    emulator.state.add_fault(Fault("drop", method="PATCH", path=P124))
    path = settings_file(tmp_path)
    result = run(cli, "apply", "--auto-approve", path)
    assert result.code == 1
    assert (
        f"Error: project 124: NOT changed: the PATCH failed (PATCH {cli.base_url}{P124} for project 124 "
        "did not complete: Server disconnected without sending a response.)"
    ) in result.err
    assert "it is safe to run apply again" in result.err
    assert "Apply complete: 0 changed, 1 failed, 0 unchanged.\n  NOT changed: project 124\n" in result.out
    assert patches(emulator) == [(P124, {"sample_rate": 0.25})]
    assert emulator.state.project(124) == before

    again = run(cli, "apply", "--auto-approve", path)
    assert again.code == 0, again.err
    assert patches(emulator) == [(P124, {"sample_rate": 0.25})] * 2
    assert_changed_only(before, emulator.state.project(124), sample_rate=0.25)


def test_patch_that_lands_after_the_read_back_is_misreported_not_changed(
    cli: Cli, emulator: RunningEmulator, tmp_path: Path
) -> None:
    """A known limit, pinned down: the server sits on the PATCH past the timeout and applies it after
    the read-back. The tool says NOT changed (true when it looked), and the change lands later; a
    re-run then finds nothing to do. Only an idempotency key on the API could settle this."""
    before = emulator.state.project(124)
    emulator.state.add_fault(Fault("latency", method="PATCH", path=P124, seconds=2))
    result = run(cli, "apply", "--auto-approve", "--timeout", "1", settings_file(tmp_path))
    assert result.code == 1
    assert "Error: project 124: NOT changed: the PATCH failed (PATCH" in result.err
    assert "timed out" in result.err
    assert "Apply complete: 0 changed, 1 failed, 0 unchanged.\n  NOT changed: project 124\n" in result.out
    assert patches(emulator) == [(P124, {"sample_rate": 0.25})]
    deadline = time.monotonic() + 10
    while emulator.state.project(124)["sample_rate"] != 0.25 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert_changed_only(before, emulator.state.project(124), sample_rate=0.25)


@contextmanager
def edited_behind_our_back(state: EmulatorState, project: int, applied: float, then: float) -> Iterator[None]:
    """Once the project's sample_rate reads ``applied`` (the PATCH landed), a person sets ``then``.

    Paired with a ``timeout_after_write`` PATCH fault and ``--timeout 1``: the client waits 1 s for an
    answer that never comes, which leaves ample time to step in before it reads the project back.
    """
    done = threading.Event()

    def meddle() -> None:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not done.is_set():
            if state.project(project)["sample_rate"] == applied:
                state.set_project_fields(project, sample_rate=then)
                return
            time.sleep(0.005)

    meddler = threading.Thread(target=meddle)
    meddler.start()
    try:
        yield
    finally:
        done.set()
        meddler.join()


def test_patch_lost_while_someone_else_edits_is_unknown(
    cli: Cli, emulator: RunningEmulator, tmp_path: Path
) -> None:
    """The PATCH lands, its answer is lost, and a person changes the same field before the read-back."""
    before = emulator.state.project(124)
    emulator.state.add_fault(Fault("timeout_after_write", method="PATCH", path=P124, seconds=2.5))
    with edited_behind_our_back(emulator.state, 124, applied=0.25, then=0.75):
        result = run(cli, "apply", "--auto-approve", "--timeout", "1", settings_file(tmp_path))
    assert result.code == 1
    assert "Error: project 124: outcome UNKNOWN: the PATCH failed (PATCH" in result.err
    assert "timed out" in result.err
    assert "matches neither the plan nor its state before; run plan to see where it stands" in result.err
    assert "Apply complete: 0 changed, 1 failed, 0 unchanged.\n  outcome UNKNOWN: project 124\n" in result.out
    assert patches(emulator) == [(P124, {"sample_rate": 0.25})]
    assert_changed_only(before, emulator.state.project(124), sample_rate=0.75)


def _only_first_get_succeeds(state: EmulatorState) -> None:
    # The planning GET and apply's fresh read before the PATCH pass; every later GET gets a 503.
    state.add_fault(Fault("status", method="GET", path=P124, status=503, times=0, skip=2))


def test_patch_lost_and_read_back_failing_is_unknown(
    cli: Cli, emulator: RunningEmulator, tmp_path: Path
) -> None:
    before = emulator.state.project(124)
    _only_first_get_succeeds(emulator.state)
    emulator.state.add_fault(Fault("drop", method="PATCH", path=P124))
    result = run(cli, "apply", "--auto-approve", *SHORT_BUDGET, settings_file(tmp_path))
    assert result.code == 1
    assert "Error: project 124: outcome UNKNOWN: the PATCH failed (PATCH" in result.err
    assert f"reading the project back failed too (GET {cli.base_url}{P124}" in result.err
    assert "Apply complete: 0 changed, 1 failed, 0 unchanged.\n  outcome UNKNOWN: project 124\n" in result.out
    assert patches(emulator) == [(P124, {"sample_rate": 0.25})]
    assert (
        gets(emulator) >= 2 + 2
    )  # the plan's GET and the fresh read, then the read-back retried within the budget
    assert emulator.state.project(124) == before  # dropped before it was applied; the tool cannot know


def test_patch_accepted_but_verify_read_failing_is_unknown(
    cli: Cli, emulator: RunningEmulator, tmp_path: Path
) -> None:
    before = emulator.state.project(124)
    _only_first_get_succeeds(emulator.state)
    result = run(cli, "apply", "--auto-approve", *SHORT_BUDGET, settings_file(tmp_path))
    assert result.code == 1
    assert (
        "Error: project 124: outcome UNKNOWN: the API accepted the PATCH, but reading the project back to "
        f"verify it failed (GET {cli.base_url}{P124}"
    ) in result.err
    assert "Apply complete: 0 changed, 1 failed, 0 unchanged.\n  outcome UNKNOWN: project 124\n" in result.out
    assert patches(emulator) == [(P124, {"sample_rate": 0.25})]
    assert gets(emulator) >= 2 + 2  # plan, fresh read, then the read-back retried within the budget
    assert_changed_only(before, emulator.state.project(124), sample_rate=0.25)


def test_several_projects_the_summary_names_changed_not_changed_and_unknown(
    cli: Cli, emulator: RunningEmulator, tmp_path: Path
) -> None:
    """One apply, three projects: 124's PATCH gets a 500, 125's goes through, 123's answer is lost
    while someone edits it. Each is named under its outcome, and only 125 and 123 were touched."""
    ids = (123, 124, 125)
    before = {pid: emulator.state.project(pid) for pid in ids}
    emulator.state.add_fault(Fault("status", method="PATCH", path=P124, status=500))
    emulator.state.add_fault(Fault("timeout_after_write", method="PATCH", path=P123, seconds=2.5))
    with edited_behind_our_back(emulator.state, 123, applied=0.5, then=0.9):
        result = run(cli, "apply", "--auto-approve", "--timeout", "1", *target_files(tmp_path))
    assert result.code == 1
    assert "Project 125: applied 1 field in one PATCH; verified." in result.out
    assert "Project 123: applied" not in result.out
    assert "Project 124: applied" not in result.out
    assert "Error: project 123: outcome UNKNOWN: the PATCH failed" in result.err
    assert "Error: project 124: NOT changed: the PATCH failed" in result.err
    assert "failed with 500: Injected fault." in result.err
    assert "project 125" not in result.err
    assert (
        "Apply complete: 1 changed, 2 failed, 0 unchanged.\n"
        "  changed: project 125\n"
        "  NOT changed: project 124\n"
        "  outcome UNKNOWN: project 123\n"
    ) in result.out
    assert sorted(patches(emulator)) == [
        (P123, {"sample_rate": 0.5}),
        (P124, {"sample_rate": 0.25}),
        (P125, {"sample_rate": 0.1}),
    ]
    assert_changed_only(before[123], emulator.state.project(123), sample_rate=0.9)
    assert emulator.state.project(124) == before[124]
    assert_changed_only(before[125], emulator.state.project(125), sample_rate=0.1)


# -- Not reachable through the emulator: client-level checks over httpx.MockTransport -----------


def test_retry_after_that_is_not_a_number_or_a_date_is_ignored() -> None:
    """The emulator only sends numeric Retry-After values; a real proxy may send anything."""
    answers = iter(
        [
            httpx.Response(503, headers={"Retry-After": "soon"}, json={"detail": "busy"}),
            httpx.Response(200, json={"id": 124}),
        ]
    )
    sleeps: list[float] = []
    client = CekuraClient(
        "https://api.example.test",
        "key",
        transport=httpx.MockTransport(lambda request: next(answers)),
        retry=RetryPolicy(base_delay=0.01, max_delay=0.02),
        sleep=sleeps.append,
    )
    assert client.get_project(124) == {"id": 124}
    assert len(sleeps) == 1 and 0 < sleeps[0] <= 0.02  # fell back to the backoff


def test_json_cut_short_inside_a_well_framed_body_is_malformed_not_retried() -> None:
    """The emulator's truncation breaks the HTTP framing (retried as a connection error); a proxy can
    also deliver a complete HTTP message whose JSON is cut: that is a malformed answer, not retried."""
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.method)
        return httpx.Response(
            200, content=b'{"id": 124, "name": "Sales outb', headers={"Content-Type": "application/json"}
        )

    client = CekuraClient(
        "https://api.example.test", "key", transport=httpx.MockTransport(handler), sleep=lambda s: None
    )
    with pytest.raises(MalformedResponse, match="answered 200 with a body that is not valid JSON"):
        client.get_project(124)
    assert calls == ["GET"]
