"""Validate a loaded document against schemas/project.schema.json, then check its meaning.

Returns a ``DesiredProject`` or raises ``InputError`` carrying every problem of the file, each at
its ``file:line:col`` and, for a typo, with what was probably meant. This stage is offline: it
never touches the network (it is what a pre-commit hook runs). It must never echo a secret value:
messages about ``secrets`` name keys and kinds, never what was written.
"""

from __future__ import annotations

import difflib
import json
import re
import sys
from collections.abc import Iterator, Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from reconciler.credentials import reference_root, references_escaping
from reconciler.errors import InputError, Position, Problem
from reconciler.loader import Document, JsonPath, format_path, one_line
from reconciler.model import (
    READ_ONLY_FIELDS,
    SECRET_FIELDS,
    WRITE_ONLY_FIELDS,
    DesiredProject,
    RubricSpec,
    RuleSpec,
    SecretRef,
    is_number,
)

if TYPE_CHECKING:
    import jsonschema_rs

SCHEMA_NAME = "project.schema.json"

_FRIENDLY_PATTERNS = {
    "HH:MM": 'must be a 24-hour time written "HH:MM" (quoted), e.g. "09:00"',
    "+": 'must be a phone number in international E.164 form, quoted, e.g. "+15551234567"',
    "[A-Za-z_]": "must be an environment variable name (letters, digits and _, not starting with a digit)",
    "[a-z][a-z0-9_]": (
        "must be a snake_case slug: lowercase letters, digits and _, starting with a letter, "
        'e.g. "refund_offered"'
    ),
}


def schema_path() -> Path:
    """The schema file: inside the installed wheel, or schemas/ of a checkout."""
    here = Path(__file__).resolve().parent
    # Next to this module first: what importlib.resources finds for an installed wheel, without
    # importing it (a few ms of every `validate`).
    for candidate in (here / "_schemas" / SCHEMA_NAME, here.parent / "schemas" / SCHEMA_NAME):
        if candidate.is_file():
            return candidate
    from importlib import resources

    packaged = resources.files("reconciler").joinpath("_schemas", SCHEMA_NAME)
    if packaged.is_file():
        return Path(str(packaged))
    return here.parent / "schemas" / SCHEMA_NAME


@cache
def load_schema() -> dict[str, Any]:
    with schema_path().open("rb") as handle:
        schema: dict[str, Any] = json.load(handle)
    return schema


def _is_http_url(value: object) -> bool:
    if not isinstance(value, str):
        return True
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname) and " " not in value


def _same_json(value: Any) -> Any:
    """A hashable stand-in, equal exactly when JSON Schema calls two values equal (1 == 1.0, true != 1)."""
    if isinstance(value, bool):
        return ("boolean", value)
    if isinstance(value, int | float):
        return ("number", value)
    if isinstance(value, list):
        return ("array", tuple(_same_json(item) for item in value))
    if isinstance(value, dict):
        return ("object", frozenset((key, _same_json(item)) for key, item in value.items()))
    return (type(value).__name__, value)


def _unique_items(validator: Any, unique: Any, instance: Any, schema: Any) -> Iterator[Any]:
    """`uniqueItems` in one pass: jsonschema compares unhashable items (mappings) pair by pair, so a
    list of 8,000 mappings where ids belong took minutes."""
    from jsonschema.exceptions import ValidationError

    if not unique or not validator.is_type(instance, "array"):
        return
    seen: set[Any] = set()
    for item in instance:
        key = _same_json(item)
        if key in seen:
            yield ValidationError("has non-unique elements")
            return
        seen.add(key)


def _document_schema() -> tuple[dict[str, Any], str]:
    """The shipped schema, plus the parts of the file of kinds registered beyond it (reconciler/kinds),
    and a key that changes with those parts."""
    if "reconciler.kinds" not in sys.modules:
        # Nothing can be registered before the registry is imported; `validate` never imports it
        # (a few ms of start-up) unless a kind from outside the package was registered.
        return load_schema(), ""
    from reconciler.kinds import schema_parts

    parts = schema_parts()
    if not parts:
        return load_schema(), ""
    schema = load_schema()
    return {**schema, "properties": {**schema["properties"], **parts}}, json.dumps(parts, sort_keys=True)


def _validator() -> Any:
    """jsonschema's Draft 2020-12 validator of the file's schema (with the parts of registered
    kinds), built once per set of parts: it words every problem. Only `format: uri` is checked (as an
    http(s) URL); other formats are annotations."""
    return _validator_for(_document_schema()[1])


@cache
def _validator_for(key: str) -> Any:
    """One validator per set of registered parts (``key``): the shipped schema's is built once."""
    from jsonschema import Draft202012Validator, FormatChecker, validators

    schema = _document_schema()[0]

    checker = FormatChecker(formats=())
    checker.checks("uri")(_is_http_url)
    cls = validators.extend(  # type: ignore[no-untyped-call, unused-ignore]
        Draft202012Validator, {"uniqueItems": _unique_items}
    )
    return cls(schema, format_checker=checker)


def _gate() -> jsonschema_rs.Draft202012Validator:
    """jsonschema-rs's Draft 2020-12 validator of the same schema as _validator(), built once per
    set of registered parts: the fast "is it valid" answer (see _passes_gate)."""
    return _gate_for(_document_schema()[1])


@cache
def _gate_for(key: str) -> jsonschema_rs.Draft202012Validator:
    import jsonschema_rs

    return jsonschema_rs.Draft202012Validator(
        _document_schema()[0], formats={"uri": _is_http_url}, validate_formats=True
    )


def _passes_gate(data: Any) -> bool:
    """True when jsonschema-rs finds ``data`` valid; False: let jsonschema decide and word it.

    Importing jsonschema (with referencing, attrs, rpds and every draft's metaschema) costs more than
    all else `validate` does, and most files are valid; jsonschema-rs imports in a few ms and checks
    a 5,000-rule file in ~30 ms (jsonschema: ~0.8 s). Only its "valid" is trusted: any doubt (it
    finds a problem, or cannot take a value, such as a mapping with a non-string key) goes to
    jsonschema, so every message is jsonschema's, worded below. tests/test_schema_validator.py holds
    the gate to jsonschema's verdict on every shipped file and on mutations of them.
    """
    try:
        return _gate().is_valid(data)
    except Exception:  # a value jsonschema-rs cannot convert: jsonschema decides
        return False


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "a list"
    return "a mapping"


_TYPE_WORDS = {
    "integer": "a whole number",
    "number": "a number",
    "string": "text",
    "boolean": "true or false",
    "object": "a mapping",
    "array": "a list",
    "null": "null",
}


def _type_words(expected: Any) -> str:
    names = expected if isinstance(expected, list) else [expected]
    return " or ".join(_TYPE_WORDS.get(str(n), str(n)) for n in names)


def _unquote_hint(expected: Any, instance: Any) -> str:
    """For text that is a quoted number or boolean where one is expected: how to write it."""
    if not isinstance(instance, str):
        return ""
    names = expected if isinstance(expected, list) else [expected]
    text = instance.strip()
    if "boolean" in names and text.lower() in ("true", "false", "yes", "no", "on", "off"):
        return f"; write {'true' if text.lower() in ('true', 'yes', 'on') else 'false'} without quotes"
    if ("integer" in names or "number" in names) and re.fullmatch(r"[-+]?[0-9]+", text):
        # past 4,300 digits int() refuses; it is no number anyone meant then
        return f"; write {int(text)} without quotes" if len(text) < 100 else ""
    if "number" in names and re.fullmatch(r"[-+]?(?:[0-9]+\.[0-9]*|\.[0-9]+)", text):
        return f"; write {text} without quotes"
    return ""


def _suggest(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f"; did you mean `{close[0]}`?" if close else ""


def _in_secrets(path: JsonPath) -> bool:
    return bool(path) and path[0] == "secrets"


@cache
def settings_names() -> tuple[str, ...]:
    """The settings a file may hold, in the schema's order: the schema is their one list."""
    return tuple(load_schema()["properties"]["settings"]["properties"])


def _unknown_key_message(where: JsonPath, key: str, allowed: list[str]) -> str:
    if where == ("settings",):
        if key in READ_ONLY_FIELDS:
            return f"`{key}` is read-only: the API sets it, a file cannot; remove it"
        if key in SECRET_FIELDS:
            return (
                f"`{key}` is a write-only secret: move it under `secrets:` as a reference "
                f"({{env: NAME}} or {{file: PATH}}), never the value itself"
            )
        if key == "rubric_config":
            return (
                "`rubric_config` is managed under the top-level `rubric:` key, which merges rules by "
                "metric instead of replacing the whole rubric"
            )
        if key in WRITE_ONLY_FIELDS:
            return f"`{key}` is write-only and cannot be read back, so it cannot be managed"
    if where == () and key in settings_names():
        return f"unknown top-level key `{key}`; project settings go under `settings:`"
    if where == () and key in SECRET_FIELDS:
        return (
            f"unknown top-level key `{key}`; secrets go under `secrets:` as {{env: NAME}} or {{file: PATH}}"
        )
    if where == () and key in ("project_id", "id"):
        return f"unknown top-level key `{key}`; did you mean `project`?"
    if where == ("secrets",) and key in READ_ONLY_FIELDS:
        return f"`{key}` is read-only: the API reports it; remove it"
    if _in_secrets(where) and len(where) > 1:
        # The key itself is not shown: `{sk-live-...}` is a mapping whose key is the secret.
        return (
            f"{format_path(where)}: a secret reference has one key, `env` or `file` (the key written "
            "here is not shown): {env: NAME} or {file: PATH}, never the value itself"
        )
    hint = _suggest(key, allowed)
    if not hint and len(allowed) <= 8:
        hint = "; expected one of: " + ", ".join(f"`{a}`" for a in allowed)
    return f"unknown key `{key}`{hint}"


def _schema_problems(doc: Document) -> list[Problem]:
    if _passes_gate(doc.data):
        return []
    from jsonschema.exceptions import best_match

    problems: list[Problem] = []
    for error in _validator().iter_errors(doc.data):
        problems.extend(_convert(doc, error, best_match))
    return problems


def _missing_message(path: JsonPath, key: str) -> str:
    if path == () and key == "version":
        return "missing required key `version`; write `version: 1`"
    if len(path) == 3 and path[:2] == ("rubric", "rules"):
        if key == "metric_id":
            return "missing the metric: give `metric_id` (its id) or `metric` (its slug or name)"
        if key == "conditions":
            return "missing required key `conditions` (or `absent: true` to remove the metric's rules)"
    return f"missing required key `{key}`"


def _convert(doc: Document, error: Any, best_match: Any) -> list[Problem]:
    path: JsonPath = tuple(error.absolute_path)
    kind: str = error.validator
    value = error.validator_value
    instance = error.instance
    where = format_path(path)
    secret = _in_secrets(path)

    if kind == "additionalProperties" and isinstance(instance, dict):
        allowed = sorted(error.schema.get("properties", {}))
        extras = [k for k in instance if k not in allowed]
        return [doc.problem((*path, k), _unknown_key_message(path, k, allowed), key=True) for k in extras]
    if kind == "required":
        missing = [k for k in value if isinstance(instance, dict) and k not in instance]
        return [doc.problem(path, f"{where}: {_missing_message(path, k)}") for k in missing]
    if secret and len(path) == 2 and kind in ("oneOf", "type"):
        return [
            doc.problem(
                path,
                f"{where}: a secret must be a reference, {{env: NAME}} or {{file: PATH}}; a literal "
                "value does not belong in a file (the value written here is not shown)",
            )
        ]
    if kind in ("oneOf", "anyOf"):
        sub = best_match(error.context) if error.context else None
        if sub is not None:
            return _convert(doc, sub, best_match)
        return [doc.problem(path, f"{where}: does not match any allowed form")]
    if kind == "type":
        hint = "" if secret else _unquote_hint(value, instance)
        return [doc.problem(path, f"{where}: must be {_type_words(value)}, not {_json_type(instance)}{hint}")]
    if kind == "const":
        if path == ("version",):
            return [doc.problem(path, "version: only format version 1 is supported; write `version: 1`")]
        shown = "" if secret else f", not {json.dumps(instance)}"
        return [doc.problem(path, f"{where}: must be {json.dumps(value)}{shown}")]
    if kind == "enum":
        choices = [str(v) for v in value]
        hint = _suggest(str(instance), choices) if isinstance(instance, str) and not secret else ""
        listed = ", ".join(json.dumps(v) for v in value)
        shown = "" if secret else f" (got {json.dumps(instance)})"
        return [doc.problem(path, f"{where}: must be one of {listed}{shown}{hint}")]
    if kind in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        sign = {"minimum": ">=", "maximum": "<=", "exclusiveMinimum": ">", "exclusiveMaximum": "<"}[kind]
        return [doc.problem(path, f"{where}: must be {sign} {value} (got {instance})")]
    if kind == "minLength":
        text = "must not be empty" if value == 1 else f"must be at least {value} characters"
        return [doc.problem(path, f"{where}: {text}")]
    if kind == "maxLength":
        return [doc.problem(path, f"{where}: must be at most {value} characters")]
    if kind == "minItems":
        return [doc.problem(path, f"{where}: must have at least {value} item{'s' if value != 1 else ''}")]
    if kind == "maxItems":
        return [doc.problem(path, f"{where}: must have at most {value} items")]
    if kind == "uniqueItems":
        return [doc.problem(path, f"{where}: must not list the same item twice")]
    if kind == "pattern":
        for needle, text in _FRIENDLY_PATTERNS.items():
            if needle in value or (needle == "HH:MM" and "[0-5][0-9]$" in value and ":" in value):
                return [
                    doc.problem(
                        path, f"{where}: {text}" + ("" if secret else f" (got {json.dumps(instance)})")
                    )
                ]
        return [doc.problem(path, f"{where}: does not match the pattern {value}")]
    if kind == "format":
        if value == "uri":
            return [
                doc.problem(
                    path, f'{where}: must be an absolute http(s) URL, e.g. "https://example.com/hook"'
                )
            ]
        return [doc.problem(path, f"{where}: must be a valid {value}")]
    if kind == "not":
        reason = error.schema.get("description") if isinstance(error.schema, dict) else None
        text = reason[0].lower() + reason[1:].rstrip(".") if reason else "this combination is not allowed"
        return [doc.problem(path, f"{where}: {text}")]
    if kind in ("minProperties", "maxProperties"):
        if secret:
            return [doc.problem(path, f"{where}: a secret reference has exactly one key, `env` or `file`")]
        return [doc.problem(path, f"{where}: has the wrong number of keys")]
    if kind == "dependentRequired" or kind == "dependentSchemas":
        return [doc.problem(path, f"{where}: {error.message}")]
    message = "is not valid" if secret else error.message
    return [doc.problem(path, f"{where}: {message}")]


def _timezone_problem(doc: Document, path: JsonPath, name: str) -> Problem | None:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

    try:
        ZoneInfo(name)
        return None
    except (ZoneInfoNotFoundError, ValueError):
        pass
    zones = available_timezones()
    if not zones:  # no time zone database on this machine: cannot judge, do not guess
        return None
    hint = _suggest(name, sorted(zones))
    return doc.problem(path, f"{format_path(path)}: unknown time zone {json.dumps(name)}{hint}")


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def call_durations_problem(settings: Mapping[str, Any]) -> str | None:
    """The check across settings: ``min_call_duration`` above ``max_call_duration``, as written
    (``120.0`` is a whole number too). Run on each file, and by ``files`` on a file merged with the
    base it extends, where each alone may be fine."""
    low, high = settings.get("min_call_duration"), settings.get("max_call_duration")
    if is_number(low) and is_number(high) and low > high:
        return f"settings.min_call_duration ({low}) is greater than settings.max_call_duration ({high})"
    return None


def _semantic_problems(doc: Document) -> list[Problem]:
    data = doc.data
    problems: list[Problem] = []
    settings = _mapping(data.get("settings"))
    durations = call_durations_problem(settings)
    if durations:
        problems.append(doc.problem(("settings", "min_call_duration"), durations))
    if isinstance(settings.get("timezone"), str):
        found = _timezone_problem(doc, ("settings", "timezone"), settings["timezone"])
        if found:
            problems.append(found)
    period = settings.get("no_calls_notify_time_period")
    if isinstance(period, dict) and isinstance(period.get("time_zone"), str):
        path: JsonPath = ("settings", "no_calls_notify_time_period", "time_zone")
        found = _timezone_problem(doc, path, period["time_zone"])
        if found:
            problems.append(found)
    for name, ref in _mapping(data.get("secrets")).items():
        written = _mapping(ref).get("file")
        if isinstance(written, str) and written and references_escaping(written, Path(doc.path).parent):
            # The path is not repeated: this stage never echoes what was written under `secrets`.
            root = reference_root(Path(doc.path).parent)
            problems.append(
                doc.problem(
                    ("secrets", name),
                    f"secrets.{name}: the file reference leaves the repository {root}; a relative "
                    "reference must stay inside it (for a file elsewhere, write its absolute path and "
                    "allow its folder with --secrets-dir or CEKURA_SECRETS_DIRS)",
                )
            )
    rules = _mapping(data.get("rubric")).get("rules")
    if not isinstance(rules, list):
        rules = []
    by_metric: dict[str, list[int]] = {}
    for index, rule in enumerate(rules):
        if isinstance(rule, dict):
            ref = rule.get("metric_id", rule.get("metric"))
            by_metric.setdefault(json.dumps(ref), []).append(index)
    for indexes in by_metric.values():
        if len(indexes) > 1:
            for index in indexes:
                if isinstance(rules[index], dict) and rules[index].get("absent") is True:
                    ref = rules[index].get("metric_id", rules[index].get("metric"))
                    problems.append(
                        doc.problem(
                            ("rubric", "rules", index, "absent"),
                            f"rubric.rules[{index}]: `absent: true` removes every rule of metric {ref}, "
                            "so it "
                            "cannot stand beside other rules for the same metric",
                        )
                    )
    if "metrics" in data or "reconciler.kinds" in sys.modules:
        # The kinds' own offline checks (metric definitions; a kind registered from outside). The
        # registry is imported only for them: a file without `metrics:` starts as fast as before.
        from reconciler.kinds import kinds

        for kind in kinds():
            problems += kind.problems(doc)
    return problems


def _integers(value: Any, schema: Any, root: dict[str, Any]) -> Any:
    """Whole numbers written with a decimal point (``123.0``) where the schema wants an integer,
    as ints: the API takes them as ints in URLs and rubric rules (`300` and `300.0` are one value)."""
    if not isinstance(schema, dict):
        return value
    while isinstance(schema.get("$ref"), str) and schema["$ref"].startswith("#/$defs/"):
        schema = root.get("$defs", {}).get(schema["$ref"].split("/")[-1], {})
    for branch in schema.get("allOf") or schema.get("anyOf") or schema.get("oneOf") or ():
        if isinstance(branch, dict) and branch.get("type") != "null":
            value = _integers(value, branch, root)
    kinds = schema.get("type")
    kinds = [kinds] if isinstance(kinds, str) else kinds or []
    if isinstance(value, float) and "integer" in kinds and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        props = schema.get("properties") or {}
        return {k: _integers(v, props.get(k), root) for k, v in value.items()}
    if isinstance(value, list):
        return [_integers(v, schema.get("items"), root) for v in value]
    return value


_FILE_KEYS = frozenset({"version", "project", "extends", "settings", "secrets", "rubric"})


def _desired(doc: Document) -> DesiredProject:
    schema = _document_schema()[0]
    data = doc.data if doc.whole_floats is False else _integers(doc.data, schema, schema)
    rubric: RubricSpec | None = None
    if "rubric" in data:
        raw = data["rubric"] or {}
        rules = tuple(
            RuleSpec(
                metric_id=rule.get("metric_id"),
                metric_ref=rule.get("metric"),
                conditions=rule.get("conditions"),
                absent=bool(rule.get("absent", False)),
                path=("rubric", "rules", index),
            )
            for index, rule in enumerate(raw.get("rules") or [])
        )
        rubric = RubricSpec(prune=raw.get("prune"), rules=rules)
    secrets = {
        name: SecretRef("env", ref["env"]) if "env" in ref else SecretRef("file", ref["file"])
        for name, ref in (data.get("secrets") or {}).items()
    }
    settings = dict(data.get("settings") or {})
    positions = {path: str(pos) for path, pos in doc.value_positions.items()}
    # Any other top-level key passed the schema, so it is the part of a registered kind.
    parts = {k: v for k, v in data.items() if k not in _FILE_KEYS}
    return DesiredProject(
        file=doc.path,
        project_id=data.get("project"),
        settings=settings,
        secrets=secrets,
        rubric=rubric,
        positions=positions,
        parts=parts,
    )


def validate_document(doc: Document) -> DesiredProject:
    """Check a document; every problem at once (what YAML misread and what the schema and the
    format's rules refuse), in file order."""
    if not isinstance(doc.data, dict):
        raise InputError(
            [
                *doc.problems,
                doc.problem((), f"the file must be a mapping with `version: 1`, not {_json_type(doc.data)}"),
            ]
        )
    keys = {k for k in doc.data if isinstance(k, str)}
    ours = {"project", "extends", "settings", "secrets", "rubric", "metrics"}
    if not ours & keys and (doc.data.get("version") != 1 or not keys - {"version"}) and keys != {"version"}:
        # A CI workflow, a compose file...: say what it is not, rather than list every key.
        raise InputError(
            [
                doc.problem(
                    (),
                    "not a cekura-reconciler project file (no `version: 1`, and none of `project`, "
                    "`settings`, `secrets`, `rubric`); leave it out of the paths given, or of the "
                    "pre-commit hook's `files`",
                )
            ]
        )
    trapped = {p.position for p in doc.problems}
    found = [p for p in _schema_problems(doc) + _semantic_problems(doc) if p.position not in trapped]
    # One list in file order: what YAML misread (with the hint to write it) beside the rest.
    problems = sorted(doc.problems + found, key=lambda p: (p.position.line, p.position.col))
    if problems:
        # one_line: messages quote keys and values, which may hold line breaks ("a\nb": 1)
        unique = {(p.position, p.message): Problem(p.position, one_line(p.message)) for p in problems}
        raise InputError(list(unique.values()))
    return _desired(doc)


def validate_values(
    file: str,
    *,
    project_id: int,
    settings: Mapping[str, Any],
    rules: Sequence[Any] | None,
    value_positions: Mapping[JsonPath, Position] | None = None,
    key_positions: Mapping[JsonPath, Position] | None = None,
) -> None:
    """Check values that did not come from a project file (a journal entry's previous values) with
    the same schema and checks as a file's ``settings`` and ``rubric.rules``; raises InputError with
    every problem. Problems are placed by ``value_positions``/``key_positions``, keyed by the paths
    those values would have in a project file (``("settings", name)``, ``("rubric", "rules", i)``),
    else at the top of ``file``."""
    data: dict[str, Any] = {"version": 1, "project": project_id, "settings": dict(settings)}
    if rules is not None:
        data["rubric"] = {"rules": list(rules)}
    validate_document(Document(file, data, dict(value_positions or {}), dict(key_positions or {})))
