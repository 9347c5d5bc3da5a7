"""The schema check: jsonschema-rs as the fast "is it valid" gate, jsonschema for everything else.

Both are Draft 2020-12 validators of the same schema, built once per process, with the same format
checks (`uri` is an http(s) URL; other formats are annotations). No hand-written checker stands in
between: the gate's "valid" must be jsonschema's "valid" (checked here on every shipped file and on
mutations of them), and every problem is found and worded by jsonschema (tests/test_data_files.py
holds the messages to the recorded `.expected` files). The one keyword we replace in jsonschema,
`uniqueItems` (its own compares unhashable items pair by pair, which is quadratic), must follow JSON
Schema's equality: 1 == 1.0, true != 1, at any depth.
"""

from __future__ import annotations

import contextlib
import copy
import random
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.errors import InputError
from reconciler.loader import Document, load_file
from reconciler.validate import _gate, _passes_gate, _validator, load_schema, validate_document

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
VALID = sorted((DATA / "valid").glob("*.yaml")) + sorted((ROOT / "examples").glob("*.yaml"))
INVALID = sorted((DATA / "invalid").glob("*.yaml"))


def _doc(data: Any) -> Document:
    return Document("t.yaml", data, {}, {})


def _data(path: Path) -> Any:
    try:
        return load_file(str(path)).data
    except InputError:
        return None  # not even YAML we can read: the schema never sees it


def _jsonschema_valid(data: Any) -> bool:
    return not any(True for _ in _validator().iter_errors(data))


def test_the_validators_are_draft_2020_12_and_built_once() -> None:
    validator, gate = _validator(), _gate()
    assert validator.META_SCHEMA["$id"] == "https://json-schema.org/draft/2020-12/schema"
    assert type(gate).__name__ == "Draft202012Validator"
    assert validator.schema is load_schema()
    for path in [*VALID[:3], *INVALID[:3]]:
        with contextlib.suppress(InputError):
            validate_document(load_file(str(path)))
    assert _validator() is validator and _gate() is gate


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.name)
def test_every_valid_file_passes_the_gate(path: Path) -> None:
    """Else the gate silently stops sparing `validate` the jsonschema import."""
    data = _data(path)
    assert _jsonschema_valid(data)
    assert _passes_gate(data)


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.name)
def test_the_gate_passes_no_file_jsonschema_refuses(path: Path) -> None:
    data = _data(path)
    if data is not None:
        assert not _passes_gate(data) or _jsonschema_valid(data)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _paths(value, (*prefix, index))
    return found


_VALUES: list[Any] = [
    None, True, False, 0, 1, -1, 5, 0.5, 1.5, 2.0, 2**31, -(2**31) - 1, 2**64, 1e300, "", "x", "09:00",
    "9:00", "09:00\n", "+15551234567", "+1555\n", "https://example.com/h", "ftp://x", "and", "or",
    "score", "enum", "gte", "neq", "in", "eq", "resolved", [], [1], [1, 1], [1, 1.0], [True, 1],
    ["a", "a"], [{}], [{}, {}], {}, {"env": "A"}, {"file": "f"}, {"env": "A", "file": "f"},
    {"operator": "and", "conditions": []}, {"field": "score", "op": "gte"},
]  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(st.integers(min_value=0, max_value=2**32), st.integers(min_value=1, max_value=4))
def test_the_gate_agrees_with_jsonschema_on_mutated_files(seed: int, mutations: int) -> None:
    """The gate may refuse what jsonschema accepts (jsonschema then decides), never the reverse:
    ECMA-262's `$` (jsonschema-rs) ends the text, Python's (jsonschema) also matches before a final
    line break, so "09:00\\n" is refused by the gate alone."""
    rng = random.Random(seed)
    base = [d for d in (_data(p) for p in VALID) if isinstance(d, dict)]
    data = copy.deepcopy(rng.choice(base))
    for _ in range(mutations):
        path = rng.choice(_paths(data))
        if not path:
            continue
        parent = data
        for step in path[:-1]:
            parent = parent[step]
        key = path[-1]
        action = rng.random()
        if action < 0.6:
            parent[key] = copy.deepcopy(rng.choice(_VALUES))
        elif action < 0.8 and isinstance(parent, dict):
            del parent[key]
        elif isinstance(parent, dict):
            name = rng.choice(["extra", "absent", "metric", "prune", "sample_rate", "env", "webhook_url"])
            parent[name] = copy.deepcopy(rng.choice(_VALUES))
    assert not _passes_gate(data) or _jsonschema_valid(data), data


@pytest.mark.parametrize(
    ("url", "valid"),
    [
        ("https://example.com/hook", True),
        ("http://localhost:8080/x", True),
        ("ftp://example.com/hook", False),
        ("example.com/hook", False),
        ("https://exa mple.com", False),
    ],
)
def test_only_http_urls_pass_the_uri_format(url: str, valid: bool) -> None:
    data = {"version": 1, "project": 1, "settings": {"webhook_url": url}}
    found = [e.validator for e in _validator().iter_errors(data)]
    assert found == ([] if valid else ["format"])
    assert _passes_gate(data) == valid


def test_other_formats_are_annotations() -> None:
    checker = _validator().format_checker
    assert checker is not None and sorted(checker.checkers) == ["uri"]
    assert _validator().evolve(schema={"format": "email"}).is_valid("not an email")


def test_a_schema_error_is_reported_by_jsonschema_for_a_valid_looking_file() -> None:
    data = {"version": 1, "project": 1, "settings": {"sample_rate": 2}}
    with pytest.raises(InputError) as caught:
        validate_document(_doc(data))
    assert [p.message for p in caught.value.problems] == ["settings.sample_rate: must be <= 1 (got 2)"]


# -- our uniqueItems follows JSON Schema's equality ---------------------------------------------------

_ITEMS: list[Any] = [
    0, 1, 1.0, True, False, None, "a", "1", [], [1], [1.0], [True], {}, {"a": 1}, {"a": 1.0},
    {"a": True}, {"b": 1}, {"a": [1, {"c": None}]}, {"a": [1.0, {"c": None}]},
]  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(range(len(_ITEMS))), max_size=6))
def test_unique_items_follows_json_equality(picks: list[int]) -> None:
    items = [copy.deepcopy(_ITEMS[i]) for i in picks]
    ours = _validator().evolve(schema={"uniqueItems": True})
    pairs = [(a, b) for i, a in enumerate(items) for b in items[i + 1 :]]
    assert ours.is_valid(items) == (not any(_json_equal(a, b) for a, b in pairs)), items


def _json_equal(a: Any, b: Any) -> bool:
    """JSON Schema's equality, pair by pair (jsonschema's own uniqueItems misses ``[[true], [true]]``
    beside ``[1]``: it sorts, and Python's True == 1)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_json_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_json_equal(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b
