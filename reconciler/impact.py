"""Rubric impact preview: which production calls would change outcome under the file's rubric.

A project's ``rubric_config`` decides each call's pass/fail from the call's metric results. Before a
rubric change is applied, this module replays the project's recent production calls (the
``/observability/v2/call-logs/`` list) through the live rubric and through the desired one and counts
the calls that flip: pass -> fail and fail -> pass, with a few example call ids per direction and,
per metric, how many flips its rules caused.

Evaluation semantics (the spec's ``rubric_config`` documentation and the product's rubric page,
made exact):

- A rubric is ``{"evaluation_logic": "and", "rules": [...]}``; ``{}`` or ``None`` is no rubric. The
  API only accepts ``"and"``, at both levels: every rule must pass, and within a rule every
  condition. A live rubric written otherwise (the product docs mention AND/OR) is judged as written:
  ``"or"`` at the top passes a call when any rule that is not skipped passes, and a rule's
  ``operator: "or"`` passes when any of its conditions that could be evaluated holds.
- A rule is skipped (neither passes nor fails) when its metric produced no result on the call, or a
  result marked irrelevant (``extra.trigger_failed: true``: the metric's trigger did not fire). A
  metric of the desired rubric with no result on any call of the window (one the same apply
  creates, say) is named in the report (``skipped_no_results``: "skipped: no results yet").
- Decided here: a result whose tested field has no value (``score`` or ``enum`` null, absent or an
  empty string) counts as "no value" for that field, so a condition on it is skipped too (a
  single-condition rule, the documented shape, is then skipped as a whole). A rule with several
  conditions fails when any condition that could be evaluated fails.
- When every rule is skipped, or there is no rubric, the call passes.
- Binary metrics: ``true`` is ``5`` and ``false`` is ``0``, in rules and in results alike.
- Ops: ``eq``/``neq``/``gt``/``gte``/``lt``/``lte`` on ``score`` (numbers, compared exactly);
  ``eq``/``neq``/``in`` on ``enum`` (strings); ``in`` also on ``score`` with a list of numbers. A
  rule outside these shapes raises :class:`RubricFormatError` when the rubric is compiled.
- A call's ``metrics[]`` entry gives ``id``, ``score``, ``enum`` and ``value``; an enum metric may
  carry its value only in ``value``, which is then used. Non-finite scores count as no value.

Speed: :func:`compile_rubric` turns a rubric into flat tuples of ``(field, predicate)`` checks per
rule once; evaluating a call is then a loop over them with no parsing. Only the metric
results that some rule looks at are converted. The report is a fixed set of counters (plus three
per UTC day of the window, for the daily pass-rate chart), so memory does not grow with the number
of calls, and :func:`compute_impact` never holds more than one page of
calls per window being fetched.
"""

from __future__ import annotations

import logging
import math
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, NamedTuple, Protocol

from reconciler.conditions import ALL_OPS, BINARY_FALSE, BINARY_TRUE, FIELD_OPS, comparison, in_words
from reconciler.errors import PlanError, ReconcilerError, RequestRejected

log = logging.getLogger("reconciler.impact")

# The spec: a window "must not exceed 33 days". A server that counts the days inclusively refuses a
# window of exactly 33, so the tool stays a day inside; a window still refused is split in two.
MAX_WINDOW_DAYS = 32
MIN_SPLIT_WINDOW = timedelta(days=1)  # a refused window is split down to this, then the refusal stands
# The spec documents no maximum page_size for the call-logs lists, so the tool asks for 500: a DRF
# server with a lower max_page_size silently serves fewer (the pages are followed by `next`, so
# nothing is lost), the emulator serves at most 500, and pages are streamed, one per thread in
# flight, so memory stays flat. Pages of 100 made one project's preview 3x slower.
CALL_LOGS_PAGE_SIZE = 500
MAX_EXAMPLES = 5
MAX_CHART_DAYS = 60  # the markdown chart shows at most this many (most recent) days

CallRef = int | str
Predicate = Callable[[Any], bool]

_SCORE, _ENUM = 0, 1  # indexes into MetricResult
_FIELDS = {"score": _SCORE, "enum": _ENUM}
_UTC_DAY = re.compile(r"\d{4}-\d\d-\d\dT")


def _number(value: Any) -> float | None:
    """A score as a float: true/false are 5/0; anything else (null, text, NaN, inf) is no number."""
    kind = type(value)
    if kind is float:  # the usual cases first: no isinstance, no conversion
        return value if math.isfinite(value) else None
    if kind is int and -(2**53) <= value <= 2**53:
        return float(value)
    if value is True or value is False:
        return float(BINARY_TRUE if value else BINARY_FALSE)
    if isinstance(value, int | float):
        try:
            number = float(value)
        except OverflowError:
            return None
        return number if math.isfinite(number) else None
    return None


class RubricFormatError(PlanError, ValueError):
    """A ``rubric_config`` value that is not in a shape the product evaluates."""


class MetricResult(NamedTuple):
    """One metric's result on one call; ``None`` means the metric gave no value in that field."""

    score: float | None = None
    enum: str | None = None

    @classmethod
    def from_api(cls, entry: Mapping[str, Any]) -> MetricResult:
        """From a call log's ``metrics[]`` entry (``score``, ``enum``, ``value``)."""
        score = _number(entry.get("score"))
        enum = entry.get("enum")
        if not isinstance(enum, str) or not enum:
            value = entry.get("value")
            enum = value if isinstance(value, str) and value else None
        return cls(score, enum)


def is_irrelevant(entry: Mapping[str, Any]) -> bool:
    """A ``metrics[]`` entry the product marked irrelevant: the metric's trigger did not fire
    (``extra.trigger_failed: true``), so it did not run on the call and its rule is skipped."""
    extra = entry.get("extra")
    if extra is None:
        return False  # most results: no need for the (slow) Mapping check
    return isinstance(extra, Mapping) and extra.get("trigger_failed") is True


@dataclass(frozen=True, slots=True)
class Verdict:
    """A call's outcome under one rubric, and the metric ids of the rules that failed (in rule order)."""

    passed: bool
    failed: tuple[int, ...] = ()


PASS = Verdict(True)

Check = tuple[int, Predicate]  # (index into MetricResult, predicate on that field's value)
CompiledRule = tuple[int, bool, tuple[Check, ...]]  # (metric_id, any condition suffices, checks)


class CompiledRubric:
    """A rubric turned into flat checks once, to evaluate many calls fast. ``any_rule``: the rubric's
    evaluation_logic is "or" (any rule that is not skipped passing passes the call)."""

    __slots__ = ("any_rule", "metric_ids", "rules", "source")

    def __init__(self, rules: tuple[CompiledRule, ...], source: Any, *, any_rule: bool = False) -> None:
        self.rules = rules
        self.any_rule = any_rule
        self.metric_ids = frozenset(metric_id for metric_id, _, _ in rules)
        self.source = source

    @property
    def checks(self) -> int:
        """How many conditions the rubric checks."""
        return sum(len(checks) for _, _, checks in self.rules)

    def __repr__(self) -> str:
        logic = "or" if self.any_rule else "and"
        return f"CompiledRubric({self.checks} checks on metrics {sorted(self.metric_ids)}, {logic})"

    def evaluate(self, results: Mapping[int, MetricResult]) -> Verdict:
        failed: list[int] | None = None
        passed_one = False
        get = results.get
        for metric_id, any_check, checks in self.rules:
            result = get(metric_id)
            if result is None:
                continue
            verdict: bool | None = None
            for index, holds in checks:
                actual = result[index]
                if actual is None:
                    continue
                if holds(actual):
                    verdict = True
                    if any_check:
                        break
                else:
                    verdict = False
                    if not any_check:
                        break
            if verdict is None:
                continue
            if verdict:
                passed_one = True
            elif failed is None:
                failed = [metric_id]
            elif metric_id not in failed:
                failed.append(metric_id)
        if failed is None or (self.any_rule and passed_one):
            return PASS
        return Verdict(False, tuple(failed))


def _compile_condition(where: str, cond: Any) -> tuple[int, Predicate]:
    if not isinstance(cond, Mapping):
        raise RubricFormatError(f"{where}: a condition must be an object, not {cond!r}")
    fld, op, value = cond.get("field"), cond.get("op"), cond.get("value")
    if fld not in _FIELDS:
        raise RubricFormatError(f'{where}: field must be "score" or "enum", not {fld!r}')
    if op not in ALL_OPS:
        raise RubricFormatError(f"{where}: op must be one of {', '.join(ALL_OPS)}, not {op!r}")
    if op == "in":
        if not isinstance(value, list):
            raise RubricFormatError(f"{where}: op in takes a list, not {value!r}")
        if fld == "enum":
            if not all(isinstance(v, str) for v in value):
                raise RubricFormatError(f"{where}: enum op in takes a list of strings, not {value!r}")
            return _ENUM, frozenset(value).__contains__
        numbers = [_number(v) for v in value]
        if any(n is None for n in numbers):
            raise RubricFormatError(f"{where}: score op in takes a list of numbers, not {value!r}")
        return _SCORE, frozenset(numbers).__contains__
    if fld == "enum":
        if op not in FIELD_OPS["enum"]:
            raise RubricFormatError(f"{where}: field enum takes op {in_words(FIELD_OPS['enum'])}, not {op!r}")
        if not isinstance(value, str):
            raise RubricFormatError(f"{where}: enum op {op} takes a string, not {value!r}")
        return _ENUM, comparison(op, value)
    number = _number(value)
    if number is None:
        raise RubricFormatError(f"{where}: score op {op} takes a number (or true/false), not {value!r}")
    return _SCORE, comparison(op, number)


_LOGICS = ("and", "or")


def compile_rubric(rubric: Mapping[str, Any] | CompiledRubric | None) -> CompiledRubric:
    """Check a ``rubric_config`` value's shape and compile it; raises RubricFormatError."""
    if isinstance(rubric, CompiledRubric):
        return rubric
    if rubric is None:
        return CompiledRubric((), rubric)
    if not isinstance(rubric, Mapping):
        raise RubricFormatError(f"rubric_config must be an object, not {rubric!r}")
    logic = rubric.get("evaluation_logic", "and")
    if logic not in _LOGICS:
        raise RubricFormatError(f'rubric_config evaluation_logic must be "and" or "or", not {logic!r}')
    rules = rubric.get("rules", [])
    if not isinstance(rules, list):
        raise RubricFormatError(f"rubric_config rules must be a list, not {rules!r}")
    compiled: list[CompiledRule] = []
    for number, rule in enumerate(rules, 1):
        if not isinstance(rule, Mapping):
            raise RubricFormatError(f"rubric rule {number}: a rule must be an object, not {rule!r}")
        metric_id = rule.get("metric_id")
        if not isinstance(metric_id, int) or isinstance(metric_id, bool):
            raise RubricFormatError(f"rubric rule {number}: metric_id must be an integer, not {metric_id!r}")
        where = f"rubric rule {number} (metric {metric_id})"
        group = rule.get("conditions")
        if not isinstance(group, Mapping) or not isinstance(group.get("conditions"), list):
            raise RubricFormatError(f'{where}: conditions must be {{"operator": "and", "conditions": [...]}}')
        operator = group.get("operator", "and")
        if operator not in _LOGICS:
            raise RubricFormatError(f'{where}: operator must be "and" or "or", not {operator!r}')
        checks = tuple(_compile_condition(where, cond) for cond in group["conditions"])
        compiled.append((metric_id, operator == "or", checks))
    return CompiledRubric(tuple(compiled), rubric, any_rule=logic == "or")


def evaluate(
    rubric: Mapping[str, Any] | CompiledRubric | None, results: Mapping[int, MetricResult]
) -> Verdict:
    """One call's outcome under a rubric. Compile the rubric once (compile_rubric) for many calls."""
    return compile_rubric(rubric).evaluate(results)


def call_results(call: Mapping[str, Any], only: Iterable[int] | None = None) -> dict[int, MetricResult]:
    """A call log's ``metrics[]`` as ``{metric_id: MetricResult}``, without the results marked
    irrelevant; ``only`` limits it to some ids."""
    wanted = None if only is None else (only if isinstance(only, frozenset | set) else frozenset(only))
    entries = call.get("metrics")
    results: dict[int, MetricResult] = {}
    if not isinstance(entries, list):
        return results
    for entry in entries:
        # JSON gives dicts: `type(...) is dict` spares the Mapping check (an ABC, slow) per result.
        if type(entry) is not dict and not isinstance(entry, Mapping):
            continue
        metric_id = entry.get("id")
        if not isinstance(metric_id, int) or (wanted is not None and metric_id not in wanted):
            continue  # results no rule looks at are never converted
        if not is_irrelevant(entry):  # an irrelevant result is as if the metric gave none
            results[metric_id] = MetricResult.from_api(entry)
    return results


def call_day(call: Mapping[str, Any]) -> str | None:
    """The UTC day (``YYYY-MM-DD``) of a call's ``timestamp``; None when it has no readable one."""
    stamp = call.get("timestamp")
    if not isinstance(stamp, str):
        return None
    if stamp.endswith("Z") and _UTC_DAY.match(stamp):
        return stamp[:10]  # the API's own form: already UTC
    try:
        when = datetime.fromisoformat(stamp)
    except ValueError:
        return None
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).astimezone(UTC).date().isoformat()


def call_ref(call: Mapping[str, Any]) -> CallRef | None:
    """How a call is named in examples: its CallLog id (the API's ``call_ids`` filter), else call_id."""
    ident = call.get("id")
    if isinstance(ident, int) and not isinstance(ident, bool):
        return ident
    provider = call.get("call_id")
    return provider if isinstance(provider, str) and provider else None


# -- the report ------------------------------------------------------------------------------------


@dataclass
class MetricFlips:
    """How many flips one metric's rules caused."""

    pass_to_fail: int = 0
    fail_to_pass: int = 0


@dataclass
class ImpactReport:
    """Counters over the calls of one project; its size does not depend on the number of calls.

    A pass -> fail flip is caused by the desired rubric's failing rules, a fail -> pass flip by the
    live rubric's failing rules; each such metric is counted once per flipped call.
    ``recorded_mismatches`` counts calls whose recorded ``success`` differs from this module's
    verdict under the live rubric (calls reviewed by hand, or scored under an earlier rubric).
    """

    project_id: int
    since: datetime | None = None
    until: datetime | None = None
    calls: int = 0
    passing_before: int = 0
    passing_after: int = 0
    pass_to_fail: int = 0
    fail_to_pass: int = 0
    recorded_mismatches: int = 0
    examples_pass_to_fail: list[CallRef] = field(default_factory=list)
    examples_fail_to_pass: list[CallRef] = field(default_factory=list)
    by_metric: dict[int, MetricFlips] = field(default_factory=dict)
    # UTC day ("2026-11-28") -> [calls, passing now, passing with the desired rubric]
    daily: dict[str, list[int]] = field(default_factory=dict)
    # The metrics the desired rubric's rules name, and those that gave a result on some call.
    rule_metrics: set[int] = field(default_factory=set)
    metrics_seen: set[int] = field(default_factory=set)

    @property
    def skipped_no_results(self) -> list[int]:
        """Metrics of the desired rubric's rules with no result on any call of the window (a metric
        the same apply creates, say): their rules were skipped on every call, deciding none."""
        return sorted(self.rule_metrics - self.metrics_seen) if self.calls else []

    @property
    def flips(self) -> int:
        return self.pass_to_fail + self.fail_to_pass

    def record(
        self,
        ref: CallRef | None,
        before: Verdict,
        after: Verdict,
        *,
        recorded: bool | None = None,
        day: str | None = None,
    ) -> None:
        """Count one call given its verdicts under the live (before) and desired (after) rubric;
        ``day`` (UTC, ``YYYY-MM-DD``) counts it in that day's pass rates too."""
        self.calls += 1
        if day is not None:
            counts = self.daily.get(day)
            if counts is None:
                counts = self.daily[day] = [0, 0, 0]
            counts[0] += 1
            counts[1] += before.passed
            counts[2] += after.passed
        if recorded is not None and recorded != before.passed:
            self.recorded_mismatches += 1
        if before.passed:
            self.passing_before += 1
            if after.passed:
                self.passing_after += 1
                return
            self.pass_to_fail += 1
            if ref is not None and len(self.examples_pass_to_fail) < MAX_EXAMPLES:
                self.examples_pass_to_fail.append(ref)
            for metric_id in after.failed:
                self._flips(metric_id).pass_to_fail += 1
        elif after.passed:
            self.passing_after += 1
            self.fail_to_pass += 1
            if ref is not None and len(self.examples_fail_to_pass) < MAX_EXAMPLES:
                self.examples_fail_to_pass.append(ref)
            for metric_id in before.failed:
                self._flips(metric_id).fail_to_pass += 1

    def _flips(self, metric_id: int) -> MetricFlips:
        flips = self.by_metric.get(metric_id)
        if flips is None:
            flips = self.by_metric[metric_id] = MetricFlips()
        return flips

    def add_calls(
        self,
        calls: Iterable[Mapping[str, Any]],
        live: Mapping[str, Any] | CompiledRubric | None,
        desired: Mapping[str, Any] | CompiledRubric | None,
    ) -> None:
        """Evaluate calls one at a time as they come (any iterable, e.g. a generator over pages)."""
        before_rubric, after_rubric = compile_rubric(live), compile_rubric(desired)
        wanted = before_rubric.metric_ids | after_rubric.metric_ids
        check_recorded = bool(before_rubric.checks)
        self.rule_metrics |= after_rubric.metric_ids
        unseen = set(after_rubric.metric_ids) - self.metrics_seen
        days: dict[str, str | None] = {}  # "YYYY-MM-DDT" of a UTC ("...Z") timestamp -> its day
        for call in calls:
            results = call_results(call, wanted)
            if unseen and not unseen.isdisjoint(results):
                self.metrics_seen |= unseen & results.keys()
                unseen -= results.keys()
            recorded = call.get("success") if check_recorded else None
            stamp = call.get("timestamp")
            if isinstance(stamp, str) and stamp.endswith("Z"):
                day = days.get(stamp[:11], "")
                if day == "":
                    day = days[stamp[:11]] = call_day(call)
            else:
                day = call_day(call)
            self.record(
                call_ref(call),
                before_rubric.evaluate(results),
                after_rubric.evaluate(results),
                recorded=recorded if isinstance(recorded, bool) else None,
                day=day,
            )

    def merge(self, other: ImpactReport) -> None:
        """Add another report's counts (``other``'s examples come after this one's)."""
        self.calls += other.calls
        self.passing_before += other.passing_before
        self.passing_after += other.passing_after
        self.pass_to_fail += other.pass_to_fail
        self.fail_to_pass += other.fail_to_pass
        self.recorded_mismatches += other.recorded_mismatches
        room = MAX_EXAMPLES - len(self.examples_pass_to_fail)
        self.examples_pass_to_fail.extend(other.examples_pass_to_fail[: max(room, 0)])
        room = MAX_EXAMPLES - len(self.examples_fail_to_pass)
        self.examples_fail_to_pass.extend(other.examples_fail_to_pass[: max(room, 0)])
        for metric_id, flips in other.by_metric.items():
            mine = self._flips(metric_id)
            mine.pass_to_fail += flips.pass_to_fail
            mine.fail_to_pass += flips.fail_to_pass
        self.rule_metrics |= other.rule_metrics
        self.metrics_seen |= other.metrics_seen
        for day, counts in other.daily.items():
            have = self.daily.setdefault(day, [0, 0, 0])
            for index, count in enumerate(counts):
                have[index] += count

    def to_json(self) -> dict[str, Any]:
        return {
            "project_id": self.project_id,
            "since": _iso(self.since),
            "until": _iso(self.until),
            "calls": self.calls,
            "passing_before": self.passing_before,
            "passing_after": self.passing_after,
            "pass_to_fail": {"count": self.pass_to_fail, "examples": list(self.examples_pass_to_fail)},
            "fail_to_pass": {"count": self.fail_to_pass, "examples": list(self.examples_fail_to_pass)},
            "by_metric": [
                {"metric_id": metric_id, "pass_to_fail": f.pass_to_fail, "fail_to_pass": f.fail_to_pass}
                for metric_id, f in sorted(self.by_metric.items())
            ],
            "recorded_mismatches": self.recorded_mismatches,
            "skipped_no_results": self.skipped_no_results,
            "daily": [
                {"date": day, "calls": calls, "passing_before": before, "passing_after": after}
                for day, (calls, before, after) in sorted(self.daily.items())
            ],
        }


def impact_of_calls(
    calls: Iterable[Mapping[str, Any]],
    live_rubric: Mapping[str, Any] | CompiledRubric | None,
    desired_rubric: Mapping[str, Any] | CompiledRubric | None,
    *,
    project_id: int = 0,
) -> ImpactReport:
    """The impact over calls already at hand (or streamed by a generator)."""
    report = ImpactReport(project_id)
    report.add_calls(calls, live_rubric, desired_rubric)
    return report


# -- the time window -------------------------------------------------------------------------------

_DURATION = re.compile(r"\s*(\d+)\s*([mhdw])\s*", re.IGNORECASE)
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_since(text: str) -> timedelta:
    """``"7d"``, ``"12h"``, ``"30m"``, ``"2w"`` -> a timedelta; ValueError with a clear message."""
    match = _DURATION.fullmatch(text) if isinstance(text, str) else None
    hint = "a positive whole number followed by m (minutes), h (hours), d (days) or w (weeks), e.g. 7d"
    if match is None:
        raise ValueError(f"--since {text!r} is not a duration: expected {hint}")
    amount, unit = int(match.group(1)), match.group(2).lower()
    if amount == 0:
        raise ValueError(f"--since {text!r} is an empty window: expected {hint}")
    try:
        span = timedelta(**{_UNITS[unit]: amount})
    except OverflowError:
        raise ValueError(f"--since {text!r} is too long a window") from None
    if span > timedelta(days=3660):
        raise ValueError(f"--since {text!r} is too long a window (at most about ten years)")
    return span


def _utc(moment: datetime) -> datetime:
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)


def split_window(
    since: datetime, until: datetime, max_days: int = MAX_WINDOW_DAYS
) -> list[tuple[datetime, datetime]]:
    """``[since, until]`` cut into consecutive windows of at most ``max_days`` each, oldest first.

    Each window starts where the previous one ends. Naive datetimes are taken as UTC; the windows
    are in UTC.
    """
    if max_days <= 0:
        raise ValueError(f"max_days must be positive, not {max_days}")
    start, end = _utc(since), _utc(until)
    if end <= start:
        raise ValueError(f"the window is empty: since ({_iso(start)}) is not before until ({_iso(end)})")
    step = timedelta(days=max_days)
    windows = []
    while start < end:
        stop = min(start + step, end)
        windows.append((start, stop))
        start = stop
    return windows


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else _utc(moment).isoformat().replace("+00:00", "Z")


def _in_window(call: Mapping[str, Any], start: datetime, end: datetime, closed: bool) -> bool:
    """``[start, end)``, or ``[start, end]`` for the last window: a call on a seam is counted once."""
    stamp = call.get("timestamp")
    if not isinstance(stamp, str):
        return True
    try:
        when = datetime.fromisoformat(stamp)
    except ValueError:
        return True  # the server put it in the window; nothing better to go on
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return start <= when < end or (closed and when == end)


# -- fetching --------------------------------------------------------------------------------------


class CallLogSource(Protocol):
    """What compute_impact needs of a client (CekuraClient has it)."""

    def iter_call_logs(
        self, project_id: int, start: datetime, end: datetime, *, page_size: int = ...
    ) -> Iterator[dict[str, Any]]: ...


@dataclass(frozen=True)
class ImpactRequest:
    """One project to preview: its live rubric and the rubric the file would make it."""

    project_id: int
    live_rubric: Mapping[str, Any] | CompiledRubric | None
    desired_rubric: Mapping[str, Any] | CompiledRubric | None


def compute_impact(
    client: CallLogSource,
    project_id: int,
    live_rubric: Mapping[str, Any] | CompiledRubric | None,
    desired_rubric: Mapping[str, Any] | CompiledRubric | None,
    since: datetime,
    until: datetime,
    parallelism: int = 4,
    *,
    page_size: int = CALL_LOGS_PAGE_SIZE,
) -> ImpactReport:
    """Replay a project's production calls in ``[since, until]`` through both rubrics.

    The window is split into API-sized windows (at most 32 days, a day inside the documented
    limit), fetched by at most ``parallelism`` threads; each thread evaluates its calls as pages
    arrive into its own report, and the reports are merged newest window first, the API's own
    order (so the examples are the most recent flipped calls, and deterministic). A window the
    server still refuses (400) is split in two and each half fetched again, down to a day; only a
    refusal of a day-long window fails the run. Raises the client's ApiError if any window fails
    (the windows not yet started are not fetched), and RubricFormatError before any request if a
    rubric is malformed.
    """
    if parallelism < 1:
        raise ValueError(f"parallelism must be at least 1, not {parallelism}")
    request = ImpactRequest(project_id, compile_rubric(live_rubric), compile_rubric(desired_rubric))
    (result,) = compute_impacts(client, [request], since, until, parallelism, page_size=page_size)
    if isinstance(result, BaseException):
        raise result
    return result


def compute_impacts(
    client: CallLogSource,
    requests: Sequence[ImpactRequest],
    since: datetime,
    until: datetime,
    parallelism: int = 4,
    *,
    page_size: int = CALL_LOGS_PAGE_SIZE,
) -> list[ImpactReport | ReconcilerError]:
    """:func:`compute_impact` for many projects at once, one result per request, in their order.

    Every window of every project is one task on a single pool of ``parallelism`` threads (the
    projects in order, each project's newest window first), so no more than ``parallelism``
    requests are ever in flight, whatever the number of projects, and each holds one page. A
    project's failure (a rubric that does not compile, a window that fails) is returned in its
    place, and its windows not yet started are not fetched; the other projects go on. Anything
    else (a bug, Ctrl-C) stops every window after its current page and is raised.
    """
    if parallelism < 1:
        raise ValueError(f"parallelism must be at least 1, not {parallelism}")
    windows = split_window(since, until)
    newest = windows[-1]
    results: list[ImpactReport | ReconcilerError | None] = [None] * len(requests)
    stops = [threading.Event() for _ in requests]
    tasks: list[tuple[int, Callable[[], ImpactReport]]] = []
    for index, request in enumerate(requests):
        try:
            live, desired = compile_rubric(request.live_rubric), compile_rubric(request.desired_rubric)
        except RubricFormatError as exc:
            results[index] = exc
            continue
        for start, end in reversed(windows):
            fetch = partial(
                _window_report,
                client,
                request.project_id,
                live,
                desired,
                start,
                end,
                closed=(start, end) == newest,
                stop=stops[index],
                page_size=page_size,
            )
            tasks.append((index, fetch))
    parts: dict[int, list[ImpactReport]] = {}
    if tasks:
        workers = min(parallelism, len(tasks))
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="impact")
        try:
            futures = [(index, pool.submit(_stopping, fetch, stops[index])) for index, fetch in tasks]
            for index, future in futures:
                try:
                    part = future.result()
                except ReconcilerError as exc:
                    if results[index] is None:
                        results[index] = exc  # the first failure of this project, newest window first
                    continue
                parts.setdefault(index, []).append(part)
        except BaseException:
            for stop in stops:
                stop.set()
            pool.shutdown(wait=True, cancel_futures=True)
            raise
        pool.shutdown(wait=True)
    done: list[ImpactReport | ReconcilerError] = []
    for index, request in enumerate(requests):
        outcome = results[index]
        if outcome is None:
            outcome = ImpactReport(request.project_id, since=windows[0][0], until=windows[-1][1])
            for part in parts.get(index, []):  # newest window first: the examples stay newest first
                outcome.merge(part)
        done.append(outcome)
    return done


def _stopping(fetch: Callable[[], ImpactReport], stop: threading.Event) -> ImpactReport:
    """Run one window's task; a failure stops the project's other windows at once."""
    try:
        return fetch()
    except BaseException:
        stop.set()
        raise


def _window_report(
    client: CallLogSource,
    project_id: int,
    live: CompiledRubric,
    desired: CompiledRubric,
    start: datetime,
    end: datetime,
    *,
    closed: bool,
    stop: threading.Event,
    page_size: int,
) -> ImpactReport:
    """One window's calls through both rubrics. ``closed``: the window includes its end (only the
    newest one does). Nothing is fetched once ``stop`` is set (another window of the project
    failed); a window the server refuses (400) is split in two and each half fetched, down to a day."""
    part = ImpactReport(project_id)
    if stop.is_set():
        return part

    def calls() -> Iterator[dict[str, Any]]:
        for call in client.iter_call_logs(project_id, start, end, page_size=page_size):
            if stop.is_set():
                return  # another window failed: stop fetching after this page
            if _in_window(call, start, end, closed):
                yield call

    try:
        part.add_calls(calls(), live, desired)
    except RequestRejected as refused:
        if end - start <= MIN_SPLIT_WINDOW or stop.is_set():
            raise
        middle = start + (end - start) / 2
        log.debug("window %s to %s refused (%s); splitting it", _iso(start), _iso(end), refused)
        args = (client, project_id, live, desired)
        part = _window_report(*args, middle, end, closed=closed, stop=stop, page_size=page_size)
        part.merge(_window_report(*args, start, middle, closed=False, stop=stop, page_size=page_size))
    return part


__all__ = [
    "CALL_LOGS_PAGE_SIZE",
    "MAX_EXAMPLES",
    "MAX_WINDOW_DAYS",
    "MIN_SPLIT_WINDOW",
    "PASS",
    "CallLogSource",
    "CallRef",
    "CompiledRubric",
    "ImpactReport",
    "ImpactRequest",
    "MetricFlips",
    "MetricResult",
    "RubricFormatError",
    "Verdict",
    "call_day",
    "call_ref",
    "call_results",
    "compile_rubric",
    "compute_impact",
    "compute_impacts",
    "evaluate",
    "impact_of_calls",
    "is_irrelevant",
    "parse_since",
    "split_window",
]
