"""Render a plan as a GitHub-flavoured markdown pull-request comment.

The first line is a stable HTML-comment marker (``comment_marker``) by which a pipeline finds its
earlier comment and updates it instead of adding another. The output is a pure function of its
arguments (no time, no environment, no colour), so an unchanged plan gives a byte-identical comment.

Everything that comes from a file, the API or an error message is escaped before it reaches the
markdown: values are JSON in code spans, other text is backslash-escaped, and ``|`` is escaped
everywhere a table could see it, so no value can break a table, open a link or inject HTML.
Secrets are shown only as ``(sensitive)``: this module never formats a sensitive change's values.
"""

from __future__ import annotations

import html
import json
import re
import unicodedata
from collections.abc import Sequence
from typing import Any, Literal

from reconciler.changes import FieldChange, MetricChange, Plan, ProjectPlan, RuleChange
from reconciler.model import SENSITIVE_MASK, Secret, SecretRef
from reconciler.render import plural

MarkdownKind = Literal["plan", "drift"]

MARKER_PREFIX = "<!-- cekura-reconciler:"
# A project with more table rows than this has its tables folded into a <details> block.
DETAILS_THRESHOLD = 15

_TITLES: dict[str, str] = {"plan": "Cekura plan", "drift": "Cekura drift"}
_OPS = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<=", "eq": "==", "neq": "!=", "in": "in"}
_NONE = "—"
# ASCII punctuation that could start markdown syntax in running text: emphasis, code, links, HTML,
# tables, strikethrough, entities, headings and GitHub's $math$.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>|~&#$])")
# What would open a list, a setext heading underline or a thematic break at the start of a line
# (the other block openers are escaped anyway).
_LINE_START = re.compile(r"^(\s*(?:[-+=]|\d+(?=[.)])))")
# A string shown bare inside a rule condition; anything else is shown as JSON.
_BARE_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")


def comment_marker(kind: MarkdownKind = "plan") -> str:
    """The first line of the comment, by which a pipeline finds its earlier comment."""
    return f"{MARKER_PREFIX}{kind} -->"


def render_markdown(
    plan: Plan,
    *,
    title: str | None = None,
    failures: Sequence[tuple[str, str]] = (),
    kind: MarkdownKind = "plan",
) -> str:
    """The whole comment, ending with one newline.

    ``title`` is plain text (escaped here); it defaults to "Cekura plan" or "Cekura drift".
    ``failures`` are (file, message) pairs of the projects that could not be planned; a message may
    span several lines.
    """
    if kind not in _TITLES:
        raise ValueError(f"unknown markdown kind {kind!r}; expected 'plan' or 'drift'")
    blocks: list[str] = [
        f"{comment_marker(kind)}\n## {_text(title if title is not None else _TITLES[kind])}",
        _overall_summary(plan, failures, kind),
    ]
    if kind == "plan" and (needed := _flags_needed(plan)):
        blocks.append(needed)
    unchanged: list[ProjectPlan] = []
    for project in plan.projects:
        if project.has_changes:
            blocks.extend(_project_blocks(project, kind))
        else:
            unchanged.append(project)
    if unchanged:
        label = "No drift" if kind == "drift" else "No changes"
        blocks.append(f"{label}: " + ", ".join(str(p.project_id) for p in unchanged))
        warnings = [
            f"**Warning** (project {p.project_id}): {_text_lines(w, '> ')}"
            for p in unchanged
            for w in p.warnings
        ]
        if warnings:
            blocks.append(_blockquote(warnings))
    if failures:
        blocks.append("### Failed\n\n" + "\n".join(_failure_item(f, m) for f, m in failures))
    return "\n\n".join(blocks) + "\n"


def _failure_item(file: str, message: str) -> str:
    """``- `file`: message``; a message that starts with ``file:`` (file:line:col) does not repeat it."""
    if not file:
        return f"- {_text_lines(message, '  ')}"
    if message.startswith(file + ":"):
        return f"- {_code(file, in_table=False)}{_text_lines(message[len(file) :], '  ')}"
    return f"- {_code(file, in_table=False)}: {_text_lines(message, '  ')}"


# -- summaries ------------------------------------------------------------------------------------


def _counts(summary: dict[str, int], kind: MarkdownKind) -> list[str]:
    drift = kind == "drift"
    parts = []
    if summary.get("settings"):
        parts.append(plural(summary["settings"], "setting"))
    if summary.get("secrets"):
        parts.append(plural(summary["secrets"], "secret"))
    if summary.get("rules_added"):
        rules = plural(summary["rules_added"], "rule")
        parts.append(f"{rules} missing" if drift else f"{rules} to add")
    if summary.get("rules_changed"):
        # ProjectPlan counts metrics here, not rules: a metric's rules change together.
        metrics = plural(summary["rules_changed"], "metric")
        parts.append(f"changed rules of {metrics}" if drift else f"rules of {metrics} to change")
    if summary.get("rules_removed"):
        rules = plural(summary["rules_removed"], "rule")
        parts.append(f"{rules} not in the file" if drift else f"{rules} to remove")
    return parts


def _overall_summary(plan: Plan, failures: Sequence[tuple[str, str]], kind: MarkdownKind) -> str:
    summary = plan.summary()
    total, changed = summary["projects"], summary["projects_with_changes"]
    if not total:
        line = "No projects planned."
    elif not changed:
        line = f"{'No drift' if kind == 'drift' else 'No changes'} in {plural(total, 'project')}."
    else:
        noun = "project" if total == 1 else "projects"
        verb = "drifted" if kind == "drift" else "to change"
        counts = _counts(summary, kind)
        line = f"{changed} of {total} {noun} {verb}" + (": " + ", ".join(counts) if counts else "") + "."
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


def _project_summary(project: ProjectPlan, kind: MarkdownKind) -> str:
    counts = ", ".join(_counts(project.summary(), kind)) or "no setting or rule changes"
    if kind == "drift":
        return f"Differs from the file: {counts}."
    return f"{counts[0].upper()}{counts[1:]}; one PATCH of {plural(len(project.patch), 'field')}."


# -- one project ----------------------------------------------------------------------------------


def _project_blocks(project: ProjectPlan, kind: MarkdownKind) -> list[str]:
    blocks = [f"### Project {project.project_id} — {_text(project.file)}"]
    if kind == "plan":
        blocks.extend(_guard_banners(project))
    if project.warnings:
        blocks.append(_blockquote([f"**Warning:** {_text_lines(w, '> ')}" for w in project.warnings]))
    blocks.append(_project_summary(project, kind))
    if kind == "plan" and (secrets := _secrets_line(project)):
        blocks.append(secrets)
    body: list[str] = []
    sides = ("Live", "File") if kind == "drift" else ("Before", "After")
    if project.metric_changes:
        body += _metric_blocks(project.metric_changes)
    if project.field_changes:
        body.append(_field_table(project.field_changes, sides))
    if project.rule_changes:
        body.append(_rule_table(project.rule_changes, sides))
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


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines.extend("| " + " | ".join(row) + " |" for row in rows)
    return "\n".join(lines)


def _field_table(changes: Sequence[FieldChange], sides: tuple[str, str] = ("Before", "After")) -> str:
    drift = sides[0] == "Live"
    return _table(("Field", *sides), [_field_row(c, drift=drift) for c in changes])


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
    from reconciler.render import multiline

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
                    fence = "`" * max(
                        3, 1 + max((len(r) for r in re.findall(r"`+", "\n".join(lines))), default=0)
                    )
                    diffs.append(f"`{change.slug}` {_code(key)}:")
                    diffs.append(f"{fence}diff\n" + "\n".join(_clean(line) for line in lines) + f"\n{fence}")
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


# -- escaping -------------------------------------------------------------------------------------


def _unshowable(value: object) -> str:
    if isinstance(value, Secret | SecretRef):
        return SENSITIVE_MASK
    return repr(value)


def _json(value: Any) -> str:
    """One-line JSON; JSON escapes every control character, so nothing here can hold ANSI codes."""
    return json.dumps(value, ensure_ascii=False, default=_unshowable)


def _clean(text: str) -> str:
    """Line ends become ``\\n``, tabs spaces, other control characters (ANSI escapes) U+FFFD."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return "".join(
        " " if ch == "\t" else "\ufffd" if ch != "\n" and unicodedata.category(ch) == "Cc" else ch
        for ch in text
    )


def _text(text: str) -> str:
    """One line of running text with markdown syntax escaped (safe in table cells too)."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", _clean(text).replace("\n", " "))


def _escape_line_start(match: re.Match[str]) -> str:
    opener = match.group(1)
    if opener[-1].isdigit():  # "1." opens a list; escape the dot, as a backslash before a digit shows
        return opener + "\\"
    return opener[:-1] + "\\" + opener[-1]


def _text_lines(text: str, indent: str) -> str:
    """Possibly several lines of text, kept as lines with hard breaks inside a block."""
    lines = [_LINE_START.sub(_escape_line_start, _text(line)) for line in _clean(text).splitlines()] or [""]
    return ("\\\n" + indent).join(lines)


def _blockquote(paragraphs: Sequence[str]) -> str:
    return "\n>\n".join(f"> {p}" for p in paragraphs)


def _code(text: str, *, in_table: bool = True) -> str:
    """A code span holding ``text`` verbatim, whatever backticks it contains.

    In a table, GitHub splits cells on ``|`` even inside code spans, so pipes are escaped as ``\\|``
    (which the table parser turns back into ``|``); outside a table that escape would show.
    """
    content = _clean(text).replace("\n", " ")
    if in_table:
        content = content.replace("|", "\\|")
    longest = max((len(run) for run in re.findall(r"`+", content)), default=0)
    fence = "`" * (longest + 1)
    if not content or content[0] in "` " or content[-1] in "` ":
        content = f" {content} "  # CommonMark strips exactly one space from each side
    return f"{fence}{content}{fence}"
