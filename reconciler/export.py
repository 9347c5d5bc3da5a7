"""Write a live project as a project file: the starting point for managing an existing project as code.

``export_project`` turns a project as a GET answers it (plus the project's metrics, for naming the
rubric's metrics in comments and checking its rules) into YAML text of file format version 1 that
validates and that plans to NO changes against the project it came from. Whatever cannot be written
so that this holds is left out, with a comment saying why; left out means unmanaged, never reset.

The text is built by hand, not with ``yaml.safe_dump``, because it carries comments. Every string is
written double-quoted with YAML's escapes, so no time (``"09:00"``), phone number (``"+1555..."``),
``yes``/``no`` or numeric-looking text can be misread. The output depends only on the inputs (no
clock), so exporting twice gives the same bytes. Secret values are never written: a secret appears
as an ``{env: NAME}`` reference when the API says it is configured. ``fetch_export_inputs`` is the only
function that touches the network (through the client).
"""

from __future__ import annotations

import json
import math
import re
import textwrap
import unicodedata
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from reconciler.conditions import family, with_bool_value
from reconciler.errors import InputError, PlanError, ReconcilerError
from reconciler.loader import Document, load_file, load_text
from reconciler.model import NOT_SETTINGS, SECRET_FIELDS, Metric, Secret, is_configured
from reconciler.rubric import MetricCatalog, resolve_rules
from reconciler.validate import load_schema, settings_names, validate_document

if TYPE_CHECKING:
    from reconciler.client import CekuraClient

FORMAT_VERSION = 1
MAX_WIDTH = 110  # a mapping or list longer than this on one line is written in block style
_LIVE = "<live>"  # the "file" name of the documents built here to check live values

# Live fields that are not settings and that the file format deliberately does not carry under
# `settings:` (rubric_config is the `rubric:` key; is_deleted: see _IS_DELETED_NOTE).
_NOT_SETTINGS: frozenset[str] = NOT_SETTINGS | {"rubric_config", "is_deleted"}

_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# YAML 1.1 words that a plain key would turn into a boolean or null.
_RESERVED_WORDS = frozenset({"y", "n", "yes", "no", "on", "off", "true", "false", "null"})
# Characters YAML treats as line breaks or does not allow literally: always escaped.
_ALWAYS_ESCAPED = frozenset({"\x85", "\u2028", "\u2029", "\ufeff"})
_IS_DELETED_NOTE = (
    "is_deleted (the soft-delete flag) is left out on purpose, so that this file never deletes or "
    "restores the project: false would undo at the next apply a deletion made in the UI, true would "
    "make the file a standing order to delete. Add it yourself if you mean either."
)
_SHORT_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r", "\0": "\\0"}


class _Unrepresentable(Exception):
    """A live value that a project file cannot hold (not JSON-like, or not a finite number)."""


# -- YAML scalars and collections -------------------------------------------------------------------


def _escape(char: str) -> str:
    code = ord(char)
    if code <= 0xFF:
        return f"\\x{code:02X}"
    if code <= 0xFFFF:
        return f"\\u{code:04X}"
    return f"\\U{code:08X}"


def _shown(char: str) -> bool:
    """Whether YAML (and a reader) takes ``char`` literally: printable and not a line break."""
    return " " <= char <= "~" or (char > "\x7f" and char.isprintable() and char not in _ALWAYS_ESCAPED)


def quote(text: str) -> str:
    """``text`` as a YAML double-quoted scalar that reads back as exactly ``text``."""
    body = "".join(_SHORT_ESCAPES[c] if c in _SHORT_ESCAPES else c if _shown(c) else _escape(c) for c in text)
    return f'"{body}"'


def _float(value: float) -> str:
    if not math.isfinite(value):
        raise _Unrepresentable("not a finite number")
    text = repr(value)
    # YAML 1.1 (PyYAML) reads a number as a float only with a dot: 1e-05 would be a string.
    if "." not in text:
        mantissa, _, exponent = text.partition("e")
        text = f"{mantissa}.0" + (f"e{exponent}" if exponent else "")
    if "e" in text and text.split("e")[1][0] not in "+-":
        text = text.replace("e", "e+")
    return text


def _scalar(value: Any) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _float(value)
    if isinstance(value, str):
        return quote(value)
    raise _Unrepresentable(f"a {type(value).__name__} value")


def _key(key: Any) -> str:
    if not isinstance(key, str):
        raise _Unrepresentable("a mapping with a key that is not text")
    if _PLAIN_KEY.match(key) and key.lower() not in _RESERVED_WORDS:
        return key
    return quote(key)


def _flow(value: Any) -> str:
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{_key(k)}: {_flow(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_flow(v) for v in value) + "]"
    return _scalar(value)


def _with_comment(line: str, comment: str | None) -> str:
    return f"{line}  # {_comment_text(comment)}" if comment else line


def _entry(indent: int, key: str, value: Any, comment: str | None = None) -> list[str]:
    """``key: value`` at ``indent``: on one line when it fits, else in block style."""
    head = f"{' ' * indent}{_key(key)}:"
    flow = _flow(value)
    if not isinstance(value, Mapping | list | tuple) or not value or len(head) + 1 + len(flow) <= MAX_WIDTH:
        return [_with_comment(f"{head} {flow}", comment)]
    lines = [_with_comment(head, comment)]
    if isinstance(value, Mapping):
        for sub_key, sub_value in value.items():
            lines += _entry(indent + 2, sub_key, sub_value)
    else:
        for item in value:
            lines += _item(indent + 2, item)
    return lines


def _item(indent: int, value: Any, comment: str | None = None) -> list[str]:
    """``- value`` at ``indent``."""
    pad = " " * indent
    flow = _flow(value)
    if not isinstance(value, Mapping | list | tuple) or not value or len(pad) + 2 + len(flow) <= MAX_WIDTH:
        return [_with_comment(f"{pad}- {flow}", comment)]
    lines: list[str] = []
    if isinstance(value, Mapping):
        for sub_key, sub_value in value.items():
            lines += _entry(indent + 2, sub_key, sub_value)
    else:
        for sub_item in value:
            lines += _item(indent + 2, sub_item)
    lines[0] = _with_comment(f"{pad}- {lines[0][indent + 2 :]}", comment)
    return lines


def _comment_text(text: str) -> str:
    """``text`` made safe for one comment line: line breaks and other control characters escaped."""
    return "".join(c if _shown(c) else _escape(c) for c in text)


def _comment_lines(text: str, indent: int = 0) -> list[str]:
    """``text`` as comment lines at ``indent``, wrapped to the line width."""
    prefix = f"{' ' * indent}# "
    width = max(MAX_WIDTH - len(prefix), 40)
    wrapped = textwrap.wrap(
        _comment_text(text), width, subsequent_indent="  ", break_long_words=False, break_on_hyphens=False
    )
    return [prefix + line for line in wrapped] or [prefix.rstrip()]


def _safe_origin(text: str) -> str:
    """A base URL for a comment: no user name or password, no query, no fragment."""
    try:
        parts = urlsplit(text.strip())
    except ValueError:
        return text
    if not parts.scheme or not parts.hostname:
        return text
    netloc = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    if port is not None:
        netloc += f":{port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


# -- checking live values against the file format ---------------------------------------------------


def _problems(exc: ReconcilerError) -> str:
    """The messages of an error about a ``<live>`` document, without the meaningless position."""
    messages = [p.message for p in exc.problems] if isinstance(exc, InputError) else str(exc).splitlines()
    prefix = f"{_LIVE}:1:1: "
    return "; ".join(m.removeprefix(prefix) for m in messages)


def _check(data: dict[str, Any]) -> str | None:
    """Why ``data`` (a file's content) is not a valid project file, or None when it is."""
    try:
        validate_document(Document(path=_LIVE, data={"version": FORMAT_VERSION, **data}))
    except InputError as exc:
        return _problems(exc)
    return None


def _setting_reason(name: str, value: Any) -> str | None:
    """Why a live setting cannot be written as it is (so it is left out), or None."""
    try:
        _flow(value)
    except _Unrepresentable as exc:
        return f"the live value is {exc}"
    reason = _check({"settings": {name: value}})
    if reason and value is None:
        return "null live, which the file format does not accept for this setting"
    return reason


_SETTING_IN_MESSAGE = re.compile(r"settings\.([A-Za-z_][A-Za-z0-9_]*)")


def _settings(live: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """The writable settings in schema order, and the reason each left-out one was left out."""
    names = [n for n in settings_names() if n not in _NOT_SETTINGS]
    settings: dict[str, Any] = {}
    left_out: dict[str, str] = {}
    for name in names:
        if name not in live:
            left_out[name] = "not returned by the API"
            continue
        reason = _setting_reason(name, live[name])
        if reason:
            left_out[name] = reason
        else:
            settings[name] = live[name]
    # Checks across settings (min_call_duration <= max_call_duration): leave out every setting named.
    for _ in range(len(names)):
        reason = _check({"settings": settings})
        if reason is None:
            break
        named = [n for n in dict.fromkeys(_SETTING_IN_MESSAGE.findall(reason)) if n in settings]
        if not named:
            raise ReconcilerError(f"internal error: the live settings do not export cleanly: {reason}")
        for name in named:
            del settings[name]
            left_out[name] = reason
    return settings, left_out


# -- the rubric ------------------------------------------------------------------------------------


def _metric_label(metric: Metric) -> str:
    label = f"{metric.slug}: {metric.name}" if metric.slug else metric.name
    return f"{label} ({metric.eval_type or 'no eval_type'})"


def metric_reference(metric: Metric, catalog: MetricCatalog) -> tuple[str, Any]:
    """How a file names ``metric``: ``("metric", slug)`` when the slug names no other metric of the
    project (the same file then fits a copy of the project whose ids differ), else
    ``("metric_id", id)``."""
    if metric.slug and [m.id for m in catalog.find(metric.slug)] == [metric.id]:
        return "metric", metric.slug
    return "metric_id", metric.id


def _rubric(
    project_id: int, live: Mapping[str, Any], catalog: MetricCatalog
) -> tuple[list[tuple[int, list[dict[str, Any]]]], list[str], str | None]:
    """Rule groups to write (by metric, in live order), comments on rules left out, and a reason
    to leave the whole rubric unmanaged (or None)."""
    config = live.get("rubric_config")
    if not isinstance(config, Mapping) or not isinstance(config.get("rules"), list):
        return [], [], None
    rules: list[Any] = config["rules"]
    if rules and config.get("evaluation_logic") != "and":
        logic = json.dumps(config.get("evaluation_logic"))
        return (
            [],
            [],
            f'the live rubric\'s evaluation_logic is {logic}; this tool only writes "and", so managing '
            "the rubric would change it",
        )
    groups: dict[int, list[dict[str, Any]]] = {}
    notes: list[str] = []
    for rule in rules:
        metric_id = rule.get("metric_id") if isinstance(rule, Mapping) else None
        if type(metric_id) is not int:
            notes.append("a live rule without a whole-number metric_id is left as it is (unmanaged)")
            continue
        groups.setdefault(metric_id, []).append(dict(rule))
    written: list[tuple[int, list[dict[str, Any]]]] = []
    for metric_id, group in groups.items():
        reason = _group_reason(project_id, metric_id, group, catalog)
        if reason:
            count = f"{len(group)} rule{'s' if len(group) != 1 else ''}"
            notes.append(f"metric {metric_id}: its {count} left out (unmanaged, kept as they are): {reason}")
        elif family(catalog.metrics[metric_id].eval_type) == "binary":
            written.append((metric_id, [_current_binary(rule) for rule in group]))
        else:
            written.append((metric_id, group))
    return written, list(dict.fromkeys(notes)), None


def _current_binary(rule: dict[str, Any]) -> dict[str, Any]:
    """A binary metric's rule in the current form: legacy ``5``/``0`` written as ``true``/``false``
    (the API takes both and the plan counts them equal, so the file still plans to no change)."""
    group = rule.get("conditions")
    if not isinstance(group, Mapping) or not isinstance(group.get("conditions"), list):
        return rule
    conditions = [with_bool_value(cond) for cond in group["conditions"]]
    return {**rule, "conditions": {**group, "conditions": conditions}}


def _group_reason(
    project_id: int, metric_id: int, group: list[dict[str, Any]], catalog: MetricCatalog
) -> str | None:
    if metric_id not in catalog.metrics:
        return "not among the project's metrics (deleted, or agent-scoped and not fetched)"
    extra = sorted({k for rule in group for k in rule} - {"metric_id", "conditions"})
    if extra:
        return "a rule has keys the file format does not know: " + ", ".join(extra)
    try:
        _flow(group)
    except _Unrepresentable as exc:
        return f"a rule holds {exc}"
    data = {"project": project_id, "rubric": {"prune": False, "rules": group}}
    try:
        desired = validate_document(Document(path=_LIVE, data={"version": FORMAT_VERSION, **data}))
        resolve_rules(desired, catalog)
    except (InputError, PlanError) as exc:
        return _problems(exc)
    return None


# -- the file --------------------------------------------------------------------------------------


def _header(
    project_id: int, live: Mapping[str, Any], schema_url: str, base_url_comment: str | None
) -> list[str]:
    name = live.get("name")
    source = f" from {_safe_origin(base_url_comment)}" if base_url_comment else ""
    lines = [
        f"# yaml-language-server: $schema={schema_url}",
        "#",
        *_comment_lines(f"Exported by `cekura-reconciler export {project_id}`{source}"),
        *_comment_lines(f"Project {project_id}" + (f": {quote(name)}" if isinstance(name, str) else "")),
        "# Planned against that project, this file changes nothing. Every field it names is managed;",
        "# remove a field to stop managing it (removing never resets it in Cekura).",
        "# Editors check it against project.schema.json: `cekura-reconciler schema > project.schema.json`.",
    ]
    if live.get("is_deleted") is True:
        lines.append("# Note: the live project is soft-deleted (is_deleted: true).")
    unknown = sorted(k for k in live if isinstance(k, str) and k not in _known_live_fields())
    if unknown:
        lines += _comment_lines("Live fields this version does not know, not exported: " + ", ".join(unknown))
    return lines


def _known_live_fields() -> frozenset[str]:
    return _NOT_SETTINGS | frozenset(settings_names())


_NAME_LENGTH = 60  # characters of the project's name in an exported file's name


def project_file_name(project_id: int, name: Any) -> str:
    """``<id>-<slug of the name>.yaml`` (``123-support-line-qa.yaml``): a name a person recognises,
    safe on every file system (ASCII letters, digits and ``-`` only); ``<id>.yaml`` without a name."""
    text = unicodedata.normalize("NFKD", name if isinstance(name, str) else "")
    ascii_text = text.encode("ascii", "ignore").decode("ascii").lower()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text).strip("-")[:_NAME_LENGTH].rstrip("-")
    return f"{project_id}-{slug}.yaml" if slug else f"{project_id}.yaml"


def secret_env_name(project_id: int, secret: str) -> str:
    """The environment variable an exported file names for a secret: ``CEKURA_123_VAPI_API_KEY``."""
    return f"CEKURA_{project_id}_{secret.upper()}"


def _secret_lines(project_id: int, live: Mapping[str, Any]) -> list[str]:
    names = [n for n in load_schema()["properties"]["secrets"]["properties"] if n in SECRET_FIELDS]
    configured = [
        n
        for n in names
        if is_configured(live.get(f"{n}_configured")) or (isinstance(live.get(n), str) and live[n])
    ]
    lines = ["secrets:" if configured else "# secrets:"]
    for name in names:
        variable = secret_env_name(project_id, name)
        ref = f"{{env: {variable}}}"
        if name in configured:
            lines.append(f"  {name}: {ref}  # configured live; to rotate it, set {variable}")
        else:
            lines.append(f"  # {name}: {ref}  # not configured live; to set it, uncomment and set {variable}")
    return lines


def _rubric_lines(project_id: int, live: Mapping[str, Any], catalog: MetricCatalog) -> list[str]:
    groups, notes, unmanaged = _rubric(project_id, live, catalog)
    if unmanaged:
        return _comment_lines(f"rubric: left out (unmanaged): {unmanaged}.")
    lines = [
        "rubric:",
        "  prune: false  # rules of metrics not named here are kept as they are; true removes them",
    ]
    for note in notes:
        lines += _comment_lines(note, 2)
    if not groups:
        return [*lines, "  rules: []  # the live rubric has no rules that this file manages"]
    lines.append("  rules:")
    for metric_id, group in groups:
        metric = catalog.metrics[metric_id]
        key, name = metric_reference(metric, catalog)
        if key == "metric":
            label = f"{metric.name} ({metric.eval_type or 'no eval_type'}), metric {metric_id}"
        else:
            label = _metric_label(metric)
        for rule in group:
            lines.append(_with_comment(f"    - {key}: {_scalar(name)}", label))
            lines += _entry(6, "conditions", rule["conditions"])
    return lines


# -- the parts of the file, one per kind (reconciler/kinds calls these) ------------------------------


def settings_lines(live: Mapping[str, Any]) -> list[str]:
    """``settings:`` with every setting the live project has that a file can hold, in the schema's
    order; what cannot be written so that it plans to no change is a comment saying why."""
    settings, left_out = _settings(live)
    lines = ["settings:"]
    for name in load_schema()["properties"]["settings"]["properties"]:
        if name in settings:
            lines += _entry(2, name, settings[name])
        elif name in left_out:
            lines += _comment_lines(f"{name}: left out (unmanaged): {left_out[name]}", 2)
        elif name == "is_deleted":
            lines += _comment_lines(_IS_DELETED_NOTE, 2)
    return lines


def metrics_lines(project_id: int, listed: Iterable[Mapping[str, Any]]) -> list[str]:
    """``metrics:``: a definition, by slug, of each of the project's own metrics (not an agent's),
    with every writable field it has a value for, in the schema's order; long texts as block
    scalars. A field whose live value a file cannot hold is a comment saying why."""
    import jsonschema

    fields = load_schema()["$defs"]["metricDefinition"]["properties"]
    checkers = {name: jsonschema.Draft202012Validator(schema) for name, schema in fields.items()}
    own = [
        m
        for m in listed
        if m.get("project") == project_id
        and isinstance(m.get("slug"), str)
        and checkers["slug"].is_valid(m["slug"])
    ]
    if not own:
        return []
    lines = [
        "metrics:",
        "  # Metrics the project has and this file does not define are kept as they are (prune: false).",
        "  definitions:",
    ]
    shared = {slug for slug in (m["slug"] for m in own) if sum(o["slug"] == slug for o in own) > 1}
    for slug in sorted(shared):
        ids = ", ".join(str(m.get("id")) for m in own if m["slug"] == slug)
        lines += _comment_lines(f"metrics {ids}: left out (unmanaged): they share the slug {quote(slug)}", 4)
    for metric in sorted((m for m in own if m["slug"] not in shared), key=lambda m: str(m["slug"])):
        entry = [f"    - slug: {quote(metric['slug'])}"]
        for name in fields:
            value = metric.get(name)
            if name == "slug" or name not in metric or value in (None, "", [], {}):
                continue
            if not checkers[name].is_valid(value):
                entry += _comment_lines(
                    f"{name}: left out (unmanaged): its live value is not one a file can hold", 6
                )
                continue
            try:
                entry += _text_entry(6, name, value) if isinstance(value, str) else _entry(6, name, value)
            except _Unrepresentable as exc:
                entry += _comment_lines(f"{name}: left out (unmanaged): {exc}", 6)
        lines += entry
    return lines


def block_safe(text: str) -> bool:
    """Whether a text reads well and loads back exactly as a literal block scalar: several lines,
    every character shown as itself, no leading space or line break (which would need an
    indentation indicator)."""
    body = text.rstrip("\n")
    return "\n" in body and all(_shown(c) or c == "\n" for c in text) and text[:1] not in (" ", "\n")


def _text_entry(indent: int, key: str, text: str) -> list[str]:
    """``key: text``: a text of several lines as a literal block scalar (``|``, ``|-`` or ``|+``
    for one, no or more final line breaks) when YAML keeps it exactly so, else quoted."""
    body = text.rstrip("\n")
    if not block_safe(text):
        return _entry(indent, key, text)
    ending = len(text) - len(body)
    chomp = "-" if ending == 0 else ("" if ending == 1 else "+")
    pad = " " * (indent + 2)
    lines = [f"{' ' * indent}{_key(key)}: |{chomp}"]
    lines += [f"{pad}{line}" if line else "" for line in body.split("\n")]
    lines += [""] * (ending - 1)
    return lines


def secret_lines(project_id: int, live: Mapping[str, Any]) -> list[str]:
    """``secrets:``: a reference for each secret configured live, a comment for the others."""
    return _secret_lines(project_id, live)


def rubric_lines(project_id: int, live: Mapping[str, Any], catalog: MetricCatalog) -> list[str]:
    """``rubric:``: the live rules, by metric, that a file can hold (the others are comments)."""
    return _rubric_lines(project_id, live, catalog)


def export_project(
    live: Mapping[str, Any],
    metrics: Iterable[Mapping[str, Any]],
    *,
    base_url_comment: str | None = None,
    schema_url: str | None = None,
) -> str:
    """A project file (format version 1) for ``live``, a project as GET /user/v1/projects/{id}/
    answers it, with ``metrics`` the project's metrics (GET /test_framework/v1/metrics/?project_id=,
    plus agent-scoped ones that the rubric uses, see ``fetch_export_inputs``).

    ``base_url_comment`` (e.g. the API base URL) is named in the header comment; any user name,
    password or query in it is dropped. ``schema_url`` is the modeline's schema location (default:
    ``project.schema.json`` beside the file, which ``cekura-reconciler schema`` writes). Raises
    ``ReconcilerError`` when ``live`` has no project id, or (a bug)
    when the text would not validate or would plan changes.
    """
    project_id = live.get("id")
    if type(project_id) is not int or project_id < 1:
        raise ReconcilerError("the live project has no valid id; cannot export it")
    catalog = MetricCatalog()
    catalog.add(dict(m) for m in metrics)
    metrics = list(metrics)
    lines = _header(project_id, live, schema_url or "project.schema.json", base_url_comment)
    lines += [f"version: {FORMAT_VERSION}", f"project: {project_id}"]
    # Each kind writes its part of the file (reconciler/kinds), in the registry's order.
    from reconciler.kinds import ExportContext, kinds

    listed = tuple(dict(m) for m in metrics)
    context = ExportContext(project_id, catalog, listed)
    for kind in kinds():
        part = kind.export(live, context)
        if part:
            lines += ["", *part]
    text = "\n".join(lines) + "\n"
    _self_check(text, live, catalog, listed)
    return text


def _self_check(
    text: str, live: Mapping[str, Any], catalog: MetricCatalog, listed: tuple[Mapping[str, Any], ...]
) -> None:
    """The exported text must validate and plan to no changes against ``live``; anything else is a bug."""
    from reconciler.diff import diff_project

    try:
        desired = validate_document(load_text("export.yaml", text))
        rules = resolve_rules(desired, catalog)[0] if desired.rubric is not None else ()
    except (InputError, PlanError) as exc:
        raise ReconcilerError(f"internal error: the exported file does not validate: {exc}") from None
    # An older API answers a secret with its value: the file's variable is to hold that same value.
    values = {n: Secret(v) for n in desired.secrets if isinstance(v := live.get(n), str)}
    reads: dict[str, Any] = {}
    if "metrics" in desired.parts:
        from reconciler.kinds.metrics import metrics_read

        reads["metrics"] = metrics_read(listed, desired)
    plan = diff_project(
        desired, live, rules=rules, metrics=catalog.metrics, secret_values=values, reads=reads
    )
    if plan.field_changes or plan.rule_changes or plan.patch or plan.metric_changes:
        changed = [c.path for c in plan.field_changes] + [f"rubric {c.metric_id}" for c in plan.rule_changes]
        changed += [f"metric {c.slug}" for c in plan.metric_changes]
        raise ReconcilerError(
            "internal error: the exported file would change the project: " + ", ".join(changed or ["rubric"])
        )


# -- export --all: file names and the directory ----------------------------------------------------


def files_managing(directory: Path, project_ids: Iterable[int]) -> dict[int, Path]:
    """The project files under ``directory`` that already manage one of ``project_ids`` (a file
    that cannot be read is not one)."""
    wanted = set(project_ids)
    found: dict[int, Path] = {}
    for path in sorted(directory.rglob("*")):
        if path.suffix.lower() not in (".yaml", ".yml") or not path.is_file():
            continue
        try:
            data = load_file(path).data
        except InputError:
            continue
        project = data.get("project") if isinstance(data, dict) else None
        if type(project) is int and project in wanted:
            found.setdefault(project, path)
    return found


def write_new_file(path: Path, text: str) -> None:
    """Write ``text`` to ``path``, which must not exist yet, atomically (a reader never sees half a
    file), as readable as any file the user writes."""
    from reconciler.atomic import write_atomic

    if path.exists():
        raise ReconcilerError(f"{path} already exists; refusing to overwrite it")
    write_atomic(path, text, 0o666)


# -- reading what an export needs ------------------------------------------------------------------


def fetch_export_inputs(client: CekuraClient, project_id: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """GET the project and its metrics; agent-scoped metrics only when the live rubric uses some."""
    live = client.get_project(project_id)
    metrics = list(client.list_metrics(project_id=project_id))
    known = {m.get("id") for m in metrics}
    config = live.get("rubric_config")
    rules = config.get("rules") if isinstance(config, Mapping) else None
    if not isinstance(rules, list):
        rules = []
    used = {r.get("metric_id") for r in rules if isinstance(r, Mapping)}
    if any(isinstance(m, int) and m not in known for m in used):
        for agent in client.list_agents(project_id):
            if isinstance(agent.get("id"), int):
                for metric in client.list_metrics(agent_id=agent["id"]):
                    if metric.get("id") not in known:
                        known.add(metric.get("id"))
                        metrics.append(metric)
    return live, metrics
