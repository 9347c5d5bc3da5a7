"""The layers of docs/architecture.md hold: only the CLI knows click and the terminal.

Checked on the source (names imported and used), not by running it: library modules never import
click and never write to sys.stdout or sys.stderr; renderers write only to the stream they are given.
"""

from __future__ import annotations

import ast
from pathlib import Path

from conftest import ROOT

PACKAGE = ROOT / "reconciler"
# The CLI; the emulator's and schema_doc's own `python -m` entry points print by design.
TERMINAL = {"cli.py", "emulator.py", "schema_doc.py", "__main__.py"}


def _library_modules() -> list[Path]:
    return [p for p in sorted(PACKAGE.rglob("*.py")) if p.name not in TERMINAL or p.parent != PACKAGE]


def test_only_the_cli_knows_click_and_the_terminal() -> None:
    offenders = []
    for path in _library_modules():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                names = [a.name for a in node.names] + (
                    [node.module] if isinstance(node, ast.ImportFrom) else []
                )
                if any(n and n.split(".")[0] == "click" for n in names):
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}: imports click")
            if (
                isinstance(node, ast.Attribute)
                and node.attr in ("stdout", "stderr")
                and isinstance(node.value, ast.Name)
                and node.value.id == "sys"
            ):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}: uses sys.{node.attr}")
    assert offenders == []
