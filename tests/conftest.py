"""Shared fixtures: a live emulator on 127.0.0.1 and a runner for the real CLI as a subprocess."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from reconciler.emulator import EmulatorState, RunningEmulator, start

ROOT = Path(__file__).resolve().parent.parent
API_KEY = "e2e-test-key-4f9c2a"


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str

    @property
    def all(self) -> str:
        return self.out + self.err


def validate_offline(path: str) -> subprocess.CompletedProcess[str]:
    """`python -m reconciler validate PATH` from the repository root, with a minimal environment."""
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(ROOT),
        "PYTHONIOENCODING": "utf-8",
        "NO_COLOR": "1",
    }
    return subprocess.run(
        [sys.executable, "-m", "reconciler", "validate", path],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=60,
        check=False,
    )


def answer_on_a_terminal(
    args: list[str],
    env: dict[str, str],
    answer: str,
    while_asking: Callable[[], None] = lambda: None,
) -> tuple[int, str]:
    """Run the CLI in a subprocess on a pseudo-terminal; once it asks for confirmation, call
    ``while_asking()`` (a colleague's edit while the prompt waits, say), then type ``answer``."""
    primary, secondary = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "reconciler", *args],
        stdin=secondary,
        stdout=secondary,
        stderr=secondary,
        env=env,
        cwd=ROOT,
    )
    os.close(secondary)
    seen = b""
    while b"Only 'yes' will be accepted" not in seen:
        chunk = os.read(primary, 65536)
        if not chunk:
            break
        seen += chunk
    while_asking()
    os.write(primary, answer.encode() + b"\n")
    while True:
        try:
            chunk = os.read(primary, 65536)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
    code = proc.wait(timeout=60)
    os.close(primary)
    return code, seen.decode()


def validate_in_process(path: str) -> subprocess.CompletedProcess[str]:
    """`validate PATH` as ``validate_offline`` runs it, but in this process (click's CliRunner) unless
    CEKURA_TEST_SUBPROCESS=1: the corpus tests run it for every file, and a process each costs more
    than the validation. Not thread-safe (it changes the working directory and the std streams)."""
    if SUBPROCESS:
        return validate_offline(path)
    from click.testing import CliRunner

    from reconciler.cli import main

    here = os.getcwd()
    os.chdir(ROOT)
    try:
        outcome = CliRunner().invoke(main, ["validate", path], env={"NO_COLOR": "1"})
    finally:
        os.chdir(here)
    stderr = outcome.stderr
    if outcome.exception is not None and not isinstance(outcome.exception, SystemExit):
        stderr += f"Traceback (in-process): {outcome.exception!r}\n"
    return subprocess.CompletedProcess(["validate", path], outcome.exit_code, outcome.stdout, stderr)


@pytest.fixture
def emulator() -> Iterator[RunningEmulator]:
    running = start(EmulatorState(api_key=API_KEY))
    try:
        yield running
    finally:
        running.close()


# The CLI runs in-process (click's CliRunner) by default, which keeps the suite fast; set
# CEKURA_TEST_SUBPROCESS=1 to run every call as `python -m reconciler` in a subprocess instead.
# Tests of what only a real process shows (signals, a terminal, the entry point, start-up imports)
# start their own subprocess whatever this says.
SUBPROCESS = os.environ.get("CEKURA_TEST_SUBPROCESS") == "1"


class Cli:
    """Runs the CLI against one emulator with a clean environment: in-process, or `python -m
    reconciler ...` in a subprocess (CEKURA_TEST_SUBPROCESS=1)."""

    def __init__(self, base_url: str, tmp_path: Path) -> None:
        self.base_url = base_url
        self.tmp_path = tmp_path
        self.env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": str(tmp_path),
            "CEKURA_BASE_URL": base_url,
            "CEKURA_API_KEY": API_KEY,
            "PYTHONPATH": str(ROOT),
            "CEKURA_JOURNAL_DIR": str(tmp_path / "journal"),
        }

    def __call__(self, *args: str, env: dict[str, str] | None = None, input: str | None = None) -> Result:
        if not SUBPROCESS:
            return self.in_process(*args, env=env, input=input)
        proc = subprocess.run(
            [sys.executable, "-m", "reconciler", *args],
            cwd=ROOT,
            env={**self.env, **(env or {})},
            input=input if input is not None else "",
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        return Result(proc.returncode, proc.stdout, proc.stderr)

    def in_process(self, *args: str, env: dict[str, str] | None = None, input: str | None = None) -> Result:
        from click.testing import CliRunner

        from reconciler.cli import main

        wanted = {**self.env, **(env or {})}
        wanted.pop("PYTHONPATH", None)
        # The same clean environment as the subprocess gets: every other variable is unset for the call.
        overrides: dict[str, str | None] = {k: None for k in os.environ if k not in wanted}
        overrides.update(wanted)
        runner = CliRunner()
        outcome = runner.invoke(main, list(args), input=input or "", env=overrides, catch_exceptions=True)
        if outcome.exception is not None and not isinstance(outcome.exception, SystemExit):
            import traceback

            trace = "".join(traceback.format_exception(outcome.exception))
            return Result(1, outcome.stdout, outcome.stderr + "Traceback (in-process)\n" + trace)
        return Result(outcome.exit_code, outcome.stdout, outcome.stderr)


@pytest.fixture
def cli(emulator: RunningEmulator, tmp_path: Path) -> Cli:
    return Cli(emulator.base_url, tmp_path)
