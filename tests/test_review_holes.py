"""Holes found by an adversarial review of "Nothing lost, nothing leaked" and "Speak the Cekura API as
it is today": each test failed on the code it was written against."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import API_KEY, ROOT, Cli

from reconciler.client import CekuraClient
from reconciler.emulator import RunningEmulator
from reconciler.errors import ApiError, MalformedResponse

KEY = "review-key-7d1e0b5a93"
BASE = "https://api.example.test"


@pytest.mark.parametrize(
    "link",
    [
        "http:http://evil.example:8080/steal?page=2",  # a scheme, no host: the "path" is a URL
        "https:https://evil.example/steal?page=2",
        "https://api.example.test//evil.example/steal?page=2",  # a path that reads as a host
        "http:evil.example/steal?page=2",  # a scheme and a relative path
    ],
)
def test_a_next_link_whose_path_is_a_url_never_takes_the_key_elsewhere(link: str) -> None:
    """``next`` is followed by its path on the base URL; a link whose "path" is itself a URL (or
    does not start with a single /) must not become a request to that URL with the key on it."""
    seen: list[httpx.URL] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url)
        if request.url.host != "api.example.test":
            return httpx.Response(200, json={"next": None, "results": [{"id": 666}]})
        return httpx.Response(200, json={"next": link, "results": [{"id": 1}]})

    client = CekuraClient(BASE, KEY, transport=httpx.MockTransport(handler), sleep=lambda s: None)
    with pytest.raises(MalformedResponse, match="next page link") as caught:
        client.list_agents(1)
    assert KEY not in str(caught.value)
    assert [u.host for u in seen] == ["api.example.test"]


def test_a_next_link_refused_as_no_path_shows_no_key() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"next": f"http:http://evil.example/?k={KEY}", "results": []})

    client = CekuraClient(BASE, KEY, transport=httpx.MockTransport(handler), sleep=lambda s: None)
    with pytest.raises(MalformedResponse, match="names no path") as caught:
        client.list_agents(1)
    assert KEY not in str(caught.value)


def _cli_subprocess(
    args: list[str], env: dict[str, str], *, stdin: int | None = None
) -> subprocess.CompletedProcess[str]:
    """The CLI in a subprocess whose memory is capped at 1 GiB: a read without end fails there,
    not in the test worker."""

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))

    return subprocess.run(
        [sys.executable, "-m", "reconciler", *args],
        cwd=ROOT,
        env=env,
        stdin=stdin if stdin is not None else subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        preexec_fn=cap,
    )


def test_an_api_key_file_that_is_a_device_is_refused_not_read_without_end(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    """`--api-key-file /dev/zero` read until memory ran out (a MemoryError traceback); the key file
    is now read like a secret file: at most 64 KiB, never a device. A pipe (`<(pass show ...)`,
    /dev/stdin fed by a pipe) still works."""
    project = tmp_path / "p.yaml"
    project.write_text("version: 1\nproject: 124\nsettings:\n  sample_rate: 0.25\n")
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(ROOT),
        "HOME": str(tmp_path),
        "CEKURA_BASE_URL": emulator.base_url,
    }
    zero = _cli_subprocess(["plan", "--api-key-file", "/dev/zero", str(project)], env)
    assert zero.returncode == 1, zero.stderr
    assert "Traceback" not in zero.stderr and "MemoryError" not in zero.stderr
    assert "--api-key-file /dev/zero" in zero.stderr and "device" in zero.stderr

    huge = tmp_path / "huge-key"
    huge.write_bytes(b"k" * (1 << 20))
    big = _cli_subprocess(["plan", "--api-key-file", str(huge), str(project)], env)
    assert big.returncode == 1 and "64 KiB" in big.stderr and "Traceback" not in big.stderr

    read_end, write_end = os.pipe()
    os.write(write_end, (API_KEY + "\n").encode())
    os.close(write_end)
    try:
        piped = _cli_subprocess(["plan", "--api-key-file", "/dev/stdin", str(project)], env, stdin=read_end)
    finally:
        os.close(read_end)
    assert piped.returncode == 0, piped.stderr
    assert "sample_rate" in piped.stdout
    assert emulator.state.patches() == []


SLASHED = "Ab3/Cd4/Ef5/Gh6/Ij7/Kl8"  # base64-like: every piece between the slashes is short
ANGLED = "Mn1<Op2&Qr3>St4<Uv5"
ACCENTED = "Wä1Xö2Yü3Zß4"


@pytest.mark.parametrize(
    ("secret", "echoed"),
    [
        (SLASHED, SLASHED.replace("/", "\\/")),  # PHP's json_encode, Java's org.json: \/
        (ANGLED, ANGLED.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")),  # Go
        (ANGLED, ANGLED.replace("<", "\\u003C").replace(">", "\\u003E").replace("&", "\\u0026")),
        (ACCENTED, "W\\u00E41X\\u00F62Y\\u00FC3Z\\u00DF4"),  # Jackson: upper-case hex
        (ACCENTED, "W\\u00e41X\\u00f62Y\\u00fc3Z\\u00df4"),  # Python, PHP: lower-case hex
    ],
)
def test_a_secret_echoed_json_escaped_the_way_other_encoders_write_it_is_masked(
    secret: str, echoed: str
) -> None:
    """JSON may escape any character: ``/`` as ``\\/`` (PHP by default), ``<``, ``>`` and ``&`` as
    ``\\u003c`` (Go by default), non-ASCII with upper-case hex (Jackson). A server that puts the
    request body it got, encoded so, into its error (``{"detail": "invalid body: {...}"}``) showed
    the whole secret: no 8-character run of any form the redactor knew matched."""

    def handler(request: httpx.Request) -> httpx.Response:
        body = {"detail": 'invalid body: {"webhook_secret": "' + echoed + '"}'}
        return httpx.Response(400, json=body)

    client = CekuraClient(BASE, KEY, transport=httpx.MockTransport(handler), sleep=lambda s: None)
    with pytest.raises(ApiError) as caught:
        client.patch_project(124, {"webhook_secret": secret}, redact=[secret])
    message = str(caught.value)
    assert message.endswith('invalid body: {"webhook_secret": "(sensitive)"}'), message


def test_an_endless_answer_is_refused_before_it_fills_the_memory() -> None:
    """A broken proxy or a hostile server may send a body without end (the read timeout is per
    chunk, so a steady stream never times out): everything was read into memory first. The client
    now stops reading at 64 MiB and says so."""
    produced = 0

    def endless() -> Iterator[bytes]:
        nonlocal produced
        chunk = b" " * (1 << 20)
        for _ in range(96):  # 96 MiB of JSON whitespace, then a valid project
            produced += len(chunk)
            yield chunk
        yield b'{"id": 124}'

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=endless(), headers={"content-type": "application/json"})

    client = CekuraClient(BASE, KEY, transport=httpx.MockTransport(handler), sleep=lambda s: None)
    with pytest.raises(MalformedResponse, match="larger than 64 MiB"):
        client.get_project(124)
    assert produced <= 66 << 20


def test_a_proc_file_is_never_read_as_a_secret_even_inside_an_allowed_folder(
    cli: Cli, emulator: RunningEmulator, tmp_path: Path
) -> None:
    """The README promises a secret file is never a FIFO, a device "or /proc". /proc/self/environ
    passes as a regular file (its size says 0), so with --secrets-dir /proc it was read and would
    have been sent as the secret (the process's whole environment: the API key included)."""
    project = tmp_path / "p.yaml"
    project.write_text("version: 1\nproject: 124\nsecrets:\n  webhook_secret: {file: /proc/self/environ}\n")
    result = cli("plan", "--secrets-dir", "/proc", str(project))
    assert result.code == 1, result.all
    assert "p.yaml:4:" in result.err and "/proc/self/environ" in result.err
    assert "Traceback" not in result.all and API_KEY not in result.all
    assert emulator.state.patches() == []


def test_error_messages_never_carry_terminal_escape_sequences(cli: Cli, tmp_path: Path) -> None:
    """Error text can come from a server (a DRF detail) or a path: an escape sequence in it must not
    reach the terminal raw (it could retitle the window, or hide what the message says)."""
    project = tmp_path / "p.yaml"
    project.write_text("version: 1\nproject: 124\nsettings:\n  sample_rate: 0.5\n")
    hostile = str(tmp_path / "key\x1b]0;owned\x07\x1b[8mhidden")
    result = cli("plan", "--api-key-file", hostile, str(project))
    assert result.code == 1
    assert "cannot read it" in result.err or "--api-key-file" in result.err
    assert "\x1b" not in result.all and "\x07" not in result.all
    assert "\\x1b]0;owned\\x07" in result.err
