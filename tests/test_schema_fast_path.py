"""The quick schema check that spares `validate` the jsonschema import must agree with jsonschema.

``_conforms`` answers True (valid), False (invalid) or raises ``_NotSure``; True and False must be
exactly jsonschema's answer. It must also actually answer for every valid file we ship, or the fast
path silently stops being fast.
"""

from __future__ import annotations

import copy
import random
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.errors import InputError
from reconciler.loader import load_file
from reconciler.validate import _conforms, _NotSure, _surely_valid, _validator, load_schema

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
VALID = sorted((DATA / "valid").glob("*.yaml")) + sorted((ROOT / "examples").glob("*.yaml"))
INVALID = sorted((DATA / "invalid").glob("*.yaml"))


def _data(path: Path) -> Any:
    try:
        return load_file(str(path)).data
    except InputError:
        return None  # not even YAML we can read: the schema never sees it


def _jsonschema_valid(data: Any) -> bool:
    return not any(True for _ in _validator().iter_errors(data))


def _quick(data: Any) -> bool | None:
    schema = load_schema()
    try:
        return _conforms(data, schema, schema)
    except _NotSure:
        return None


def _agrees(data: Any) -> None:
    quick = _quick(data)
    if quick is not None:
        assert quick == _jsonschema_valid(data), data
    assert not _surely_valid(data) or _jsonschema_valid(data)


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.name)
def test_valid_files_take_the_fast_path(path: Path) -> None:
    data = _data(path)
    assert _jsonschema_valid(data)
    assert _surely_valid(data)


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.name)
def test_invalid_files_agree(path: Path) -> None:
    data = _data(path)
    if data is not None:
        _agrees(data)


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
    None, True, False, 0, 1, -1, 5, 0.5, 1.5, 2.0, 2**31, -(2**31) - 1, "", "x", "09:00", "9:00",
    "+15551234567", "https://example.com/h", "ftp://x", "and", "or", "score", "enum", "gte", "in",
    "eq", "resolved", [], [1], [1, 1], ["a", "a"], [{}], {}, {"env": "A"}, {"file": "f"},
    {"env": "A", "file": "f"}, {"operator": "and", "conditions": []}, {"field": "score", "op": "gte"},
]  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(st.integers(min_value=0, max_value=2**32), st.integers(min_value=1, max_value=4))
def test_mutated_documents_agree(seed: int, mutations: int) -> None:
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
            parent[rng.choice(["extra", "absent", "metric", "prune", "sample_rate", "env"])] = copy.deepcopy(
                rng.choice(_VALUES)
            )
    _agrees(data)
