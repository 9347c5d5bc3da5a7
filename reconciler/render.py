"""Render plans for people (text), machines (json) and pull requests (markdown).

Every renderer writes to a stream it is given; nothing here prints, reads the network or decides
exit codes. Secrets are shown only as ``(sensitive)``: a renderer never sees a secret value (plans
hold references); the plan text names each reference (``{env: NAME}``, ``{file: PATH}``), so that
a reviewer sees where the value sent will be read from.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from typing import Any, TextIO

from reconciler.changes import FieldChange, MetricChange, Plan, ProjectPlan, RuleChange
from reconciler.model import SENSITIVE_MASK, SecretRef

_OPS = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<=", "eq": "==", "neq": "!=", "in": "in"}
_COLORS = {"+": "\033[32m", "~": "\033[33m", "-": "\033[31m", "!": "\033[35m", "bold": "\033[1m"}
_RESET = "\033[0m"


def show_value(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def show_rule(rule: dict[str, Any]) -> str:
    conditions = rule.get("conditions")
    if not isinstance(conditions, dict) or not isinstance(conditions.get("conditions"), list):
        return show_value({k: v for k, v in rule.items() if k != "metric_id"})
    parts = []
    for cond in conditions["conditions"]:
        if isinstance(cond, dict):
            op = _OPS.get(str(cond.get("op")), str(cond.get("op")))
            parts.append(f"{cond.get('field')} {op} {show_value(cond.get('value'))}")
        else:
            parts.append(show_value(cond))
    return " and ".join(parts) or "(no conditions)"


def show_rules(rules: tuple[dict[str, Any], ...]) -> str:
    return "; ".join(show_rule(r) for r in rules) if rules else "(none)"


def metric_label(change: RuleChange) -> str:
    # A negative id stands for a metric the same apply creates: its id is known once the POST answers.
    label = "metric (new)" if change.metric_id < 0 else f"metric {change.metric_id}"
    if change.metric_name:
        label += f" {change.metric_name}"
    if change.eval_type:
        label += f" ({change.eval_type})"
    return label


def field_line(change: FieldChange, *, source: bool = True) -> tuple[str, str]:
    """(symbol, text) of one field change; ``source``: name a secret's reference."""
    if change.sensitive:
        note = {
            "set": "not configured, will be set",
            "update": "differs from the file, will be set",
            "rotate": "will be rotated",
        }.get(change.action, "will be sent")
        # The reference, never the value: a reviewer sees where the value sent will be read from.
        read = (
            f", read from {change.after.describe()}" if source and isinstance(change.after, SecretRef) else ""
        )
        return ("+" if change.action == "set" else "~", f"{change.path}: {SENSITIVE_MASK} ({note}){read}")
    if change.after_missing:
        return ("-", f"{change.path}: {show_value(change.before)} (removed: the whole object is replaced)")
    if change.before_missing:
        return ("+", f"{change.path}: {show_value(change.after)}")
    return ("~", f"{change.path}: {show_value(change.before)} -> {show_value(change.after)}")


def rule_line(change: RuleChange) -> tuple[str, str]:
    label = metric_label(change)
    if change.action == "add":
        return ("+", f"{label}: {show_rules(change.after)}")
    if change.action == "remove":
        return ("-", f"{label}: {show_rules(change.before)}")
    return ("~", f"{label}: {show_rules(change.before)} -> {show_rules(change.after)}")


def multiline(before: Any, after: Any) -> bool:
    """Two texts of which one has several lines: shown as a line diff, not as two JSON strings."""
    return (
        isinstance(before, str)
        and isinstance(after, str)
        and ("\n" in before.strip() or "\n" in after.strip())
    )


def metric_change_lines(change: MetricChange) -> list[tuple[str, str]]:
    """(symbol, text) lines of one metric definition's change; a long text field's edit (a prompt)
    as the lines it changes (unified diff, ``-``/``+``), not as two long JSON strings."""
    from reconciler.kinds.metrics import LONG_TEXT_FIELDS, prompt_diff

    name = f" ({change.name})" if change.name else ""
    if change.action == "delete":
        return [("-", f"metric {change.slug}{name}, id {change.metric_id}: will be deleted")]
    if change.action == "create":
        lines = [("+", f"metric {change.slug}{name} (new): will be created")]
        for key, value in change.after.items():
            if key in ("slug", "name"):
                continue
            if key in LONG_TEXT_FIELDS and isinstance(value, str) and "\n" in value.strip():
                lines.append(("+", f"    {key}:"))
                lines += [("+", f"      | {line}") for line in value.splitlines()]
            else:
                lines.append(("+", f"    {key}: {show_value(value)}"))
        return lines
    lines = [("~", f"metric {change.slug}{name}, id {change.metric_id}:")]
    for key, value in change.after.items():
        before = change.before.get(key)
        if key in LONG_TEXT_FIELDS and multiline(before, value):
            lines.append(("~", f"    {key}:"))
            for line in prompt_diff(before, value):
                symbol = line[:1] if line[:1] in "+-" else "~"
                lines.append((symbol, f"      {line}"))
        else:
            lines.append(("~", f"    {key}: {show_value(before)} -> {show_value(value)}"))
    return lines


def plural(count: int, word: str, many: str | None = None) -> str:
    """'1 rule', '3 rules' (``many`` for irregular plurals)."""
    return f"{count} {word if count == 1 else (many or word + 's')}"


def summary_line(project: ProjectPlan) -> str:
    s = project.summary()
    parts = []
    if s["settings"]:
        parts.append(plural(s["settings"], "setting") + " to change")
    if s["secrets"]:
        parts.append(plural(s["secrets"], "secret") + " to send")
    if s["rules_added"]:
        parts.append(plural(s["rules_added"], "rule") + " to add")
    if s["rules_changed"]:
        parts.append(plural(s["rules_changed"], "rule") + " to change")
    if s["rules_removed"]:
        parts.append(plural(s["rules_removed"], "rule") + " to remove")
    for action in ("create", "update", "delete"):
        if s.get(f"metrics_{action}d"):
            parts.append(plural(s[f"metrics_{action}d"], "metric") + f" to {action}")
    text = ", ".join(parts) if parts else "no changes"
    fields = plural(s["fields_in_patch"], "field")
    if "metrics" in project.managed_kinds and not project.patch:
        return f"Plan for project {project.project_id}: {text}; no project PATCH."
    return f"Plan for project {project.project_id}: {text}; one PATCH of {fields}."


def no_changes_line(project: ProjectPlan) -> str:
    return f"No changes. Project {project.project_id} matches {project.file}."


def guard_lines(project: ProjectPlan, given: Collection[str] = ()) -> list[str]:
    """Said in advance: what apply will refuse without an explicit flag (or that it was given)."""
    lines = []
    if project.patch.get("is_deleted") is True:
        lines.append(
            "This plan DELETES the project (is_deleted: true); "
            + (
                "--allow-delete given."
                if "--allow-delete" in given
                else "apply refuses it without --allow-delete."
            )
        )
    mass = project.mass_deletion()
    if mass:
        lines.append(
            f"This plan removes {mass[0]} of the {mass[1]} live rubric rules; "
            + ("--force given." if "--force" in given else "apply refuses it without --force.")
        )
    metrics = project.metric_mass_deletion()
    if metrics:
        lines.append(
            f"This plan deletes {metrics[0]} of the project's {metrics[1]} metrics; "
            + ("--force given." if "--force" in given else "apply refuses it without --force.")
        )
    return lines


def clean(text: str) -> str:
    """Text from the API or the file system, safe for a terminal: control characters escaped."""
    return "".join(ch if ch.isprintable() or ch == " " else ascii(ch)[1:-1] for ch in text)


class _Painter:
    def __init__(self, color: bool) -> None:
        self.color = color

    def __call__(self, symbol: str, text: str) -> str:
        text = clean(text)
        if not self.color:
            return text
        return f"{_COLORS.get(symbol, '')}{text}{_RESET}"


def drift_summary_line(project: ProjectPlan) -> str:
    s = project.summary()
    parts = []
    if s["settings"]:
        parts.append(plural(s["settings"], "setting") + (" differs" if s["settings"] == 1 else " differ"))
    if s["secrets"]:
        parts.append(plural(s["secrets"], "secret") + " not configured")
    rules = s["rules_added"] + s["rules_changed"] + s["rules_removed"]
    if rules:
        parts.append(plural(rules, "rubric rule") + (" differs" if rules == 1 else " differ"))
    return f"Drift in project {project.project_id}: {', '.join(parts) or 'none'} (live -> file)."


def render_text(
    plan: Plan, out: TextIO, *, color: bool = False, kind: str = "plan", given: Collection[str] = ()
) -> None:
    """Terraform-like text. ``kind="drift"`` words it as a drift report (live -> file)."""
    paint = _Painter(color)
    drift = kind == "drift"
    for index, project in enumerate(plan.projects):
        if index:
            out.write("\n")
        for warning in project.warnings:
            out.write(paint("!", f"Warning: {warning}") + "\n")
        if not project.has_changes:
            line = no_changes_line(project)
            out.write(clean(line.replace("No changes.", "In sync.", 1) if drift else line) + "\n")
            continue
        heading = f"Project {project.project_id} ({project.file})"
        out.write(paint("bold", heading + (" has drifted from its file:" if drift else "")) + "\n")
        for metric_change in project.metric_changes:
            for symbol, text in metric_change_lines(metric_change):
                out.write(paint(symbol, f"  {symbol} {text}") + "\n")
        for change in project.field_changes:
            symbol, text = field_line(change, source=not drift)  # a drift report sends nothing
            if drift and change.sensitive:
                text = text.replace("not configured, will be set", "not configured")
            out.write(paint(symbol, f"  {symbol} {text}") + "\n")
        if project.rule_changes or "rubric_config" in project.patch:
            kept = ""
            if project.rules_kept:
                kept = (
                    f", {plural(project.rules_kept, 'rule')} of "
                    f"{plural(project.metrics_kept, 'metric')} not in the file kept"
                )
            header = f"rubric_config ({kept[2:]})" if drift and kept else "rubric_config"
            out.write(f"  {header if drift else f'rubric_config (sent whole{kept})'}:\n")
            for rule_change in project.rule_changes:
                symbol, text = rule_line(rule_change)
                out.write(paint(symbol, f"    {symbol} {text}") + "\n")
        out.write(clean(drift_summary_line(project) if drift else summary_line(project)) + "\n")
        if drift:
            continue
        for line in guard_lines(project, given):
            out.write(paint("!", line) + "\n")
    if len(plan.projects) > 1:
        s = plan.summary()
        verb = "drifted" if drift else "to change"
        out.write(f"\n{s['projects_with_changes']} of {plural(s['projects'], 'project')} {verb}.\n")


def render_json(
    plan: Plan,
    out: TextIO,
    *,
    failures: Sequence[tuple[str, str]] = (),
    impact: Sequence[dict[str, Any]] | None = None,
) -> None:
    """The versioned JSON document; ``failures`` (file, error) of projects that could not be planned,
    ``impact`` (with `plan --impact`) the rubric impact report of each project whose rubric changes."""
    document = plan.to_json()
    document["failures"] = [{"file": file, "error": error} for file, error in failures]
    if impact is not None:
        document["impact"] = list(impact)
    json.dump(document, out, indent=2, sort_keys=False, ensure_ascii=False)
    out.write("\n")
