"""Golden JSON plan, and colour only on a terminal and never with NO_COLOR."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path

from conftest import ROOT, Cli, answer_on_a_terminal

from reconciler import __version__
from reconciler.emulator import RunningEmulator

GOLDEN = ROOT / "tests" / "data" / "golden" / "plan.json"
FILE = """version: 1
project: 123
settings:
  sample_rate: 0.5
  no_calls_notify_time_period:
    time_zone: America/New_York
    time_periods: [{start_time: "09:00", end_time: "17:00", time_frame: 30}]
secrets:
  webhook_secret: {env: HOOK}
rubric:
  prune: true
  rules:
    - metric_id: 5512
      conditions: {operator: and, conditions: [{field: score, op: gte, value: 3}]}
    - metric_id: 7002
      conditions: {operator: and, conditions: [{field: score, op: eq, value: true}]}
"""


def test_json_plan_matches_the_golden_file(cli: Cli, emulator: RunningEmulator, tmp_path: Path) -> None:
    path = tmp_path / "project.yaml"
    path.write_text(FILE)
    result = cli("plan", "--format", "json", str(path), env={"HOOK": "golden-hook-secret"})
    assert result.code == 0, result.err
    document = json.loads(result.out.replace(str(path), "project.yaml"))
    assert document["tool_version"] == __version__
    document["tool_version"] = "VERSION"
    if os.environ.get("CEKURA_UPDATE_GOLDEN"):
        GOLDEN.write_text(json.dumps(document, indent=2) + "\n")
    assert document == json.loads(GOLDEN.read_text()), "CEKURA_UPDATE_GOLDEN=1 rewrites it; review the diff"


def _on_a_terminal(args: list[str], env: dict[str, str]) -> str:
    primary, secondary = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "reconciler", *args], stdout=secondary, stderr=secondary, env=env, cwd=ROOT
    )
    os.close(secondary)
    chunks = []
    while True:
        try:
            chunk = os.read(primary, 65536)
        except OSError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    proc.wait(timeout=60)
    os.close(primary)
    return b"".join(chunks).decode()


def test_colour_only_on_a_terminal_and_never_with_no_color(
    cli: Cli, emulator: RunningEmulator, tmp_path: Path
) -> None:
    path = tmp_path / "project.yaml"
    path.write_text("version: 1\nproject: 124\nsettings:\n  sample_rate: 0.9\n")
    env = {k: v for k, v in cli.env.items() if k != "NO_COLOR"}
    coloured = _on_a_terminal(["plan", str(path)], env)
    assert "sample_rate" in coloured
    assert "\x1b[" in coloured
    plain = _on_a_terminal(["plan", str(path)], {**env, "NO_COLOR": "1"})
    assert "sample_rate" in plain
    assert "\x1b[" not in plain
    piped = cli("plan", str(path))
    assert "sample_rate" in piped.out
    assert "\x1b[" not in piped.out


def test_interactive_apply_asks_and_only_yes_applies(
    cli: Cli, emulator: RunningEmulator, tmp_path: Path
) -> None:
    path = tmp_path / "project.yaml"
    path.write_text("version: 1\nproject: 124\nsettings:\n  sample_rate: 0.9\n")
    code, out = answer_on_a_terminal(["apply", str(path)], cli.env, "y")
    assert code == 1
    assert "Apply cancelled; nothing was changed." in out
    assert emulator.state.patches() == []
    code, out = answer_on_a_terminal(["apply", str(path)], cli.env, "yes")
    assert code == 0, out
    assert "Do you want to apply these changes to 1 project?" in out
    assert emulator.state.project(124)["sample_rate"] == 0.9
    assert len(emulator.state.patches()) == 1


def test_schema_command_prints_the_schema_file() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "reconciler", "schema"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=False,
        cwd="/",
    )
    assert result.returncode == 0
    assert json.loads(result.stdout) == json.loads((ROOT / "schemas" / "project.schema.json").read_text())
