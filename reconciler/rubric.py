"""The rubric against the project's real metrics: resolve ``metric:`` names, check each rule's shape.

The API decides a call's outcome by these rules and silently fails calls whose rule does not fit
the metric's type, so every rule is checked here, before anything is sent. Reading the metric list
is the only network use (through the client); everything else is pure. Problems are reported all
at once, each at the file position of the offending rule.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from reconciler.conditions import (
    FAMILY_FIELD,
    FAMILY_OPS,
    QUALITATIVE_RANGE,
    QUALITATIVE_TYPE,
    family,
    in_words,
    is_binary_value,
)
from reconciler.errors import PlanError
from reconciler.model import DesiredProject, Metric, RuleSpec

if TYPE_CHECKING:
    from reconciler.client import CekuraClient


@dataclass
class MetricCatalog:
    """The metrics a project's rubric may use: project-level, plus agent-scoped once looked up."""

    metrics: dict[int, Metric] = field(default_factory=dict)
    agents_loaded: bool = False

    def add(self, items: Iterable[dict[str, Any]]) -> None:
        for item in items:
            if isinstance(item.get("id"), int):
                metric = Metric.from_api(item)
                self.metrics.setdefault(metric.id, metric)

    def find(self, ref: str) -> list[Metric]:
        """Slug first, then exact name."""
        by_slug = [m for m in self.metrics.values() if m.slug == ref]
        if by_slug:
            return by_slug
        return [m for m in self.metrics.values() if m.name == ref]

    def candidates(self, ref: str) -> list[str]:
        words = {m.slug for m in self.metrics.values() if m.slug}
        words |= {m.name for m in self.metrics.values()}
        return difflib.get_close_matches(ref, sorted(words), n=3, cutoff=0.5)


def load_catalog(
    client: CekuraClient,
    project_id: int,
    *,
    ids: Iterable[int],
    refs: Iterable[str],
    listed: Iterable[dict[str, Any]] | None = None,
    defined: Iterable[Metric] = (),
) -> MetricCatalog:
    """One metrics list (``listed``: one read already); agents and their metrics only when a needed
    metric is not at project level. ``defined``: the metrics the file defines, as they will be once
    written (a new one under a negative stand-in id), over what the list says."""
    catalog = MetricCatalog()
    catalog.add(client.list_metrics(project_id=project_id) if listed is None else listed)
    for metric in defined:
        catalog.metrics[metric.id] = metric
    missing_ids = [i for i in ids if i not in catalog.metrics]
    missing_refs = [r for r in refs if not catalog.find(r)]
    if missing_ids or missing_refs:
        catalog.agents_loaded = True
        for agent in client.list_agents(project_id):
            if isinstance(agent.get("id"), int):
                catalog.add(client.list_metrics(agent_id=agent["id"]))
    return catalog


@dataclass(frozen=True)
class ResolvedRule:
    """A file rule with its metric id known. ``conditions`` None means ``absent: true``."""

    metric_id: int
    conditions: dict[str, Any] | None
    spec: RuleSpec


def _show(value: Any) -> str:
    return json.dumps(value)


def _check_condition(metric: Metric, cond: dict[str, Any], label: str | None = None) -> str | None:
    """What is wrong with one condition of a rule on ``metric`` (None: it fits its eval_type)."""
    kind = family(metric.eval_type)
    if kind is None:
        return None
    fld, op, value = cond.get("field"), cond.get("op"), cond.get("value")
    if label is None:
        label = f"metric {metric.id} ({metric.name}, eval_type {metric.eval_type})"
    want = FAMILY_FIELD[kind]
    if kind == "binary":
        if fld != want:
            return (
                f'{label} is binary: use field "{want}" with op {"/".join(FAMILY_OPS[kind])} and true/false '
                f"(or 5/0), not field {_show(fld)}"
            )
        if op not in FAMILY_OPS[kind]:
            return f"{label} is binary: op must be {in_words(FAMILY_OPS[kind])}, not {_show(op)}"
        if not is_binary_value(value):
            return f"{label} is binary: value must be true/false (or 5/0), not {_show(value)}"
        return None
    if kind == "score":
        if fld != want:
            return f'{label} is scored: use field "{want}", not {_show(fld)}'
        if op not in FAMILY_OPS[kind]:
            return f"{label} is scored: op must be one of {', '.join(FAMILY_OPS[kind])}, not {_show(op)}"
        if isinstance(value, bool) or not isinstance(value, int | float):
            return f"{label} is scored: value must be a number, not {_show(value)}"
        low, high = QUALITATIVE_RANGE
        if metric.eval_type == QUALITATIVE_TYPE and not low <= value <= high:
            return f"{label} is scored on {low}-{high}: value {value} is out of range"
        return None
    if fld != want:
        ops = "/".join(FAMILY_OPS[kind])
        return f'{label} is an enum: use field "{want}" with {ops}, not field {_show(fld)}'
    if op == "in":
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            return f"{label}: op in takes a list of strings, not {_show(value)}"
        values = value
    elif op in FAMILY_OPS[kind]:
        if not isinstance(value, str):
            return f"{label}: op {op} takes one string value, not {_show(value)}"
        values = [value]
    else:
        return f"{label} is an enum: op must be {in_words(FAMILY_OPS[kind])}, not {_show(op)}"
    if metric.enum_values:
        for item in values:
            if item not in metric.enum_values:
                close = difflib.get_close_matches(item, list(metric.enum_values), n=1, cutoff=0.6)
                hint = f"; did you mean {_show(close[0])}?" if close else ""
                allowed = ", ".join(_show(v) for v in metric.enum_values)
                return f"{label}: {_show(item)} is not one of its values ({allowed}){hint}"
    return None


def resolve_rules(
    desired: DesiredProject, catalog: MetricCatalog
) -> tuple[tuple[ResolvedRule, ...], list[str]]:
    """Resolve and check every rule of the file; returns the rules and warnings, or raises PlanError."""
    assert desired.rubric is not None
    problems: list[str] = []
    warnings: list[str] = []
    resolved: list[ResolvedRule] = []
    warned: set[int] = set()
    for spec in desired.rubric.rules:
        where = desired.where(spec.path)
        metric: Metric | None = None
        if spec.metric_id is not None:
            metric = catalog.metrics.get(spec.metric_id)
            if metric is None and not spec.absent:
                problems.append(
                    f"{where}: metric {spec.metric_id} is not a metric of project {desired.project_id} "
                    "(neither project-level nor agent-scoped)"
                )
                continue
            metric_id = spec.metric_id
        else:
            assert spec.metric_ref is not None
            found = catalog.find(spec.metric_ref)
            if len(found) != 1:
                if found:
                    listed = ", ".join(f"{m.id} ({m.slug or m.name})" for m in found)
                    problems.append(
                        f"{where}: metric {_show(spec.metric_ref)} is ambiguous: {listed}; use metric_id"
                    )
                else:
                    close = catalog.candidates(spec.metric_ref)
                    hint = f"; did you mean {', '.join(_show(c) for c in close)}?" if close else ""
                    problems.append(
                        f"{where}: no metric with slug or name {_show(spec.metric_ref)} in project "
                        f"{desired.project_id}{hint}"
                    )
                continue
            metric = found[0]
            metric_id = metric.id
        if spec.absent:
            resolved.append(ResolvedRule(metric_id, None, spec))
            continue
        assert metric is not None and spec.conditions is not None
        if family(metric.eval_type) is None:
            if metric.id not in warned:
                warned.add(metric.id)
                warnings.append(
                    f"{where}: metric {metric.id} ({metric.name}) has eval_type {_show(metric.eval_type)}, "
                    "which this tool does not know; its rules are sent unchecked"
                )
        else:
            for index, cond in enumerate(spec.conditions.get("conditions") or []):
                message = _check_condition(metric, cond)
                if message:
                    cwhere = desired.where((*spec.path, "conditions", "conditions", index))
                    problems.append(f"{cwhere}: {message}")
        resolved.append(ResolvedRule(metric_id, spec.conditions, spec))
    if problems:
        raise PlanError("\n".join(problems))
    return tuple(resolved), warnings
