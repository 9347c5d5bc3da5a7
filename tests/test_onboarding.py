"""Gaps a new user hits first: the emulator says what to export and where its controls are
documented; a base file nothing extends is a warning; `--rotate` suggests the name meant; an
unreachable or slow API says what to check; the journal folder's .gitignore is suggested."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

from conftest import ROOT, Cli

from reconciler.emulator import FAULT_KINDS, ROUTES, Fault, RunningEmulator

DOC = ROOT / "docs" / "emulator.md"


def test_the_emulator_prints_what_to_export() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "reconciler", "emulator", "--port", "0", "--api-key", "local-key"],
        cwd=ROOT,
        env={"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        lines: list[str] = []
        while not lines or ("Ctrl-C" not in lines[-1] and lines[-1]):  # the last line, or EOF
            lines.append(proc.stdout.readline())
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=10)
    text = "".join(lines)
    url = re.search(r"listening on (http://127\.0\.0\.1:\d+)", lines[0])
    assert url, text
    assert f"export CEKURA_BASE_URL={url.group(1)}\n" in text
    assert "export CEKURA_API_KEY=local-key\n" in text
    assert "docs/emulator.md" in text


def test_docs_emulator_documents_every_control_endpoint_and_fault() -> None:
    doc = DOC.read_text(encoding="utf-8")
    source = (ROOT / "reconciler" / "emulator.py").read_text(encoding="utf-8")
    # Every admin path the handler serves is documented, with its methods.
    for endpoint in (
        "GET /_emulator/requests",
        "DELETE /_emulator/requests",
        "POST /_emulator/faults",
        "DELETE /_emulator/faults",
        "GET /_emulator/projects/ID",
        "PATCH /_emulator/projects/ID",
    ):
        assert endpoint in doc, endpoint
    for path in set(re.findall(r'"(/_emulator/[a-z]+)', source)):
        assert path in doc, path
    for method, template in ROUTES:  # every API route, too
        assert f"{method} {template.replace('{id}', 'ID')}" in doc, (method, template)
    for kind in FAULT_KINDS:
        assert f"`{kind}`" in doc, kind
    for name in Fault.__dataclass_fields__:
        if name != "hits":
            assert f"`{name}`" in doc, name


def test_the_documented_control_calls_work(emulator: RunningEmulator, cli: Cli, tmp_path: Path) -> None:
    """The doc's examples, run as written (curl replaced by httpx, same method, path and body)."""
    import httpx

    doc = DOC.read_text(encoding="utf-8")
    calls = re.findall(r"curl -s(?: -X (\w+))? \$CEKURA_BASE_URL(/_emulator/\S+)(?: -d '([^']*)')?", doc)
    assert len(calls) >= 4, calls
    for method, path, body in calls:
        answer = httpx.request(
            method or "GET", emulator.base_url + path, content=body.encode() if body else None, timeout=10
        )
        assert answer.status_code == 200, (method, path, answer.text)
    # The colleague's edit in the doc moved project 123's sample_rate.
    assert emulator.state.project(123)["sample_rate"] == 0.9


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_a_base_file_nothing_extends_is_a_warning_when_a_directory_is_planned(
    cli: Cli, tmp_path: Path
) -> None:
    projects = tmp_path / "projects"
    write(projects / "shared.yaml", "version: 1\nsettings:\n  sample_rate: 0.5\n")
    write(projects / "orphan.yaml", "version: 1\nsettings:\n  sample_rate: 0.4\n")
    write(projects / "a.yaml", "version: 1\nextends: shared.yaml\nproject: 123\n")
    result = cli("plan", str(projects))
    assert result.code == 0, result.err
    orphan = str(projects / "orphan.yaml")
    assert f"Warning: {orphan} has no `project:` and no file extends it" in result.err
    assert "shared.yaml" not in result.err
    drift = cli("drift", str(projects))
    assert f"Warning: {orphan}" in drift.err
    # Named one by one, a base is there on purpose: no warning.
    named = cli("plan", str(projects / "a.yaml"), str(projects / "shared.yaml"))
    assert named.code == 0 and "Warning" not in named.err


def test_rotate_suggests_the_secret_meant(cli: Cli, tmp_path: Path) -> None:
    path = write(tmp_path / "p.yaml", "version: 1\nproject: 123\nsecrets:\n  vapi_api_key: {env: V}\n")
    result = cli("plan", "--rotate", "vapi_key", str(path), env={"V": "value-of-v-123456"})
    assert result.code == 1
    assert "--rotate vapi_key: no file given references such a secret; did you mean vapi_api_key?" in (
        result.err
    )


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_connection_refused_says_what_to_check(cli: Cli, tmp_path: Path) -> None:
    path = write(tmp_path / "p.yaml", "version: 1\nproject: 123\nsettings:\n  sample_rate: 0.5\n")
    url = f"http://127.0.0.1:{closed_port()}"
    result = cli("plan", "--retry-budget", "0", "--base-url", url, str(path))
    assert result.code == 1
    assert "check --base-url (or CEKURA_BASE_URL)" in result.err
    assert "cekura-reconciler emulator" in result.err  # a loopback URL: the emulator, probably
    assert "Traceback" not in result.err


def test_a_timeout_says_what_to_check(cli: Cli, emulator: RunningEmulator, tmp_path: Path) -> None:
    path = write(tmp_path / "p.yaml", "version: 1\nproject: 123\nsettings:\n  sample_rate: 0.5\n")
    emulator.state.add_fault(Fault(kind="latency", method="GET", seconds=2.5, times=0))
    result = cli("plan", "--retry-budget", "0", "--timeout", "1", str(path))
    assert result.code == 1
    assert "no answer within --timeout 1 s" in result.err
    assert "raise --timeout" in result.err


def git(*args: str, cwd: Path) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, timeout=30)


def test_the_journal_gitignore_is_suggested_inside_a_git_work_tree(
    cli: Cli, emulator: RunningEmulator, tmp_path: Path
) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git("init", "-q", cwd=repo)
    path = write(repo / "projects" / "p.yaml", "version: 1\nproject: 124\nsettings:\n  sample_rate: 0.6\n")
    journal = repo / "cekura-journal"
    result = cli("apply", "--auto-approve", "--journal-dir", str(journal), str(path))
    assert result.code == 0, result.err
    assert journal.is_dir()
    assert f"{journal} is inside the git work tree {repo}" in result.err
    assert "echo 'cekura-journal/' >> .gitignore" in result.err

    # Once ignored (or outside any work tree, or already there), nothing more is said.
    (repo / ".gitignore").write_text("cekura-journal/\n")
    again = tmp_path / "repo" / "cekura-journal-2"
    path.write_text(path.read_text().replace("0.6", "0.65"))
    (repo / ".gitignore").write_text("cekura-journal*/\n")
    quiet = cli("apply", "--auto-approve", "--journal-dir", str(again), str(path))
    assert quiet.code == 0 and ".gitignore" not in quiet.err
    outside = tmp_path / "elsewhere-journal"
    path.write_text(path.read_text().replace("0.65", "0.7"))
    far = cli("apply", "--auto-approve", "--journal-dir", str(outside), str(path))
    assert far.code == 0 and ".gitignore" not in far.err
    assert json.loads(next(outside.glob("*.json")).read_text())["project_id"] == 124
