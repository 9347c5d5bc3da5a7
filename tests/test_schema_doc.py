"""docs/file-format.md: generated from the schema, committed, complete, and valid markdown.

The committed page must equal a fresh rendering of the committed schema, so a schema change that
forgets the docs fails here. To regenerate: python -m reconciler.schema_doc > docs/file-format.md
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator  # type: ignore[import-untyped, unused-ignore]
from markdown_it import MarkdownIt
from markdown_it.token import Token

from reconciler import schema_doc
from reconciler.schema_doc import REGENERATE_COMMAND, render_file_format

ROOT = Path(__file__).resolve().parent.parent
SCHEMA_PATH = ROOT / "schemas" / "project.schema.json"
DOC_PATH = ROOT / "docs" / "file-format.md"


def schema() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return loaded


def committed() -> str:
    return DOC_PATH.read_text(encoding="utf-8")


def tokens(text: str) -> list[Token]:
    return MarkdownIt("commonmark").enable("table").parse(text)


def property_names(node: Any) -> Iterator[str]:
    """Every key of every ``properties`` object anywhere in the schema (not ``not: {}`` guards)."""
    if isinstance(node, dict):
        for key, value in node.get("properties", {}).items():
            if value.get("not") != {}:
                yield key
        for value in node.values():
            yield from property_names(value)
    elif isinstance(node, list):
        for value in node:
            yield from property_names(value)


def test_committed_doc_is_up_to_date() -> None:
    fresh = render_file_format(schema())
    assert committed() == fresh, f"docs/file-format.md is stale: run `{REGENERATE_COMMAND}`"


def test_main_prints_the_rendering(capsys: pytest.CaptureFixture[str]) -> None:
    assert schema_doc.main() == 0
    assert capsys.readouterr().out == render_file_format(schema())


def test_rendering_is_deterministic_and_does_not_touch_the_schema() -> None:
    original = schema()
    given = copy.deepcopy(original)
    assert render_file_format(given) == render_file_format(given)
    assert given == original


def test_every_settings_property_is_documented() -> None:
    doc = committed()
    settings = schema()["properties"]["settings"]["properties"]
    assert len(settings) > 30
    missing = [name for name in settings if f"| `{name}` |" not in doc]
    assert not missing, f"settings missing from docs/file-format.md: {missing}"


def test_every_key_of_the_schema_is_documented() -> None:
    doc = committed()
    names = set(property_names(schema()))
    assert {"version", "project", "extends", "time_frame", "env", "file", "absent", "operator"} <= names
    missing = sorted(name for name in names if f"`{name}`" not in doc)
    assert not missing, f"keys missing from docs/file-format.md: {missing}"


def test_every_secret_and_both_reference_forms_are_documented() -> None:
    doc = committed()
    for name in schema()["properties"]["secrets"]["properties"]:
        assert f"| `{name}` |" in doc
    assert "`{env: NAME}`" in doc and "`{file: PATH}`" in doc


def test_condition_families_list_every_op_of_every_field() -> None:
    doc = committed()
    section = doc.split("### Condition families", 1)[1].split("\n## ", 1)[0]
    defs = schema()["$defs"]
    for op in defs["scoreCondition"]["properties"]["op"]["enum"]:
        assert re.search(rf"^\| `score` \|[^|]*`{op}`", section, re.M), op
    for op in defs["enumCondition"]["properties"]["op"]["enum"]:
        assert re.search(rf"^\| `enum` \|[^|]*`{op}`", section, re.M), op


def test_markdown_parses_with_well_formed_tables() -> None:
    parsed = tokens(committed())
    tables = 0
    header_cells = row_cells = 0
    for token in parsed:
        if token.type == "table_open":
            tables += 1
            header_cells = 0
        elif token.type == "th_open":
            header_cells += 1
        elif token.type == "tr_open":
            row_cells = 0
        elif token.type == "td_open":
            row_cells += 1
        elif token.type == "tr_close" and row_cells:
            assert row_cells == header_cells, "a table row has a different number of cells than its header"
    assert tables >= 8
    headings = [parsed[i + 1].content for i, t in enumerate(parsed) if t.type == "heading_open"]
    assert "settings" in headings and "secrets" in headings and "rubric" in headings
    assert parsed[0].type == "html_block" and REGENERATE_COMMAND in parsed[0].content


def test_every_internal_link_points_at_a_heading() -> None:
    parsed = tokens(committed())
    slugs = {
        re.sub(r"[^\w\- ]", "", parsed[i + 1].content.lower()).replace(" ", "-")
        for i, token in enumerate(parsed)
        if token.type == "heading_open"
    }
    anchors = {
        str(child.attrs["href"])[1:]
        for token in parsed
        for child in token.children or []
        if child.type == "link_open" and str(child.attrs.get("href", "")).startswith("#")
    }
    assert anchors, "expected links between sections"
    assert anchors <= slugs, f"links to missing headings: {sorted(anchors - slugs)}"


def test_yaml_examples_parse_and_file_shaped_ones_are_valid() -> None:
    validator = Draft202012Validator(schema(), format_checker=Draft202012Validator.FORMAT_CHECKER)
    blocks = [t.content for t in tokens(committed()) if t.type == "fence" and t.info == "yaml"]
    assert len(blocks) >= 4
    for block in blocks:
        example = yaml.safe_load(block)
        if isinstance(example, dict):
            errors = [e.message for e in validator.iter_errors({"version": 1, **example})]
            assert not errors, f"example is not a valid project file: {block}\n{errors}"


TRICKY_STRINGS = ["09:00", "+15551234567", "yes", "no", "null", "true", "1e3", "0755", "a: b", "x ", ""]


@pytest.mark.parametrize("value", [*TRICKY_STRINGS, "Support line QA", "America/New_York"])
def test_inline_examples_read_back_as_the_same_value(value: str) -> None:
    nested = {"k": [value, 1, 1.0, True, None]}
    assert yaml.safe_load(f"[{schema_doc._flow(value)}]") == [value]
    assert yaml.safe_load(schema_doc._flow(nested)) == nested


def test_nothing_in_the_schema_is_silently_dropped() -> None:
    """A new definition or an unknown rule construct still reaches the page."""
    changed = schema()
    duration = {"type": "integer", "minimum": 5, "description": "Seconds, 5 or more."}
    changed["$defs"]["durationSeconds"] = duration
    changed["$defs"]["rule"]["allOf"].append({"if": {"required": ["x_new"]}, "then": {"required": ["y_new"]}})
    changed["$defs"]["rule"]["dependentSchemas"]["metric"] = {"required": ["z_new"]}
    page = render_file_format(changed)
    assert "`durationSeconds`" in page and "Seconds, 5 or more." in page and "minimum 5" in page
    assert "x_new" in page and "y_new" in page and "z_new" in page
