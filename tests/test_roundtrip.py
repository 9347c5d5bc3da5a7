"""The round-trip editor under pull: an edit changes its own lines and nothing else of the file."""

from __future__ import annotations

import pytest
import yaml

from reconciler.loader import load_text
from reconciler.roundtrip import EditableFile, UnsafeEdit, ValueStyle, merge_lines, open_file, plain_safe

STYLE = ValueStyle()


def editable(text: str, name: str = "f.yaml") -> EditableFile:
    return open_file(name, text.encode(), load_text(name, text).data)


def changed_lines(before: str, after: str) -> list[tuple[str, str]]:
    a, b = before.splitlines(), after.splitlines()
    assert len(a) == len(b)
    return [(x, y) for x, y in zip(a, b, strict=True) if x != y]


def test_lines_the_emitter_would_rewrite_are_kept_when_no_edit_touches_them() -> None:
    text = (
        "---\n"
        "# a file ruamel would not write back byte for byte\n"
        "version: 1\n"
        "project: 123\n"
        "settings:\n"
        "  no_calls_notify_time_period: null     # null, not empty\n"
        "  name:    Support line QA\n"
        "  daily_report_dashboard_ids: [ 1,2 ]\n"
        "  sample_rate: 0.5\n"
        "  timezone: UTC\n"
    )
    f = editable(text)
    assert f.set(("settings", "sample_rate"), 0.25, STYLE)
    assert changed_lines(text, f.render()) == [("  sample_rate: 0.5", "  sample_rate: 0.25")]


def test_an_equal_value_is_no_edit() -> None:
    f = editable("version: 1\nproject: 1\nsettings:\n  outbound_timeout: 300\n  sample_rate: 0.1\n")
    assert not f.set(("settings", "outbound_timeout"), 300.0, STYLE)
    assert not f.set(("settings", "sample_rate"), 0.1 + 1e-12, STYLE)
    assert not f.edited
    assert f.render() == f.original


def test_a_value_keeps_its_quoting_and_text_is_quoted_where_plain_would_be_misread() -> None:
    text = "version: 1\nproject: 1\nsettings:\n  name: 'A'\n  webhook_url: \"https://a\"\n  timezone: UTC\n"
    f = editable(text)
    f.set(("settings", "name"), "B's", STYLE)
    f.set(("settings", "webhook_url"), "https://b", STYLE)
    f.set(("settings", "timezone"), "9:00", STYLE)  # not a time zone, but YAML 1.1 reads 9:00 as 540
    out = f.render()
    assert "  name: 'B''s'\n" in out
    assert '  webhook_url: "https://b"\n' in out
    assert '  timezone: "9:00"\n' in out
    assert yaml.safe_load(out)["settings"]["timezone"] == "9:00"


@pytest.mark.parametrize(
    ("text", "flow", "plain"),
    [
        ("Support line QA", False, True),
        ("Europe/Lisbon", True, True),
        ("09:00", False, True),
        ("9:00", False, False),  # base 60 to YAML 1.1: 540
        ("yes", False, False),
        ("+15551234567", False, False),
        ("1e3", False, False),
        ("null", False, False),
        ("a: b", False, False),
        ("a, b", True, False),
        ("a, b", False, True),
        (" padded", False, False),
        ("", False, False),
        ("x #y", False, False),
    ],
)
def test_plain_text_only_where_both_yaml_versions_read_it_back(text: str, flow: bool, plain: bool) -> None:
    assert plain_safe(text, flow=flow) is plain


def test_new_floats_are_yaml_1_1_floats() -> None:
    f = editable("version: 1\nproject: 1\nsettings:\n  sample_rate: 0.5\n")
    f.set(("settings", "sample_rate"), 1e-05, STYLE)
    out = f.render()
    assert "  sample_rate: 1.0e-05\n" in out
    assert yaml.safe_load(out)["settings"]["sample_rate"] == 1e-05


def test_a_key_added_to_a_section_goes_before_the_comment_and_blank_line_that_end_it() -> None:
    text = (
        "version: 1\nproject: 1\n\nsettings:\n  name: x   # eol\n  timezone: UTC\n"
        "  # the end of the settings\n\nrubric:\n  rules: []\n"
    )
    f = editable(text)
    f.set(("settings", "sample_rate"), 0.5, STYLE)
    assert f.render() == (
        "version: 1\nproject: 1\n\nsettings:\n  name: x   # eol\n  timezone: UTC\n  sample_rate: 0.5\n"
        "  # the end of the settings\n\nrubric:\n  rules: []\n"
    )


def test_lists_follow_the_files_indentation() -> None:
    text = "version: 1\nproject: 1\nsettings:\n    daily_report_dashboard_ids:\n    - 1\n    - 2\n"
    f = editable(text)
    f.set(("settings", "daily_report_dashboard_ids"), [1, 2, 3], STYLE)
    assert f.render() == text + "    - 3\n"


@pytest.mark.parametrize(
    ("text", "path", "where", "why"),
    [
        (
            "version: 1\nproject: 1\nsettings:\n  name: &n Shared\n  timezone: *n\n",
            ("settings", "name"),
            "f.yaml:4:3",
            "has a YAML anchor (&n)",
        ),
        (
            "version: 1\nproject: 1\nx-common: &c {notify_no_calls: true}\nsettings:\n  <<: *c\n",
            ("settings", "notify_no_calls"),
            "f.yaml:5:3",
            "comes from a `<<` merge",
        ),
    ],
)
def test_a_value_shared_with_another_place_is_refused_with_its_position(
    text: str, path: tuple[str, ...], where: str, why: str
) -> None:
    f = editable(text)
    with pytest.raises(UnsafeEdit) as caught:
        f.set(path, "changed" if path[-1] == "name" else False, STYLE)
    [problem] = caught.value.problems
    assert str(problem).startswith(f"{where}: ") and why in problem.message


def test_a_file_yaml_1_2_reads_otherwise_is_refused_before_any_edit() -> None:
    text = "version: 1\nproject: 1\nsettings:\n  name: 1e3\n"  # text to YAML 1.1, a number to 1.2
    with pytest.raises(UnsafeEdit) as caught:
        editable(text)
    assert str(caught.value.problems[0]).startswith("f.yaml:4:3: settings.name: YAML 1.1")


def test_merge_lines_takes_only_the_edited_region() -> None:
    original = "a:   1\nb: 2\nc:    3\n"
    unedited = "a: 1\nb: 2\nc: 3\n"
    edited = "a: 1\nb: 5\nc: 3\n"
    assert merge_lines(original, unedited, edited) == "a:   1\nb: 5\nc:    3\n"
    assert merge_lines(original, unedited, unedited) == original
    assert merge_lines(original, unedited, "a: 1\nb: 2\nc: 3\nd: 4\n") == original + "d: 4\n"
    assert merge_lines(original, unedited, "z: 0\na: 1\nb: 2\nc: 3\n") == "z: 0\n" + original
    assert merge_lines(original, unedited, "a: 1\nb: 2\nx: 9\nc: 3\n") == "a:   1\nb: 2\nx: 9\nc:    3\n"
    assert merge_lines(original, unedited, "a: 1\nc: 3\n") == "a:   1\nc:    3\n"
