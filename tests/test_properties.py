"""Property-based tests: random and mutated YAML never crashes or hangs the loader and validator.

Whatever the input (random text or bytes, YAML dumped from random trees and then decorated with
anchors, aliases, tags, merge keys and duplicate keys, examples/project.yaml mutated line by line, or
documents just under and over the loader's limits on values and nesting), the only outcomes are a
valid project or an ``InputError`` whose every problem is one line of ``FILE:LINE:COL: message``;
never another exception, a traceback or a hang. The last tests run the real CLI on a fixed, seeded
set of mutated files and hold its exit code and stderr to the same rule.
"""

from __future__ import annotations

import json
import random
import re
import signal
import threading
import time
import unicodedata
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

import pytest
import yaml
from conftest import ROOT, validate_offline
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.errors import InputError
from reconciler.loader import MAX_DEPTH, MAX_EXPANDED_VALUES, MAX_NODES, load_file, load_text
from reconciler.model import DesiredProject
from reconciler.validate import validate_document

EXAMPLE = ROOT / "examples" / "project.yaml"
SEED_FILES = [EXAMPLE, *sorted((ROOT / "tests" / "data" / "valid").glob("*.yaml"))]
SEEDS = [path.read_text(encoding="utf-8-sig") for path in SEED_FILES]
FILE = "fuzz.yaml"

# Generous for a slow CI machine, yet a stuck example fails instead of stalling the run.
PROPERTY = settings(
    max_examples=200,
    deadline=2000,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
HANG_SECONDS = 30.0  # a hang, not a slow run on a loaded 2-core machine (200,000-value cases take seconds)

SUMMARY = re.compile(r"[1-9][0-9]* problems? found; nothing was changed\.")
# An exception's name, a repr of an object, a traceback: Python leaking through a message.
NOISE = re.compile(r"Traceback|File \"|object at 0x|<class '|\b[A-Za-z]*(?:Error|Exception)\b")
YAML_BREAK = re.compile("\r\n|[\r\n\x85\u2028\u2029]")


def _schema_keys() -> list[str]:
    """Every property name of the schema: random trees built from them reach deep into validation."""
    keys: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for name, value in node.items():
                if name == "properties" and isinstance(value, dict):
                    keys.update(value)
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(json.loads((ROOT / "schemas" / "project.schema.json").read_text(encoding="utf-8")))
    return sorted(keys)


SCHEMA_KEYS = _schema_keys()

# What a hurried edit, a copy-paste or YAML itself may leave in a value.
SCALARS = [
    "yes", "No", "on", "off", "y", "~", "null", "true", "False", "0", "-1", "1.5", "-0.0", "2147483648",
    "0755", "0o17", "0x1F", "0b101", "+15551234567", "9:00", "1:30:00", "1e400", ".nan", "-.inf",
    "2024-01-01", "2001-12-14t21:59:43.10-05:00", "2024-02-30", "''", '""', '"unterminated', "'",
    "[", "]", "{", "}", "[1, [2, {a: 3}]]", "{env: X}", "{file: x}", "{a: 1, a: 2}", "*nope", "&a",
    "&x [*x]", "|", ">-", "-", "? x", "<<", "%YAML 1.1", "---", "...", "#", "@", "`", "\t",
    "\u00e9", "\U0001f600", "\u2028", "\x85", "\ufeff", "\x00", "\x1b[31m", '"\\x00"', '"\\u2028"',
    '"a\\nb"', '"\\x1b[2J"', "!!binary aGk=", "!!python/object/apply:os.system [ls]", "!!int abc",
    "!!int '0x" + "f" * 4000 + "'", "!!float '.nan'", "!!set {a, b}", "!!omap [a: 1]",
    "9" * 5000, "0x" + "f" * 4000, "a" * 3000, "[" * 300, "{a: " * 60,
]  # fmt: skip
TAGS = [
    "!!python/object:os.system", "!!python/object/apply:os.system", "!!python/name:os.system",
    "!!python/tuple", "!!binary", "!!set", "!!omap", "!!pairs", "!!int", "!!float", "!!bool", "!!str",
    "!!null", "!!timestamp", "!!seq", "!!map", "!!merge", "!!value", "!custom", "!",
    "!<tag:example.com,2000:x>",
]  # fmt: skip
CHARS = [":", "-", "[", "]", "{", "}", ",", "&", "*", "!", "|", ">", "'", '"', "#", "%", "@", "`", "?",
         "<<", " ", "  ", "\n", "\r", "\r\n", "\t", "\x00", "\x07", "\x1b", "\x7f", "\x85", "\u00a0",
         "\u2028", "\ufeff", "\ufffe", "\U0001f600", "\\", "~"]  # fmt: skip


# -- mutations: plain functions of a random.Random, shared by hypothesis and the seeded CLI cases ---------


def _random_char(rng: random.Random) -> str:
    if rng.random() < 0.7:
        return rng.choice(CHARS)
    code = rng.randrange(0x110000)
    return "?" if 0xD800 <= code <= 0xDFFF else chr(code)  # no lone surrogates: files are UTF-8


def _random_scalar(rng: random.Random) -> str:
    if rng.random() < 0.8:
        return rng.choice(SCALARS)
    return "".join(_random_char(rng) for _ in range(rng.randint(1, 8)))


def _value_lines(lines: list[str]) -> list[int]:
    return [i for i, line in enumerate(lines) if ": " in line or line.rstrip().endswith(":")]


def _pick(rng: random.Random, items: list[int]) -> int | None:
    return rng.choice(items) if items else None


def delete_line(rng: random.Random, lines: list[str]) -> None:
    if lines:
        del lines[rng.randrange(len(lines))]


def duplicate_line(rng: random.Random, lines: list[str]) -> None:
    if lines:
        i = rng.randrange(len(lines))
        lines.insert(rng.randint(i, len(lines)), lines[i])


def swap_lines(rng: random.Random, lines: list[str]) -> None:
    if len(lines) > 1:
        i, j = rng.sample(range(len(lines)), 2)
        lines[i], lines[j] = lines[j], lines[i]


def reindent(rng: random.Random, lines: list[str]) -> None:
    if lines:
        i = rng.randrange(len(lines))
        indent = rng.choice(["", " ", "  ", "   ", "    ", "      ", "\t", "  \t", " " * 200])
        lines[i] = indent + lines[i].lstrip(" \t")


def replace_value(rng: random.Random, lines: list[str]) -> None:
    i = _pick(rng, _value_lines(lines))
    if i is not None:
        head, sep, _ = lines[i].partition(": ")
        lines[i] = f"{head}{sep or ': '}{_random_scalar(rng)}"


def add_tag(rng: random.Random, lines: list[str]) -> None:
    i = _pick(rng, _value_lines(lines))
    if i is not None:
        head, _, tail = lines[i].partition(": ")
        lines[i] = f"{head}: {rng.choice(TAGS)} {tail}"


def add_anchor_and_alias(rng: random.Random, lines: list[str]) -> None:
    """An anchor on one value, an alias to it elsewhere: before it, after it, or inside it."""
    candidates = _value_lines(lines)
    if not candidates:
        return
    name = rng.choice(["a", "b", "x"])
    i, j = rng.choice(candidates), rng.choice(candidates)
    head, _, tail = lines[i].partition(": ")
    lines[i] = f"{head}: &{name} {tail}"
    head, _, _ = lines[j].partition(": ")
    lines[j] = f"{head}: " + rng.choice([f"*{name}", f"[*{name}, *{name}]", f"{{k: *{name}}}"])


def add_merge(rng: random.Random, lines: list[str]) -> None:
    i = rng.randrange(len(lines) + 1)
    indent = " " * rng.choice([0, 2, 4, 6])
    source = rng.choice(["*a", "[*a, *b]", "{x: 1}", "1", "[1, *a]", "*x", "{<<: {y: 2}}", "null"])
    lines.insert(i, f"{indent}<<: {source}")


def duplicate_key(rng: random.Random, lines: list[str]) -> None:
    i = _pick(rng, _value_lines(lines))
    if i is not None:
        head, _, _ = lines[i].partition(": ")
        lines.insert(i + rng.randint(0, 1), f"{head.rstrip(':')}: {_random_scalar(rng)}")


LINE_MUTATIONS: list[Callable[[random.Random, list[str]], None]] = [
    delete_line,
    duplicate_line,
    swap_lines,
    reindent,
    replace_value,
    add_tag,
    add_anchor_and_alias,
    add_merge,
    duplicate_key,
]
DECORATIONS: list[Callable[[random.Random, list[str]], None]] = [
    add_tag,
    add_anchor_and_alias,
    add_merge,
    duplicate_key,
    duplicate_line,
]


def insert_chars(rng: random.Random, text: str) -> str:
    at = rng.randint(0, len(text))
    return text[:at] + "".join(_random_char(rng) for _ in range(rng.randint(1, 5))) + text[at:]


def truncate(rng: random.Random, text: str) -> str:
    return text[: rng.randint(0, len(text))]


def mutate(
    rng: random.Random,
    text: str,
    count: int,
    line_mutations: list[Callable[[random.Random, list[str]], None]] = LINE_MUTATIONS,
) -> str:
    """``count`` random edits, each on the lines of the text or on its characters."""
    for _ in range(count):
        roll = rng.random()
        if roll < 0.15:
            text = insert_chars(rng, text)
        elif roll < 0.22 and line_mutations is LINE_MUTATIONS:
            text = truncate(rng, text)
        else:
            lines = text.split("\n")
            rng.choice(line_mutations)(rng, lines)
            text = "\n".join(lines)
    return text


# -- the property ---------------------------------------------------------------------------------


class Hang(BaseException):
    """Raised by the alarm: a BaseException, so no `except Exception` in the code under test eats it."""


@contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Turn a hang into a failure (POSIX, main thread); elsewhere rely on hypothesis' deadline."""
    if not hasattr(signal, "setitimer") or threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_alarm(signum: int, frame: FrameType | None) -> None:
        raise Hang(f"no answer after {seconds} s")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def check_error(exc: InputError, file: str, text: str | None) -> None:
    """Every problem is one clean line, at a real place of ``file``."""
    assert exc.problems, "an InputError without a problem"
    assert str(exc) == "\n".join(str(p) for p in exc.problems)
    pattern = re.compile(rf"{re.escape(file)}:([1-9][0-9]*):([1-9][0-9]*): \S.*")
    max_line = len(YAML_BREAK.findall(text)) + 2 if text is not None else None
    for problem in exc.problems:
        line = str(problem)
        assert problem.position.file == file, line
        assert pattern.fullmatch(line), f"not FILE:LINE:COL: message: {line!r}"
        bad = [c for c in line if unicodedata.category(c) in ("Cc", "Zl", "Zp")]
        assert not bad, f"a line break or control character {bad!r} in {line!r}"
        assert not NOISE.search(line), f"Python leaks into the message: {line!r}"
        if max_line is not None:
            assert problem.position.line <= max_line, f"line past the end of the file: {line!r}"


def outcome(text: str) -> DesiredProject | InputError:
    """load_text + validate_document: a project or an InputError; anything else propagates."""
    with time_limit(HANG_SECONDS):
        try:
            return validate_document(load_text(FILE, text))
        except InputError as exc:
            return exc


def check_text(text: str) -> DesiredProject | InputError:
    result = outcome(text)
    if isinstance(result, InputError):
        check_error(result, FILE, text)
    else:
        assert isinstance(result, DesiredProject)
        assert result.file == FILE
    return result


@pytest.fixture(scope="module", autouse=True)
def _warm_up() -> None:
    """Import jsonschema and compile the schema once, so the first example is not timed for it."""
    validate_document(load_file(EXAMPLE))


# -- (1) in process -------------------------------------------------------------------------------

ANY_CHAR = st.characters(codec="utf-8")  # every character but lone surrogates, which no UTF-8 file holds
YAMLISH = st.one_of(st.sampled_from(CHARS), st.sampled_from(SCALARS[:40]), ANY_CHAR)


@PROPERTY
@given(st.text(alphabet=ANY_CHAR))
def test_random_text(text: str) -> None:
    check_text(text)


@PROPERTY
@given(st.lists(YAMLISH, max_size=60).map("".join))
def test_random_yamlish_text(text: str) -> None:
    check_text(text)


@PROPERTY
@given(
    prefix=st.sampled_from(["", "version: 1\n", "version: 1\nsettings:\n  name: ", "- ", "a: ", '"', "#"]),
    unit=st.lists(YAMLISH, min_size=1, max_size=4).map("".join),
    repeat=st.integers(min_value=500, max_value=20_000),
)
def test_very_long_lines(prefix: str, unit: str, repeat: int) -> None:
    check_text(prefix + unit * repeat)


@pytest.fixture(scope="module")
def bytes_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("bytes") / FILE


def _with_bytes(base: bytes, rng: random.Random) -> bytes:
    """Raw bytes spliced in: broken UTF-8, a UTF-16 BOM, NUL."""
    junk = rng.choice([b"\xff", b"\xfe\xff", b"\xc3", b"\xe2\x82", b"\xef\xbb\xbf", b"\x00", b"\xc0\xaf"])
    at = rng.randint(0, len(base))
    return base[:at] + junk + base[at:]


@PROPERTY
@given(
    raw=st.one_of(
        st.binary(max_size=2000),
        st.builds(_with_bytes, st.sampled_from([s.encode() for s in SEEDS]), st.randoms()),
    )
)
def test_random_bytes(bytes_file: Path, raw: bytes) -> None:
    bytes_file.write_bytes(raw)
    with time_limit(HANG_SECONDS):
        try:
            result: DesiredProject | InputError = validate_document(load_file(bytes_file))
        except InputError as exc:
            result = exc
    if isinstance(result, InputError):
        try:
            text: str | None = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = None
        check_error(result, str(bytes_file), text)


def _scalars() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.integers(min_value=-(2**40), max_value=2**40),
        st.floats(),  # nan and infinities too
        st.text(alphabet=ANY_CHAR, max_size=20),
        st.sampled_from(SCALARS),
        st.sampled_from(SCHEMA_KEYS),
    )


KEYS = st.one_of(st.sampled_from(SCHEMA_KEYS), st.text(alphabet=ANY_CHAR, max_size=10))
TREES = st.recursive(
    _scalars(),
    lambda children: st.one_of(st.lists(children, max_size=5), st.dictionaries(KEYS, children, max_size=5)),
    max_leaves=30,
)
DOCUMENTS = st.one_of(
    TREES,
    st.dictionaries(KEYS, TREES, max_size=6),
    st.dictionaries(KEYS, TREES, max_size=6).map(lambda tree: {"version": 1, "project": 1, **tree}),
)


@PROPERTY
@given(
    tree=DOCUMENTS,
    flow=st.sampled_from([None, True, False]),
    rng=st.randoms(use_true_random=False),
    decorations=st.integers(min_value=0, max_value=4),
)
def test_random_trees(tree: Any, flow: bool | None, rng: random.Random, decorations: int) -> None:
    text = yaml.safe_dump(tree, default_flow_style=flow, allow_unicode=rng.random() < 0.5)
    check_text(mutate(rng, text, decorations, DECORATIONS))


@PROPERTY
@given(
    seed=st.sampled_from(SEEDS),
    rng=st.randoms(use_true_random=False),
    count=st.integers(min_value=1, max_value=4),
)
def test_mutated_project_files(seed: str, rng: random.Random, count: int) -> None:
    check_text(mutate(rng, seed, count))


def test_the_seeds_are_valid() -> None:
    """The mutations start from valid files, so the neighbourhood of a valid file is what is explored."""
    for seed in SEEDS:
        assert isinstance(check_text(seed), DesiredProject)


def _laughs(levels: int, width: int) -> str:
    lines = ["version: 1", "project: 1", "lol0: &lol0 [" + ", ".join(["lol"] * width) + "]"]
    for i in range(1, levels + 1):
        lines.append(f"lol{i}: &lol{i} [" + ", ".join([f"*lol{i - 1}"] * width) + "]")
    return "\n".join(lines) + "\n"


def _merge_laughs(levels: int, width: int) -> str:
    lines = ["version: 1", "m0: &m0 {k: 1}"]
    for i in range(1, levels + 1):
        lines.append(f"m{i}: &m{i} {{<<: [" + ", ".join([f"*m{i - 1}"] * width) + "]}")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(_laughs(9, 9), id="billion-laughs"),
        pytest.param(_laughs(30, 2), id="doubling-aliases"),
        # `<<` merges expand too; each level once took ten times longer than the one before it
        pytest.param(_merge_laughs(9, 10), id="merge-key-laughs"),
    ],
)
def test_alias_bomb_is_refused_quickly(text: str) -> None:
    started = time.perf_counter()
    result = check_text(text)
    elapsed = time.perf_counter() - started
    assert isinstance(result, InputError)
    assert any(f"more than {MAX_EXPANDED_VALUES:,} values" in p.message for p in result.problems)
    assert elapsed < 2.0, f"an alias bomb took {elapsed:.1f} s to refuse"


# -- near and over the loader's limits ------------------------------------------------------------

# Where the generated part goes: (text before it, how many nodes that text makes, how many levels of
# nesting are around the part).
WRAPPERS = {
    "top": ("", 0, 0),
    "settings": ("version: 1\nproject: 1\nsettings:\n  name: ", 8, 2),
    "rule": ("version: 1\nproject: 1\nrubric:\n  rules:\n  - ", 9, 3),
}
# A list item, and how many nodes it is.
ITEMS = {"1": 1, "x": 1, "{a: 1}": 3, "[1, 2]": 3, "{metric_id: 1, absent: true}": 5}


def many_values(wrapper: str, item: str, offset: int) -> tuple[str, int]:
    """A flow list of ``item`` making MAX_NODES + about ``offset`` nodes in all, and how many exactly."""
    prefix, before, _ = WRAPPERS[wrapper]
    count = (MAX_NODES - before - 1) // ITEMS[item] + offset
    return prefix + "[" + ", ".join([item] * count) + "]\n", before + 1 + count * ITEMS[item]


def _nested(style: str, levels: int) -> str:
    if style == "flow-lists":
        return "[" * levels + "1" + "]" * levels
    if style == "flow-lists-unclosed":
        return "[" * levels
    if style == "flow-mappings":
        return "{a: " * levels + "1" + "}" * levels
    if style == "flow-lists-over-lines":
        return "[\n" * levels + "1" + "]" * levels
    if style == "block-lists":
        return "- " * levels + "1\n"
    assert style == "block-mappings"
    return "".join("  " * i + f"k{i}:\n" for i in range(levels))


FLOW_STYLES = ["flow-lists", "flow-lists-unclosed", "flow-mappings"]
TOP_ONLY_STYLES = ["flow-lists-over-lines", "block-lists", "block-mappings"]


@st.composite
def deep_shapes(draw: st.DrawFn) -> tuple[str, str, int]:
    """(wrapper, style, levels): nested just under or over MAX_DEPTH in all, or 100,000 deep."""
    wrapper = draw(st.sampled_from(list(WRAPPERS)))
    around = WRAPPERS[wrapper][2]
    style = draw(st.sampled_from(FLOW_STYLES + TOP_ONLY_STYLES if wrapper == "top" else FLOW_STYLES))
    near = st.integers(min_value=MAX_DEPTH - around - 3, max_value=MAX_DEPTH - around + 3)
    levels = draw(st.one_of(near, st.just(100_000)))
    if style == "block-mappings":
        levels = min(levels, 2_000)  # indented lines: 100,000 of them would be 10 GB
    return wrapper, style, levels


def _refused_for(result: DesiredProject | InputError, message: str) -> bool:
    """Refused for this one reason alone (a limit stops the load: nothing else is reported)."""
    if not isinstance(result, InputError) or not any(message in p.message for p in result.problems):
        return False
    assert len(result.problems) == 1, result
    return True


LIMITS = settings(PROPERTY, max_examples=4, deadline=None)  # ~200,000 values each: ~2 s; the exact
# boundaries are fixed cases in tests/test_loader_limits.py


@LIMITS
@given(
    wrapper=st.sampled_from(list(WRAPPERS)),
    item=st.sampled_from(list(ITEMS)),
    offset=st.integers(min_value=-2, max_value=2),
)
def test_values_near_the_node_limit(wrapper: str, item: str, offset: int) -> None:
    text, nodes = many_values(wrapper, item, offset)
    result = check_text(text)
    refused = _refused_for(result, f"more than {MAX_NODES:,} values and keys")
    assert refused == (nodes > MAX_NODES), (nodes, result)


@settings(PROPERTY, max_examples=100)
@given(deep_shapes())
def test_nesting_near_the_depth_limit(shape: tuple[str, str, int]) -> None:
    wrapper, style, levels = shape
    prefix, _, around = WRAPPERS[wrapper]
    result = check_text(prefix + _nested(style, levels))
    refused = _refused_for(result, f"nested more than {MAX_DEPTH} levels")
    assert refused == (around + levels > MAX_DEPTH), (around + levels, result)


# Inputs that once broke the loader or the validator (first four: a ValueError traceback or a message
# over several lines), and other classic nasties.
HUGE_HEX = "0x" + "f" * 4000  # about 4,800 decimal digits: more than Python will print
NASTY = {
    "hex-int-too-long-to-print": "version: 1\nproject: " + HUGE_HEX + "\n",
    "hex-key-too-long-to-print": "version: 1\n? " + HUGE_HEX + "\n: 1\n",
    "tagged-int-too-long-to-print": 'version: 1\nsettings: {outbound_timeout: !!int "' + HUGE_HEX + '"}\n',
    "quoted-5000-digits": 'version: 1\nproject: "' + "1" * 5000 + '"\n',
    "nul-byte": "version: 1\nproject: 1\x00\n",
    "control-character": "version: 1\nsettings:\n  name: a\x07b\n",
    "line-break-in-key": 'version: 1\n"a\\nb": 1\n"a\\nb": 2\n',
    "escape-sequence-in-key": 'version: 1\nsettings: {"\\e[2J\\u2028x": 1}\n',
    "line-break-in-metric": (
        'version: 1\nrubric: {rules: [{metric: "x\\ny", absent: true}, {metric: "x\\ny", absent: true}]}\n'
    ),
    "recursive-alias": "version: 1\na: &x [*x]\n",
    "recursive-merge": "version: 1\na: &x {<<: *x}\n",
    "deep-flow": "[" * 100_000,
    "deep-flow-closed": "[" * 5_000 + "]" * 5_000,
    "deep-block": "".join("  " * i + "- \n" for i in range(3_000)),
    "deep-mapping": "".join("  " * i + f"k{i}:\n" for i in range(3_000)),
    "python-object": "version: !!python/object/apply:os.system [echo hi]\n",
    "two-documents": "version: 1\n---\nversion: 1\n",
    "only-a-bom": "\ufeff",
    "utf16-text": "\ufffeversion: 1\n",
}


@pytest.mark.parametrize("text", list(NASTY.values()), ids=list(NASTY))
def test_nasty_inputs(text: str) -> None:
    started = time.perf_counter()
    assert isinstance(check_text(text), InputError)
    assert time.perf_counter() - started < 5.0


def test_unique_items_over_many_mappings_is_fast() -> None:
    """jsonschema's own uniqueItems compared mappings pair by pair: 4,000 took about a minute."""
    items = ", ".join(f"{{a: {i}}}" for i in range(4_000))
    text = f"version: 1\nsettings:\n  daily_report_dashboard_ids: [{items}, {{a: 0}}]\n"
    started = time.perf_counter()
    result = check_text(text)
    assert time.perf_counter() - started < 10.0
    assert isinstance(result, InputError)
    assert any("must not list the same item twice" in p.message for p in result.problems)


# -- (2) the CLI, as a subprocess, on a fixed set of seeded mutations -----------------------------


def _cli_cases() -> dict[str, bytes]:
    base = EXAMPLE.read_text(encoding="utf-8")
    cases = {
        f"mutated-{i:02d}": mutate(random.Random(7_000 + i), base, 1 + i % 4).encode() for i in range(16)
    }
    cases["not-utf8"] = base.replace("Support line QA", "Support \xe9").encode("latin-1", "replace")
    cases["nul-byte"] = base.replace("project: 123", "project: 12\x003").encode()
    cases["alias-bomb"] = _laughs(9, 9).encode()
    cases["line-break-in-key"] = NASTY["line-break-in-key"].encode()
    cases["deep-flow"] = NASTY["deep-flow"].encode()
    cases["deep-lists-over-lines"] = _nested("flow-lists-over-lines", 100_000).encode()
    cases["unchanged"] = base.encode()
    return cases


CLI_CASES = _cli_cases()


@pytest.mark.parametrize("name", list(CLI_CASES))
def test_cli_validate_on_mutated_files(name: str, tmp_path: Path) -> None:
    path = tmp_path / f"{name}.yaml"
    path.write_bytes(CLI_CASES[name])
    proc = validate_offline(str(path))
    shown = f"exit {proc.returncode}\nstdout: {proc.stdout!r}\nstderr: {proc.stderr!r}"
    assert proc.returncode in (0, 1), shown
    assert "Traceback" not in proc.stderr, shown
    # The CLI says what the library says.
    try:
        expected: InputError | None = None
        validate_document(load_file(path))
    except InputError as exc:
        expected = exc
    if proc.returncode == 0:
        assert expected is None, shown
        assert proc.stdout.startswith(f"{path}: valid"), shown
        return
    assert expected is not None, shown
    lines = proc.stderr.split("\n")
    assert lines[-1] == "", shown  # ends with a newline
    *problems, summary = lines[:-1]
    assert SUMMARY.fullmatch(summary), shown
    assert int(summary.split()[0]) == len(problems), shown
    pattern = re.compile(rf"{re.escape(str(path))}:[1-9][0-9]*:[1-9][0-9]*: \S.*")
    for line in problems:
        assert pattern.fullmatch(line), shown
        assert not NOISE.search(line), shown
    assert problems == [str(p) for p in expected.problems], shown
    check_error(expected, str(path), None)
