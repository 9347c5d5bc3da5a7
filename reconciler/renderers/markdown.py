"""The markdown format: a GitHub-flavoured pull-request comment (plan, drift, impact, apply, restore).

The first line is a stable HTML-comment marker (``comment_marker``) by which a pipeline finds its
earlier comment and updates it instead of adding another. The output is a pure function of its
arguments (no time, no environment, no colour), so an unchanged plan gives a byte-identical comment.

Everything that comes from a file, the API or an error message is escaped before it reaches the
markdown, by ``markdown_syntax`` (the one place for escaping, code spans and tables): values are
JSON in code spans, other text is backslash-escaped, and ``|`` is escaped everywhere a table could
see it, so no value can break a table, open a link or inject HTML. Secrets are shown only as
``(sensitive)``: this module never formats a sensitive change's values.
"""

from __future__ import annotations

import html
import re
from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from reconciler.changes import FieldChange, MetricChange, Plan, ProjectPlan, RuleChange
from reconciler.conditions import OP_SYMBOLS as _OPS
from reconciler.model import SENSITIVE_MASK
from reconciler.renderers.base import Renderer
from reconciler.renderers.markdown_syntax import blockquote as _blockquote
from reconciler.renderers.markdown_syntax import code as _code
from reconciler.renderers.markdown_syntax import code_block as _code_block
from reconciler.renderers.markdown_syntax import json_value as _json
from reconciler.renderers.markdown_syntax import table as _table
from reconciler.renderers.markdown_syntax import text as _text
from reconciler.renderers.markdown_syntax import text_lines as _text_lines
from reconciler.renderers.wording import WORDINGS, Wording, plural

if TYPE_CHECKING:
    from reconciler.impact import ImpactReport
    from reconciler.operations import ApplyReport, Failure, PlanRun, RestoreReport, SavedPlanView

MarkdownKind = Literal["plan", "drift"]
# Every kind of comment a pipeline may look for by its marker.
CommentKind = Literal["plan", "drift", "apply", "restore"]

MARKER_PREFIX = "<!-- cekura-reconciler:"
# A project with more table rows than this has its tables folded into a <details> block.
DETAILS_THRESHOLD = 15

_NONE = "—"
# A string shown bare inside a rule condition; anything else is shown as JSON.
_BARE_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")


def comment_marker(kind: CommentKind = "plan") -> str:
    """The first line of the comment, by which a pipeline finds its earlier comment."""
    return f"{MARKER_PREFIX}{kind} -->"


def render_markdown(
    plan: Plan,
    *,
    title: str | None = None,
    failures: Sequence[Failure] = (),
    kind: MarkdownKind = "plan",
) -> str:
    """The whole comment, ending with one newline.

    ``title`` is plain text (escaped here); it defaults to "Cekura plan" or "Cekura drift".
    ``failures`` are the files that could not be planned; a message may span several lines.
    """
    if kind not in WORDINGS:
        raise ValueError(f"unknown markdown kind {kind!r}; expected 'plan' or 'drift'")
    wording = WORDINGS[kind]
    blocks: list[str] = [
        f"{comment_marker(kind)}\n## {_text(title if title is not None else wording.title)}",
        _overall_summary(plan, failures, wording),
    ]
    if wording.sends and (needed := _flags_needed(plan)):
        blocks.append(needed)
    unchanged: list[ProjectPlan] = []
    for project in plan.projects:
        if project.has_changes:
            blocks.extend(_project_blocks(project, wording))
        else:
            unchanged.append(project)
    if unchanged:
        blocks.append(f"{wording.none_changed}: " + ", ".join(str(p.project_id) for p in unchanged))
        warnings = [
            f"**Warning** (project {p.project_id}): {_text_lines(w, '> ')}"
            for p in unchanged
            for w in p.warnings
        ]
        if warnings:
            blocks.append(_blockquote(warnings))
    if failures:
        blocks.append(_failed_block(failures))
    return "\n\n".join(blocks) + "\n"


def _failed_block(failures: Sequence[Failure]) -> str:
    return "### Failed\n\n" + "\n".join(_failure_item(f.file, f.message) for f in failures)


def _failure_item(file: str, message: str) -> str:
    """``- `file`: message``; a message that starts with ``file:`` (file:line:col) does not repeat it."""
    if not file:
        return f"- {_text_lines(message, '  ')}"
    if message.startswith(file + ":"):
        return f"- {_code(file, in_table=False)}{_text_lines(message[len(file) :], '  ')}"
    return f"- {_code(file, in_table=False)}: {_text_lines(message, '  ')}"


# -- summaries ------------------------------------------------------------------------------------


def _counts(summary: dict[str, int], wording: Wording) -> list[str]:
    parts = []
    if summary.get("settings"):
        parts.append(plural(summary["settings"], "setting"))
    if summary.get("secrets"):
        parts.append(plural(summary["secrets"], "secret"))
    for key, words in (
        ("rules_added", wording.rules_added),
        ("rules_changed", wording.rules_changed),
        ("rules_removed", wording.rules_removed),
    ):
        if summary.get(key):
            parts.append(f"{plural(summary[key], 'rule')} {words}")
    for action, words in wording.metrics.items():
        if summary.get(f"metrics_{action}d"):
            parts.append(f"{plural(summary[f'metrics_{action}d'], 'metric')} {words}")
    return parts


def _overall_summary(plan: Plan, failures: Sequence[Failure], wording: Wording) -> str:
    summary = plan.summary()
    total, changed = summary["projects"], summary["projects_with_changes"]
    if not total:
        line = "No projects planned."
    elif not changed:
        line = f"{wording.none_changed} in {plural(total, 'project')}."
    else:
        noun = "project" if total == 1 else "projects"
        counts = _counts(summary, wording)
        line = (
            f"{changed} of {total} {noun} {wording.verb}" + (": " + ", ".join(counts) if counts else "") + "."
        )
    if failures:
        line += f" {plural(len(failures), 'failure')}."
    return line


def _flags_needed(plan: Plan) -> str:
    """One line naming every guard flag apply will insist on, and for which projects."""
    by_flag: dict[str, list[str]] = {}
    for project in plan.projects:
        for flag in project.required_flags():
            by_flag.setdefault(flag, []).append(str(project.project_id))
    if not by_flag:
        return ""
    parts = [
        f"`{flag}` ({'projects' if len(ids) > 1 else 'project'} {', '.join(ids)})"
        for flag, ids in by_flag.items()
    ]
    return f"**Apply refuses this plan without** {' and '.join(parts)}."


def _guard_banners(project: ProjectPlan) -> list[str]:
    """What apply will refuse without an explicit flag, as alerts a reviewer cannot miss."""
    banners = []
    if project.patch.get("is_deleted") is True:
        banners.append(
            f"> [!CAUTION]\n> This plan **DELETES project {project.project_id}** (`is_deleted: true`): "
            "`apply` refuses it without `--allow-delete`."
        )
    mass = project.mass_deletion()
    if mass:
        banners.append(
            f"> [!CAUTION]\n> This plan **removes {mass[0]} of the {mass[1]} live rubric rules**: "
            "`apply` refuses it without `--force`."
        )
    return banners


_SECRET_ACTIONS = {"set": "set", "update": "set, differs", "rotate": "rotated"}


def _secrets_line(project: ProjectPlan) -> str:
    """The names of the secrets the PATCH sends (never a value, never where it comes from)."""
    names = [
        f"{_code(c.path, in_table=False)} ({_SECRET_ACTIONS.get(c.action, c.action)})"
        for c in project.secret_changes
    ]
    return f"Secrets sent (values never shown): {', '.join(names)}." if names else ""


def _project_summary(project: ProjectPlan, wording: Wording) -> str:
    counts = ", ".join(_counts(project.summary(), wording)) or "no setting or rule changes"
    if not wording.sends:
        return f"Differs from the file: {counts}."
    if "metrics" in project.managed_kinds and not project.patch:  # as the text plan says it
        return f"{counts[0].upper()}{counts[1:]}; no project PATCH."
    return f"{counts[0].upper()}{counts[1:]}; one PATCH of {plural(len(project.patch), 'field')}."


# -- one project ----------------------------------------------------------------------------------


def _project_blocks(project: ProjectPlan, wording: Wording) -> list[str]:
    blocks = [f"### Project {project.project_id} — {_text(project.file)}"]
    if wording.sends:
        blocks.extend(_guard_banners(project))
    if project.warnings:
        blocks.append(_blockquote([f"**Warning:** {_text_lines(w, '> ')}" for w in project.warnings]))
    blocks.append(_project_summary(project, wording))
    if wording.sends and (secrets := _secrets_line(project)):
        blocks.append(secrets)
    body: list[str] = []
    if project.metric_changes:
        body += _metric_blocks(project.metric_changes)
    if project.field_changes:
        body.append(_field_table(project.field_changes, wording))
    if project.rule_changes:
        body.append(_rule_table(project.rule_changes, wording.sides))
    if project.rule_changes or "rubric_config" in project.patch:
        notes = []
        if not project.rule_changes:
            notes.append(
                'The rubric is sent whole with `evaluation_logic: "and"`; no metric\'s rules change.'
            )
        if project.rules_kept:
            notes.append(
                f"{plural(project.rules_kept, 'rule')} of "
                f"{plural(project.metrics_kept, 'other metric')} kept."
            )
        if notes:
            body.append(" ".join(notes))
    rows = len(project.field_changes) + len(project.rule_changes) + len(project.metric_changes)
    if rows > DETAILS_THRESHOLD:
        label = html.escape(f"{rows} changes", quote=False)
        body = [f"<details><summary>{label}</summary>", *body, "</details>"]
    return blocks + body


def _field_table(changes: Sequence[FieldChange], wording: Wording) -> str:
    return _table(("Field", *wording.sides), [_field_row(c, drift=not wording.sends) for c in changes])


def _field_row(change: FieldChange, *, drift: bool = False) -> tuple[str, str, str]:
    name = _code(change.path)
    if change.sensitive and drift:
        return name, "*not configured*", f"{SENSITIVE_MASK}, referenced"
    if change.sensitive:
        # Only the action is shown: neither the value nor the reference it comes from.
        if change.action == "rotate":
            return name, SENSITIVE_MASK, f"{SENSITIVE_MASK}, will be rotated"
        return name, "*not configured*", f"{SENSITIVE_MASK}, will be set"
    before = "*not set*" if change.before_missing else _code(_json(change.before))
    after = "*removed*" if change.after_missing else _code(_json(change.after))
    return name, before, after


def _rule_table(changes: Sequence[RuleChange], sides: tuple[str, str] = ("Before", "After")) -> str:
    rows = [(_metric_cell(c), c.action, _rules_cell(c.before), _rules_cell(c.after)) for c in changes]
    return _table(("Metric", "Change", *sides), rows)


def _metric_blocks(changes: Sequence[MetricChange]) -> list[str]:
    """A table of the metric definitions that change, then each long text edit (a prompt) as a
    ``diff`` block: the lines it changes, as a reviewer reads a code change."""
    from reconciler.kinds.metrics import LONG_TEXT_FIELDS, prompt_diff
    from reconciler.renderers.text import multiline

    rows = []
    diffs: list[str] = []
    for change in changes:
        name = _code(change.slug) + (f" ({_text(change.name)})" if change.name else "")
        fields = ", ".join(_code(k) for k in change.after if k != "slug") or _NONE
        rows.append((name, change.action, fields))
        for key, value in change.after.items():
            before = change.before.get(key, "")
            if key in LONG_TEXT_FIELDS and change.action == "update" and multiline(before, value):
                lines = prompt_diff(before, value)
                if lines:
                    diffs.append(f"`{change.slug}` {_code(key)}:")
                    diffs.append(_code_block(lines, "diff"))
    return [_table(("Metric", "Change", "Fields"), rows), *diffs]


def _metric_cell(change: RuleChange) -> str:
    eval_type = _text(change.eval_type) if change.eval_type else None
    shown = "(new)" if change.metric_id < 0 else str(change.metric_id)
    if not change.metric_name:
        return f"metric {shown}" + (f" ({eval_type})" if eval_type else "")
    details = f"{shown}, {eval_type}" if eval_type else shown
    return f"{_text(change.metric_name)} ({details})"


def _rules_cell(rules: Sequence[dict[str, Any]]) -> str:
    return "; ".join(_code(format_rule(r)) for r in rules) if rules else _NONE


# -- rule conditions ------------------------------------------------------------------------------


def format_rule(rule: dict[str, Any]) -> str:
    """A rule's conditions in a compact human form: ``score >= 4``, ``enum in [a, b]``.

    A rule of an unexpected shape is shown as compact JSON (without its metric_id) rather than
    guessed at.
    """
    conditions = rule.get("conditions")
    if not isinstance(conditions, dict) or not isinstance(conditions.get("conditions"), list):
        return _json({k: v for k, v in rule.items() if k != "metric_id"})
    parts = [_format_condition(c) for c in conditions["conditions"]]
    operator = conditions.get("operator", "and")
    joiner = f" {operator} " if isinstance(operator, str) else f" {_json(operator)} "
    return joiner.join(parts) if parts else "(no conditions)"


def _format_condition(cond: Any) -> str:
    if not isinstance(cond, dict) or not {"field", "op", "value"} <= cond.keys() or len(cond) != 3:
        return _json(cond)
    fld, op = cond["field"], cond["op"]
    shown_field = fld if isinstance(fld, str) and _BARE_WORD.fullmatch(fld) else _json(fld)
    shown_op = _OPS.get(op, op) if isinstance(op, str) else _json(op)
    return f"{shown_field} {shown_op} {_format_operand(cond['value'])}"


def _format_operand(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_format_operand(v) for v in value) + "]"
    if (
        isinstance(value, str)
        and _BARE_WORD.fullmatch(value)
        and value not in ("true", "false", "null")  # would read as JSON literals
    ):
        return value
    return _json(value)


# -- rubric impact --------------------------------------------------------------------------------


def _rate(passing: int, calls: int) -> str:
    return f"{100 * passing / calls:.1f}" if calls else "0"


def _daily_chart(report: ImpactReport) -> list[str]:
    """A mermaid chart (GitHub and GitLab draw it in comments) of the daily pass rate: bars now,
    a line with the file's rubric. Only the chart's own text goes into it: dates and numbers."""
    from reconciler.impact import MAX_CHART_DAYS

    days = sorted(d for d, counts in report.daily.items() if counts[0])
    if not days:
        return []
    shown = days[-MAX_CHART_DAYS:]
    counts = [report.daily[d] for d in shown]
    cut = f", the last {len(shown)} of {len(days)} days" if len(shown) < len(days) else ""
    return [
        "",
        f"Daily pass rate of project {report.project_id} (UTC days{cut}): bars now, line with the "
        "file's rubric.",
        "",
        "```mermaid",
        "xychart-beta",
        f'  title "Project {report.project_id}: daily pass rate (%)"',
        "  x-axis [" + ", ".join(f'"{d[5:]}"' for d in shown) + "]",
        '  y-axis "pass rate (%)" 0 --> 100',
        "  bar [" + ", ".join(_rate(before, calls) for calls, before, _ in counts) + "]",
        "  line [" + ", ".join(_rate(after, calls) for calls, _, after in counts) + "]",
        "```",
    ]


def render_impact_markdown(reports: Sequence[ImpactReport], metric_names: Mapping[int, str]) -> str:
    """One summary table, then per project the metrics that caused flips."""
    from reconciler.renderers.text import percent, utc

    rows = []
    for r in reports:
        window = (
            f"{utc(r.since):%Y-%m-%d %H:%M} → {utc(r.until):%Y-%m-%d %H:%M}"
            if r.since is not None and r.until is not None
            else "-"
        )
        rows.append(
            (
                str(r.project_id),
                window,
                str(r.calls),
                f"{r.passing_before} ({percent(r.passing_before, r.calls)})",
                f"{r.passing_after} ({percent(r.passing_after, r.calls)})",
                str(r.pass_to_fail),
                str(r.fail_to_pass),
            )
        )
    header = (
        "Project",
        "Window (UTC)",
        "Calls",
        "Passing now",
        "Passing after",
        "Pass → fail",
        "Fail → pass",
    )
    right = ("", "", "right", "right", "right", "right", "right")
    out = ["### Rubric impact preview", "", _table(header, rows, align=right)]
    for r in reports:
        if not r.flips:
            continue
        metric_rows = []
        for metric_id, flips in sorted(r.by_metric.items()):
            name = metric_names.get(metric_id)
            label = f"{metric_id} {_text(name)}" if name else str(metric_id)
            metric_rows.append((label, str(flips.pass_to_fail), str(flips.fail_to_pass)))
        table = _table(("Metric", "Pass → fail", "Fail → pass"), metric_rows, align=("", "right", "right"))
        out += ["", f"**Project {r.project_id}**: flips by metric", "", table]
        out += _daily_chart(r)
        examples = [
            f"{label}: {', '.join(_code(str(ref), in_table=False) for ref in refs)}"
            for label, refs in (
                ("pass → fail", r.examples_pass_to_fail),
                ("fail → pass", r.examples_fail_to_pass),
            )
            if refs
        ]
        if examples:
            out += ["", "Example call log ids: " + "; ".join(examples) + "."]
    for r in reports:
        for metric_id in r.skipped_no_results:
            name = metric_names.get(metric_id)
            label = ("(new) " if metric_id < 0 else f"{metric_id} ") + (_text(name) if name else "")
            out += [
                "",
                f"_Project {r.project_id}, metric {label.strip()}: skipped: no results yet "
                "(its rules decide no call)._",
            ]
    if any(r.recorded_mismatches for r in reports):
        out += [
            "",
            "_Some calls' recorded outcome differs from the live rubric's (reviewed by hand, or scored "
            "under an earlier rubric); the preview compares the two rubrics, not the recorded outcomes._",
        ]
    return "\n".join(out) + "\n"


# -- apply and restore ----------------------------------------------------------------------------

_OUTCOMES = {
    "changed": "changed",
    "now_matching": "already matched (nothing sent)",
    "no_changes": "no changes",
    "already_applied": "already applied (nothing sent)",
    "refused": "refused (nothing sent)",
    "not_changed": "**NOT changed**",
    "unknown": "**outcome UNKNOWN**",
    "not_converged": "**changed, NOT as planned**",
    "not_verified": "**changed, NOT verified**",
}


def render_apply_markdown(
    report: ApplyReport, *, kind: Literal["apply", "restore"] = "apply", entry: str | None = None
) -> str:
    """What became of every project of an apply (or of a restore of journal ``entry``)."""
    blocks = [f"{comment_marker(kind)}\n## {'Cekura restore' if kind == 'restore' else 'Cekura apply'}"]
    if entry is not None:
        blocks.append(f"Restoring {_code(entry, in_table=False)}.")
    if report.status == "cancelled":
        blocks.append("Apply cancelled; nothing was changed.")
    elif report.status == "nothing_to_apply" and not report.failed:
        blocks.append("Nothing to apply.")
    else:
        line = f"{report.changed} changed, {report.failed} failed, {report.unchanged} unchanged."
        if report.interrupted:
            line += f" Interrupted ({report.interrupted}): the outcome of each project is listed."
        blocks.append(line)
    rows = [
        (
            str(p.project_id),
            _code(p.file),
            _OUTCOMES.get(p.outcome, _text(p.outcome)),
            _code(p.journal_entry) if p.journal_entry else _NONE,
            _text(p.message),
        )
        for p in report.projects
    ]
    if rows:
        blocks.append(_table(("Project", "File", "Outcome", "Backup", "Message"), rows))
    if report.failures:
        blocks.append(_failed_block(report.failures))
    return "\n\n".join(blocks) + "\n"


class MarkdownRenderer(Renderer):
    name = "markdown"
    help = "markdown for a pull-request comment (or an issue or chat message)"

    def plan(self, run: PlanRun) -> None:
        self.out.write(render_markdown(run.plan, failures=run.failures))
        if run.impact:
            self.out.write("\n")
            self.impact(run.impact, run.metric_names)

    def drift(self, run: PlanRun) -> None:
        self.out.write(
            render_markdown(run.plan, title="Cekura drift report", failures=run.failures, kind="drift")
        )

    def show(self, saved: SavedPlanView) -> None:
        self.out.write(render_markdown(saved.run.plan))

    def impact(self, reports: Sequence[ImpactReport], metric_names: Mapping[int, str]) -> None:
        self.out.write(render_impact_markdown(reports, metric_names))

    def preview(self, run: PlanRun, *, given: Collection[str] = ()) -> None:
        """Nothing: the comment is written whole at the end."""

    def apply(self, report: ApplyReport) -> None:
        self.out.write(render_apply_markdown(report))

    def restore(self, report: RestoreReport) -> None:
        self.out.write(render_apply_markdown(report.apply, kind="restore", entry=report.entry))
