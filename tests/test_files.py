"""reconciler.files: loading many project files, every problem of every file reported once, in order."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.errors import InputError
from reconciler.files import load_projects


def test_problems_of_many_files_are_reported_once_each_in_file_order(tmp_path: Path) -> None:
    """A base's problems reach load_projects once per file that extends it, and once for the base
    itself: each is reported once. Other files' problems and the one-file-per-project check follow,
    sorted by file, line and column."""
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "base.yaml").write_text(
        "version: 1\nsettings:\n  outbound_timeout: fast\n  sample_rate: 2\n"
    )
    (tmp_path / "b-child.yaml").write_text("version: 1\nproject: 1\nextends: a/base.yaml\n")
    (tmp_path / "c-child.yaml").write_text("version: 1\nproject: 2\nextends: a/base.yaml\n")
    (tmp_path / "d-other.yaml").write_text("version: 1\nproject: 3\nsettings:\n  sample_rate: -1\n")
    (tmp_path / "e-first.yaml").write_text("version: 1\nproject: 4\n")
    (tmp_path / "f-second.yaml").write_text("version: 1\nproject: 4\n")

    with pytest.raises(InputError) as caught:
        load_projects([str(tmp_path)])

    base = tmp_path / "a" / "base.yaml"
    assert [str(p) for p in caught.value.problems] == [
        f"{base}:3:21: settings.outbound_timeout: must be a whole number, not text",
        f"{base}:4:16: settings.sample_rate: must be <= 1 (got 2)",
        f"{tmp_path / 'd-other.yaml'}:4:16: settings.sample_rate: must be >= 0 (got -1)",
        f"{tmp_path / 'f-second.yaml'}:2:10: project 4 is also managed by {tmp_path / 'e-first.yaml'}; "
        "one file per project",
    ]


def test_whole_numbers_written_with_a_point_are_ints_and_others_are_left_alone(tmp_path: Path) -> None:
    # The loader notes whether a file has any `300.0`; validate turns those into ints where the
    # schema wants an integer, and skips that walk for a file without one.
    (tmp_path / "a.yaml").write_text(
        "version: 1\nproject: 7.0\nsettings:\n  outbound_timeout: 300.0\n  sample_rate: 1.0\n"
        "rubric:\n  rules:\n    - metric_id: 12.0\n"
        "      conditions: {operator: and, conditions: [{field: score, op: gte, value: 4.0}]}\n"
    )
    (tmp_path / "b.yaml").write_text("version: 1\nproject: 8\nsettings:\n  outbound_timeout: 300\n")
    a, b = load_projects([str(tmp_path)])
    assert a.project_id == 7 and type(a.project_id) is int
    assert type(a.settings["outbound_timeout"]) is int
    assert type(a.settings["sample_rate"]) is float  # a number, not an integer, in the schema
    assert a.rubric is not None and type(a.rubric.rules[0].metric_id) is int
    assert (b.project_id, b.settings) == (8, {"outbound_timeout": 300})
