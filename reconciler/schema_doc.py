"""Render docs/file-format.md, the reference of the project file format, from the JSON Schema.

The schema (schemas/project.schema.json) is the one source of truth: every key, type, range,
pattern, enum, default, description and example in the reference comes from it, so the two cannot
drift apart (tests/test_schema_doc.py checks that the committed page equals a fresh rendering).
The output is a pure function of the schema (and of the loader's size limits, listed last): same
schema, same bytes. Regenerate with::

    python -m reconciler.schema_doc > docs/file-format.md

Layout: the top-level keys, ``settings`` (and its one object-valued field), ``secrets`` and the
reference forms, ``rubric`` down to the per-``field`` condition families, the shared value types,
then the limits on a file's size. A ``$defs`` entry the layout does not reach is still listed, under
"Other definitions", so a schema change can never silently drop something from the page.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterable, Mapping
from typing import Any

import yaml

from reconciler.loader import MAX_DEPTH, MAX_EXPANDED_VALUES, MAX_FILE_BYTES, MAX_NODES
from reconciler.model import READ_ONLY_FIELDS

REGENERATE_COMMAND = "python -m reconciler.schema_doc > docs/file-format.md"

Node = Mapping[str, Any]

# A string YAML reads back as the same string when written bare inside a flow collection.
_PLAIN_STRING = re.compile(r"[A-Za-z_][A-Za-z0-9_ ./-]*")
_NONE = "-"
_EXAMPLE_MAX_CHARS = 60  # longer examples go to a YAML block under the table, not into a cell
_DEF_PREFIX = "#/$defs/"


# -- text helpers ---------------------------------------------------------------------------------


def _flow(value: Any) -> str:
    """``value`` as YAML flow text that reads back as ``value`` (strings quoted only when needed)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, int | float):
        return json.dumps(value)
    if isinstance(value, str):
        if _PLAIN_STRING.fullmatch(value) and not value.endswith(" ") and yaml.safe_load(value) == value:
            return value
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(_flow(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_flow(str(key))}: {_flow(item)}" for key, item in value.items()) + "}"
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _code(text: str) -> str:
    """``text`` as an inline code span that survives a table cell."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    padded = f" {text} " if text.startswith("`") or text.endswith("`") else text
    return f"{fence}{padded}{fence}".replace("|", "\\|")


def _cell(text: str) -> str:
    """Authored markdown (a schema description) made safe for one table cell."""
    return " ".join(text.split()).replace("|", "\\|") or _NONE


def _values(values: Iterable[Any]) -> str:
    return ", ".join(_code(_flow(value)) for value in values)


def _slug(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces as dashes."""
    return re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")


def _link(heading: str) -> str:
    return f"[{heading}](#{_slug(heading)})"


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines.extend("| " + " | ".join(cell or _NONE for cell in row) + " |" for row in rows)
    return "\n".join(lines)


def _yaml_block(value: Any) -> str:
    dumped = yaml.safe_dump(value, sort_keys=False, default_flow_style=None, allow_unicode=True, width=100)
    return f"```yaml\n{dumped}```"


# -- the schema, resolved -------------------------------------------------------------------------


class _Schema:
    def __init__(self, root: Node) -> None:
        self.root = root
        self.defs: Mapping[str, Node] = root.get("$defs", {})
        self.shown: set[str] = set()  # $defs entries that have their own section or table row

    def lookup(self, ref: str) -> Node:
        if not ref.startswith("#/"):
            raise ValueError(f"schema_doc: only local $ref are supported, not {ref!r}")
        node: Any = self.root
        for part in ref[2:].split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
        if not isinstance(node, Mapping):
            raise ValueError(f"schema_doc: $ref {ref!r} does not point at a schema object")
        return node

    def resolve(self, node: Node) -> dict[str, Any]:
        """``node`` with its ``$ref`` and pure-``$ref`` ``allOf`` parts merged in; its own keys win."""
        merged: dict[str, Any] = {}
        ref = node.get("$ref")
        if isinstance(ref, str):
            merged.update(self.resolve(self.lookup(ref)))
        for part in node.get("allOf", []):
            if isinstance(part, Mapping) and set(part) == {"$ref"}:
                merged.update(self.resolve(part))
        merged.update((key, value) for key, value in node.items() if key != "$ref")
        return merged

    @staticmethod
    def def_name(node: Node) -> str | None:
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(_DEF_PREFIX):
            return ref[len(_DEF_PREFIX) :]
        return None

    def show(self, node: Node) -> dict[str, Any]:
        """Resolve ``node`` and mark the definition it names as documented here."""
        name = self.def_name(node)
        if name is not None:
            self.shown.add(name)
        return self.resolve(node)

    def child(self, node: Node, *path: str) -> Node:
        """The property schema at ``path`` below ``node`` (``[]`` steps into an array's items)."""
        current: Node = node
        for step in path:
            resolved = self.resolve(current)
            current = resolved["items"] if step == "[]" else resolved["properties"][step]
        return current

    # -- one schema, summarized --

    def type_label(self, node: Node) -> str:
        schema = self.resolve(node)
        if "const" in schema:
            return f"constant {_code(_flow(schema['const']))}"
        types = schema.get("type")
        if types is None:
            enum = schema.get("enum")
            if isinstance(enum, list) and enum and all(isinstance(v, str) for v in enum):
                return "string"
            return "any (see description)"
        names: list[str] = []
        for name in [types] if isinstance(types, str) else list(types):
            if name == "array" and isinstance(schema.get("items"), Mapping):
                names.append(f"array of {self.type_label(schema['items'])}")
            else:
                names.append(str(name))
        return " or ".join(names)

    def constraints(self, node: Node) -> list[str]:
        schema = self.resolve(node)
        out: list[str] = []
        low, high = schema.get("minimum"), schema.get("maximum")
        if low is not None and high is not None:
            out.append(f"range {_flow(low)} to {_flow(high)}")
        elif low is not None:
            out.append(f"minimum {_flow(low)}")
        elif high is not None:
            out.append(f"maximum {_flow(high)}")
        if "exclusiveMinimum" in schema:
            out.append(f"greater than {_flow(schema['exclusiveMinimum'])}")
        if "exclusiveMaximum" in schema:
            out.append(f"less than {_flow(schema['exclusiveMaximum'])}")
        short, long = schema.get("minLength"), schema.get("maxLength")
        if short is not None and long is not None:
            out.append(f"length {short} to {long}")
        elif short is not None:
            out.append("not empty" if short == 1 else f"length at least {short}")
        elif long is not None:
            out.append(f"length at most {long}")
        if "pattern" in schema:
            out.append(f"pattern {_code(str(schema['pattern']))}")
        if "format" in schema:
            out.append(f"format {_code(str(schema['format']))}")
        if "enum" in schema:
            out.append(f"one of {_values(schema['enum'])}")
        if "minItems" in schema:
            count = schema["minItems"]
            out.append(f"at least {count} item{'s' if count != 1 else ''}")
        if "maxItems" in schema:
            out.append(f"at most {schema['maxItems']} items")
        if schema.get("uniqueItems"):
            out.append("no duplicates")
        keys = list(schema.get("properties", {}))
        if schema.get("minProperties") == 1 and schema.get("maxProperties") == 1 and keys:
            out.append("exactly one of " + ", ".join(_code(key) for key in keys))
        else:
            if "minProperties" in schema:
                out.append(f"at least {schema['minProperties']} keys")
            if "maxProperties" in schema:
                out.append(f"at most {schema['maxProperties']} keys")
        types = schema.get("type")
        if isinstance(types, list) and "null" in types:
            out.append("nullable (`null` allowed)")
        items = schema.get("items")
        if isinstance(items, Mapping) and "properties" not in self.resolve(items):
            out.extend(f"each item: {text}" for text in self.constraints(items))
        return out

    def examples(self, node: Node) -> list[Any]:
        examples = self.resolve(node).get("examples", [])
        return list(examples) if isinstance(examples, list) else []

    def example_cell(self, node: Node, below: str | None = None) -> str:
        text = _values(self.examples(node))
        if len(text) > _EXAMPLE_MAX_CHARS:
            return f"see {below}" if below else _NONE
        return text

    def default_cell(self, node: Node) -> str:
        schema = self.resolve(node)
        return _code(_flow(schema["default"])) if "default" in schema else _NONE


# -- sections -------------------------------------------------------------------------------------


_TOP = "Top-level keys"
_SETTINGS = "settings"
_SECRETS = "secrets"
_SECRET_REFS = "Secret references"
_RUBRIC = "rubric"
_RULES = "rubric.rules items"
_METRICS = "metrics"
_RULE_CONDITIONS = "Rule conditions"
_CONDITION = "Condition"
_FAMILIES = "Condition families"
_VALUE_TYPES = "Value types"
_OTHER = "Other definitions"
_LIMITS = "Limits"


def _description(doc: _Schema, node: Node) -> str:
    """A field's own description, then its definition's when that says something else."""
    own = str(node.get("description", ""))
    name = doc.def_name(node)
    shared = str(doc.resolve(doc.defs[name]).get("description", "")) if name and name in doc.defs else ""
    return " ".join(text for text in dict.fromkeys([own, shared]) if text)


def _property_table(
    doc: _Schema,
    node: Node,
    *,
    sections: Mapping[str, str] | None = None,
    required_label: Mapping[str, str] | None = None,
) -> str:
    """The table of an object's properties; ``sections`` names the heading that details a key.

    The Required and Default columns appear only when some key is required or has a default.
    """
    schema = doc.resolve(node)
    required = set(schema.get("required", []))
    header = ["Key", "Type", "Required", "Constraints", "Default", "Description", "Example"]
    rows: list[list[str]] = []
    for key, prop in schema.get("properties", {}).items():
        details = (sections or {}).get(key)
        constraints = doc.constraints(prop)
        if details:
            constraints.append(f"see {_link(details)}")
        rows.append(
            [
                _code(key),
                doc.type_label(prop),
                (required_label or {}).get(key, "yes" if key in required else "no"),
                "; ".join(constraints),
                doc.default_cell(prop),
                _cell(str(doc.resolve(prop).get("description", ""))),
                doc.example_cell(prop, _link(details) if details else None),
            ]
        )
    keep = [
        index
        for index, name in enumerate(header)
        if not (name == "Required" and all(row[index] == "no" for row in rows))
        and not (name == "Default" and all(row[index] == _NONE for row in rows))
    ]
    return _table([header[i] for i in keep], [[row[i] for i in keep] for row in rows])


def _heading(level: int, title: str) -> str:
    return f"{'#' * level} {title}"


def _top_section(doc: _Schema) -> list[str]:
    sections = {"settings": _SETTINGS, "secrets": _SECRETS, "rubric": _RUBRIC, "metrics": _METRICS}
    return [_heading(2, _TOP), _property_table(doc, doc.root, sections=sections)]


def _settings_section(doc: _Schema) -> list[str]:
    settings = doc.child(doc.root, "settings")
    schema = doc.resolve(settings)
    properties: Mapping[str, Node] = schema.get("properties", {})
    objects = {
        key: f"settings.{key}" for key, prop in properties.items() if "properties" in doc.resolve(prop)
    }
    blocks = [_heading(2, _SETTINGS), _cell(_description(doc, settings))]
    required = schema.get("required", [])
    if not required and not any("default" in doc.resolve(prop) for prop in properties.values()):
        blocks.append(
            "No setting is required and none has a default: a setting the file leaves out is not "
            "managed, and Cekura keeps its live value."
        )
    read_only = ", ".join(_code(name) for name in sorted(READ_ONLY_FIELDS))
    blocks.append(
        f"Read-only project fields are refused anywhere in the file: {read_only}. "
        f"Secrets go under {_link(_SECRETS)}, the rubric under {_link(_RUBRIC)}."
    )
    blocks.append(_property_table(doc, settings, sections=objects))
    for key, title in objects.items():
        blocks.extend(_object_section(doc, properties[key], title, ["settings", key], level=3))
    return blocks


def _wrap(path: list[str], value: Any) -> Any:
    """``value`` placed at ``path`` of a project file (``[]`` makes a one-item list)."""
    for step in reversed(path):
        value = [value] if step == "[]" else {step: value}
    return value


def _object_section(doc: _Schema, node: Node, title: str, path: list[str], level: int) -> list[str]:
    """An object-valued field: its description, its keys, its array-of-object keys, its examples."""
    schema = doc.show(node)
    nested: dict[str, str] = {}
    for key, prop in schema.get("properties", {}).items():
        items = doc.resolve(prop).get("items")
        if isinstance(items, Mapping) and "properties" in doc.resolve(items):
            nested[key] = f"{title}.{key} items"
    blocks = [
        _heading(level, title),
        _cell(_description(doc, node)),
        _property_table(doc, node, sections=nested),
    ]
    for key, sub_title in nested.items():
        items = doc.resolve(schema["properties"][key])["items"]
        blocks.extend(_object_section(doc, items, sub_title, [*path, key, "[]"], level + 1))
    examples = doc.examples(node)
    if examples and path[-1] != "[]":
        blocks.append("Example:")
        blocks.extend(_yaml_block(_wrap(path, example)) for example in examples)
    return blocks


def _secrets_section(doc: _Schema) -> list[str]:
    secrets = doc.child(doc.root, "secrets")
    schema = doc.resolve(secrets)
    properties: Mapping[str, Node] = schema.get("properties", {})
    rows: list[list[str]] = []
    reference: str | None = None  # the $defs entry of the secret references
    for key, prop in properties.items():
        resolved = doc.show(prop)
        if "properties" in resolved:
            reference = reference or doc.def_name(prop)
            kind = f"secret reference, see {_link(_SECRET_REFS)}"
        else:
            kind = doc.type_label(prop)
        rows.append([_code(key), kind, _cell(str(resolved.get("description", "")))])
    blocks = [
        _heading(2, _SECRETS),
        _cell(_description(doc, secrets)),
        _table(["Key", "Value", "Description"], rows),
    ]
    if reference is None:
        return blocks
    ref_node = doc.defs[reference]
    ref_schema = doc.resolve(ref_node)
    forms: list[list[str]] = []
    for key, prop in ref_schema.get("properties", {}).items():
        placeholder = "PATH" if key == "file" else "NAME"
        forms.append(
            [
                _code(f"{{{key}: {placeholder}}}"),
                doc.type_label(prop),
                "; ".join(doc.constraints(prop)),
                _cell(str(doc.resolve(prop).get("description", ""))),
                doc.example_cell(prop),
            ]
        )
    blocks += [
        _heading(3, _SECRET_REFS),
        " ".join(
            [
                _cell(str(ref_schema.get("description", ""))),
                *(f"Constraint: {c}." for c in doc.constraints(ref_node)),
            ]
        ),
        _table(["Form", "Type", "Constraints", "Description", "Example"], forms),
        "A relative `file` path is read relative to the project file that names it (or its base file) "
        "and must stay inside that file's repository (its git root, or its own folder outside git); a "
        "link is judged by its target. A UTF-8 BOM and trailing line breaks are not part of the value.",
    ]
    # The reference examples, given to the first and the last secret: deterministic and short.
    names = list(properties)
    pairs = dict(zip([names[0], names[-1]], doc.examples(ref_node), strict=False)) if names else {}
    if pairs:
        blocks += ["Example:", _yaml_block({"secrets": pairs})]
    return blocks


def _requirements(schema: Node) -> tuple[list[str], dict[str, str]]:
    """Conditional requirements (``allOf`` if/then, ``dependentSchemas``) as sentences.

    Returns the sentences and, per conditionally required key, the condition ("unless `metric`").
    A construct this function does not know is shown as its JSON rather than dropped.
    """
    sentences: list[str] = []
    conditional: dict[str, str] = {}
    for part in schema.get("allOf", []):
        if not isinstance(part, Mapping) or set(part) == {"$ref"}:
            continue
        cond, then = part.get("if"), part.get("then")
        unless = cond.get("not", {}).get("required", []) if isinstance(cond, Mapping) else []
        needed = then.get("required", []) if isinstance(then, Mapping) else []
        if (
            set(part) == {"if", "then"}
            and isinstance(cond, Mapping)
            and set(cond) == {"not"}
            and unless
            and needed
        ):
            others = " or ".join(_code(key) for key in unless)
            for key in needed:
                conditional[key] = f"unless {others}"
                sentences.append(f"{_code(key)} is required unless {others} is given.")
        else:
            sentences.append(f"Also: {_code(json.dumps(part, sort_keys=True))}.")
    for key, dependent in schema.get("dependentSchemas", {}).items():
        props = dependent.get("properties", {})
        forbidden = [
            name for name, prop in props.items() if isinstance(prop, Mapping) and prop.get("not") == {}
        ]
        sentences.extend(f"{_code(name)} is not allowed beside {_code(key)}." for name in forbidden)
        if set(dependent) != {"properties"} or len(forbidden) != len(props):
            sentences.append(f"With {_code(key)}: {_code(json.dumps(dependent, sort_keys=True))}.")
    return sentences, conditional


def _rubric_section(doc: _Schema) -> list[str]:
    rubric = doc.child(doc.root, "rubric")
    blocks = [
        _heading(2, _RUBRIC),
        _cell(_description(doc, rubric)),
        _property_table(doc, rubric, sections={"rules": _RULES}),
    ]

    rule_node = doc.child(rubric, "rules", "[]")
    rule = doc.show(rule_node)
    sentences, conditional = _requirements(rule)
    labels = {key: f"yes, {why}" for key, why in conditional.items()}
    blocks += [
        _heading(3, _RULES),
        _cell(_description(doc, rule_node)),
        _property_table(doc, rule_node, sections={"conditions": _RULE_CONDITIONS}, required_label=labels),
    ]
    if sentences:
        blocks.append("\n".join(f"- {sentence}" for sentence in sentences))
    examples = doc.examples(rule_node)
    if examples:
        blocks += ["Example:", _yaml_block({"rubric": {"rules": examples}})]

    conditions_node = doc.child(rule_node, "conditions")
    doc.show(conditions_node)
    blocks += [
        _heading(3, _RULE_CONDITIONS),
        _cell(_description(doc, conditions_node)),
        _property_table(doc, conditions_node, sections={"conditions": _CONDITION}),
    ]

    condition_node = doc.child(conditions_node, "conditions", "[]")
    condition = doc.show(condition_node)
    blocks += [
        _heading(3, _CONDITION),
        _cell(_description(doc, condition_node)),
        _property_table(doc, condition_node),
        f"The `field` decides which `op` and `value` are allowed: see {_link(_FAMILIES)}.",
    ]
    examples = doc.examples(condition_node)
    if examples:
        blocks += ["Examples, each one item of a rule's `conditions.conditions`:", _yaml_block(examples)]
    blocks += _families_section(doc, condition)
    return blocks


def _family_rows(doc: _Schema, field: Any, family_node: Node) -> list[list[str]]:
    """One row per shape of the family a ``field`` value picks; enum's ``op: in`` is its own shape."""
    family = doc.show(family_node)
    op_schema = doc.resolve(family.get("properties", {}).get("op", {}))
    ops = list(op_schema.get("enum", []))
    family_text = str(family.get("description", ""))
    names = [doc.def_name(family_node)]
    branches: list[tuple[list[Any], Mapping[str, Any], str, list[str | None]]] = []
    cond = family.get("if")
    split = cond.get("properties", {}).get("op", {}) if isinstance(cond, Mapping) else {}
    if "const" in split and "then" in family and "else" in family:
        for ops_here, branch_node in (
            ([op for op in ops if op != split["const"]], family["else"]),
            ([split["const"]], family["then"]),
        ):
            shape = doc.show(branch_node)
            text = f"{family_text} {shape.get('description', '')}"
            branches.append((ops_here, shape, text, [*names, doc.def_name(branch_node)]))
    else:
        branches.append((ops, family, family_text, names))
    rows: list[list[str]] = []
    for branch_ops, branch_schema, text, defs in branches:
        value = branch_schema.get("properties", {}).get("value", {})
        value_text = doc.type_label(value)
        constraints = doc.constraints(value)
        if constraints:
            value_text += ": " + "; ".join(constraints)
        op_text = str(op_schema.get("description", ""))
        value_description = str(doc.resolve(value).get("description", ""))
        rows.append(
            [
                _code(_flow(field)),
                _values(branch_ops) or _NONE,
                value_text,
                _cell(f"{text} `op`: {op_text} `value`: {value_description}"),
                doc.example_cell(value),
                ", ".join(_code(name) for name in defs if name) or _NONE,
            ]
        )
    return rows


def _families_section(doc: _Schema, condition: Node) -> list[str]:
    rows: list[list[str]] = []
    leftovers: list[str] = []
    for part in condition.get("allOf", []):
        cond = part.get("if", {}) if isinstance(part, Mapping) else {}
        field = cond.get("properties", {}).get("field", {}) if isinstance(cond, Mapping) else {}
        if "const" in field and isinstance(part.get("then"), Mapping):
            rows.extend(_family_rows(doc, field["const"], part["then"]))
        else:
            leftovers.append(f"- Also: {_code(json.dumps(part, sort_keys=True))}")
    blocks = [
        _heading(3, _FAMILIES),
        "Each row is one allowed shape of a condition, picked by its `field` (and, for enum metrics, "
        "its `op`). `plan` and `apply` also check the shape against the live metric's eval_type.",
        _table(["`field`", "`op`", "`value`", "Description", "Example value", "Definitions"], rows),
    ]
    if leftovers:
        blocks.append("\n".join(leftovers))
    return blocks


def _definitions_section(doc: _Schema) -> list[str]:
    """Every ``$defs`` entry not documented above: the value types first, then anything else."""
    value_rows: list[list[str]] = []
    other_rows: list[list[str]] = []
    for name, node in doc.defs.items():
        if name in doc.shown:
            continue
        schema = doc.resolve(node)
        row = [
            _code(name),
            doc.type_label(node),
            "; ".join(doc.constraints(node)),
            _cell(str(schema.get("description", ""))),
            doc.example_cell(node),
        ]
        (other_rows if "properties" in schema else value_rows).append(row)
    header = ["Name", "Type", "Constraints", "Description", "Example"]
    blocks: list[str] = []
    if value_rows:
        blocks += [
            _heading(2, _VALUE_TYPES),
            "Shared types the fields above use (their constraints are already listed in each field's row).",
            _table(header, value_rows),
        ]
    if other_rows:
        blocks += [_heading(2, _OTHER), _table(header, other_rows)]
    return blocks


def _limits_section() -> list[str]:
    """What the loader refuses, so that no file can cost much time or memory before it is refused."""
    rows = [
        ["File size", f"{MAX_FILE_BYTES:,} bytes ({MAX_FILE_BYTES // 1024 // 1024} MiB)"],
        ["Values and keys, as written (an alias counts once)", f"{MAX_NODES:,}"],
        ["Levels of nested lists and mappings (aliases expanded)", f"{MAX_DEPTH}"],
        ["Values once aliases are expanded", f"{MAX_EXPANDED_VALUES:,}"],
    ]
    return [
        _heading(2, _LIMITS),
        "A file past one of these limits is refused where the limit is crossed, before it is read "
        "further. No real project file comes near them: a rubric of 5,000 rules, far more than a "
        "project has metrics, is about 80,000 values and keys, nested 8 levels deep.",
        _table(["Limit", "Value"], rows),
    ]


def render_file_format(schema: dict[str, Any]) -> str:
    """docs/file-format.md for ``schema``: markdown ending with one newline."""
    doc = _Schema(schema)
    title = str(schema.get("title", "Project file format"))
    body: list[str] = []
    body += _top_section(doc)
    body += _settings_section(doc)
    body += _secrets_section(doc)
    body += _rubric_section(doc)
    if "metrics" in doc.resolve(doc.root).get("properties", {}):
        body += _object_section(doc, doc.child(doc.root, "metrics"), _METRICS, ["metrics"], level=2)
    body += _definitions_section(doc)
    body += _limits_section()
    headings = [line.lstrip("#").strip() for line in body if line.startswith("## ")]
    intro = [
        f"<!-- Generated from schemas/project.schema.json; do not edit. Regenerate: {REGENERATE_COMMAND} -->",
        f"# {title}: reference",
        _cell(str(schema.get("description", ""))),
        "Project files are YAML. This page is generated from the file format's JSON Schema, "
        "`schemas/project.schema.json` (`cekura-reconciler schema` prints it); editors with the "
        "yaml-language-server check files against it when a file starts with "
        "`# yaml-language-server: $schema=<path to project.schema.json>`. "
        "`cekura-reconciler validate` checks the schema and more (time zones, durations, YAML traps).",
        "\n".join(f"- {_link(heading)}" for heading in headings),
    ]
    return "\n\n".join(intro + body) + "\n"


def main() -> int:
    """Print docs/file-format.md for the schema this package ships."""
    from reconciler.validate import load_schema

    sys.stdout.write(render_file_format(load_schema()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
