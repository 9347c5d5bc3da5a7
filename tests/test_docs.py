"""The documentation stays true: the README's Python example runs as written, every command's help
has an example (sqlite-utils' test_docs.py is the model)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from conftest import API_KEY, ROOT

from reconciler.emulator import RunningEmulator

README = ROOT / "README.md"


def _python_example(section: str) -> str:
    text = README.read_text(encoding="utf-8")
    body = text.split(f"\n## {section}\n", 1)[1].split("\n## ", 1)[0]
    found = re.search(r"```python\n(.*?)```", body, re.S)
    assert found, f"no python block under ## {section}"
    return found.group(1)


def test_use_from_python_runs_against_the_emulator(
    emulator: RunningEmulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (tmp_path / "examples" / "secrets").mkdir(parents=True)
    shutil.copy(ROOT / "examples" / "project.yaml", tmp_path / "examples" / "project.yaml")
    (tmp_path / "examples" / "secrets" / "webhook_secret").write_text("docs-webhook-secret\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CEKURA_BASE_URL", emulator.base_url)
    monkeypatch.setenv("CEKURA_API_KEY", API_KEY)
    monkeypatch.setenv("VAPI_API_KEY", "docs-vapi-key")
    before = emulator.state.project(123)

    exec(compile(_python_example("Use from Python"), "README.md", "exec"), {})

    printed = capsys.readouterr().out.splitlines()
    assert printed[0].startswith("123 fields to send: [")
    (entry,) = sorted((tmp_path / ".cekura-journal").glob("*.json"))
    assert printed[1] == f"123 changed {entry.relative_to(tmp_path)}"
    after = emulator.state.project(123)
    assert after["sample_rate"] == 0.5 != before["sample_rate"]
    assert len(emulator.state.patches()) == 1


def test_every_command_has_help_with_an_example() -> None:
    from reconciler.cli import main

    for name, command in main.commands.items():
        assert command.help and "Example:" in command.help, name
        assert f"cekura-reconciler {name}" in command.help, name
