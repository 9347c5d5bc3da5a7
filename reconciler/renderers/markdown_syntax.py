"""Markdown made safe: the one place that escapes text, writes code spans, tables and blockquotes.

Everything that comes from a file, the API or an error message goes through here before it reaches
markdown output: values are JSON in code spans, other text is backslash-escaped, and ``|`` is escaped
everywhere a table could see it, so no value can break a table, open a link or inject HTML. Nothing
here knows about plans; the markdown renderer (``markdown.py``) builds on these functions.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Sequence
from typing import Any

from reconciler.model import SENSITIVE_MASK, Secret, SecretRef

# ASCII punctuation that could start markdown syntax in running text: emphasis, code, links, HTML,
# tables, strikethrough, entities, headings and GitHub's $math$.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>|~&#$])")
# What would open a list, a setext heading underline or a thematic break at the start of a line
# (the other block openers are escaped anyway).
_LINE_START = re.compile(r"^(\s*(?:[-+=]|\d+(?=[.)])))")


def _unshowable(value: object) -> str:
    if isinstance(value, Secret | SecretRef):
        return SENSITIVE_MASK
    return repr(value)


def json_value(value: Any) -> str:
    """One-line JSON; JSON escapes every control character, so nothing here can hold ANSI codes."""
    return json.dumps(value, ensure_ascii=False, default=_unshowable)


def clean(text: str) -> str:
    """Line ends become ``\\n``, tabs spaces, other control characters (ANSI escapes) U+FFFD."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return "".join(
        " " if ch == "\t" else "\ufffd" if ch != "\n" and unicodedata.category(ch) == "Cc" else ch
        for ch in text
    )


def text(value: str) -> str:
    """One line of running text with markdown syntax escaped (safe in table cells too)."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", clean(value).replace("\n", " "))


def _escape_line_start(match: re.Match[str]) -> str:
    opener = match.group(1)
    if opener[-1].isdigit():  # "1." opens a list; escape the dot, as a backslash before a digit shows
        return opener + "\\"
    return opener[:-1] + "\\" + opener[-1]


def text_lines(value: str, indent: str) -> str:
    """Possibly several lines of text, kept as lines with hard breaks inside a block."""
    lines = [_LINE_START.sub(_escape_line_start, text(line)) for line in clean(value).splitlines()] or [""]
    return ("\\\n" + indent).join(lines)


def blockquote(paragraphs: Sequence[str]) -> str:
    return "\n>\n".join(f"> {p}" for p in paragraphs)


def code(value: str, *, in_table: bool = True) -> str:
    """A code span holding ``value`` verbatim, whatever backticks it contains.

    In a table, GitHub splits cells on ``|`` even inside code spans, so pipes are escaped as ``\\|``
    (which the table parser turns back into ``|``); outside a table that escape would show.
    """
    content = clean(value).replace("\n", " ")
    if in_table:
        content = content.replace("|", "\\|")
    longest = max((len(run) for run in re.findall(r"`+", content)), default=0)
    fence = "`" * (longest + 1)
    if not content or content[0] in "` " or content[-1] in "` ":
        content = f" {content} "  # CommonMark strips exactly one space from each side
    return f"{fence}{content}{fence}"


def code_block(lines: Sequence[str], info: str = "") -> str:
    """A fenced code block holding ``lines`` verbatim: the fence is longer than any run of
    backticks inside, so no line can close it."""
    longest = max((len(run) for run in re.findall(r"`+", "\n".join(lines))), default=0)
    fence = "`" * max(3, 1 + longest)
    return f"{fence}{info}\n" + "\n".join(clean(line) for line in lines) + f"\n{fence}"


def table(header: Sequence[str], rows: Sequence[Sequence[str]], *, align: Sequence[str] = ()) -> str:
    """A table of cells that are already escaped. ``align`` per column: "" (default) or "right"."""
    rule = [
        " --: " if (align[i] if i < len(align) else "") == "right" else " --- " for i in range(len(header))
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(rule) + "|"]
    lines.extend("| " + " | ".join(row) + " |" for row in rows)
    return "\n".join(lines)
