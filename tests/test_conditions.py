"""reconciler.conditions is the one table of eval-type families and rubric ops: the schema, the API's
spec and the emulator's deliberate copies must all agree with it."""

from __future__ import annotations

import json
import operator
import re
from pathlib import Path
from typing import Any

import pytest

from reconciler import emulator_seed, model
from reconciler.conditions import (
    ALL_OPS,
    BINARY_TYPES,
    COMPARE,
    ENUM_TYPES,
    FAMILY_FIELD,
    FAMILY_OPS,
    FIELD_OPS,
    OP_SYMBOLS,
    SCORE_TYPES,
    comparison,
    family,
    in_words,
    is_binary_value,
    with_bool_value,
)
from reconciler.validate import load_schema

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "docs" / "reference" / "cekura-openapi-slice.json"


def _spec_eval_types() -> tuple[set[str], set[str]]:
    """The eval_type enum of the metric schemas, and the legacy names their description maps."""
    schemas = json.loads(SPEC.read_text(encoding="utf-8"))["components"]["schemas"]
    current: set[str] = set()
    legacy: set[str] = set()
    for schema in schemas.values():
        prop = schema.get("properties", {}).get("eval_type")
        if isinstance(prop, dict):
            current |= set(prop.get("enum") or ())
            found = re.search(r"legacy (.*?) are accepted and mapped to binary", prop.get("description", ""))
            if found:
                legacy |= set(re.findall(r"[a-z_]+", found.group(1))) - {"and"}
    return current, legacy


def test_every_eval_type_of_the_spec_has_a_family() -> None:
    current, legacy = _spec_eval_types()
    assert current == {"binary", "continuous_qualitative", "numeric", "enum"}
    assert legacy == {"binary_workflow_adherence", "binary_qualitative"}
    assert {t: family(t) for t in current | legacy} == {
        "binary": "binary",
        "binary_workflow_adherence": "binary",
        "binary_qualitative": "binary",
        "continuous_qualitative": "score",
        "numeric": "score",
        "enum": "enum",
    }
    assert family("custom_thing") is None and family(None) is None


def test_a_metric_definitions_eval_types_are_the_specs_and_have_a_family() -> None:
    current, _ = _spec_eval_types()
    allowed = load_schema()["$defs"]["metricDefinition"]["properties"]["eval_type"]["enum"]
    assert set(allowed) == current
    assert all(family(t) is not None for t in allowed)


def test_the_schema_allows_exactly_the_ops_of_each_field() -> None:
    defs = load_schema()["$defs"]
    assert defs["condition"]["properties"]["field"]["enum"] == list(FIELD_OPS)
    assert defs["scoreCondition"]["properties"]["op"]["enum"] == list(FIELD_OPS["score"])
    assert defs["enumCondition"]["properties"]["op"]["enum"] == list(FIELD_OPS["enum"])


def test_a_fields_ops_are_its_families_ops() -> None:
    for fld, ops in FIELD_OPS.items():
        families = [f for f, f_field in FAMILY_FIELD.items() if f_field == fld]
        assert set(ops) == {op for f in families for op in FAMILY_OPS[f]}, fld
    assert set(ALL_OPS) == {op for ops in FIELD_OPS.values() for op in ops} == set(OP_SYMBOLS)
    assert set(COMPARE) == set(ALL_OPS) - {"in"}


def test_the_emulators_copies_agree() -> None:
    """Deliberate copies (the emulator stands for the server), held to the same answers."""
    assert emulator_seed.BINARY_EVAL_TYPES == BINARY_TYPES
    assert emulator_seed.SCORE_EVAL_TYPES == SCORE_TYPES
    assert emulator_seed.ENUM_EVAL_TYPES == ENUM_TYPES
    assert set(emulator_seed.SECRET_FIELDS) == set(model.SECRET_FIELDS)


_SAMPLES: list[Any] = [0, 1, 4, 4.5, 5, -1, "a", "b"]


@pytest.mark.parametrize("op", sorted(COMPARE))
def test_comparison_is_actual_op_value(op: str) -> None:
    python = {"eq": operator.eq, "neq": operator.ne, "gt": operator.gt, "gte": operator.ge}
    python |= {"lt": operator.lt, "lte": operator.le}
    for value in _SAMPLES:
        for actual in _SAMPLES:
            if isinstance(value, str) != isinstance(actual, str) and op not in ("eq", "neq"):
                continue
            assert comparison(op, value)(actual) == python[op](actual, value), (actual, op, value)


def test_binary_values_and_words() -> None:
    assert [is_binary_value(v) for v in (True, False, 5, 0, 5.0, 1, "5", None)] == [
        True, True, True, True, True, False, False, False,
    ]  # fmt: skip
    assert in_words(FAMILY_OPS["binary"]) == "eq or neq"
    assert in_words(FAMILY_OPS["enum"]) == "eq, neq or in"
    assert in_words(("eq",)) == "eq"


def test_with_bool_value_writes_legacy_binary_values_as_booleans() -> None:
    assert with_bool_value({"field": "score", "op": "eq", "value": 5}) == {
        "field": "score",
        "op": "eq",
        "value": True,
    }
    assert with_bool_value({"field": "score", "op": "neq", "value": 0.0})["value"] is False
    for kept in (
        {"field": "score", "op": "eq", "value": True},
        {"field": "score", "op": "gte", "value": 4},
        {"field": "enum", "op": "eq", "value": 5},
        "not a condition",
    ):
        assert with_bool_value(kept) == kept
