"""Edit values in a YAML file and keep everything else of it: comments, key order, quoting, layout.

ruamel.yaml's round-trip mode loads a file into mappings and lists that remember their comments,
flow or block style and quoting, and writes them back; PyYAML forgets all of that. Its output is
close to the input but not always byte for byte (indentation is one setting for the whole file, an
explicit ``null`` may come back empty), so the text written is a merge, line by line, of three
texts: the original, ruamel's rendering of it unedited, and ruamel's rendering of it edited. Every
part of the original that no edit touched is kept byte for byte; only an edit's own lines come from
ruamel. Line endings (CRLF) and a byte-order mark are kept.

This module knows YAML, not the project file format: the caller says which value goes where, and a
``ValueStyle`` says how values compare and how a new value is written in the style of the one it
replaces. It never lets an edit change two places at once: a value shared through a YAML anchor,
an alias or a ``<<`` merge is refused with its ``file:line:col`` (``UnsafeEdit``). ruamel.yaml is
imported by this module only, and this module only by ``pull``: start-up of every other command
does not pay for it.
"""

from __future__ import annotations

import difflib
import io
import itertools
import json
import re
from dataclasses import dataclass, field
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.anchor import Anchor
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.emitter import Emitter
from ruamel.yaml.representer import RoundTripRepresenter
from ruamel.yaml.scalarstring import DoubleQuotedScalarString, SingleQuotedScalarString
from ruamel.yaml.tokens import CommentToken

from reconciler.errors import InputError, Position, Problem
from reconciler.export import _float as yaml_float
from reconciler.loader import format_path, load_text

Path = tuple[str | int, ...]
MAX_FLOW_WIDTH = 80  # a new mapping or list whose flow form is longer than this is written in block style

# Plain (unquoted) text that every YAML reader takes as that same text, in block and in flow context.
_PLAIN_BLOCK = re.compile(r"^[A-Za-z0-9_./@(][A-Za-z0-9 _./@+\-():?=&%~,']*$")
_PLAIN_FLOW = re.compile(r"^[A-Za-z0-9_./@(][A-Za-z0-9 _./@+\-()?=&%~']*$")


class UnsafeEdit(InputError):
    """A value whose place cannot be edited without changing another place too (or at all)."""


class _Representer(RoundTripRepresenter):
    """Floats as YAML 1.1 floats (``1.0e-05``, which PyYAML reads as a number, not ``1e-05``, which it
    reads as text) and None as ``null`` (ruamel writes an empty value)."""


class _Emitter(Emitter):
    """An end-of-line comment that a longer value reaches keeps two spaces before its `#` (ruamel
    keeps the comment's column, and leaves a single space once the value runs into it)."""

    def write_comment(self, comment: Any, pre: bool = False) -> None:
        value = comment.value
        mark: Any = getattr(comment, "start_mark", None)
        eol = not pre and value and not value.startswith("\n") and self.column and mark is not None
        if eol and mark.column - self.column < 2:
            mark.column = self.column + 2
        super().write_comment(comment, pre)


def _represent_float(representer: Any, value: float) -> Any:
    return representer.represent_scalar("tag:yaml.org,2002:float", yaml_float(value))


def _represent_none(representer: Any, value: None) -> Any:
    return representer.represent_scalar("tag:yaml.org,2002:null", "null")


_Representer.add_representer(float, _represent_float)
_Representer.add_representer(type(None), _represent_none)


def plain_safe(text: str, *, flow: bool) -> bool:
    """Whether ``text`` can be written unquoted and read back as exactly that text by YAML 1.1
    (PyYAML, what this tool reads with) and 1.2 (ruamel, editors)."""
    pattern = _PLAIN_FLOW if flow else _PLAIN_BLOCK
    if not pattern.match(text) or text != text.strip() or ": " in text or text.endswith(":"):
        return False
    try:
        doc = load_text("-", f"value: {text}\n")  # this tool's reader, with its checks for YAML traps
        same = not doc.problems and doc.data == {"value": text}
        return bool(same and YAML(typ="safe", pure=True).load(text) == text)
    except Exception:  # any reader's error: quote it
        return False


@dataclass
class ValueStyle:
    """How values compare and how a new value takes the style of the one it replaces.

    The defaults: numbers equal within 1e-9 whatever their type, lists in order, text written as
    the text it replaces was quoted (plain only where plain is read back unchanged). Subclasses
    say which lists are sets and which leaves have an equivalent form (binary 5 == true).
    """

    def unordered(self, path: Path) -> bool:
        return False

    def canon(self, value: Any, path: Path) -> Any:
        """A leaf in the form that compares: two leaves are equal when their forms are ``==``."""
        if isinstance(value, float) and not isinstance(value, bool):
            return int(value) if value.is_integer() else round(value, 9)
        return value

    def leaf(self, old: Any, new: Any, path: Path, *, flow: bool) -> Any:
        """``new`` as it is to be written where ``old`` was (``old`` is ``MISSING`` for a new value)."""
        if isinstance(new, str):
            if isinstance(old, DoubleQuotedScalarString):
                return DoubleQuotedScalarString(new)
            if isinstance(old, SingleQuotedScalarString) and new.isprintable():
                return SingleQuotedScalarString(new)
            return new if plain_safe(new, flow=flow) else DoubleQuotedScalarString(new)
        if isinstance(new, float) and isinstance(old, int) and not isinstance(old, bool) and new.is_integer():
            return int(new)  # the file writes whole numbers: 600.0 from the API is written 600
        if isinstance(new, int) and not isinstance(new, bool) and isinstance(old, float):
            return float(new)
        return new


MISSING: Any = type("Missing", (), {"__repr__": lambda self: "<missing>"})()


def _strict_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def to_plain(value: Any) -> Any:
    """ruamel's values as plain JSON-like data (merged keys included)."""
    if isinstance(value, dict):
        return {str(k): to_plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [to_plain(v) for v in value]
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    return value


@dataclass
class EditableFile:
    """One YAML file loaded for editing. Edit it through its methods, then ``render()``."""

    path: str
    original: str  # the text with "\n" line ends and no byte-order mark
    newline: str
    bom: bool
    data: Any
    _yaml: YAML = field(repr=False)
    _unedited: str = field(repr=False)
    _counts: dict[int, int] = field(default_factory=dict, repr=False)
    _counted: list[Any] = field(default_factory=list, repr=False)  # keeps the counted ids unique
    edited: bool = False

    # -- reading -------------------------------------------------------------------------------

    def get(self, path: Path) -> Any:
        node = self.data
        for part in path:
            node = node[part]
        return node

    def has(self, path: Path) -> bool:
        node = self.data
        for part in path:
            inside = isinstance(node, dict) and part in node
            inside = inside or (isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node))
            if not inside:
                return False
            node = node[part]
        return True

    def position(self, path: Path) -> Position:
        """Where ``path`` is written (its key for a mapping entry), falling back to its container."""
        node = self.data
        line, col = 0, 0
        for part in path:
            try:
                if isinstance(node, CommentedMap) and part in node._ok:
                    line, col = node.lc.key(part)
                elif isinstance(node, CommentedSeq) and isinstance(part, int):
                    line, col = node.lc.item(part)
                elif hasattr(node, "lc"):
                    line, col = node.lc.line, node.lc.col
            except (KeyError, IndexError, TypeError, AttributeError):
                pass
            try:
                node = node[part]
            except (KeyError, IndexError, TypeError):
                break
        return Position(self.path, line + 1, col + 1)

    # -- editing -------------------------------------------------------------------------------

    def set(self, path: Path, new: Any, style: ValueStyle, *, template: Any = MISSING) -> bool:
        """Make the value at ``path`` (its parent must exist) equal ``new`` with as small an edit as
        possible: equal parts are not touched, mappings and lists are edited entry by entry.
        ``template``: a value whose style a new value copies (e.g. the same setting in a base file).
        Returns whether anything changed."""
        parent = self.get(path[:-1])
        key = path[-1]
        if isinstance(parent, dict) and key not in parent:
            self.insert(path[:-1], str(key), new, style, template=template)
            return True
        if self.equal(parent[key], new, path, style):
            return False
        self._update(parent, key, new, path, style)
        return True

    def insert(
        self,
        path: Path,
        key: str,
        new: Any,
        style: ValueStyle,
        *,
        after: str | None = None,
        template: Any = MISSING,
    ) -> None:
        """Add ``key: new`` to the mapping at ``path``: after the key ``after``, else at its end."""
        mapping = self.get(path)
        self._check_container(path)
        value = self._build(new, (*path, key), style, template=template, flow=_is_flow(mapping))
        own = [k for k in mapping if k in mapping._ok]
        moved = False
        if after is not None and after in own and own.index(after) < len(own) - 1:
            mapping.insert(own.index(after) + 1, key, value)
        else:
            last = own[-1] if own else None
            mapping[key] = value
            if path and last is not None and not _is_flow(mapping):
                moved = _move_trailing_comment(mapping, last, key)
        if not path and not moved and re.search(r"\n\n[A-Za-z_]", self.original):
            # The file sets its top-level sections apart with a blank line: so does a new one.
            mapping.yaml_set_comment_before_after_key(key, before="\n")
        self.edited = True

    def append(
        self, path: Path, new: Any, style: ValueStyle, *, after: int | None = None, template: Any = MISSING
    ) -> None:
        """Add ``new`` to the list at ``path`` (after item ``after``, else at its end), styled like
        ``template``, else like the item before it."""
        seq = self.get(path)
        self._check_container(path)
        index = len(seq) if after is None else after + 1
        if template is MISSING:
            template = seq[index - 1] if index > 0 else (seq[0] if seq else MISSING)
        seq.insert(index, self._build(new, (*path, index), style, template=template, flow=_is_flow(seq)))
        self.edited = True

    def delete(self, path: Path) -> None:
        """Remove the mapping key or list item at ``path``."""
        parent = self.get(path[:-1])
        self._check_container(path[:-1])
        key = path[-1]
        if isinstance(parent, CommentedMap):
            self._check_own_key(parent, key, path)
        del parent[key]
        self.edited = True

    def add_comment(self, path: Path, text: str) -> None:
        """An end-of-line comment on the mapping entry at ``path`` (a new entry only)."""
        parent = self.get(path[:-1])
        if isinstance(parent, CommentedMap) and not _is_flow(parent):
            parent.yaml_add_eol_comment(text, path[-1])

    def equal(self, old: Any, new: Any, path: Path, style: ValueStyle) -> bool:
        return _strict_json(self._canon(old, path, style)) == _strict_json(self._canon(new, path, style))

    # -- rendering -----------------------------------------------------------------------------

    def render(self) -> str:
        """The edited file's text ("\\n" line ends, no byte-order mark): the original wherever no
        edit touched it."""
        if not self.edited:
            return self.original
        return merge_lines(self.original, self._unedited, _dump(self._yaml, self.data))

    def encoded(self, text: str) -> bytes:
        """``text`` with this file's line ends and byte-order mark."""
        body = text.replace("\n", self.newline) if self.newline != "\n" else text
        return (b"\xef\xbb\xbf" if self.bom else b"") + body.encode("utf-8")

    # -- internals -----------------------------------------------------------------------------

    def _canon(self, value: Any, path: Path, style: ValueStyle) -> Any:
        if isinstance(value, dict):
            return {str(k): self._canon(v, (*path, str(k)), style) for k, v in value.items()}
        if isinstance(value, list):
            items = [self._canon(v, (*path, i), style) for i, v in enumerate(value)]
            return sorted(items, key=_strict_json) if style.unordered(path) else items
        return style.canon(to_plain(value), path)

    def _update(self, parent: Any, key: str | int, new: Any, path: Path, style: ValueStyle) -> None:
        old = parent[key]
        if self.equal(old, new, path, style):
            return
        if isinstance(old, CommentedMap) and isinstance(new, dict):
            self._check_container(path)
            for name in [k for k in old if k not in new]:
                self.delete((*path, name))
            for name, value in new.items():
                if name in old:
                    self._update(old, name, value, (*path, name), style)
                else:
                    self.insert(path, str(name), value, style)
            return
        if (
            isinstance(old, CommentedSeq)
            and isinstance(new, list)
            and self._update_list(old, new, path, style)
        ):
            return
        self._check_container(path[:-1])
        if isinstance(parent, CommentedMap):
            self._check_own_key(parent, key, path)
        if _anchor(old):
            raise self._unsafe(path, f"has a YAML anchor (&{_anchor(old)}) that other places may use")
        parent[key] = self._build(new, path, style, template=old, flow=_is_flow(parent))
        self.edited = True

    def _update_list(self, old: CommentedSeq, new: list[Any], path: Path, style: ValueStyle) -> bool:
        """Edit ``old`` item by item into ``new``; False when the list is better replaced whole."""
        if not style.unordered(path):
            if len(old) != len(new):
                return False
            self._check_container(path)
            for index, value in enumerate(new):
                self._update(old, index, value, (*path, index), style)
            return True
        self._check_container(path)
        keys_old = [_strict_json(self._canon(v, (*path, i), style)) for i, v in enumerate(old)]
        keys_new = [_strict_json(self._canon(v, (*path, i), style)) for i, v in enumerate(new)]
        unmatched_new: list[int] = []
        free = list(range(len(old)))
        for j, k in enumerate(keys_new):
            match = next((i for i in free if keys_old[i] == k), None)
            if match is None:
                unmatched_new.append(j)
            else:
                free.remove(match)
        for i, j in zip(free, unmatched_new, strict=False):
            self._update(old, i, new[j], (*path, i), style)
        for i in sorted(free[len(unmatched_new) :], reverse=True):
            self.delete((*path, i))
        for j in unmatched_new[len(free) :]:
            self.append(path, new[j], style)
        return True

    def _build(self, new: Any, path: Path, style: ValueStyle, *, template: Any, flow: bool) -> Any:
        """A ruamel value for ``new``, styled like ``template`` (flow or block, quoting)."""
        if isinstance(new, dict):
            out = CommentedMap()
            in_flow = flow or _wants_flow(new, template)
            for key, value in new.items():
                sub = template.get(key, MISSING) if isinstance(template, dict) else MISSING
                if sub is MISSING and isinstance(template, dict):
                    sub = _same_kind(template.values(), value)
                out[key] = self._build(value, (*path, key), style, template=sub, flow=in_flow)
            _set_flow(out, in_flow)
            return out
        if isinstance(new, list):
            seq = CommentedSeq()
            in_flow = flow or _wants_flow(new, template)
            sub = template[0] if isinstance(template, list) and template else MISSING
            for index, value in enumerate(new):
                seq.append(self._build(value, (*path, index), style, template=sub, flow=in_flow))
            _set_flow(seq, in_flow)
            return seq
        return style.leaf(
            template if not isinstance(template, dict | list) else MISSING, new, path, flow=flow
        )

    def _check_container(self, path: Path) -> None:
        """Refuse to edit inside a mapping or list that another place shares (anchor, alias, merge)."""
        node = self.data
        for depth in range(len(path) + 1):
            if isinstance(node, dict | list):
                anchor = _anchor(node)
                if anchor:
                    raise self._unsafe(
                        path[:depth], f"is inside a YAML anchor (&{anchor}) that other places may use"
                    )
                if self._counts.get(id(node), 0) > 1:
                    raise self._unsafe(path[:depth], "is written once and used in several places (an alias)")
                if isinstance(node, CommentedMap) and node._ref:
                    raise self._unsafe(path[:depth], "is merged (`<<`) into another mapping")
            if depth == len(path):
                break
            part = path[depth]
            if isinstance(node, CommentedMap):
                self._check_own_key(node, part, path[: depth + 1])
            node = node[part]

    def _check_own_key(self, mapping: CommentedMap, key: Any, path: Path) -> None:
        if key in mapping and key not in mapping._ok:
            raise self._unsafe(path, "comes from a `<<` merge of another mapping")

    def _unsafe(self, path: Path, why: str) -> UnsafeEdit:
        where = format_path(path) if path else "the file"
        return UnsafeEdit(
            [
                Problem(
                    self.position(path),
                    f"{where} {why}; pull cannot change it without changing the other places too. "
                    "Write the value out here (no anchor, alias or `<<`) and pull again",
                )
            ]
        )


def _anchor(node: Any) -> str | None:
    """The name of the anchor (``&name``) written on ``node``, without creating one."""
    anchor = getattr(node, Anchor.attrib, None)
    return getattr(anchor, "value", None) or None


def _is_flow(node: Any) -> bool:
    return bool(getattr(node, "fa", None) is not None and node.fa.flow_style())


def _set_flow(node: Any, flow: bool) -> None:
    if flow:
        node.fa.set_flow_style()
    else:
        node.fa.set_block_style()


def _same_kind(values: Any, value: Any) -> Any:
    """A template for a new entry of a mapping: an existing value of the same kind, if any."""
    for candidate in values:
        if isinstance(value, dict) and isinstance(candidate, dict):
            return candidate
        if isinstance(value, list) and isinstance(candidate, list):
            return candidate
    return MISSING


def _wants_flow(value: Any, template: Any) -> bool:
    if isinstance(template, dict | list) and (isinstance(template, dict) == isinstance(value, dict)):
        return _is_flow(template)
    from reconciler.export import _flow

    try:
        return len(_flow(value)) <= MAX_FLOW_WIDTH
    except Exception:  # a value export cannot write: let ruamel choose
        return False


def _move_trailing_comment(mapping: CommentedMap, last: Any, new_key: Any) -> bool:
    """Comment lines and blank lines after the former last entry stay after the new last one.

    ruamel keeps them as the end-of-line comment of the former last entry (of its deepest last
    value, for a nested one), so an entry added at the end would land after them, often after the
    blank line that separates this section from the next."""
    holder, slot = _trailing_slot(mapping, last)
    if holder is None:
        return False
    token = holder.ca.items[slot][2 if isinstance(holder, CommentedMap) else 0]
    text: str = token.value
    cut = text.find("\n")
    if cut < 0 or cut == len(text) - 1:
        return False
    head, tail = text[: cut + 1], text[cut + 1 :]
    if head.strip():
        token.value = head
    else:
        holder.ca.items[slot][2 if isinstance(holder, CommentedMap) else 0] = None
    moved = CommentToken("\n" + tail, token.start_mark, None)
    target, slot = _last_leaf(mapping, new_key)
    if isinstance(target, CommentedMap):
        target.ca.items[slot] = [None, None, moved, None]
    else:
        target.ca.items[slot] = [moved, None]
    return True


def _last_leaf(node: Any, key: Any) -> tuple[Any, Any]:
    """The container and key of the last line of ``node[key]`` (its deepest last block entry)."""
    while True:
        value = node[key]
        if isinstance(value, CommentedMap) and value and not _is_flow(value):
            node, key = value, list(value.keys())[-1]
        elif isinstance(value, CommentedSeq) and value and not _is_flow(value):
            node, key = value, len(value) - 1
        else:
            return node, key


def _trailing_slot(node: Any, key: Any) -> tuple[Any, Any]:
    """The container and key whose comment token holds what follows ``node[key]`` in the file."""
    found: tuple[Any, Any] = (None, None)
    while True:
        index = 2 if isinstance(node, CommentedMap) else 0
        entry = node.ca.items.get(key) if hasattr(node, "ca") else None
        if entry is not None and len(entry) > index and entry[index] is not None:
            found = (node, key)
        value = node[key]
        if isinstance(value, CommentedMap) and value and not _is_flow(value):
            node, key = value, list(value.keys())[-1]
        elif isinstance(value, CommentedSeq) and value and not _is_flow(value):
            node, key = value, len(value) - 1
        else:
            return found


def _indentation(text: str) -> tuple[int, int]:
    """(mapping indent, dash offset of block lists) as the file writes them; (2, 2) by default."""
    lines = [ln for ln in text.split("\n") if ln.strip() and not ln.lstrip().startswith("#")]
    mapping: dict[int, int] = {}
    offset: dict[int, int] = {}
    for above, below in itertools.pairwise(lines):
        if not re.match(r"^\s*[^\s#\-][^#]*:\s*(#.*)?$", above):
            continue
        base = len(above) - len(above.lstrip(" "))
        if above.lstrip().startswith("- "):
            base += 2
        indent = len(below) - len(below.lstrip(" "))
        dash = below.lstrip().startswith("- ")
        if indent < base or (indent == base and not dash):
            continue
        bucket = offset if dash else mapping
        bucket[indent - base] = bucket.get(indent - base, 0) + 1
    best_mapping = max(mapping, key=lambda k: (mapping[k], -k)) if mapping else 2
    best_offset = max(offset, key=lambda k: (offset[k], -k)) if offset else 2
    if best_offset not in (0, 2, 4) and best_offset != best_mapping:
        best_offset = 2
    return best_mapping, best_offset


def _new_yaml(text: str) -> YAML:
    rt = YAML(typ="rt")
    rt.Representer = _Representer
    rt.Emitter = _Emitter
    rt.preserve_quotes = True
    rt.width = 4096  # never re-wrap a long line
    mapping, offset = _indentation(text)
    rt.indent(mapping=mapping, sequence=offset + 2, offset=offset)
    return rt


def _dump(rt: YAML, data: Any) -> str:
    out = io.StringIO()
    rt.dump(data, out)
    return out.getvalue()


def _count_nodes(data: Any) -> tuple[dict[int, int], list[Any]]:
    """How many times each mapping and list is reached (more than once: an alias shares it), and
    the nodes themselves (kept alive so that no new node takes the id of a deleted one)."""
    counts: dict[int, int] = {}
    nodes: list[Any] = []

    def visit(node: Any) -> None:
        if not isinstance(node, dict | list):
            return
        counts[id(node)] = counts.get(id(node), 0) + 1
        if counts[id(node)] > 1:
            return
        nodes.append(node)
        children = node.values() if isinstance(node, dict) else node
        for child in children:
            visit(child)

    visit(data)
    return counts, nodes


def open_file(path: str, raw: bytes, expected: Any) -> EditableFile:
    """Load ``raw`` (the bytes of ``path``) for editing. ``expected`` is what this tool's loader read
    from it: a file that ruamel (YAML 1.2) reads otherwise than the loader (YAML 1.1) is refused at
    the first value they disagree on, rather than edited from a different reading."""
    bom = raw.startswith(b"\xef\xbb\xbf")
    text = raw.decode("utf-8-sig")
    newline = "\r\n" if "\r\n" in text else "\n"
    text = text.replace("\r\n", "\n")
    rt = _new_yaml(text)
    data = rt.load(text)
    counts, nodes = _count_nodes(data)
    editable = EditableFile(
        path=path,
        original=text,
        newline=newline,
        bom=bom,
        data=data,
        _yaml=rt,
        _unedited=_dump(rt, data),
        _counts=counts,
        _counted=nodes,
    )
    mismatch = _first_difference(to_plain(data), expected, ())
    if mismatch is not None:
        raise UnsafeEdit(
            [
                Problem(
                    editable.position(mismatch),
                    f"{format_path(mismatch)}: YAML 1.1 (this tool) and YAML 1.2 (the editor pull uses) "
                    "read this value differently; quote it, or write it so both read the same",
                )
            ]
        )
    return editable


def _first_difference(a: Any, b: Any, path: Path) -> Path | None:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in list(a) + [k for k in b if k not in a]:
            if key not in a or key not in b:
                return (*path, key)
            found = _first_difference(a[key], b[key], (*path, key))
            if found is not None:
                return found
        return None
    if isinstance(a, list) and isinstance(b, list):
        for index, (x, y) in enumerate(zip(a, b, strict=False)):
            found = _first_difference(x, y, (*path, index))
            if found is not None:
                return found
        return None if len(a) == len(b) else path
    if _strict_json(a) != _strict_json(b):
        return path
    return None


# -- keeping the original's bytes outside the edits -----------------------------------------------


def merge_lines(original: str, unedited: str, edited: str) -> str:
    """Apply the change from ``unedited`` to ``edited`` (two renderings by one emitter) to
    ``original`` (what the emitter read), line by line: where the emitter's rendering of a region
    equals the original, the original's lines are kept; only regions an edit touched take the
    edited rendering (whole regions, so a region the emitter re-indented is replaced consistently).
    """
    o, n, e = (_lines(t) for t in (original, unedited, edited))
    on = difflib.SequenceMatcher(None, o, n, autojunk=False).get_opcodes()
    ne = difflib.SequenceMatcher(None, n, e, autojunk=False).get_opcodes()
    # Positions between lines of the unedited rendering (N) where it lines up with the original (O),
    # with the O position of each (lines the emitter dropped go with the region after them).
    o_at: dict[int, int] = {}
    for tag, i1, i2, j1, j2 in on:
        for k in range(j2 - j1 + 1 if tag == "equal" else 1):
            o_at.setdefault(j1 + k, i1 + k)
        o_at.setdefault(j2, i2)
    o_at[0], o_at[len(n)] = 0, len(o)
    # The same between N and the edited rendering (E): before and after the lines an edit inserted
    # at that position (the same place when it inserted none).
    e_before: dict[int, int] = {}
    e_after: dict[int, int] = {}
    for tag, j1, j2, k1, k2 in ne:
        points = [(j, k1 + j - j1) for j in range(j1, j2 + 1)] if tag == "equal" else [(j1, k1), (j2, k2)]
        for j, k in points:
            e_before[j] = min(e_before.get(j, k), k)
            e_after[j] = max(e_after.get(j, k), k)
    if not ne:
        e_before[0] = e_after[0] = 0
    cuts = sorted(set(o_at) & set(e_before))
    changes = [(tag, j1, j2) for tag, j1, j2, _k1, _k2 in ne if tag != "equal"]
    out: list[str] = e[e_before[0] : e_after[0]]
    for a, b in itertools.pairwise(cuts):
        touched = any((j1 < b and j2 > a) if tag != "insert" else a < j1 < b for tag, j1, j2 in changes)
        out.extend(e[e_after[a] : e_before[b]] if touched else o[o_at[a] : o_at[b]])
        out.extend(e[e_before[b] : e_after[b]])  # lines inserted right at b
    return "".join(out)


def _lines(text: str) -> list[str]:
    return text.splitlines(keepends=True)
