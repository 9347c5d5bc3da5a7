"""The wheel carries the schema (built from the single committed copy) and works installed."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

from conftest import ROOT


def test_wheel_ships_the_schema_and_the_package(tmp_path: Path) -> None:
    offline = ["--no-deps", "--no-build-isolation", "--no-index"]
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", *offline, "-w", str(tmp_path), str(ROOT)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert built.returncode == 0, built.stderr
    [wheel] = tmp_path.glob("cekura_reconciler-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        shipped = json.loads(archive.read("reconciler/_schemas/project.schema.json"))
        entry_points = archive.read(next(n for n in names if n.endswith("entry_points.txt"))).decode()
    assert shipped == json.loads((ROOT / "schemas" / "project.schema.json").read_text())
    assert "reconciler/py.typed" in names
    assert "reconciler/cli.py" in names and "reconciler/emulator.py" in names
    assert "cekura-reconciler = reconciler.cli:main" in entry_points
    # The committed tree holds one copy only: the wheel's is made at build time.
    assert not (ROOT / "reconciler" / "_schemas").exists()
