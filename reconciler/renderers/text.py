"""The text format: Terraform-like output for people at a terminal and in CI logs.

Writes to the stream it is given; nothing here prints, reads the network or decides exit codes.
Secrets are shown only as ``(sensitive)``: a renderer never sees a secret value (plans hold
references); the plan text names each reference (``{env: NAME}``, ``{file: PATH}``), so that a
reviewer sees where the value sent will be read from. Colour only when asked (the CLI asks on a
terminal without NO_COLOR).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TextIO

from reconciler.changes import FieldChange, MetricChange, Plan, ProjectPlan, RuleChange
from reconciler.conditions import OP_SYMBOLS as _OPS
from reconciler.model import SENSITIVE_MASK, SecretRef
from reconciler.renderers.base import Renderer
from reconciler.renderers.wording import DRIFT, PLAN, Wording, plural

if TYPE_CHECKING:
    from reconciler.impact import ImpactReport
    from reconciler.operations import ApplyReport, PlanRun, ProjectResult, RestoreReport, SavedPlanView

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


def field_line(change: FieldChange, *, wording: Wording = PLAN) -> tuple[str, str]:
    """(symbol, text) of one field change; a plan names a secret's reference (a drift report, which
    sends nothing, does not)."""
    if change.sensitive:
        note = wording.secret_notes.get(change.action, "will be sent")
        # The reference, never the value: a reviewer sees where the value sent will be read from.
        shows_source = wording.sends and isinstance(change.after, SecretRef)
        read = f", read from {change.after.describe()}" if shows_source else ""
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


def no_changes_line(project: ProjectPlan, wording: Wording = PLAN) -> str:
    return f"{wording.in_sync} Project {project.project_id} matches {project.file}."


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
    if text.isprintable():  # nearly every line: no character to escape (a space is printable)
        return text
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
    plan: Plan, out: TextIO, *, color: bool = False, wording: Wording = PLAN, given: Collection[str] = ()
) -> None:
    """Terraform-like text; ``wording`` DRIFT words it as a drift report (live -> file)."""
    paint = _Painter(color)
    drift = not wording.sends
    for index, project in enumerate(plan.projects):
        if index:
            out.write("\n")
        for warning in project.warnings:
            out.write(paint("!", f"Warning: {warning}") + "\n")
        if not project.has_changes:
            out.write(clean(no_changes_line(project, wording)) + "\n")
            continue
        heading = f"Project {project.project_id} ({project.file})"
        out.write(paint("bold", heading + wording.heading_suffix) + "\n")
        for metric_change in project.metric_changes:
            for symbol, text in metric_change_lines(metric_change):
                out.write(paint(symbol, f"  {symbol} {text}") + "\n")
        for change in project.field_changes:
            symbol, text = field_line(change, wording=wording)
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
        out.write(f"\n{s['projects_with_changes']} of {plural(s['projects'], 'project')} {wording.verb}.\n")


# -- rubric impact --------------------------------------------------------------------------------


def _metric_label(metric_id: int, metric_names: Mapping[int, str]) -> str:
    name = metric_names.get(metric_id)
    if metric_id < 0:  # the stand-in id of a metric the plan creates
        return f"metric (new) {name or ''}".rstrip()
    return f"metric {metric_id} ({name})" if name else f"metric {metric_id}"


def percent(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "-"


def utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _window_text(report: ImpactReport) -> str:
    if report.since is None or report.until is None:
        return "the given calls"
    return f"{utc(report.since):%Y-%m-%d %H:%M} to {utc(report.until):%Y-%m-%d %H:%M} UTC"


def render_impact_text(reports: Sequence[ImpactReport], metric_names: Mapping[int, str]) -> str:
    """For people at a terminal; one block per project."""
    blocks = []
    for report in reports:
        head = f"Rubric impact on project {report.project_id}, {_window_text(report)}"
        if not report.calls:
            blocks.append(f"{head}: no calls in the window, nothing to compare.\n")
            continue
        lines = [f"{head}: {plural(report.calls, 'call')} replayed."]
        delta = report.passing_after - report.passing_before
        lines.append(
            f"  passing: {report.passing_before} ({percent(report.passing_before, report.calls)}) now, "
            f"{report.passing_after} ({percent(report.passing_after, report.calls)}) with the file's "
            f"rubric ({delta:+d})"
        )
        for label, count, refs in (
            ("pass -> fail", report.pass_to_fail, report.examples_pass_to_fail),
            ("fail -> pass", report.fail_to_pass, report.examples_fail_to_pass),
        ):
            tail = f" (e.g. {', '.join(str(r) for r in refs)})" if refs else ""
            lines.append(f"  {label}: {plural(count, 'call')}{tail}")
        if report.by_metric:
            lines.append("  flips by metric:")
            for metric_id, flips in sorted(report.by_metric.items()):
                lines.append(
                    f"    {_metric_label(metric_id, metric_names)}: {flips.pass_to_fail} pass -> fail, "
                    f"{flips.fail_to_pass} fail -> pass"
                )
        if not report.flips:
            lines.append("  No call changes outcome.")
        for metric_id in report.skipped_no_results:
            lines.append(
                f"  skipped: no results yet: {_metric_label(metric_id, metric_names)} "
                "(its rules decide no call)"
            )
        if report.recorded_mismatches:
            lines.append(
                f"  Note: on {plural(report.recorded_mismatches, 'call')} the recorded outcome differs "
                "from the live rubric's (reviewed by hand, or scored under an earlier rubric)."
            )
        blocks.append("\n".join(lines) + "\n")
    return "\n".join(blocks)


# -- apply and restore ----------------------------------------------------------------------------

# The groups listed after an apply that did not fully succeed, in this order.
_LISTED = (
    ("changed", "changed"),
    ("not_converged", "changed but NOT as planned"),
    ("not_verified", "changed, NOT verified (interrupted before the read-back)"),
    ("not_changed", "NOT changed"),
    ("unknown", "outcome UNKNOWN"),
)


def render_apply_text(report: ApplyReport, out: TextIO) -> None:
    """The end of an apply: the count of each outcome and, when something failed or it was
    interrupted, which project ended how and where its backup is."""
    if report.status == "cancelled":
        out.write("Apply cancelled; nothing was changed.\n")
        return
    if report.status == "nothing_to_apply":
        if not report.failed:
            out.write("\nNothing to apply.\n")
        return
    out.write(
        f"\nApply complete: {report.changed} changed, {report.failed} failed, {report.unchanged} unchanged.\n"
    )
    if not report.failed and report.interrupted is None:
        return
    for outcome, label in _LISTED:
        ids = [p.project_id for p in report.with_outcome(outcome)]
        if ids:
            out.write(f"  {label}: {', '.join(f'project {i}' for i in ids)}\n")
    entries = {p.project_id: p.journal_entry for p in report.projects if p.journal_entry}
    not_changed = {p.project_id for p in report.with_outcome("not_changed")}
    backups = [f"project {i}: {entries[i]}" for i in sorted(entries) if i not in not_changed]
    if backups:
        out.write(f"  backups (restore ENTRY puts the previous values back): {'; '.join(backups)}\n")
    if report.with_outcome("unknown"):
        out.write("  Run plan to see where the projects of UNKNOWN outcome stand.\n")


class TextRenderer(Renderer):
    name = "text"
    help = "text for people and CI logs"
    streams = True

    def plan(self, run: PlanRun) -> None:
        render_text(run.plan, self.out, color=self.color)
        if run.impact:
            self.out.write("\n")
            self.impact(run.impact, run.metric_names)

    def drift(self, run: PlanRun) -> None:
        render_text(run.plan, self.out, color=self.color, wording=DRIFT)

    def show(self, saved: SavedPlanView) -> None:
        self.out.write(f"Saved plan {saved.path}: made against {saved.base_url} at {saved.created_at}.\n\n")
        render_text(saved.run.plan, self.out, color=self.color)

    def impact(self, reports: Sequence[ImpactReport], metric_names: Mapping[int, str]) -> None:
        self.out.write(render_impact_text(reports, metric_names))

    def preview(self, run: PlanRun, *, given: Collection[str] = ()) -> None:
        render_text(run.plan, self.out, color=self.color, given=given)
        for project_id in run.already_applied:
            self.out.write(
                f"Project {project_id} already matches this plan (applied before?); nothing to send.\n"
            )

    def writing(self) -> None:
        self.out.write("\n")

    def replanned(self, plan: ProjectPlan, moved: Sequence[str]) -> None:
        self.out.write(
            f"Project {plan.project_id} changed since the plan was shown ({', '.join(moved)}); "
            "planned again from a fresh read (--auto-approve):\n"
        )
        render_text(Plan((plan,)), self.out, color=self.color)

    def finished(self, result: ProjectResult) -> None:
        if result.outcome == "now_matching":
            self.out.write(f"Project {result.project_id}: {result.message}\n")
        elif result.outcome == "changed" and result.plan is not None and result.plan.metric_changes:
            # Writes of their own (reconciler/kinds/metrics.py), told one by one in the message.
            self.out.write(f"Project {result.project_id}: {result.message}\nBackup: {result.journal_entry}\n")
        elif result.outcome == "changed":
            self.out.write(f"Project {result.project_id}: {result.message} Backup: {result.journal_entry}\n")

    def apply(self, report: ApplyReport) -> None:
        render_apply_text(report, self.out)

    def restore(self, report: RestoreReport) -> None:
        render_apply_text(report.apply, self.out)
