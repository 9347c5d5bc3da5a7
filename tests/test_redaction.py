"""Secrets and the API key are hidden in every form a server can echo them in, and -vv logs no headers.

Unit tests drive ``CekuraClient`` over ``httpx.MockTransport`` with servers that give a secret back
JSON-escaped, cut short, URL-encoded or in a header; the end-to-end test runs the CLI with -vv
against the emulator and reads its stderr.
"""

from __future__ import annotations

import io
import json
import logging
import textwrap
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote, quote_plus

import httpx
import pytest
from conftest import API_KEY, Cli

from reconciler.client import CekuraClient
from reconciler.emulator import RunningEmulator
from reconciler.errors import ApiError

BASE = "https://api.example.test"
KEY = "ck_live_K3y-0f-th3-0rg_9d8e7f"
# Quotes, a backslash, a slash, a space, a plus and non-ASCII: every escaping has something to do.
SECRET = 'whsec_"quoted"\\back/slash 4+2=ünï_c0de'
OTHER = "plain-secret-value-0123456789"


def client_for(handler: Callable[[httpx.Request], httpx.Response]) -> CekuraClient:
    return CekuraClient(BASE, KEY, transport=httpx.MockTransport(handler), sleep=lambda seconds: None)


def fragments(value: str, size: int = 8) -> list[str]:
    return [value[i : i + size] for i in range(len(value) - size + 1)]


def assert_hidden(text: str, *values: str) -> None:
    """Not one run of 8 characters of any value, raw or in any escaping, is left in ``text``."""
    for value in values:
        for form in (
            value,
            json.dumps(value)[1:-1],
            json.dumps(value, ensure_ascii=False)[1:-1],
            quote(value, safe=""),
            quote_plus(value),
        ):
            for piece in fragments(form):
                assert piece not in text, (piece, text)


def rejected_message(handler: Callable[[httpx.Request], httpx.Response]) -> str:
    client = client_for(handler)
    with pytest.raises(ApiError) as info:
        client.patch_project(1, {"webhook_secret": SECRET, "vapi_api_key": OTHER}, redact=[SECRET, OTHER])
    return str(info.value)


def test_a_400_that_echoes_the_body_json_escaped_shows_no_secret() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        body = request.content.decode()  # JSON: quotes and backslashes escaped, non-ASCII as \\u00fc
        return httpx.Response(400, json={"detail": f"could not parse {body}"})

    message = rejected_message(handler)
    assert "the API rejected PATCH" in message and "(sensitive)" in message
    assert_hidden(message, SECRET, OTHER)


def test_a_400_whose_json_body_holds_the_escaped_form_after_decoding_shows_no_secret() -> None:
    """A server that escapes twice: after our one JSON decode the value is still JSON-escaped."""

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            400, json={"webhook_secret": [f"invalid: {json.dumps(request.content.decode())}"]}
        )

    assert_hidden(rejected_message(handler), SECRET, OTHER)


def test_a_400_that_echoes_a_truncated_secret_shows_none_of_it() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        sent = json.loads(request.content)
        return httpx.Response(
            400,
            json={
                "webhook_secret": [f"'{sent['webhook_secret'][:12]}...' is too long"],
                "vapi_api_key": [f"'...{sent['vapi_api_key'][5:17]}...' is not a valid key"],
            },
        )

    message = rejected_message(handler)
    assert "is too long" in message and "is not a valid key" in message
    assert_hidden(message, SECRET, OTHER)


def test_a_secret_in_a_response_header_or_content_type_is_not_shown() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        sent = json.loads(request.content)["vapi_api_key"]
        return httpx.Response(
            200,
            content=b"<html>gateway</html>",
            headers={"Content-Type": f"text/html; charset={sent}", "X-Echo": sent},
        )

    message = rejected_message(handler)
    assert "with a body that is not valid JSON" in message
    assert_hidden(message, OTHER)


def test_a_url_encoded_secret_in_an_error_or_a_next_link_is_not_shown() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            400,
            json={"detail": f"bad request to /hook?secret={quote_plus(SECRET)}&s2={quote(OTHER, safe='')}"},
        )

    assert_hidden(rejected_message(handler), SECRET, OTHER)

    client = client_for(
        lambda request: httpx.Response(
            200,
            json={"results": [], "next": f"https://elsewhere.example/?k={quote(KEY, safe='')}&x={KEY[:10]}"},
        )
    )
    # The link is followed by its path and query on the base URL; answering the same link again is
    # a loop, whose error names the link: the key in it must not show.
    with pytest.raises(ApiError) as info:
        client.list_agents(1)
    assert "already read" in str(info.value)
    assert_hidden(str(info.value), KEY)


def test_the_api_key_is_hidden_in_its_escaped_and_partial_forms_too() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        key = request.headers["X-CEKURA-API-KEY"]
        return httpx.Response(
            401,
            json={"detail": f"key {json.dumps(key)} (starting {key[:9]}, %{quote(key, safe='')}) unknown"},
        )

    with pytest.raises(ApiError) as info:
        client_for(handler).get_project(1)
    assert "authentication failed for project 1" in str(info.value)
    assert_hidden(str(info.value), KEY)


def test_the_redactor_masks_every_form_and_keeps_the_rest() -> None:
    from reconciler.redact import Redactor

    redact = Redactor([SECRET, "short"])
    text = f"a {json.dumps(SECRET)} b {SECRET[3:14]} c {quote_plus(SECRET)} d 'short' e shor"
    masked = redact(text)
    assert masked == "a \"(sensitive)\" b (sensitive) c (sensitive) d '(sensitive)' e shor"
    assert redact("nothing secret here") == "nothing secret here"
    # A short value is masked where it stands alone, not inside longer words.
    assert redact("shortly, short-lived: short") == "shortly, (sensitive)-lived: (sensitive)"
    assert Redactor(["k"])("asks for k=k") == "asks for (sensitive)=(sensitive)"
    redact.add(OTHER)
    assert redact(f"x{OTHER[:8]}y") == "x(sensitive)y"


def test_the_logging_filter_masks_messages_arguments_and_tracebacks() -> None:
    from reconciler.redact import RedactingFilter, Redactor

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter(Redactor([OTHER])))
    logger = logging.getLogger("tests.redaction")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("sent %s", OTHER[:12])
        try:
            raise ValueError(f"bad value {OTHER}")
        except ValueError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)
    assert "sent (sensitive)" in stream.getvalue()
    assert "ValueError: bad value (sensitive)" in stream.getvalue()
    assert_hidden(stream.getvalue(), OTHER)


# -- the CLI: -vv logs the tool's own request lines, never headers, secrets or the key -------------


def test_verbose_logging_shows_request_lines_and_no_headers_secrets_or_key(
    cli: Cli, emulator: RunningEmulator, tmp_path: Path
) -> None:
    hook = "whsec-VERBOSE-3e8a1d7c"
    path = tmp_path / "p124.yaml"
    path.write_text(
        textwrap.dedent(
            """\
            version: 1
            project: 124
            settings:
              sample_rate: 0.25
            secrets:
              webhook_secret: {env: HOOK}
            """
        )
    )
    result = cli("-vv", "apply", "--auto-approve", "--rotate-all", str(path), env={"HOOK": hook})
    assert result.code == 0, result.err
    assert emulator.state.stored_secret(124, "webhook_secret") == hook  # it did go out
    lines = result.err.splitlines()
    assert "DEBUG reconciler.client: GET /user/v1/projects/124/ -> 200" in "\n".join(lines)
    assert any(
        line.startswith("DEBUG reconciler.client: PATCH /user/v1/projects/124/ -> 200 (") for line in lines
    )
    for line in lines:
        assert not line.startswith(("DEBUG httpcore", "DEBUG httpx", "INFO httpx")), line
    for header in ("content-type", "content-length", "x-cekura-api-key", "user-agent", "headers"):
        assert header not in result.err.lower()
    assert_hidden(result.all, hook, API_KEY)


def test_one_v_does_not_print_httpx_request_lines(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "p124.yaml"
    path.write_text("version: 1\nproject: 124\nsettings:\n  sample_rate: 0.25\n")
    result = cli("-v", "plan", str(path))
    assert result.code == 0, result.err
    assert "HTTP Request" not in result.err
    assert "httpx" not in result.err


def test_a_secret_of_one_run_does_not_mask_the_next_runs_output(
    cli: Cli, emulator: RunningEmulator, tmp_path: Path
) -> None:
    """The CLI's redactor lives as long as one command: in-process (as the test runner drives it,
    or as a program embedding the CLI), a secret sent by an earlier command must not mask ordinary
    words of a later one ("reviewed" in a file name, after a secret "hook-reviewed")."""
    (tmp_path / "hook").write_text("hook-reviewed\n")
    path = tmp_path / "h.yaml"
    path.write_text("version: 1\nproject: 124\nsecrets:\n  webhook_secret: {file: hook}\n")
    sent = cli("apply", "--auto-approve", str(path))
    assert sent.code == 0, sent.all
    assert emulator.state.stored_secret(124, "webhook_secret") == "hook-reviewed"
    missing = tmp_path / "reviewed-plans" / "reviewed.plan"
    result = cli("apply", str(missing))
    assert result.code == 1
    assert str(missing) in result.err, result.err


def test_each_cli_run_starts_with_a_redactor_of_its_own_values() -> None:
    """In one process (tests, a caller running several commands), a run must not mask what an earlier
    run's secrets happen to share with later text (a plan file named ``reviewed.plan``, say)."""
    from click.testing import CliRunner

    from reconciler.cli import _REDACTOR, main

    _REDACTOR.add("reviewed-secret-value")
    assert _REDACTOR("reviewed.plan") != "reviewed.plan"
    outcome = CliRunner().invoke(main, ["validate", "no-such-reviewed.plan.yaml"])
    assert "no-such-reviewed.plan.yaml" in outcome.output
