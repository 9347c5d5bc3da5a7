"""Validate a loaded document against schemas/project.schema.json, then check its meaning.

Returns a ``DesiredProject`` or raises ``InputError`` carrying every problem of the file, each at
its ``file:line:col`` and, for a typo, with what was probably meant. This stage is offline: it
never touches the network (it is what a pre-commit hook runs). It must never echo a secret value:
messages about ``secrets`` name keys and kinds, never what was written.
"""

from __future__ import annotations

import difflib
import json
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from reconciler.errors import InputError, Problem
from reconciler.loader import Document, JsonPath, format_path
from reconciler.model import (
    READ_ONLY_FIELDS,
    SECRET_FIELDS,
    DesiredProject,
    RubricSpec,
    RuleSpec,
    SecretRef,
)

SCHEMA_NAME = "project.schema.json"

_FRIENDLY_PATTERNS = {
    "HH:MM": 'must be a 24-hour time written "HH:MM" (quoted), e.g. "09:00"',
    "+": 'must be a phone number in international E.164 form, quoted, e.g. "+15551234567"',
    "[A-Za-z_]": "must be an environment variable name (letters, digits and _, not starting with a digit)",
}


def schema_path() -> Path:
    """The schema file: inside the installed wheel, or schemas/ of a checkout."""
    packaged = resources.files("reconciler").joinpath("_schemas", SCHEMA_NAME)
    if packaged.is_file():
        return Path(str(packaged))
    return Path(__file__).resolve().parent.parent / "schemas" / SCHEMA_NAME


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


@cache
def _validator() -> Any:
    from jsonschema import Draft202012Validator, FormatChecker

    checker = FormatChecker(formats=())
    checker.checks("uri")(_is_http_url)
    return Draft202012Validator(load_schema(), format_checker=checker)


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


def _suggest(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f"; did you mean `{close[0]}`?" if close else ""


def _in_secrets(path: JsonPath) -> bool:
    return bool(path) and path[0] == "secrets"


def _settings_names() -> list[str]:
    props = load_schema()["properties"]["settings"]["properties"]
    return sorted(props)


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
        if key == "organization_id":
            return "`organization_id` is write-only and cannot be read back, so it cannot be managed"
    if where == () and key in _settings_names():
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
        return "a secret reference has exactly one key, `env` or `file`"
    hint = _suggest(key, allowed)
    if not hint and len(allowed) <= 8:
        hint = "; expected one of: " + ", ".join(f"`{a}`" for a in allowed)
    return f"unknown key `{key}`{hint}"


def _schema_problems(doc: Document) -> list[Problem]:
    from jsonschema.exceptions import best_match

    problems: list[Problem] = []
    for error in _validator().iter_errors(doc.data):
        problems.extend(_convert(doc, error, best_match))
    return problems


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
        return [doc.problem(path, f"{where}: missing required key `{k}`") for k in missing]
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
        return [doc.problem(path, f"{where}: must be {_type_words(value)}, not {_json_type(instance)}")]
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
        text = reason[0].lower() + reason[1:] if reason else "this combination is not allowed"
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


def _semantic_problems(doc: Document) -> list[Problem]:
    data = doc.data
    problems: list[Problem] = []
    settings = _mapping(data.get("settings"))
    low, high = settings.get("min_call_duration"), settings.get("max_call_duration")
    if isinstance(low, int) and isinstance(high, int) and low > high:
        problems.append(
            doc.problem(
                ("settings", "min_call_duration"),
                f"settings.min_call_duration ({low}) is greater than settings.max_call_duration ({high})",
            )
        )
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
    if "extends" in data:
        problems.append(
            doc.problem(("extends",), "extends: base files are not supported by this version yet", key=True)
        )
    return problems


def _desired(doc: Document) -> DesiredProject:
    data = doc.data
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
        rubric = RubricSpec(prune=bool(raw.get("prune", False)), rules=rules)
    secrets = {
        name: SecretRef("env", ref["env"]) if "env" in ref else SecretRef("file", ref["file"])
        for name, ref in (data.get("secrets") or {}).items()
    }
    settings = dict(data.get("settings") or {})
    positions = {path: str(pos) for path, pos in doc.value_positions.items()}
    return DesiredProject(
        file=doc.path,
        project_id=data.get("project"),
        settings=settings,
        secrets=secrets,
        rubric=rubric,
        positions=positions,
    )


def validate_document(doc: Document) -> DesiredProject:
    """Check a document; every problem at once, schema ones first in file order."""
    if not isinstance(doc.data, dict):
        raise InputError(
            [doc.problem((), f"the file must be a mapping with `version: 1`, not {_json_type(doc.data)}")]
        )
    problems = _schema_problems(doc) + _semantic_problems(doc)
    if problems:
        unique = {(p.position, p.message): p for p in problems}
        raise InputError(list(unique.values()))
    return _desired(doc)
