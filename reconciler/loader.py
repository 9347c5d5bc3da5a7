"""Load a project file: bytes -> plain data plus a source map (JSON path -> file:line:col).

The loader only reads and parses; it knows nothing of the file format's meaning (that is
``validate``). It must never execute YAML tags, never hang or exhaust memory on a large, deep or
alias-bomb file (each limit below is checked while reading, before the file can cost more), and
never let YAML's silent conversions (``yes`` -> true, ``9:00`` -> 540, ``+1555...`` -> a number,
``0755`` -> 493) through without saying so: each is reported with a hint on how to write what was
meant.
"""

from __future__ import annotations

import datetime
import itertools
import math
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import yaml

from reconciler.errors import InputError, Position, Problem

MAX_FILE_BYTES = 10 * 1024 * 1024
# Values and keys as written (an alias counts once). A 5,000-rule rubric, far more rules than a
# project has metrics, is about 80,000; each costs a few hundred bytes while it is read, so a 10 MB
# file of 5 million `- 1` lines must stop here, not after building them all.
MAX_NODES = 200_000
# Levels of lists and mappings, aliases expanded; a project file needs about 8.
MAX_DEPTH = 64
# Values once aliases are expanded: aliases may repeat parts, but past this it is a bomb.
MAX_EXPANDED_VALUES = 1_000_000

JsonPath = tuple[str | int, ...]

_SafeLoader: type[Any] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_BOOL_WORDS = re.compile(r"^(?:yes|no|on|off|y|n)$", re.IGNORECASE)
_SEXAGESIMAL = re.compile(r"^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$")
_OCTAL = re.compile(r"^[-+]?0(?:o?[0-7_]+)$")
_HEX_OR_BIN = re.compile(r"^[-+]?0[xb][0-9a-fA-F_]+$")
_PLUS_NUMBER = re.compile(r"^\+[0-9][0-9_]*$")
# What str.splitlines() splits on, for _lines().
_LINE_BREAK = re.compile("\r\n|[\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029]")


def _lines(text: str) -> Iterator[str]:
    """str.splitlines() one line at a time: a 10 MB file of short lines is millions of strings."""
    start = 0
    for match in _LINE_BREAK.finditer(text):
        yield text[start : match.start()]
        start = match.end()
    if start < len(text):
        yield text[start:]


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
    # What YAML silently turned into something else (times, phone numbers, yes/no, duplicate keys):
    # reported by validate_document together with the schema's problems, all at once.
    problems: list[Problem] = field(default_factory=list)
    # Whether a float with no fraction (`300.0`) was read: validate turns those into ints where the
    # schema wants an integer, walking the whole document; None (not known) walks it too.
    whole_floats: bool | None = None

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


# Each core tag's constructor, called directly: construct_object adds only bookkeeping a scalar does
# not need, and keeps every node it saw alive until the file is built.
_CONSTRUCTORS = yaml.constructor.SafeConstructor.yaml_constructors
_CORE_SCALAR_TAGS = frozenset(
    f"tag:yaml.org,2002:{name}" for name in ("str", "int", "float", "bool", "null", "timestamp")
)


def _tag_name(tag: str) -> str:
    """``tag:yaml.org,2002:binary`` -> ``!!binary``, as it is written in a file."""
    return "!!" + tag.removeprefix("tag:yaml.org,2002:") if tag.startswith("tag:yaml.org,2002:") else tag


def _pad_time(text: str) -> str:
    parts = text.lstrip("+-").split(":")
    return ":".join(p.zfill(2) for p in parts)


class _Composer:
    """YAML events -> a node tree, like PyYAML's composer, but counting as it goes.

    PyYAML's composers (libyaml's and the pure-Python one) build the whole tree before anyone can
    look at it: a 10 MB file of 5 million list items took 1.8 GB and half a minute before a check
    of the finished tree refused it. This one refuses the node past MAX_NODES or MAX_DEPTH as soon
    as it reads it, where it is written. It also uses no recursion, so no nesting exhausts the stack.
    Events come from the loader's parser (libyaml when installed), tags from its resolver; the
    errors it raises are the ones libyaml's composer raises, word for word.
    """

    def __init__(self, file: str, parser: Any) -> None:
        self.file = file
        self.parser = parser
        self.anchors: dict[str, yaml.Node] = {}
        self.nodes = 0
        self.aliases = 0  # without any, no node is reached twice: the tree is its own expansion

    def single_node(self) -> yaml.Node | None:
        """The one document's root node, None for an empty stream (PyYAML's get_single_node)."""
        parser = self.parser
        parser.get_event()  # StreamStartEvent
        root = None
        if not parser.check_event(yaml.StreamEndEvent):
            parser.get_event()  # DocumentStartEvent
            root = self._document_root()
            parser.get_event()  # DocumentEndEvent
        if not parser.check_event(yaml.StreamEndEvent):
            assert root is not None
            raise yaml.composer.ComposerError(
                "expected a single document in the stream",
                root.start_mark,
                "but found another document",
                parser.get_event().start_mark,
            )
        parser.get_event()  # StreamEndEvent
        return root

    def _document_root(self) -> yaml.Node:
        open_nodes: list[yaml.Node] = []  # the collections being read, innermost last
        keys: list[yaml.Node | None] = []  # beside each: a mapping's key still waiting for its value
        while True:
            event = self.parser.get_event()
            if isinstance(event, yaml.CollectionEndEvent):
                node = open_nodes.pop()
                keys.pop()
                node.end_mark = _mark(event, end=True)
                if not open_nodes:
                    return node
                continue
            if isinstance(event, yaml.AliasEvent):
                self.aliases += 1
                if event.anchor not in self.anchors:
                    raise yaml.composer.ComposerError(None, None, "found undefined alias", _mark(event))
                node, opens = self.anchors[event.anchor], False
            else:
                node = self._new_node(event, depth=len(open_nodes))
                opens = isinstance(node, yaml.CollectionNode)
            if open_nodes:
                parent = open_nodes[-1]
                if isinstance(parent, yaml.SequenceNode):
                    parent.value.append(node)
                elif keys[-1] is None:
                    keys[-1] = node
                else:
                    parent.value.append((keys[-1], node))
                    keys[-1] = None
            if opens:
                open_nodes.append(node)
                keys.append(None)
            elif not open_nodes:
                return node

    def _new_node(self, event: yaml.ScalarEvent | yaml.CollectionStartEvent, *, depth: int) -> yaml.Node:
        """A node for a scalar or the start of a collection; its anchor recorded."""
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise _OverLimit(_event_position(self.file, event), _too_many_nodes())
        tag = event.tag
        node: yaml.Node
        if isinstance(event, yaml.ScalarEvent):
            if tag is None or tag == "!":
                tag = self.parser.resolve(yaml.ScalarNode, event.value, event.implicit)
            node = yaml.ScalarNode(tag, event.value, _mark(event), _mark(event, end=True), style=event.style)
        else:
            if depth >= MAX_DEPTH:
                raise _OverLimit(_event_position(self.file, event), _too_deep())
            kind = yaml.SequenceNode if isinstance(event, yaml.SequenceStartEvent) else yaml.MappingNode
            if tag is None or tag == "!":
                tag = self.parser.resolve(kind, None, event.implicit)
            node = kind(tag, [], _mark(event), None, flow_style=event.flow_style)
        if event.anchor is not None:
            if event.anchor in self.anchors:
                raise yaml.composer.ComposerError(
                    "found duplicate anchor; first occurrence",
                    self.anchors[event.anchor].start_mark,
                    "second occurrence",
                    _mark(event),
                )
            self.anchors[event.anchor] = node
        return node


def _mark(event: yaml.Event, *, end: bool = False) -> Any:
    """Where an event starts (or ends): a yaml.Mark, or libyaml's own Mark class (the same fields)."""
    return event.end_mark if end else event.start_mark


def _event_position(file: str, event: yaml.Event) -> Position:
    mark = _mark(event)
    return Position(file, mark.line + 1, mark.column + 1)


def _too_many_nodes() -> str:
    return (
        f"the file has more than {MAX_NODES:,} values and keys (a project file has a few thousand); "
        "refusing to read further"
    )


def _too_deep() -> str:
    return f"values are nested more than {MAX_DEPTH} levels deep here; refusing to read further"


def _merges_too_deep() -> str:
    return f"`<<` merges are chained more than {MAX_DEPTH} deep here; refusing to read further"


class _Builder:
    """Turns a composed YAML node tree into plain data, recording positions and problems."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.doc = Document(path=file, data=None, whole_floats=False)
        self.problems: list[Problem] = []
        self.count = 0
        self.constructor = yaml.constructor.SafeConstructor()

    def build(self, node: yaml.Node, path: JsonPath) -> Any:
        self.count += 1
        if self.count > MAX_EXPANDED_VALUES:
            raise _OverLimit(_position(self.file, node), _expands_too_much())
        if len(path) >= MAX_DEPTH and isinstance(node, yaml.CollectionNode):
            # Written less deep (the composer checked), but nested by aliases: `&x [*x]`, or chains.
            raise _OverLimit(_position(self.file, node), _too_deep())
        self.doc.value_positions[path] = _position(self.file, node)
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            if node.tag != "tag:yaml.org,2002:seq":
                self._unsupported_tag(node)
            return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
        assert isinstance(node, yaml.ScalarNode)
        return self._scalar(node, path)

    def _unsupported_tag(self, node: yaml.Node) -> None:
        self.problems.append(
            Problem(
                _position(self.file, node), f"unsupported YAML tag {_tag_name(node.tag)}; write plain values"
            )
        )

    def _construct(self, node: yaml.ScalarNode, path: JsonPath) -> tuple[bool, Any]:
        """(True, value) for a core scalar; (False, None) after recording why it cannot be read."""
        if node.tag not in _CORE_SCALAR_TAGS:
            self._unsupported_tag(node)
            return False, None
        try:
            value = _CONSTRUCTORS[node.tag](self.constructor, node)
        except (yaml.YAMLError, ValueError, KeyError, AttributeError, TypeError):
            # An explicit tag over text it cannot read: `!!int abc`, `!!bool maybe`.
            shown = "the value" if _in_secrets(path) else f"`{node.value}`"
            self.problems.append(
                Problem(
                    _position(self.file, node),
                    f"{shown} cannot be read as {_tag_name(node.tag)}; write a plain value without the tag",
                )
            )
            return False, None
        if isinstance(value, int) and value.bit_length() > _MAX_INT_BITS:
            # `0x` and 4,000 `f`s: Python cannot even print it (int max str digits) to say what is wrong.
            shown = "the value" if _in_secrets(path) else f"`{node.value[:20]}...`"
            self.problems.append(
                Problem(
                    _position(self.file, node), f"{shown} is a number thousands of digits long; too large"
                )
            )
            return False, None
        return True, value

    def _scalar(self, node: yaml.ScalarNode, path: JsonPath) -> Any:
        ok, value = self._construct(node, path)
        if not ok:
            return node.value
        if not node.style:  # plain (unquoted) scalar: None from the Python parser, "" from libyaml
            message = _trap(node, value)
            if message and _in_secrets(path):
                # A trap message quotes what was written; under `secrets` that may be the secret itself.
                message = (
                    f"{format_path(path)}: YAML does not read this value as text (the value written here "
                    "is not shown); a secret is a reference, {env: NAME} or {file: PATH}, never the value"
                )
            if message:
                self.problems.append(Problem(_position(self.file, node), message))
        if isinstance(value, datetime.date):
            return node.value
        if isinstance(value, float) and value.is_integer():
            self.doc.whole_floats = True
        return value

    def _mapping(self, node: yaml.MappingNode, path: JsonPath) -> dict[str, Any]:
        if node.tag != "tag:yaml.org,2002:map":
            self._unsupported_tag(node)
        # Pick each key's value first (YAML merge rules: a key written in this mapping beats a merged
        # one, an earlier merge source beats a later one), then build each chosen value once.
        chosen: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        written: set[str] = set()
        for key_node, value_node, merged in self._pairs(node):
            key = self._key(key_node, path)
            if key is None:
                continue
            if key in chosen:
                if merged:
                    continue
                if key in written:
                    first = _position(self.file, chosen[key][0])
                    shown = "" if _in_secret_ref(path) else f" `{key}`"
                    self.problems.append(
                        Problem(
                            _position(self.file, key_node),
                            f"duplicate key{shown} (first defined at line {first.line}); "
                            "YAML would silently keep only the last one",
                        )
                    )
                    continue
            chosen[key] = (key_node, value_node)
            if not merged:
                written.add(key)
        out: dict[str, Any] = {}
        for key, (key_node, value_node) in chosen.items():
            self.doc.key_positions[(*path, key)] = _position(self.file, key_node)
            out[key] = self.build(value_node, (*path, key))
        return out

    def _key(self, key_node: yaml.Node, path: JsonPath) -> str | None:
        if not isinstance(key_node, yaml.ScalarNode):
            self.problems.append(Problem(_position(self.file, key_node), "a key must be plain text"))
            return None
        ok, key_value = self._construct(key_node, (*path, str(key_node.value)))
        if not ok:
            return None
        if not isinstance(key_value, str):
            if _in_secret_ref(path):
                message = "a key here is not read as text by YAML (the key is not shown); keys must be text"
            else:
                message = (
                    f"the key `{key_node.value}` is read by YAML as {type(key_value).__name__} "
                    f'{key_value!r}; keys must be text (quote it: "{key_node.value}")'
                )
            self.problems.append(Problem(_position(self.file, key_node), message))
            return str(key_node.value)
        return key_value

    def _pairs(
        self, node: yaml.MappingNode, *, top: yaml.MappingNode | None = None, chain: int = 0
    ) -> Iterator[tuple[yaml.Node, yaml.Node, bool]]:
        """The mapping's own pairs, then (flagged as merged) those of its `<<` sources, in order.

        ``top`` is the mapping being built when ``node`` is one of its sources, ``chain`` merges away.
        """
        merges: list[yaml.Node] = []
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                sources = value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
                merges.extend(sources)
            else:
                yield key_node, value_node, top is not None
        for source in merges:
            if isinstance(source, yaml.MappingNode):
                if chain >= MAX_DEPTH:  # a source merging a source...: `&x {<<: *x}`, or long chains
                    raise _OverLimit(_position(self.file, top or node), _merges_too_deep())
                yield from self._pairs(source, top=top or node, chain=chain + 1)
            else:
                self.problems.append(
                    Problem(
                        _position(self.file, source),
                        "`<<` merges mappings only (`<<: *name` or `<<: [*a, *b]`)",
                    )
                )


_MAP_TAG, _SEQ_TAG, _STR_TAG = (f"tag:yaml.org,2002:{name}" for name in ("map", "seq", "str"))
_PLAIN_SCALAR_TAGS = frozenset(f"tag:yaml.org,2002:{name}" for name in ("int", "float", "bool", "null"))


class _Unusual(Exception):
    """Something ``_build_plain`` leaves to ``_Builder``."""


def _build_plain(file: str, root: yaml.Node) -> Document | None:
    """The document of a tree without aliases, built as ``_Builder`` builds it (same values, positions
    and order), or None when the tree has anything ``_Builder`` would say something about: a merge, a
    tag or key it does not take, a duplicate key, a value YAML misreads, nesting past MAX_DEPTH.
    Nearly every project file is plain: this path skips the per-node work only those need (loading
    a file of two rubric rules, 180 -> 130 us). tests/test_loader_limits.py holds the two to each other.
    """
    doc = Document(path=file, data=None, whole_floats=False)
    values, keys = doc.value_positions, doc.key_positions
    constructor = yaml.constructor.SafeConstructor()

    def build(node: yaml.Node, path: JsonPath) -> Any:
        values[path] = _position(file, node)
        if isinstance(node, yaml.ScalarNode):
            tag = node.tag
            if tag == _STR_TAG:
                return node.value
            if tag not in _PLAIN_SCALAR_TAGS:
                raise _Unusual
            try:
                value = _CONSTRUCTORS[tag](constructor, node)
            except (yaml.YAMLError, ValueError, KeyError, AttributeError, TypeError):
                raise _Unusual from None
            if isinstance(value, int) and value.bit_length() > _MAX_INT_BITS:
                raise _Unusual  # checked first: _trap cannot print such a number
            if not node.style and _trap(node, value):
                raise _Unusual
            if isinstance(value, float) and value.is_integer():
                doc.whole_floats = True
            return value
        if len(path) >= MAX_DEPTH:
            raise _Unusual
        if isinstance(node, yaml.SequenceNode) and node.tag == _SEQ_TAG:
            return [build(item, (*path, i)) for i, item in enumerate(node.value)]
        if not isinstance(node, yaml.MappingNode) or node.tag != _MAP_TAG:
            raise _Unusual
        pairs: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag != _STR_TAG:
                raise _Unusual  # `<<`, a key YAML reads as a number, a tagged key
            if key_node.value in pairs:
                raise _Unusual  # a duplicate key
            pairs[key_node.value] = (key_node, value_node)
        out: dict[str, Any] = {}
        for key, (key_node, value_node) in pairs.items():
            keys[(*path, key)] = _position(file, key_node)
            out[key] = build(value_node, (*path, key))
        return out

    try:
        doc.data = build(root, ())
    except _Unusual:
        return None
    return doc


def _in_secrets(path: JsonPath) -> bool:
    return bool(path) and path[0] == "secrets"


def _in_secret_ref(path: JsonPath) -> bool:
    """Inside one secret's value, where a key may be the secret itself (`vapi_api_key: {sk-...}`)."""
    return len(path) >= 2 and path[0] == "secrets"


class _OverLimit(Exception):
    """A limit crossed at ``position``: the load stops there, with this one problem."""

    def __init__(self, position: Position, message: str) -> None:
        self.problem = Problem(position, message)


def _expands_too_much() -> str:
    return (
        f"the file expands to more than {MAX_EXPANDED_VALUES:,} values (a YAML alias bomb?); "
        "refusing to go on"
    )


# Under the 4,300 digits past which Python refuses to turn an int into text.
_MAX_INT_BITS = 14_000
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def one_line(message: str) -> str:
    """Line breaks and control characters (from a quoted key or value) escaped: one problem, one line."""
    return _UNPRINTABLE.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), message)


def _reader_problem(file: str, text: str, exc: yaml.reader.ReaderError) -> Problem:
    """A character YAML does not allow (NUL, most control characters), at its line and column."""
    char = exc.character
    # libyaml reports a byte offset, the Python reader a character one: find the character itself,
    # whose first occurrence is the one the reader stopped at (every occurrence is disallowed).
    offset = text.find(chr(char)) if isinstance(char, int) else -1
    if offset < 0:
        offset = min(exc.position, len(text)) if isinstance(exc.position, int) else 0
    before = text[:offset]
    line, col = before.count("\n") + 1, offset - before.rfind("\n")
    what = f"the character U+{char:04X}" if isinstance(char, int) else "a character"
    return Problem(
        Position(file, line, col),
        f"{what} is not allowed in YAML ({exc.reason}); remove it, or write it as an escape "
        'in a double-quoted string ("\\x..")',
    )


def _values(node: yaml.Node) -> list[yaml.Node]:
    """A collection's values (a mapping's keys are not values: they are never built)."""
    if isinstance(node, yaml.MappingNode):
        return [value for _, value in node.value]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _first_too_large(root: yaml.Node) -> yaml.Node | None:
    """The innermost node that expands, aliases and `<<` merges included, past MAX_EXPANDED_VALUES.

    Counted without expanding: each distinct node is visited once, so a billion-laughs file is refused
    at once instead of after building millions of values. Walked with a stack of its own, not by
    recursion: aliases to keys (never visited as values) can chain any number of levels.
    """
    sizes: dict[int, int] = {}
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, counted = stack.pop()
        if counted:  # every child is done now (or is this node's ancestor: a recursive alias, 0)
            total = 1 + sum(sizes[id(child)] for child in _values(node))
            sizes[id(node)] = min(total, MAX_EXPANDED_VALUES + 1)
        elif id(node) not in sizes:
            sizes[id(node)] = 0  # a node inside itself (a recursive alias) is left to the builder
            stack.append((node, True))
            stack.extend((child, False) for child in reversed(_values(node)) if id(child) not in sizes)
    if sizes[id(root)] <= MAX_EXPANDED_VALUES:
        return None
    node = root
    while True:
        larger = [child for child in _values(node) if sizes[id(child)] > MAX_EXPANDED_VALUES]
        if not larger:
            return node
        node = larger[0]


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


def _compose(file: str, text: str) -> yaml.Node | None:
    return _compose_counted(file, text)[0]


# Up to this many characters, libyaml's own composer builds the tree: the file cannot hold more
# than MAX_NODES values (a value takes at least two characters, `1,`, or yields at most three nodes
# for two, `:,` in a flow sequence), and libyaml refuses nesting past 1,000 levels, so neither limit
# needs checking while it composes; the builder checks MAX_DEPTH and the expansion as for any file,
# and a file libyaml cannot compose is read again by the counting composer, which words the error.
# A project file is a few kilobytes: composing in C took 20 us of 33 for a small one, 101 of 169
# for a rubric of two rules.
_C_COMPOSE_MAX_CHARS = MAX_NODES // 4


def _compose_counted(file: str, text: str) -> tuple[yaml.Node | None, bool]:
    """The root node, and whether the document may have aliases (``*name``)."""
    loader = _SafeLoader(text)
    try:
        if _SafeLoader is not yaml.SafeLoader and len(text) <= _C_COMPOSE_MAX_CHARS:
            try:
                return loader.get_single_node(), "*" in text
            except yaml.YAMLError:
                # Read again as any file is, so that the error is the one found first while reading
                # (`[[[[...` without its end is too deep before it is unclosed).
                loader.dispose()
                loader = _SafeLoader(text)
        composer = _Composer(file, loader)
        return composer.single_node(), composer.aliases > 0
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        if _SafeLoader is yaml.SafeLoader or mark is None or exc.problem != "exceeded maximum nesting depth":
            raise
        # libyaml gives up at 1,000 levels, having scanned ahead of the events it gave when the levels
        # open on one line (`[[[[...`). PyYAML's own parser does not scan that far ahead: read the text
        # up to there with it, to find where the limit was crossed.
        python = yaml.SafeLoader(text[: mark.index])
        try:
            _Composer(file, python).single_node()
        except yaml.YAMLError:
            pass  # not found there after all: libyaml's error stands
        finally:
            python.dispose()
        raise
    finally:
        loader.dispose()


def load_text(file: str, text: str) -> Document:
    """Parse YAML text. A file YAML cannot parse raises InputError; values YAML misreads are kept in
    ``Document.problems`` for validate_document to report with the rest."""
    if not text.strip() or all(not line.strip() or line.lstrip().startswith("#") for line in _lines(text)):
        raise InputError([Problem(Position(file, 1, 1), "the file is empty; expected at least `version: 1`")])
    try:
        root, aliased = _compose_counted(file, text)
    except _OverLimit as exc:
        raise InputError([exc.problem]) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        what = exc.problem or "invalid YAML"
        if exc.context:
            what = f"{exc.context}, {what}"
        line_text = next(itertools.islice(_lines(text), mark.line, None), "") if mark else ""
        if mark and line_text[mark.column : mark.column + 1] == "\t":
            what += " (a tab: YAML indents with spaces only)"
        start = exc.context_mark
        if start and mark and start.line != mark.line and exc.context and exc.context.startswith("while "):
            # "while scanning a quoted scalar" -> where that quoted scalar begins (an unclosed quote)
            thing = exc.context.split(" ", 2)[-1]
            what += f" ({thing} begins at line {start.line + 1}, column {start.column + 1})"
        raise InputError([Problem(Position(file, line, col), f"YAML syntax error: {what}")]) from None
    except yaml.reader.ReaderError as exc:
        raise InputError([_reader_problem(file, text, exc)]) from None
    except yaml.YAMLError as exc:
        raise InputError([Problem(Position(file, 1, 1), one_line(f"YAML error: {exc}"))]) from None
    if root is None:
        raise InputError([Problem(Position(file, 1, 1), "the file is empty; expected at least `version: 1`")])
    plain = None if aliased else _build_plain(file, root)
    if plain is not None:
        return plain
    builder = _Builder(file)
    try:
        # Without aliases every node is built once: at most MAX_NODES (checked while composing),
        # far below MAX_EXPANDED_VALUES, so the walk that counts expansions is needed only with them.
        bomb = _first_too_large(root) if aliased or MAX_NODES > MAX_EXPANDED_VALUES else None
        if bomb is not None:
            raise _OverLimit(_position(file, bomb), _expands_too_much())
        builder.doc.data = builder.build(root, ())
    except _OverLimit as exc:
        raise InputError([exc.problem]) from None
    except RecursionError:  # not expected: no walk above recurses more than MAX_DEPTH deep
        raise InputError([Problem(Position(file, 1, 1), "the file is nested too deeply")]) from None
    # dict.fromkeys: a value reached through several aliases is reported once
    builder.doc.problems = [Problem(p.position, one_line(p.message)) for p in dict.fromkeys(builder.problems)]
    return builder.doc


def _read_at_most(stream: BinaryIO, limit: int, *, hint: int) -> bytes:
    """Up to ``limit`` bytes of ``stream``, in pieces of the file's size (``hint``, plus the byte that
    shows it grew) or 64 KiB: one read of ``limit`` bytes allocated that much (10 MiB) for every file."""
    parts: list[bytes] = []
    left = limit
    piece = max(hint + 1, 1 << 16)
    while left > 0:
        chunk = stream.read(min(piece, left))
        if not chunk:
            break
        parts.append(chunk)
        left -= len(chunk)
    return b"".join(parts)


def load_file(path: str | Path) -> Document:
    """Read and parse one project file."""
    file = str(path)
    try:
        size = os.stat(file).st_size
        if size > MAX_FILE_BYTES:
            raise InputError(
                [
                    Problem(
                        Position(file, 1, 1),
                        f"the file is {size:,} bytes; the limit is {MAX_FILE_BYTES:,} (10 MiB)",
                    )
                ]
            )
        with open(file, "rb", buffering=0) as stream:  # unbuffered: reads go straight to the file
            # Not read_bytes(): a pipe, /dev/zero or a file still growing has no size to check first.
            raw = _read_at_most(stream, MAX_FILE_BYTES + 1, hint=size)
        if len(raw) > MAX_FILE_BYTES:
            raise InputError(
                [
                    Problem(
                        Position(file, 1, 1),
                        f"the file is more than {MAX_FILE_BYTES:,} bytes; "
                        f"the limit is {MAX_FILE_BYTES:,} (10 MiB)",
                    )
                ]
            )
    except IsADirectoryError:
        raise InputError([Problem(Position(file, 1, 1), "is a directory, not a file")]) from None
    except FileNotFoundError:
        raise InputError([Problem(Position(file, 1, 1), "no such file")]) from None
    except PermissionError:
        raise InputError([Problem(Position(file, 1, 1), "permission denied")]) from None
    except OSError as exc:
        raise InputError([Problem(Position(file, 1, 1), f"cannot read the file: {exc.strerror}")]) from None
    return load_text(file, _decode(file, raw))
