"""Metric definitions: ``metrics: {prune, definitions}``, objects of their own, keyed by slug.

An object kind (reconciler/kinds/base.py): it lists the project's metrics once (one request, the v2
list filtered by ``project_id``), diffs the file's definitions against them by ``slug`` into typed
``MetricChange``s, and writes them with requests of its own, before the project PATCH: a slug the
project does not have is created (POST), a live one gets ONE PATCH of the fields that differ, and
with ``prune: true`` the project's metrics the file does not define are deleted (DELETE, after the
PATCH, behind the mass-deletion guard, and never while a rubric rule of the plan names one).
Metrics the file does not name are never touched, and a definition manages only the fields it
writes (as settings do). A rubric rule may name (by slug) a metric the same plan creates: until the
POST answers, the metric has a negative stand-in id (``MetricsRead.new``), which the project PATCH
carries and apply replaces by the id the POST gave.

What it never does: print, know the CLI, or read anything but the project's metrics list (and the
agents list, only when a definition names an agent by name).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, ClassVar

from reconciler.changes import FieldChange, MetricChange, ProjectPlan
from reconciler.errors import PlanError
from reconciler.kinds.base import (
    MISSING_MARK,
    Edited,
    ExportContext,
    Kind,
    PlanInputs,
    Positions,
    Request,
    SavedPart,
    json_text,
)
from reconciler.model import DesiredProject, Metric, SecretRef

if TYPE_CHECKING:
    from reconciler.client import CekuraClient
    from reconciler.errors import Problem
    from reconciler.loader import Document

METRICS_PATH = "/test_framework/v2/metrics/"
# The project's metrics as listed, beside the project's GET in the live state a baseline watches.
LISTED = "$metrics"
# What a plan's ``managed_kinds["metrics"]`` says beside the slugs and their fields: prune is on.
PRUNE_MARK = "$prune"
# Baseline keys: one per defined slug (its managed fields), and the metrics prune would delete.
WATCH_PREFIX = "metric:"
PRUNE_KEY = "metrics:pruned"
DEPRECATED_TYPES = frozenset({"basic", "custom_prompt"})
# Fields compared as sets (order and repetition mean nothing to the API).
_SET_FIELDS = frozenset({"agents", "enum_values"})


@dataclass(frozen=True)
class MetricsRead:
    """The project's metrics as listed (one request), agent names -> ids (read only when a
    definition names an agent by name), the stand-in ids of the metrics the file creates, and the
    file's metrics as they will be once written (for the rubric's checks)."""

    metrics: tuple[dict[str, Any], ...] = ()
    agents: Mapping[str, int] = field(default_factory=dict)
    new: Mapping[str, int] = field(default_factory=dict)
    defined: tuple[Metric, ...] = ()


def definitions(part: Any) -> list[dict[str, Any]]:
    """The definitions of a validated ``metrics:`` part (empty for anything else)."""
    if not isinstance(part, dict) or not isinstance(part.get("definitions"), list):
        return []
    return [d for d in part["definitions"] if isinstance(d, dict)]


def _index_path(index: int) -> tuple[str | int, ...]:
    return ("metrics", "definitions", index)


def _managed_entries(part: Any, defs: Sequence[Mapping[str, Any]]) -> tuple[str, ...]:
    """What a plan manages of the metrics: each slug, each ``slug.field`` its definition writes, and
    ``$prune`` when the file prunes (the watched values and a saved plan's file are made from it)."""
    entries: list[str] = []
    for d in defs:
        entries.append(d["slug"])
        entries += [f"{d['slug']}.{name}" for name in d if name != "slug"]
    if isinstance(part, dict) and part.get("prune") is True:
        entries.append(PRUNE_MARK)
    return tuple(entries)


def _split_managed(managed: Sequence[str]) -> tuple[list[str], dict[str, list[str]]]:
    slugs: list[str] = []
    fields: dict[str, list[str]] = {}
    for entry in managed:
        if entry.startswith("$"):
            continue
        slug, _, name = entry.partition(".")
        if name:
            fields.setdefault(slug, []).append(name)
        else:
            slugs.append(slug)
    return slugs, fields


def _listed(live: Mapping[str, Any]) -> list[dict[str, Any]]:
    listed = live.get(LISTED)
    return [m for m in listed if isinstance(m, dict)] if isinstance(listed, list) else []


def _by_slug(live: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return {m["slug"]: m for m in _listed(live) if isinstance(m.get("slug"), str)}


def _unnamed(live: Mapping[str, Any], slugs: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The project's listed metrics that no slug of ``slugs`` names (what prune deletes), by id."""
    project = live.get("id")
    return {
        str(m["id"]): copy.deepcopy(m)
        for m in _listed(live)
        if m.get("slug") not in slugs
        and m.get("id") is not None
        and (project is None or m.get("project") == project)
    }


def _fields_moved(before: Mapping[str, Any], now: Mapping[str, Any]) -> list[str]:
    return [name for name in before if json_text(before[name]) != json_text(now.get(name))]


def _label(metric: Mapping[str, Any] | None, metric_id: str) -> str:
    slug = metric.get("slug") if isinstance(metric, Mapping) else None
    return f"{slug} ({metric_id})" if slug else metric_id


def metrics_read(
    listed: Iterable[Mapping[str, Any]], project: DesiredProject, agents: Mapping[str, int] | None = None
) -> MetricsRead:
    """What ``MetricsKind.read`` gives for the project's metrics as ``listed`` (pure)."""
    return _read_of(listed, project.parts.get("metrics"), agents)


def _read_of(listed: Iterable[Mapping[str, Any]], part: Any, agents: Mapping[str, int] | None) -> MetricsRead:
    metrics = tuple(dict(m) for m in listed if isinstance(m, Mapping))
    by_slug = {m.get("slug"): m for m in metrics if m.get("slug")}
    new: dict[str, int] = {}
    defined: list[Metric] = []
    for d in definitions(part):
        slug = d["slug"]
        if slug in by_slug and isinstance(by_slug[slug].get("id"), int):
            defined.append(_as_metric(by_slug[slug]["id"], d, by_slug[slug]))
        else:
            new[slug] = -(len(new) + 1)
            defined.append(_as_metric(new[slug], d))
    return MetricsRead(metrics, dict(agents or {}), new, tuple(defined))


# -- the journal and restore ----------------------------------------------------------------------


def journal_metrics(plan: ProjectPlan, live: Mapping[str, Any]) -> list[dict[str, Any]]:
    """What a journal entry keeps of ``plan``'s metric writes, from ``live`` as read right before
    them (``apply.read_watched``): an updated metric's previous values of the fields sent, a deleted
    one whole, a created one by its slug (restore does not delete it)."""
    by_id = {m.get("id"): m for m in _listed(live)}
    kept: list[dict[str, Any]] = []
    for change in plan.metric_changes:
        metric = by_id.get(change.metric_id, {})
        entry: dict[str, Any] = {"slug": change.slug, "action": change.action, "id": change.metric_id}
        if change.action == "update":
            entry["before"] = {k: copy.deepcopy(metric.get(k)) for k in change.after}
            entry["sent"] = copy.deepcopy(change.after)
        elif change.action == "delete":
            entry["before"] = copy.deepcopy(metric)
        kept.append(entry)
    return kept


def restore_metrics(
    plan: ProjectPlan, live: Mapping[str, Any], journaled: Sequence[Mapping[str, Any]]
) -> ProjectPlan:
    """``plan`` (a restore's) with the metric writes that put a journal entry's metrics back, from
    ``live`` (with the project's metrics listed): an updated metric's previous values where they
    differ now, a deleted one created again (without its id, which the API gives anew) unless its
    slug is live again; a created one is not deleted (a note says so)."""
    if not journaled:
        return plan
    writable = _writable_fields()
    listed = _listed(live)
    by_id = {m.get("id"): m for m in listed}
    by_slug = _by_slug(live)
    changes: list[MetricChange] = []
    notes: list[str] = []
    managed: list[str] = []
    for entry in journaled:
        slug, action = str(entry.get("slug")), entry.get("action")
        given, shown = entry.get("before"), entry.get("sent")
        before: dict[str, Any] = given if isinstance(given, dict) else {}
        sent: dict[str, Any] = shown if isinstance(shown, dict) else {}
        if action == "create":
            notes.append(f"metric {slug} was created by that apply; restore does not delete it")
            continue
        if action == "delete":
            if slug in by_slug:
                notes.append(f"metric {slug} exists again (id {by_slug[slug].get('id')}); not created again")
                continue
            fields = {k: copy.deepcopy(v) for k, v in before.items() if k in writable and v is not None}
            fields.pop("slug", None)
            stand_in = -(sum(1 for c in changes if c.action == "create") + 1)
            changes.append(
                MetricChange(slug, "create", None, stand_in, before.get("name"), {}, {"slug": slug, **fields})
            )
            managed += [slug, *(f"{slug}.{k}" for k in fields)]
            continue
        metric = by_id.get(entry.get("id")) or by_slug.get(slug)
        if metric is None:
            notes.append(f"metric {slug} ({entry.get('id')}) no longer exists; its values are not restored")
            continue
        slug = str(metric.get("slug") or slug)
        differing = {k: copy.deepcopy(v) for k, v in before.items() if field_differs(k, metric.get(k), v)}
        moved = [k for k in sent if k in differing and field_differs(k, metric.get(k), sent[k])]
        if moved:
            notes.append(
                f"metric {slug}: {', '.join(moved)} changed again since that apply; restoring overwrites "
                "that later change too"
            )
        managed += [slug, *(f"{slug}.{k}" for k in before)]
        if differing:
            changes.append(
                MetricChange(
                    slug,
                    "update",
                    metric.get("id"),
                    None,
                    metric.get("name"),
                    {k: copy.deepcopy(metric.get(k)) for k in differing},
                    differing,
                )
            )
    return replace(
        plan,
        metric_changes=tuple(changes),
        metrics_live=len(listed),
        managed_kinds={**plan.managed_kinds, "metrics": tuple(dict.fromkeys(managed))},
        warnings=(*plan.warnings, *notes),
        metric_names={
            **plan.metric_names,
            **{m["id"]: str(m.get("name") or "") for m in listed if isinstance(m.get("id"), int)},
        },
    )


def _writable_fields() -> frozenset[str]:
    from reconciler.validate import load_schema

    return frozenset(load_schema()["$defs"]["metricDefinition"]["properties"])


def pullable_reason(name: str, value: Any) -> str | None:
    """Why a live value of a metric field cannot be written into a definition (None: it can)."""
    import jsonschema

    from reconciler.validate import load_schema

    schema = load_schema()["$defs"]["metricDefinition"]["properties"].get(name)
    if schema is None:
        return "the file format has no such field"
    if not jsonschema.Draft202012Validator(schema).is_valid(value):
        return "not a value the file format accepts"
    return None


# -- offline checks -------------------------------------------------------------------------------


def definition_problems(doc: Document) -> list[Problem]:
    """Every problem of the file's metric definitions that the schema cannot say, at its position:
    an enum metric without enum_values, custom_code without its code, a custom trigger without its
    prompt (or code), a slug defined twice, and rubric rules whose conditions do not fit the
    eval_type of a metric the file defines."""
    data = doc.data if isinstance(doc.data, dict) else {}
    defs = definitions(data.get("metrics"))
    raw = data.get("metrics")
    listed = raw.get("definitions") if isinstance(raw, dict) else None
    problems: list[Problem] = []
    seen: dict[str, int] = {}
    for index, item in enumerate(listed if isinstance(listed, list) else []):
        if not isinstance(item, dict):
            continue
        at = _index_path(index)
        slug = item.get("slug")
        label = f"metrics.definitions[{index}]" + (f" ({slug})" if isinstance(slug, str) else "")
        if isinstance(slug, str):
            if slug in seen:
                problems.append(
                    doc.problem(
                        (*at, "slug"),
                        f"{label}: slug {json.dumps(slug)} is already defined by "
                        f"metrics.definitions[{seen[slug]}]; a slug names one metric",
                    )
                )
            else:
                seen[slug] = index
        if item.get("eval_type") == "enum" and not item.get("enum_values"):
            problems.append(
                doc.problem(
                    (*at, "eval_type"),
                    f"{label}: an enum metric needs `enum_values`, the list of its outcomes",
                )
            )
        if item.get("type") == "custom_code" and not item.get("custom_code"):
            problems.append(
                doc.problem(
                    (*at, "type"), f"{label}: a custom_code metric needs `custom_code`, its Python code"
                )
            )
        if item.get("evaluation_trigger") == "custom":
            if item.get("trigger_type") == "custom_code":
                if not item.get("evaluation_trigger_custom_code"):
                    problems.append(
                        doc.problem(
                            (*at, "evaluation_trigger"),
                            f"{label}: a custom trigger of trigger_type custom_code needs "
                            "`evaluation_trigger_custom_code`",
                        )
                    )
            elif not item.get("evaluation_trigger_prompt"):
                problems.append(
                    doc.problem(
                        (*at, "evaluation_trigger"),
                        f"{label}: a custom trigger needs `evaluation_trigger_prompt` (or "
                        "`trigger_type: custom_code` with `evaluation_trigger_custom_code`)",
                    )
                )
    by_slug = {d["slug"]: d for d in defs if isinstance(d.get("slug"), str) and d.get("eval_type")}
    rubric = data.get("rubric")
    rules = rubric.get("rules") if isinstance(rubric, dict) else None
    for index, rule in enumerate(rules if isinstance(rules, list) else []):
        if not isinstance(rule, dict) or not isinstance(rule.get("metric"), str):
            continue
        definition = by_slug.get(rule["metric"])
        conditions = rule.get("conditions")
        inner = conditions.get("conditions") if isinstance(conditions, dict) else None
        if definition is None or not isinstance(inner, list):
            continue
        from reconciler.rubric import _check_condition  # only for a file whose rules name its metrics

        metric = _as_metric(0, definition)
        label = f"metric {definition['slug']} (defined in this file, eval_type {definition['eval_type']})"
        for cindex, condition in enumerate(inner):
            if isinstance(condition, dict):
                message = _check_condition(metric, condition, label)
                if message:
                    where = ("rubric", "rules", index, "conditions", "conditions", cindex)
                    problems.append(doc.problem(where, f"rubric.rules[{index}]: {message}"))
    return problems


def _as_metric(
    metric_id: int, definition: Mapping[str, Any], live: Mapping[str, Any] | None = None
) -> Metric:
    """A definition as the rubric sees a metric: the file's eval_type and enum_values over live ones
    (a new metric without eval_type is binary, as the API makes it)."""
    merged = {**(live or {}), **definition, "id": metric_id}
    merged.setdefault("eval_type", "binary")
    return Metric.from_api(merged)


# -- comparing ------------------------------------------------------------------------------------


def field_differs(name: str, live: Any, wanted: Any) -> bool:
    """Whether a metric field differs to a plan: agents and enum values as sets, numbers by value,
    mappings by deepdiff (as settings compare)."""
    from reconciler.kinds.settings import values_differ

    if name in _SET_FIELDS and isinstance(live, list) and isinstance(wanted, list):
        return {json.dumps(v, sort_keys=True) for v in live} != {
            json.dumps(v, sort_keys=True) for v in wanted
        }
    return values_differ(name, live, wanted)


def prompt_diff(before: Any, after: Any) -> list[str]:
    """A long text field's change as unified-diff lines (without the ---/+++ header), so that a
    prompt edit reads as the lines it changes."""
    import difflib

    old = before if isinstance(before, str) else ""
    new = after if isinstance(after, str) else ""
    lines = list(difflib.unified_diff(old.splitlines(), new.splitlines(), lineterm="", n=1))
    return lines[2:]


LONG_TEXT_FIELDS = (
    "prompt",
    "description",
    "custom_code",
    "evaluation_trigger_prompt",
    "evaluation_trigger_custom_code",
)


# -- the kind -------------------------------------------------------------------------------------


class MetricsKind(Kind):
    """``metrics:``: the project's metric definitions, created, updated and deleted by slug."""

    name: ClassVar[str] = "metrics"
    key: ClassVar[str] = "metrics"

    def merge(self, base: DesiredProject, child: DesiredProject) -> tuple[Any, Positions]:
        """A child over its base by slug: a definition of both is the base's fields with the
        child's over them (in the base's place), the child's others after the base's; ``prune`` is
        the child's when it gives one. Each merged definition keeps the positions of the file each
        of its fields comes from."""
        mine, theirs = self.desired(child), self.desired(base)
        if not isinstance(mine, dict) or not isinstance(theirs, dict):
            return (mine if mine is not None else theirs), {}
        child_defs, base_defs = definitions(mine), definitions(theirs)
        child_at = {d["slug"]: i for i, d in enumerate(child_defs)}
        merged: list[dict[str, Any]] = []
        positions: Positions = {
            path: where
            for path, where in {**base.positions, **child.positions}.items()
            if path[:1] == ("metrics",) and (path[:2] != ("metrics", "definitions") or len(path) < 3)
        }

        def place(source: DesiredProject, index: int, target: int) -> None:
            prefix = _index_path(index)
            for path, where in source.positions.items():
                if path[:3] == prefix:
                    positions[(*_index_path(target), *path[3:])] = where

        for index, definition in enumerate(base_defs):
            target = len(merged)
            place(base, index, target)
            overriding = child_at.pop(definition["slug"], None)
            if overriding is not None:
                place(child, overriding, target)
            merged.append({**definition, **(child_defs[overriding] if overriding is not None else {})})
        for index in child_at.values():  # the child's own definitions, after the base's
            place(child, index, len(merged))
            merged.append(dict(child_defs[index]))
        out: dict[str, Any] = {"definitions": merged}
        prune = mine.get("prune", theirs.get("prune"))
        if prune is not None:
            out["prune"] = prune
        return out, positions

    def problems(self, doc: Document) -> list[Problem]:
        return definition_problems(doc)

    def read(self, client: CekuraClient, project: DesiredProject, live: Mapping[str, Any]) -> MetricsRead:
        """One list request (the v2 list filtered by project); the agents list only when a
        definition names an agent by name."""
        assert project.project_id is not None
        # Apply's fresh read (a re-plan) listed them already, right after the project's GET.
        source = live[LISTED] if isinstance(live.get(LISTED), list) else None
        if source is None:
            source = client.list_metrics(project_id=project.project_id)
        defs = definitions(self.desired(project))
        agents: dict[str, int] = {}
        if any(isinstance(a, str) for d in defs for a in d.get("agents") or ()):
            for agent in client.list_agents(project.project_id):
                name = agent.get("name", agent.get("agent_name"))
                if isinstance(name, str) and isinstance(agent.get("id"), int):
                    agents.setdefault(name, agent["id"])
        return metrics_read(source, project, agents)

    def plan(self, plan: ProjectPlan, inputs: PlanInputs) -> ProjectPlan:
        desired = inputs.desired
        part = self.desired(desired)
        read = inputs.reads.get(self.name)
        if not isinstance(read, MetricsRead):
            read = MetricsRead()
        defs = definitions(part)
        live_by_slug = {m.get("slug"): m for m in read.metrics if m.get("slug")}
        problems: list[str] = []
        changes: list[MetricChange] = []
        for index, definition in enumerate(defs):
            slug = definition["slug"]
            body = {k: copy.deepcopy(v) for k, v in definition.items() if k != "slug"}
            if "agents" in body:
                resolved = []
                for agent in body["agents"]:
                    if isinstance(agent, str):
                        if agent not in read.agents:
                            where = desired.where((*_index_path(index), "agents"))
                            problems.append(
                                f"{where}: no agent named {json.dumps(agent)} in project {desired.project_id}"
                            )
                            continue
                        resolved.append(read.agents[agent])
                    else:
                        resolved.append(agent)
                body["agents"] = resolved
            live = live_by_slug.get(slug)
            if live is None:
                where = desired.where(_index_path(index))
                if not body.get("name"):
                    problems.append(
                        f"{where}: metric {slug} does not exist in project {desired.project_id}; "
                        "to create it, give its `name`"
                    )
                if body.get("type") in DEPRECATED_TYPES:
                    where = desired.where((*_index_path(index), "type"))
                    problems.append(
                        f"{where}: type {body['type']} is deprecated: a new metric cannot have it; "
                        "use llm_judge"
                    )
                changes.append(
                    MetricChange(
                        slug, "create", None, read.new.get(slug), body.get("name"), {}, {"slug": slug, **body}
                    )
                )
                continue
            differing = {k: v for k, v in body.items() if field_differs(k, live.get(k), v)}
            if differing:
                changes.append(
                    MetricChange(
                        slug,
                        "update",
                        live.get("id"),
                        None,
                        live.get("name"),
                        {k: copy.deepcopy(live.get(k)) for k in differing},
                        differing,
                    )
                )
        if isinstance(part, dict) and part.get("prune") is True:
            named = {d["slug"] for d in defs}
            for metric in read.metrics:
                if metric.get("slug") not in named and metric.get("project") == desired.project_id:
                    changes.append(
                        MetricChange(
                            str(metric.get("slug") or metric.get("id")),
                            "delete",
                            metric.get("id"),
                            None,
                            metric.get("name"),
                            {},
                            {},
                        )
                    )
        if problems:
            raise PlanError("\n".join(problems))
        return replace(
            plan,
            metric_changes=(*plan.metric_changes, *changes),
            metrics_live=len(read.metrics),
            managed_kinds={**plan.managed_kinds, self.name: _managed_entries(part, defs)},
            metric_names={
                **plan.metric_names,
                **{m["id"]: str(m.get("name") or "") for m in read.metrics if isinstance(m.get("id"), int)},
                **{stand_in: slug for slug, stand_in in read.new.items()},
            },
        )

    def refusals(self, plan: ProjectPlan, inputs: PlanInputs) -> list[str]:
        """A metric the plan deletes while the rubric the plan leaves (its PATCH, else the live
        one) still names it: the API would fail every call that rule decides."""
        from reconciler.kinds.rubric import live_rubric_rules, rule_metric

        deleted = {c.metric_id: c for c in plan.metric_changes if c.action == "delete"}
        if not deleted:
            return []
        config = plan.patch.get("rubric_config", inputs.live.get("rubric_config"))
        named = {rule_metric(r) for r in live_rubric_rules({"rubric_config": config})}
        where = inputs.desired.where(("metrics", "prune"))
        return [
            f"{where}: prune would delete metric {change.metric_id} ({change.slug}), which a rubric rule "
            f"still names; remove its rules first (rubric.rules: {{metric_id: {change.metric_id}, "
            "absent: true}) or define the metric here"
            for metric_id, change in deleted.items()
            if metric_id in named
        ]

    def beside(self, read: Any) -> dict[str, Any]:
        if not isinstance(read, MetricsRead):
            return {}
        return {LISTED: [copy.deepcopy(m) for m in read.metrics]}

    def read_fresh(self, client: CekuraClient, plan: ProjectPlan) -> dict[str, Any]:
        if self.name not in plan.managed_kinds:
            return {}
        listed = client.list_metrics(project_id=plan.project_id)
        return {LISTED: [m for m in listed if isinstance(m, dict)]}

    def watched(self, live: Mapping[str, Any], managed: Sequence[str]) -> dict[str, Any]:
        """Per defined slug, the live values of the fields its definition writes (a slug not live:
        missing); with prune, every project metric the file does not define, whole (what prune
        deletes). A metric's id and the fields the file does not write are not watched."""
        slugs, fields = _split_managed(managed)
        by_slug = _by_slug(live)
        watched: dict[str, Any] = {}
        for slug in slugs:
            metric = by_slug.get(slug)
            watched[f"{WATCH_PREFIX}{slug}"] = (
                copy.deepcopy(MISSING_MARK)
                if metric is None
                else {name: copy.deepcopy(metric.get(name)) for name in fields.get(slug, ())}
            )
        if PRUNE_MARK in managed:
            watched[PRUNE_KEY] = {"named": sorted(slugs), "metrics": _unnamed(live, slugs)}
        return watched

    def watches(self, key: str) -> bool:
        return key.startswith(WATCH_PREFIX) or key == PRUNE_KEY

    def moved(
        self, key: str, before: Any, live: Mapping[str, Any], metric_names: Mapping[int, str]
    ) -> list[str]:
        if key == PRUNE_KEY:
            named = before.get("named") if isinstance(before, dict) else None
            now = _unnamed(live, named if isinstance(named, list) else [])
            before = before.get("metrics") if isinstance(before, dict) else None
            before = before if isinstance(before, dict) else {}
            told = [
                f"metric {_label(now.get(i) or before.get(i), i)} "
                + ("(added since the plan)" if i not in before else "(deleted since the plan)")
                for i in sorted(set(now) ^ set(before))
            ]
            told += [
                f"metric {_label(now[i], i)}: {', '.join(sorted(_fields_moved(before[i], now[i])))}"
                for i in sorted(set(now) & set(before))
                if _fields_moved(before[i], now[i])
            ]
            return told
        slug = key.removeprefix(WATCH_PREFIX)
        metric = _by_slug(live).get(slug)
        if before == MISSING_MARK:
            return [] if metric is None else [f"metric {slug} (created since the plan)"]
        if metric is None:
            return [f"metric {slug} (deleted since the plan)"]
        fields = _fields_moved(before, metric) if isinstance(before, dict) else []
        return [f"metric {slug}: {', '.join(fields)}"] if fields else []

    def expected(self, live: Mapping[str, Any], plan: ProjectPlan) -> dict[str, Any]:
        """``live`` with the project's metrics as they list once the plan's requests are written."""
        if self.name not in plan.managed_kinds or not isinstance(live.get(LISTED), list):
            return dict(live)
        listed = [copy.deepcopy(m) for m in live[LISTED] if isinstance(m, dict)]
        for change in plan.metric_changes:
            if change.action == "create":
                listed.append({"project": plan.project_id, **copy.deepcopy(change.after)})
            elif change.action == "update":
                listed = [{**m, **change.after} if m.get("id") == change.metric_id else m for m in listed]
            else:
                listed = [m for m in listed if m.get("id") != change.metric_id]
        return {**live, LISTED: listed}

    def patch_keys(self, plan: ProjectPlan) -> tuple[str, ...]:
        return ()

    def owns(self, change: FieldChange, plan: ProjectPlan) -> bool:
        return False

    def requests(self, plan: ProjectPlan) -> tuple[Request, ...]:
        out: list[Request] = []
        for change in plan.metric_changes:
            if change.action == "create":
                body = {"project": plan.project_id, **change.after}
                out.append(
                    Request(
                        "POST", METRICS_PATH, body, self.name, f"create metric {change.slug}", change.new_id
                    )
                )
            elif change.action == "update":
                path = f"{METRICS_PATH}{change.metric_id}/"
                out.append(
                    Request(
                        "PATCH",
                        path,
                        dict(change.after),
                        self.name,
                        f"update metric {change.slug} ({change.metric_id})",
                    )
                )
            else:
                path = f"{METRICS_PATH}{change.metric_id}/"
                out.append(
                    Request(
                        "DELETE", path, None, self.name, f"delete metric {change.slug} ({change.metric_id})"
                    )
                )
        return tuple(out)

    def verify(self, client: CekuraClient, plan: ProjectPlan, created: Mapping[int, int]) -> list[str]:
        """One list request: every created or updated metric shows the fields sent; every deleted
        one is gone."""
        if not plan.metric_changes:
            return []
        listed = client.list_metrics(project_id=plan.project_id)
        by_id = {m.get("id"): m for m in listed if isinstance(m, dict)}
        left: list[str] = []
        for change in plan.metric_changes:
            metric_id = change.metric_id
            if change.action == "create" and change.new_id is not None:
                metric_id = created.get(change.new_id, change.new_id)
            live = by_id.get(metric_id)
            if change.action == "delete":
                if live is not None:
                    left.append(f"metric {change.slug} ({metric_id}) still exists")
                continue
            if live is None:
                left.append(f"metric {change.slug} ({metric_id}) is not listed")
                continue
            fields = [
                k for k, v in change.after.items() if k != "project" and field_differs(k, live.get(k), v)
            ]
            if fields:
                left.append(f"metric {change.slug} ({metric_id}): {', '.join(fields)}")
        return left

    def from_plan(
        self, plan: ProjectPlan, live: Mapping[str, Any], refs: Mapping[str, SecretRef]
    ) -> SavedPart:
        """The ``metrics:`` part that the plan's metric changes describe against ``live`` (which holds
        the project's metrics as listed, ``apply.read_watched``): a created metric's fields as its
        change shows them, an updated one's changed fields as shown and its other managed fields as
        they are live, ``prune`` as the plan manages it. Agents are ids here (resolved when planned)."""
        entries = plan.managed_kinds.get(self.name)
        if entries is None:
            if plan.metric_changes:
                raise Edited("it changes metric definitions but manages none")
            return SavedPart(None)
        slugs, fields = _split_managed(entries)
        if len(set(slugs)) != len(slugs) or set(fields) - set(slugs):
            raise Edited("its managed metrics are not a list of definitions by slug")
        if not isinstance(live.get(LISTED), list):
            raise Edited("the project's metrics were not read")
        by_slug = _by_slug(live)
        changes: dict[str, MetricChange | None] = {}
        for shown in plan.metric_changes:
            if shown.slug in changes:
                raise Edited(f"it changes metric {shown.slug} twice")
            changes[shown.slug] = shown
        defs: list[dict[str, Any]] = []
        for slug in slugs:
            change = changes.pop(slug, None)
            names = fields.get(slug, [])
            if change is not None and change.action == "create":
                after = dict(change.after)
                if after.pop("slug", None) != slug or sorted(after) != sorted(names):
                    raise Edited(f"the creation of metric {slug} is not one its definition makes")
                defs.append({"slug": slug, **copy.deepcopy(after)})
                continue
            metric = by_slug.get(slug)
            if metric is None:
                raise Edited(
                    f"it manages metric {slug}, which the project does not have, without creating it"
                )
            after = dict(change.after) if change is not None and change.action == "update" else {}
            if (change is not None and change.action != "update") or not set(after) <= set(names):
                raise Edited(f"its change of metric {slug} is not one its definition makes")
            defs.append(
                {"slug": slug, **{n: copy.deepcopy(after[n] if n in after else metric.get(n)) for n in names}}
            )
        if any(c is None or c.action != "delete" for c in changes.values()):
            raise Edited("it changes a metric it does not manage")
        if changes and PRUNE_MARK not in entries:
            raise Edited("it deletes metrics without prune")
        part: dict[str, Any] = {"definitions": defs}
        if PRUNE_MARK in entries:
            part["prune"] = True
        return SavedPart(part, _read_of(live[LISTED], part, {}))

    def export(self, live: Mapping[str, Any], context: ExportContext) -> list[str]:
        from reconciler.export import metrics_lines

        return metrics_lines(context.project_id, context.listed)
