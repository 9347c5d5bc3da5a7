"""What a rubric condition may say: eval-type families, and per family the field, ops and values.

The one home of these tables. ``rubric`` checks the file's rules against the live metric's family,
``impact`` evaluates calls with the comparisons, the renderers show the ops' symbols, ``diff`` asks
whether a metric is binary, and tests/test_conditions.py holds schemas/project.schema.json's op
enums to them. The emulator keeps its own copy on purpose (see reconciler/emulator.py).

The API's current spec (July 2026) names four eval types: ``binary``, ``continuous_qualitative``,
``numeric`` and ``enum``; the legacy ``binary_workflow_adherence`` and ``binary_qualitative`` map to
``binary``, and metrics of older projects still carry ``evaluate_expected_outcome`` and the
observability types, which the PATCH documentation (docs/reference/cekura-update-project-doc.txt)
lists. Binary rules take ``true``/``false`` on ``score``, and the legacy ``5``/``0`` still.

Plain data and pure functions: no I/O, nothing imported beyond the standard library.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any, Literal

Family = Literal["binary", "score", "enum"]

BINARY_TYPES: frozenset[str] = frozenset(
    {"binary", "binary_qualitative", "binary_workflow_adherence", "evaluate_expected_outcome"}
)
SCORE_TYPES: frozenset[str] = frozenset({"continuous_qualitative", "numeric"})
ENUM_TYPES: frozenset[str] = frozenset({"enum", "observability_topics", "observability_dropoff"})
# Qualitative scores run from 0 to 5; numeric metrics have no range.
QUALITATIVE_TYPE = "continuous_qualitative"
QUALITATIVE_RANGE = (0, 5)

# A binary result or rule value: true is 5 and false is 0, in rules and in call results alike.
BINARY_TRUE, BINARY_FALSE = 5, 0

# The condition field each family tests, and the ops it allows there.
FAMILY_FIELD: dict[Family, str] = {"binary": "score", "score": "score", "enum": "enum"}
FAMILY_OPS: dict[Family, tuple[str, ...]] = {
    "binary": ("eq", "neq"),
    "score": ("gt", "gte", "lt", "lte", "eq"),
    "enum": ("eq", "neq", "in"),
}
# What the file's schema allows per field, before the metric's family is known (the union).
FIELD_OPS: dict[str, tuple[str, ...]] = {
    "score": ("gt", "gte", "lt", "lte", "eq", "neq"),
    "enum": ("eq", "neq", "in"),
}

# How each op is shown to people, in plan text and markdown.
OP_SYMBOLS: dict[str, str] = {
    "gt": ">",
    "gte": ">=",
    "lt": "<",
    "lte": "<=",
    "eq": "==",
    "neq": "!=",
    "in": "in",
}
ALL_OPS: tuple[str, ...] = tuple(OP_SYMBOLS)

# ``actual OP value`` for the comparing ops (``in`` is membership, not a comparison).
COMPARE: dict[str, Callable[[Any, Any], Any]] = {
    "eq": operator.eq,
    "neq": operator.ne,
    "gt": operator.gt,
    "gte": operator.ge,
    "lt": operator.lt,
    "lte": operator.le,
}
# The converse of each comparison: ``a OP b`` is ``b CONVERSE[OP] a``. With it a condition becomes
# ``partial(COMPARE[CONVERSE[op]], value)``, one C call per evaluation (see comparison()).
CONVERSE: dict[str, str] = {"eq": "eq", "neq": "neq", "gt": "lt", "gte": "lte", "lt": "gt", "lte": "gte"}


def family(eval_type: str | None) -> Family | None:
    """The family of a metric's eval_type; None for one this tool does not know."""
    if eval_type in BINARY_TYPES:
        return "binary"
    if eval_type in SCORE_TYPES:
        return "score"
    if eval_type in ENUM_TYPES:
        return "enum"
    return None


def is_binary_value(value: Any) -> bool:
    """A value a binary rule may hold: true/false, or the legacy 5/0."""
    return isinstance(value, bool) or (
        isinstance(value, int | float) and value in (BINARY_TRUE, BINARY_FALSE)
    )


def with_bool_value(condition: Any) -> Any:
    """A binary metric's condition in the API's current form: a legacy ``score`` 5/0 written as
    true/false (the API takes both and the plan counts them equal). Anything else as it is."""
    if not isinstance(condition, Mapping) or condition.get("field") != "score":
        return condition
    value = condition.get("value")
    legacy = isinstance(value, int | float) and not isinstance(value, bool)
    if legacy and value in (BINARY_TRUE, BINARY_FALSE):
        return {**condition, "value": value == BINARY_TRUE}
    return condition


def in_words(ops: tuple[str, ...]) -> str:
    """Ops as words for a message: "eq or neq", "eq, neq or in"."""
    *first, last = ops
    return f"{', '.join(first)} or {last}" if first else last


def comparison(op: str, value: Any) -> Callable[[Any], bool]:
    """The test ``actual OP value`` as a one-argument function of ``actual`` (a comparing op)."""
    return partial(COMPARE[CONVERSE[op]], value)
