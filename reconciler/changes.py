"""Changes are typed values: a ``Plan`` of ``ProjectPlan``s of ``FieldChange``s and ``RuleChange``s.

This module only holds, counts, sorts and serializes changes; it computes nothing from the network
(``diff`` does that) and prints nothing (``renderers`` do that). The PATCH body lives in the
``ProjectPlan`` and is derived once, by ``diff``; secrets appear in it as ``SecretRef``s, never as
values, and ``to_json`` masks them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from reconciler.model import SENSITIVE_MASK, SecretRef

FORMAT_VERSION = 1
MASS_DELETE_MIN = 3  # rules; with more than half of the live rules, apply needs --force

FieldAction = Literal["update", "set", "rotate"]
RuleAction = Literal["add", "change", "remove"]
MetricAction = Literal["create", "update", "delete"]


@dataclass(frozen=True)
class FieldChange:
    """One setting (or one sub-key of a JSON-object setting, ``a.b``) or secret that differs."""

    path: str
    before: Any
    after: Any
    sensitive: bool = False
    action: FieldAction = "update"
    before_missing: bool = False
    after_missing: bool = False

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kind": "secret" if self.sensitive else "setting",
            "path": self.path,
            "action": self.action,
        }
        if self.sensitive:
            out["after"] = SENSITIVE_MASK
        else:
            if not self.before_missing:
                out["before"] = self.before
            if not self.after_missing:
                out["after"] = self.after
        return out


@dataclass(frozen=True)
class RuleChange:
    """The rules of one metric before and after (a metric owns all of its rules)."""

    # A negative id stands in for a metric the same plan creates (``MetricChange.new_id``).
    metric_id: int = field(metadata={"least": 1, "stand_in": True})
    action: RuleAction
    before: tuple[dict[str, Any], ...]
    after: tuple[dict[str, Any], ...]
    metric_name: str | None = None
    eval_type: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": "rule",
            "metric_id": self.metric_id,
            "metric_name": self.metric_name,
            "eval_type": self.eval_type,
            "action": self.action,
            "before": [dict(r) for r in self.before],
            "after": [dict(r) for r in self.after],
        }


@dataclass(frozen=True)
class MetricChange:
    """One metric definition created, updated (only the fields that differ) or deleted, by slug.

    A metric to be created has no id yet: ``new_id`` is the negative stand-in that rubric rules of
    the same plan name it by, replaced by the id the POST answers before the project PATCH is sent."""

    slug: str
    action: MetricAction
    metric_id: int | None = field(default=None, metadata={"least": 1})
    new_id: int | None = field(default=None, metadata={"stand_in": True})
    name: str | None = None
    before: dict[str, Any] = field(default_factory=dict)
    after: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": "metric", "slug": self.slug, "action": self.action}
        out["metric_id"] = self.metric_id
        if self.name is not None:
            out["name"] = self.name
        if self.action != "create":
            out["before"] = dict(self.before)
        if self.action != "delete":
            out["after"] = dict(self.after)
        return out


@dataclass(frozen=True)
class ProjectPlan:
    """What it takes to bring one live project to what its file says."""

    # "least": the smallest value the saved-plan codec accepts (reconciler/saved.py); "stand_in": a
    # negative id is accepted too (a metric the plan creates), 0 never.
    project_id: int = field(metadata={"least": 1})
    file: str
    field_changes: tuple[FieldChange, ...] = ()
    rule_changes: tuple[RuleChange, ...] = ()
    rules_kept: int = 0
    metrics_kept: int = 0
    patch: dict[str, Any] = field(default_factory=dict)
    fingerprint: str = ""
    # The fingerprint the managed fields will have once the PATCH is applied (a saved plan applied
    # again finds it and says "already matches" instead of "stale").
    expected_fingerprint: str = ""
    warnings: tuple[str, ...] = ()
    # What the file manages: settings names, secret names, and whether it manages the rubric.
    managed_settings: tuple[str, ...] = ()
    managed_secrets: tuple[str, ...] = ()
    manages_rubric: bool = False
    # Metrics of kept live rules that the project no longer has (the API rejects rubrics naming them).
    stale_rule_metrics: tuple[int, ...] = ()
    # Live values, before the plan, of the non-secret fields in the PATCH (for the backup journal).
    previous: dict[str, Any] = field(default_factory=dict, repr=False)
    # Names of the project's metrics, for reports about the rubric (not part of the JSON plan).
    metric_names: dict[int, str] = field(default_factory=dict, repr=False)
    # Rules in the live rubric before the plan (all of them: kept, changed and unchanged).
    rules_live: int = 0
    # The live values of every managed field the plan was made from (what ``fingerprint`` digests),
    # to say what moved when a fresh read before the PATCH no longer matches. Not in the JSON plan.
    baseline: dict[str, Any] = field(default_factory=dict, repr=False)
    # What each kind registered beyond settings, secrets and the rubric manages, by kind name
    # (reconciler/kinds: the shipped kinds keep theirs in the fields above).
    managed_kinds: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # Metric definitions created, updated or deleted (reconciler/kinds/metrics.py), and how many
    # metrics the project had before the plan (for the mass-deletion guard).
    metric_changes: tuple[MetricChange, ...] = ()
    metrics_live: int = 0

    @property
    def has_changes(self) -> bool:
        return bool(self.patch) or bool(self.metric_changes)

    @property
    def setting_changes(self) -> tuple[FieldChange, ...]:
        return tuple(c for c in self.field_changes if not c.sensitive)

    @property
    def secret_changes(self) -> tuple[FieldChange, ...]:
        return tuple(c for c in self.field_changes if c.sensitive)

    def count_rules(self, action: RuleAction) -> int:
        """Rules added (of metrics that had none), rules changed (of metrics that keep some), or removed."""
        if action == "add":
            return sum(len(c.after) for c in self.rule_changes if c.action == "add")
        if action == "remove":
            return sum(len(c.before) for c in self.rule_changes if c.action == "remove")
        return sum(len(c.after) for c in self.rule_changes if c.action == "change")

    def live_rule_count(self) -> int:
        """Live rules before the plan (at least those kept plus those of the metrics it touches)."""
        return max(self.rules_live, self.rules_kept + sum(len(c.before) for c in self.rule_changes))

    def mass_deletion(self) -> tuple[int, int] | None:
        """(removed, live) when the plan removes at least 3 live rules and more than half of them.

        A metric whose rules are replaced counts as kept: only ``remove`` changes count.
        """
        removed = sum(len(c.before) for c in self.rule_changes if c.action == "remove")
        total = self.live_rule_count()
        if removed >= MASS_DELETE_MIN and removed * 2 > total:
            return removed, total
        return None

    def metric_mass_deletion(self) -> tuple[int, int] | None:
        """(deleted, live) when the plan deletes at least 3 metrics and more than half of the
        project's metrics (``metrics: {prune: true}``)."""
        deleted = sum(1 for c in self.metric_changes if c.action == "delete")
        if deleted >= MASS_DELETE_MIN and deleted * 2 > self.metrics_live:
            return deleted, self.metrics_live
        return None

    def required_flags(self) -> tuple[str, ...]:
        """Flags apply needs for this plan: --allow-delete (deletes the project), --force (mass deletion)."""
        flags = []
        if self.patch.get("is_deleted") is True:
            flags.append("--allow-delete")
        if self.mass_deletion() or self.metric_mass_deletion():
            flags.append("--force")
        return tuple(flags)

    def summary(self) -> dict[str, int]:
        settings = len({c.path.split(".", 1)[0] for c in self.setting_changes})
        return {
            "settings": settings,
            "secrets": len(self.secret_changes),
            "rules_added": self.count_rules("add"),
            "rules_changed": self.count_rules("change"),
            "rules_removed": self.count_rules("remove"),
            "rules_kept": self.rules_kept,
            "fields_in_patch": len(self.patch),
        } | self._metric_summary()

    def _metric_summary(self) -> dict[str, int]:
        """Counts of metric definitions, only for a plan that manages them (older outputs unchanged)."""
        if "metrics" not in self.managed_kinds:
            return {}
        return {
            f"metrics_{action}d": sum(1 for c in self.metric_changes if c.action == action)
            for action in ("create", "update", "delete")
        }

    def masked_patch(self) -> dict[str, Any]:
        return {k: (SENSITIVE_MASK if isinstance(v, SecretRef) else v) for k, v in self.patch.items()}

    def to_json(self) -> dict[str, Any]:
        return {
            "project_id": self.project_id,
            "file": self.file,
            "has_changes": self.has_changes,
            "changes": [c.to_json() for c in self.metric_changes]
            + [c.to_json() for c in self.field_changes]
            + [c.to_json() for c in self.rule_changes],
            "patch": self.masked_patch(),
            "summary": self.summary(),
            "warnings": list(self.warnings),
            "requires_flags": list(self.required_flags()),
        }


@dataclass(frozen=True)
class Plan:
    """Plans of one or more projects, in the order of their files (directories are scanned sorted)."""

    projects: tuple[ProjectPlan, ...]

    @property
    def has_changes(self) -> bool:
        return any(p.has_changes for p in self.projects)

    def summary(self) -> dict[str, int]:
        total: dict[str, int] = {
            "projects": len(self.projects),
            "projects_with_changes": sum(p.has_changes for p in self.projects),
        }
        for project in self.projects:
            for key, value in project.summary().items():
                total[key] = total.get(key, 0) + value
        return total

    def to_json(self) -> dict[str, Any]:
        from reconciler import __version__

        return {
            "format_version": FORMAT_VERSION,
            "tool_version": __version__,
            "has_changes": self.has_changes,
            "projects": [p.to_json() for p in self.projects],
            "summary": self.summary(),
        }
