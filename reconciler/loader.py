"""Load a project file: bytes -> plain data plus a source map (JSON path -> file:line:col).

The loader only reads and parses; it knows nothing of the file format's meaning (that is
``validate``). It must never execute YAML tags, never hang on alias bombs, and never let YAML's
silent conversions (``yes`` -> true, ``9:00`` -> 540, ``+1555...`` -> a number, ``0755`` -> 493)
through without saying so: each is reported with a hint on how to write what was meant.
"""

from __future__ import annotations

import datetime
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from reconciler.errors import InputError, Position, Problem

MAX_FILE_BYTES = 10 * 1024 * 1024
# A 5,000-rule rubric is about 60,000 values; aliases may repeat parts, but past this it is a bomb.
MAX_EXPANDED_VALUES = 2_000_000

JsonPath = tuple[str | int, ...]

_SafeLoader: type[Any] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_BOOL_WORDS = re.compile(r"^(?:yes|no|on|off|y|n)$", re.IGNORECASE)
_SEXAGESIMAL = re.compile(r"^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$")
_OCTAL = re.compile(r"^[-+]?0(?:o?[0-7_]+)$")
_HEX_OR_BIN = re.compile(r"^[-+]?0[xb][0-9a-fA-F_]+$")
_PLUS_NUMBER = re.compile(r"^\+[0-9][0-9_]*$")


def format_path(path: JsonPath) -> str:
    """``("rubric", "rules", 0, "metric_id")`` -> ``rubric.rules[0].metric_id``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out or "(top level)"


@dataclass
class Document:
    """A parsed file: plain JSON-like data and where each value and key came from."""

    path: str
    data: Any
    value_positions: dict[JsonPath, Position] = field(default_factory=dict)
    key_positions: dict[JsonPath, Position] = field(default_factory=dict)

    def position_of(self, path: JsonPath, *, key: bool = False) -> Position:
        """Where ``path`` is written; falls back to the nearest enclosing value."""
        if key and path in self.key_positions:
            return self.key_positions[path]
        probe = path
        while True:
            if probe in self.value_positions:
                return self.value_positions[probe]
            if not probe:
                return Position(self.path, 1, 1)
            probe = probe[:-1]

    def problem(self, path: JsonPath, message: str, *, key: bool = False) -> Problem:
        return Problem(self.position_of(path, key=key), message)


def _position(file: str, node: yaml.Node) -> Position:
    mark = node.start_mark
    return Position(file, mark.line + 1, mark.column + 1)


def _trap(node: yaml.ScalarNode, value: Any) -> str | None:
    """A message when YAML turned the plain scalar the user typed into something else."""
    text = node.value
    if isinstance(value, bool) and _BOOL_WORDS.match(text):
        meant = "true" if value else "false"
        return (
            f"`{text}` is ambiguous: YAML 1.1 reads it as the boolean {meant}, other tools as text; "
            f'write {meant} for a boolean, or quote it ("{text}") for text'
        )
    if isinstance(value, int | float) and not isinstance(value, bool):
        if _SEXAGESIMAL.match(text):
            return (
                f"`{text}` is read by YAML as the base-60 number {value}, not a time; "
                f'quote times as "HH:MM", e.g. "{_pad_time(text)}"'
            )
        if _PLUS_NUMBER.match(text):
            return (
                f"`{text}` is read by YAML as the number {value}, losing the leading +; "
                f'quote phone numbers: "{text}"'
            )
        if _OCTAL.match(text) and text.lstrip("+-") not in ("0",):
            return (
                f"`{text}` is read by YAML as the octal number {value}; "
                f'write {text.lstrip("+-0o") or "0"} for the decimal number, or quote it ("{text}") for text'
            )
        if _HEX_OR_BIN.match(text):
            return (
                f'`{text}` is read by YAML as the number {value}; write it in decimal, or quote it ("{text}")'
            )
    if isinstance(value, float) and not math.isfinite(value):
        return f"`{text}` is not a finite number; write a plain number"
    if isinstance(value, datetime.date):
        return f'`{text}` is read by YAML as a date; quote it ("{text}") if you meant text'
    return None


def _pad_time(text: str) -> str:
    parts = text.lstrip("+-").split(":")
    return ":".join(p.zfill(2) for p in parts)


class _Builder:
    """Turns a composed YAML node tree into plain data, recording positions and problems."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.doc = Document(path=file, data=None)
        self.problems: list[Problem] = []
        self.count = 0
        self.constructor = yaml.constructor.SafeConstructor()

    def build(self, node: yaml.Node, path: JsonPath) -> Any:
        self.count += 1
        if self.count > MAX_EXPANDED_VALUES:
            raise _TooLarge(_position(self.file, node))
        self.doc.value_positions[path] = _position(self.file, node)
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
        assert isinstance(node, yaml.ScalarNode)
        return self._scalar(node, path)

    def _scalar(self, node: yaml.ScalarNode, path: JsonPath) -> Any:
        if node.tag.startswith("tag:yaml.org,2002:") and node.tag.rsplit(":", 1)[1] in (
            "str",
            "int",
            "float",
            "bool",
            "null",
            "timestamp",
        ):
            value = self.constructor.construct_object(node, deep=True)
        else:
            self.problems.append(
                Problem(_position(self.file, node), f"unsupported YAML tag {node.tag}; write plain values")
            )
            return node.value
        if not node.style:  # plain (unquoted) scalar: None from the Python parser, "" from libyaml
            message = _trap(node, value)
            if message:
                self.problems.append(Problem(_position(self.file, node), message))
        if isinstance(value, datetime.date):
            return node.value
        return value

    def _mapping(self, node: yaml.MappingNode, path: JsonPath) -> dict[str, Any]:
        if node.tag != "tag:yaml.org,2002:map":
            self.problems.append(
                Problem(_position(self.file, node), f"unsupported YAML tag {node.tag}; write plain values")
            )
        out: dict[str, Any] = {}
        for key_node, value_node in self._pairs(node):
            if not isinstance(key_node, yaml.ScalarNode):
                self.problems.append(Problem(_position(self.file, key_node), "a key must be plain text"))
                continue
            key_value = self.constructor.construct_object(key_node, deep=True)
            if not isinstance(key_value, str):
                self.problems.append(
                    Problem(
                        _position(self.file, key_node),
                        f"the key `{key_node.value}` is read by YAML as {type(key_value).__name__} "
                        f'{key_value!r}; keys must be text (quote it: "{key_node.value}")',
                    )
                )
                key = str(key_node.value)
            else:
                key = key_value
            if key in out:
                first = self.doc.key_positions[(*path, key)]
                self.problems.append(
                    Problem(
                        _position(self.file, key_node),
                        f"duplicate key `{key}` (first defined at line {first.line}); "
                        "YAML would silently keep only the last one",
                    )
                )
                continue
            self.doc.key_positions[(*path, key)] = _position(self.file, key_node)
            out[key] = self.build(value_node, (*path, key))
        return out

    def _pairs(self, node: yaml.MappingNode) -> Iterator[tuple[yaml.Node, yaml.Node]]:
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                # `<<: *base` merges: expand the referenced mapping(s) first, then our own keys win.
                sources = value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
                for source in sources:
                    if isinstance(source, yaml.MappingNode):
                        yield from self._pairs(source)
                continue
            yield key_node, value_node


class _TooLarge(Exception):
    def __init__(self, position: Position) -> None:
        self.position = position


def _decode(file: str, raw: bytes) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        before = raw[: exc.start]
        line = before.count(b"\n") + 1
        col = len(before) - (before.rfind(b"\n") + 1) + 1
        raise InputError(
            [
                Problem(
                    Position(file, line, col),
                    f"the file is not UTF-8 text (byte 0x{raw[exc.start]:02x}); save it as UTF-8",
                )
            ]
        ) from None


def load_text(file: str, text: str) -> Document:
    """Parse YAML text; raise InputError with every problem found."""
    if not text.strip() or all(
        not line.strip() or line.lstrip().startswith("#") for line in text.splitlines()
    ):
        raise InputError([Problem(Position(file, 1, 1), "the file is empty; expected at least `version: 1`")])
    try:
        loader = _SafeLoader(text)
        try:
            root = loader.get_single_node()
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        what = exc.problem or "invalid YAML"
        if exc.context:
            what = f"{exc.context}, {what}"
        raise InputError([Problem(Position(file, line, col), f"YAML syntax error: {what}")]) from None
    except yaml.YAMLError as exc:
        raise InputError([Problem(Position(file, 1, 1), f"YAML error: {exc}")]) from None
    if root is None:
        raise InputError([Problem(Position(file, 1, 1), "the file is empty; expected at least `version: 1`")])
    builder = _Builder(file)
    try:
        builder.doc.data = builder.build(root, ())
    except _TooLarge as exc:
        raise InputError(
            [
                Problem(
                    exc.position,
                    f"the file expands to more than {MAX_EXPANDED_VALUES:,} values "
                    "(a YAML alias bomb?); refusing to go on",
                )
            ]
        ) from None
    except RecursionError:
        raise InputError([Problem(Position(file, 1, 1), "the file is nested too deeply")]) from None
    if builder.problems:
        raise InputError(builder.problems)
    return builder.doc


def load_file(path: str | Path) -> Document:
    """Read and parse one project file."""
    file = str(path)
    p = Path(path)
    try:
        size = p.stat().st_size
        if size > MAX_FILE_BYTES:
            raise InputError(
                [
                    Problem(
                        Position(file, 1, 1),
                        f"the file is {size:,} bytes; the limit is {MAX_FILE_BYTES:,} (10 MiB)",
                    )
                ]
            )
        raw = p.read_bytes()
    except IsADirectoryError:
        raise InputError([Problem(Position(file, 1, 1), "is a directory, not a file")]) from None
    except FileNotFoundError:
        raise InputError([Problem(Position(file, 1, 1), "no such file")]) from None
    except PermissionError:
        raise InputError([Problem(Position(file, 1, 1), "permission denied")]) from None
    except OSError as exc:
        raise InputError([Problem(Position(file, 1, 1), f"cannot read the file: {exc.strerror}")]) from None
    return load_text(file, _decode(file, raw))
