"""The one place that hides secret values (and the API key) in text: messages, log lines, files.

A server or proxy does not give a secret back the way it was sent. It echoes a request body
JSON-escaped in an error, cuts it short, URL-encodes it into a URL or a header, HTML-escapes it into
an error page. So a ``Redactor`` masks every *form* a value can take, not just the value:

- the raw value, JSON-escaped (once or twice, ASCII-only or not), Python-``repr`` escaped,
  URL-encoded (``%XX`` upper- or lower-case, ``+`` or ``%20`` for a space) and HTML-escaped;
- for a value of ``MIN_FRAGMENT`` (8) characters or more, any run of 8 or more characters of any of
  those forms: a truncated echo, or a value glued to other text, is masked over its whole length.

A value shorter than 8 characters is masked only whole (in any of those forms), and only where it
is not part of a longer word, i.e. not touching a letter or digit on either side: a one-letter key
``k`` must not turn "asks" into "as(sensitive)s", and its fragments would be ordinary text. A
masked run is replaced by ``(sensitive)``, the mask the plan shows for a
secret. This module must never log or print; it only transforms the text it is given.
"""

from __future__ import annotations

import html
import json
import logging
import re
import threading
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

from reconciler.model import SENSITIVE_MASK

MIN_FRAGMENT = 8


def _forms(value: str) -> set[str]:
    """The ways ``value`` can be written in text that a server or a proxy sends back."""
    forms = {value, repr(value)[1:-1], html.escape(value), html.escape(value, quote=False)}
    for ascii_only in (True, False):
        for once in _json_spellings(json.dumps(value, ensure_ascii=ascii_only)[1:-1]):
            forms |= {once, json.dumps(once, ensure_ascii=ascii_only)[1:-1]}
    for encoded in (quote(value, safe=""), quote(value), quote_plus(value, safe="")):
        forms |= {encoded, re.sub(r"%[0-9A-F]{2}", lambda m: m.group().lower(), encoded)}
    return {form for form in forms if form}


_GO_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026"}


def _json_spellings(once: str) -> set[str]:
    """One JSON-escaped form as other encoders spell it: JSON may escape any character, and ``/``
    is written ``\\/`` by PHP (by default) and org.json, ``<``, ``>`` and ``&`` as ``\\u003c`` by Go,
    and the hex digits of ``\\uXXXX`` in upper case by Jackson."""
    slashed = {once, once.replace("/", "\\/")}
    html_safe = slashed | {"".join(_GO_ESCAPES.get(ch, ch) for ch in form) for form in slashed}
    upper = {re.sub(r"\\u[0-9a-f]{4}", lambda m: "\\u" + m.group()[2:].upper(), f) for f in html_safe}
    return html_safe | upper


class Redactor:
    """Masks every form of the values it was given in any text; shared by threads, grows as it goes.

    The client adds the API key and the secret values it sends; the CLI runs every error message and
    log line it prints through the same instance.
    """

    def __init__(self, values: Iterable[str] = (), *, mask: str = SENSITIVE_MASK) -> None:
        self.mask = mask
        self._lock = threading.Lock()
        self._values: frozenset[str] = frozenset()
        # Replaced whole under the lock, read without it: (whole, grams). whole: (form, stands_alone)
        # for every form of every value, longest first, where stands_alone marks a short value's form
        # (masked only where no letter or digit touches it); grams: every MIN_FRAGMENT-long run of
        # the forms of the long values.
        self._state: tuple[tuple[tuple[str, bool], ...], frozenset[str]] = ((), frozenset())
        self.add(*values)

    def add(self, *values: str) -> None:
        """Mask these values from now on (empty strings are ignored)."""
        with self._lock:
            fresh = {v for v in values if v} - self._values
            if not fresh:
                return
            whole = set(self._state[0])
            grams = set(self._state[1])
            for value in fresh:
                forms = _forms(value)
                whole |= {(form, len(value) < MIN_FRAGMENT) for form in forms}
                if len(value) >= MIN_FRAGMENT:
                    for form in forms:
                        grams.update(form[i : i + MIN_FRAGMENT] for i in range(len(form) - MIN_FRAGMENT + 1))
            self._values = self._values | fresh
            self._state = (tuple(sorted(whole, key=lambda item: (-len(item[0]), item))), frozenset(grams))

    def clear(self) -> None:
        """Forget every value: a new run of the CLI in the same process (tests, a caller that runs
        several commands) starts with only the values it adds itself."""
        with self._lock:
            self._values = frozenset()
            self._state = ((), frozenset())

    def __call__(self, text: str) -> str:
        """``text`` with every masked run replaced by the mask."""
        whole, grams = self._state
        if not whole or not text:
            return text
        spans: list[tuple[int, int]] = []
        for form, stands_alone in whole:
            start = text.find(form)
            while start != -1:
                end = start + len(form)
                if not stands_alone or not (_alnum_at(text, start - 1) or _alnum_at(text, end)):
                    spans.append((start, end))
                start = text.find(form, start + 1)
        if grams:
            spans.extend(
                (i, i + MIN_FRAGMENT)
                for i in range(len(text) - MIN_FRAGMENT + 1)
                if text[i : i + MIN_FRAGMENT] in grams
            )
        if not spans:
            return text
        out: list[str] = []
        done = 0
        for start, end in _merged(spans):
            out.append(text[done:start])
            out.append(self.mask)
            done = end
        out.append(text[done:])
        return "".join(out)


def _alnum_at(text: str, index: int) -> bool:
    return 0 <= index < len(text) and text[index].isalnum()


def _merged(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Overlapping or touching spans joined, in order: one mask for one run of secret text."""
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


class RedactingFilter(logging.Filter):
    """A logging filter (put it on a handler) that runs each record's final text through a Redactor,
    traceback included, so no logger, ours or a library's, can print a secret."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self.redactor(record.getMessage())
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redactor(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redactor(record.stack_info)
        return True
