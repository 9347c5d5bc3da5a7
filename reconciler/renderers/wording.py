"""The words a report uses, by what it reports: a plan (what apply will send) or drift (live -> file).

A renderer is given one ``Wording`` and takes its phrases from it, instead of writing a plan and
then rewording it with string replacement. Shared by every format, so that text and markdown say
the same thing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

ReportKind = Literal["plan", "drift"]


def plural(count: int, word: str, many: str | None = None) -> str:
    """'1 rule', '3 rules' (``many`` for irregular plurals)."""
    return f"{count} {word if count == 1 else (many or word + 's')}"


@dataclass(frozen=True)
class Wording:
    kind: ReportKind
    # A plan is sent (guards, secret sources and the PATCH are shown); a drift report sends nothing.
    sends: bool
    # Text: the line of a project that needs nothing, and the suffix of a changed project's heading.
    in_sync: str
    heading_suffix: str
    # What each secret action is called (FieldChange.action -> words).
    secret_notes: Mapping[str, str] = field(default_factory=dict)
    # "N of M projects <verb>"; a project that needs nothing: "<none_changed>: 123, 124".
    verb: str = ""
    none_changed: str = ""
    # The two sides of a change, as table headers.
    sides: tuple[str, str] = ("Before", "After")
    # How counts of rules are described (markdown summaries).
    rules_added: str = ""
    rules_changed: str = ""
    rules_removed: str = ""
    # How counts of metric definitions are described, by MetricChange.action.
    metrics: Mapping[str, str] = field(default_factory=dict)
    # The markdown title when none is given.
    title: str = ""


_SECRET_NOTES = {
    "set": "not configured, will be set",
    "update": "differs from the file, will be set",
    "rotate": "will be rotated",
}

PLAN = Wording(
    kind="plan",
    sends=True,
    in_sync="No changes.",
    heading_suffix="",
    secret_notes=_SECRET_NOTES,
    verb="to change",
    none_changed="No changes",
    sides=("Before", "After"),
    rules_added="to add",
    rules_changed="to change",
    rules_removed="to remove",
    metrics={"create": "to create", "update": "to update", "delete": "to delete"},
    title="Cekura plan",
)

DRIFT = Wording(
    kind="drift",
    sends=False,
    in_sync="In sync.",
    heading_suffix=" has drifted from its file:",
    secret_notes={**_SECRET_NOTES, "set": "not configured"},
    verb="drifted",
    none_changed="No drift",
    sides=("Live", "File"),
    rules_added="missing",
    rules_changed="changed",
    rules_removed="not in the file",
    metrics={"create": "missing", "update": "differ", "delete": "not in the file"},
    title="Cekura drift",
)

WORDINGS: dict[str, Wording] = {"plan": PLAN, "drift": DRIFT}
