"""Pull: write the live values of the fields each project file manages back into the files.

The reverse of apply, for a change made in the Cekura web UI that is to be kept. ``read_live``
reads a project (and its metrics, when its file manages the rubric) and plans it as ``plan`` does;
``compute_pull`` writes every setting and rubric rule that plan would change back into the file,
as the live project has it, with the smallest edit that keeps the file's comments, key order,
quoting and layout (``reconciler.roundtrip``). Only the fields a file manages are written: its
settings, and the rules of the metrics it names (with ``prune: true``, every live rule, as the file
then owns the whole rubric), and the fields each metric definition writes (``metrics:``, by slug;
a definition is never added or removed but as an override). Secrets are never written, their
references stay. Nothing is sent: ``read_live`` only reads.

Where a value goes, with ``extends``: where it is set. A value set in a base file is updated there
when every project file given that reads it from that base now has the same live value (the base
is the shared policy, and every project moved together); when they differ, the base stays and each
project whose live value differs from it gets an override in its own file. A base that names a
project itself follows that project. Files not given to pull that extend an updated base inherit
the new value: their next plan proposes it to their projects, so the notes say which base changed.

Before anything is written, every edited file is loaded again from memory, validated and planned
against the live projects read: ``plan`` right after a pull finds no changes (except what the
notes name: a secret that is not configured live, a value the file format cannot hold). A file
whose edit would not be safe (a value shared through a YAML anchor or merge) is refused with its
``file:line:col``. ``write_pull`` writes each file atomically (a temporary file renamed over it),
with the original's permissions.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from reconciler.changes import ProjectPlan
from reconciler.conditions import BINARY_TYPES, with_bool_value
from reconciler.diff import diff_project, live_rubric_rules, rule_metric, rules_equal, settings_equal
from reconciler.errors import InputError, ReconcilerError
from reconciler.export import _group_reason, _setting_reason, metric_reference
from reconciler.files import load_desired
from reconciler.loader import Document, load_file, load_text
from reconciler.model import DesiredProject
from reconciler.roundtrip import MISSING, EditableFile, ValueStyle, open_file, to_plain
from reconciler.rubric import MetricCatalog, load_catalog, resolve_rules

if TYPE_CHECKING:
    from reconciler.client import CekuraClient

RULES: tuple[str, ...] = ("rubric", "rules")
_SET_LISTS = frozenset({"time_periods", "exception_numbers", "agents"})


@dataclass(frozen=True)
class LiveRead:
    """A project file's project as the API has it, planned against the file."""

    desired: DesiredProject
    live: dict[str, Any]
    catalog: MetricCatalog
    plan: ProjectPlan
    # What the metrics kind read (its ``MetricsRead``), when the file defines metrics.
    reads: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PulledChange:
    what: str  # "settings.sample_rate", "rubric: metric 7002 (Followed Script)"
    detail: str  # "0.5 -> 0.25"
    order: tuple[int, int] = field(default=(0, 0), compare=False, repr=False)  # where, in the file


@dataclass
class PulledFile:
    file: str
    role: str  # "project 123", "base of a.yaml, b.yaml"
    changes: list[PulledChange]
    text: str = field(repr=False)
    data: bytes = field(repr=False)


@dataclass
class PullResult:
    files: list[PulledFile]  # the files that change, in the order given (bases after their children)
    notes: list[str]

    @property
    def has_changes(self) -> bool:
        return bool(self.files)


# -- reading ----------------------------------------------------------------------------------------


def read_live(client: CekuraClient, desired: DesiredProject) -> LiveRead:
    """GET the project (and its metrics when the rubric is managed) and plan the file against it.
    No secret is read: pull never writes one."""
    from reconciler.kinds.rubric import nearest_rules as _nearest_rules

    assert desired.project_id is not None
    live = client.get_project(desired.project_id)
    catalog = MetricCatalog()
    rules: tuple[Any, ...] = ()
    if desired.rubric is not None:
        ids = [r.metric_id for r in desired.rubric.rules if r.metric_id is not None]
        refs = [r.metric_ref for r in desired.rubric.rules if r.metric_ref is not None]
        catalog = load_catalog(client, desired.project_id, ids=ids, refs=refs)
        rules = _nearest_rules(desired, resolve_rules(desired, catalog)[0])
    reads: dict[str, Any] = {}
    if "metrics" in desired.parts:
        from reconciler.kinds import get_kind

        reads["metrics"] = get_kind("metrics").read(client, desired, live)
    plan = diff_project(desired, live, rules=rules, metrics=catalog.metrics, secret_values={}, reads=reads)
    unknown = [c.metric_id for c in plan.rule_changes if c.metric_id not in catalog.metrics]
    if unknown and not catalog.agents_loaded:
        # Live rules of agent-scoped metrics (with prune: true): their metrics name them in the file.
        catalog = load_catalog(client, desired.project_id, ids=unknown, refs=())
        plan = diff_project(
            desired, live, rules=rules, metrics=catalog.metrics, secret_values={}, reads=reads
        )
    return LiveRead(desired, live, catalog, plan, reads)


# -- where each value is written --------------------------------------------------------------------


def _key(path: str) -> str:
    return os.path.realpath(path)


class _Files:
    """Every file involved, each read once; an ``EditableFile`` is opened when an edit needs one."""

    def __init__(self) -> None:
        self.docs: dict[str, Document] = {}
        self.names: dict[str, str] = {}
        self.editable: dict[str, EditableFile] = {}
        self.order: list[str] = []

    def doc(self, path: str) -> Document:
        key = _key(path)
        if key not in self.docs:
            self.docs[key] = load_file(path)
            self.names[key] = path
            self.order.append(key)
        return self.docs[key]

    def chain(self, path: str) -> list[str]:
        """``path`` and, through ``extends``, its bases (as ``files.load_desired`` finds them)."""
        out = [path]
        seen = {_key(path)}
        while True:
            data = self.doc(out[-1]).data
            reference = data.get("extends") if isinstance(data, dict) else None
            if not isinstance(reference, str):
                return out
            base = os.path.normpath(Path(out[-1]).parent / reference)
            if _key(base) in seen:  # a cycle: load_projects has refused it already
                return out
            seen.add(_key(base))
            out.append(base)

    def edit(self, path: str) -> EditableFile:
        key = _key(path)
        if key not in self.editable:
            doc = self.doc(path)
            try:
                raw = Path(path).read_bytes()
            except OSError as exc:
                raise ReconcilerError(f"{path}: cannot read the file: {exc.strerror}") from None
            self.editable[key] = open_file(self.names[key], raw, doc.data)
        return self.editable[key]


def _settings_of(doc: Document) -> dict[str, Any]:
    data = doc.data if isinstance(doc.data, dict) else {}
    settings = data.get("settings")
    return settings if isinstance(settings, dict) else {}


def _rule_entries(doc: Document) -> list[Any]:
    data = doc.data if isinstance(doc.data, dict) else {}
    rubric = data.get("rubric")
    rules = rubric.get("rules") if isinstance(rubric, dict) else None
    return rules if isinstance(rules, list) else []


def _resolve(entry: Any, catalog: MetricCatalog) -> int | None:
    if not isinstance(entry, dict):
        return None
    if type(entry.get("metric_id")) is int:
        return int(entry["metric_id"])
    ref = entry.get("metric")
    found = catalog.find(ref) if isinstance(ref, str) else []
    return found[0].id if len(found) == 1 else None


@dataclass
class _Reader:
    """One project that reads a value from a file, with its live value (None: cannot be pulled)."""

    read: LiveRead
    value: Any
    metric: int | None = None

    @property
    def file(self) -> str:
        return self.read.desired.file


@dataclass
class _Group:
    """One value of one file (a setting, or the rules of one metric) and every project reading it."""

    owner: str
    kind: str  # "setting" | "rules" | "new-rules"
    name: Any  # the setting's name, the indexes of the owner's rule entries, or a metric id
    readers: list[_Reader] = field(default_factory=list)
    # Why nothing of it is pulled: a project reading it could not be read, or has a live value the
    # file format cannot hold (then writing the others' values could only be a guess).
    blocked: str | None = None


class _Pull:
    def __init__(self, reads: Sequence[LiveRead], failed: Sequence[DesiredProject]) -> None:
        self.reads = reads
        self.files = _Files()
        self.changes: dict[str, list[PulledChange]] = {}
        self.notes: list[str] = []
        # Per project file: settings and metrics left as they are, with the reason in the notes.
        self.left: dict[str, set[str | int]] = {_key(r.desired.file): set() for r in reads}
        self.groups: dict[tuple[str, str, Any], _Group] = {}
        self.blocked_files = {_key(f) for d in failed for f in self.files.chain(d.file)}

    # -- grouping ---------------------------------------------------------------------------------

    def group(self, owner: str, kind: str, name: Any) -> _Group:
        key = (_key(owner), kind, json.dumps(name))
        if key not in self.groups:
            blocked = "a project reading it from this file could not be read"
            self.groups[key] = _Group(
                owner, kind, name, blocked=blocked if _key(owner) in self.blocked_files else None
            )
        return self.groups[key]

    def collect(self) -> None:
        for read in self.reads:
            chain = self.files.chain(read.desired.file)
            self._note_unpulled(read)
            for name in read.desired.settings:
                owner = next((f for f in chain if name in _settings_of(self.files.doc(f))), chain[0])
                group = self.group(owner, "setting", name)
                value = read.live.get(name, _MISSING)
                reason = "not returned by the API" if value is _MISSING else _setting_reason(name, value)
                if reason:
                    self._leave(read, name, f"settings.{name}: the live value cannot be written ({reason})")
                    group.blocked = (
                        group.blocked or "the live value of another project reading it cannot be written"
                    )
                    continue
                group.readers.append(_Reader(read, value))
            if read.desired.rubric is not None:
                self._collect_rules(read, chain)
            if "metrics" in read.desired.parts:
                self._collect_metrics(read, chain)

    def _collect_metrics(self, read: LiveRead, chain: list[str]) -> None:
        """Each field a definition writes is a value of the nearest file that writes it for that
        slug; a project reads the live value of the fields its plan would change, and its file's
        value of the others (an agent named by name reads as the same agent's id)."""
        from reconciler.kinds.metrics import definitions, pullable_reason

        changed = {
            (c.slug, name): value
            for c in read.plan.metric_changes
            if c.action == "update"
            for name, value in c.before.items()
        }
        for change in read.plan.metric_changes:
            if change.action == "create":
                self._leave(
                    read,
                    f"metrics.{change.slug}",
                    f"metric {change.slug} does not exist in project {read.desired.project_id}; the next "
                    "apply creates it",
                )
            elif change.action == "delete":
                self._leave(
                    read,
                    f"metrics.{change.slug}",
                    f"metric {change.slug} ({change.metric_id}) is not defined here and prune: true deletes "
                    "it at the next apply; pull does not add definitions",
                )
        for definition in definitions(read.desired.parts.get("metrics")):
            slug = definition["slug"]
            for name in definition:
                if name == "slug":
                    continue
                owner = next((f for f in chain if name in _definition_of(self.files.doc(f), slug)), chain[0])
                group = self.group(owner, "metric", [slug, name])
                if (slug, name) not in changed:
                    group.readers.append(_Reader(read, _definition_of(self.files.doc(owner), slug)[name]))
                    continue
                value = changed[(slug, name)]
                reason = pullable_reason(name, value)
                if reason:
                    self._leave(
                        read,
                        f"metrics.{slug}.{name}",
                        f"metrics.{slug}.{name}: the live value cannot be written ({reason})",
                    )
                    group.blocked = (
                        group.blocked or "the live value of another project reading it cannot be written"
                    )
                    continue
                group.readers.append(_Reader(read, value))

    def _collect_rules(self, read: LiveRead, chain: list[str]) -> None:
        named: dict[int, tuple[str, list[int]]] = {}
        for file in chain:
            for index, entry in enumerate(_rule_entries(self.files.doc(file))):
                metric = _resolve(entry, read.catalog)
                if metric is None:
                    continue
                if metric not in named:
                    named[metric] = (file, [index])
                elif _key(named[metric][0]) == _key(file):
                    named[metric][1].append(index)
        changed = [c.metric_id for c in read.plan.rule_changes]
        live = _live_rules(read.live)
        for metric in [*named, *(m for m in changed if m not in named)]:
            if metric in named:
                owner, indexes = named[metric]
                group = self.group(owner, "rules", indexes)
            else:
                group = self.group(read.desired.file, "new-rules", metric)
            rules = live.get(metric, [])
            reason = _rules_reason(read, metric, rules)
            if reason:
                label = _metric_label(read, metric)
                self._leave(read, metric, f"rubric: the live rules of {label} cannot be written ({reason})")
                group.blocked = (
                    group.blocked or "the live rules of another project reading them cannot be written"
                )
                continue
            group.readers.append(_Reader(read, rules, metric))

    def _note_unpulled(self, read: LiveRead) -> None:
        file = read.desired.file
        for change in read.plan.field_changes:
            if change.sensitive and change.action == "set":
                self.notes.append(
                    f"{file}: secret {change.path} is not configured in Cekura; pull never writes "
                    "secrets (the next apply sets it from its reference)"
                )
            elif change.path == "rubric_config.evaluation_logic":
                self.notes.append(
                    f"{file}: the live rubric's evaluation_logic is {json.dumps(change.before)}; the file "
                    'format only has "and", so the next apply sets "and" again'
                )

    def _leave(self, read: LiveRead, item: str | int, message: str) -> None:
        self.left[_key(read.desired.file)].add(item)
        self.notes.append(f"{read.desired.file}: {message}; left as it is")

    # -- deciding ---------------------------------------------------------------------------------

    def decide(self) -> None:
        # A file's rule entries are found by their index: edit the last ones first, so that adding
        # or removing entries never moves an entry still to be edited (new metrics go at the end).
        def order(group: _Group) -> tuple[int, str, int]:
            kind = {"setting": 0, "rules": 1, "new-rules": 2, "metric": 3}[group.kind]
            return kind, _key(group.owner), -min(group.name) if group.kind == "rules" else 0

        for group in sorted(self.groups.values(), key=order):
            if not group.readers:
                continue
            if group.blocked:
                self._skip(group)
                continue
            if group.kind == "setting":
                self._decide_setting(group)
            elif group.kind == "metric":
                self._decide_metric(group)
            else:
                self._decide_rules(group)

    def _skip(self, group: _Group) -> None:
        """Nothing of a blocked group is written, where the readers' live values differ from it."""
        if group.kind == "setting":
            name = str(group.name)
            current = _settings_of(self.files.doc(group.owner)).get(name, _MISSING)
            differ = [r for r in group.readers if not settings_equal(name, r.value, current)]
            what = f"settings.{name}"
        elif group.kind == "metric":
            slug, name = group.name
            current = _definition_of(self.files.doc(group.owner), slug).get(name, _MISSING)
            differ = [r for r in group.readers if _field_differs(name, r.value, current)]
            what = f"metrics.{slug}.{name}"
            for reader in differ:
                self.left[_key(reader.file)].add(what)
            if differ:
                self.notes.append(f"{group.owner}: {what} not pulled: {group.blocked}; left as it is")
            return
        else:
            entries = _rule_entries(self.files.doc(group.owner))
            indexes = list(group.name) if group.kind == "rules" else []
            current = [
                {"conditions": entries[i]["conditions"]} for i in indexes if "conditions" in entries[i]
            ]
            differ = [r for r in group.readers if not rules_equal(r.value, current, binary=_binary(r))]
            what = f"the rules of {_metric_label(differ[0].read, differ[0].metric or 0)}" if differ else ""
        if not differ:
            return
        for reader in differ:
            self.left[_key(reader.file)].add(group.name if group.kind == "setting" else reader.metric or 0)
        self.notes.append(f"{group.owner}: {what} not pulled: {group.blocked}; left as it is")

    def _target(self, group: _Group, current: Any, same: Callable[[_Reader, Any, Any], bool]) -> Any:
        """What the owner should hold: its own project's value, else the value every reader agrees on,
        else what it holds (then the readers that differ get overrides)."""
        own = next((r for r in group.readers if _key(r.file) == _key(group.owner)), None)
        if own is not None:
            return own.value
        first = group.readers[0]
        if all(same(r, r.value, first.value) for r in group.readers[1:]):
            return first.value
        return current

    def _decide_setting(self, group: _Group) -> None:
        name = str(group.name)
        current = _settings_of(self.files.doc(group.owner)).get(name, _MISSING)

        def same(reader: _Reader, a: Any, b: Any) -> bool:
            return settings_equal(name, a, b)

        target = self._target(group, current, same)
        if not settings_equal(name, target, current):
            if self._writable(group.owner, group.readers, name):
                editable = self.files.edit(group.owner)
                editable.set(("settings", name), _complete(name, current, target), _SettingStyle())
                for what, before, after in _sub_changes(name, current, target):
                    self._record(group.owner, f"settings.{what}", f"{_show(before)} -> {_show(after)}")
            else:
                target = current
        for reader in group.readers:
            if _key(reader.file) == _key(group.owner) or settings_equal(name, reader.value, target):
                continue
            if not self._writable(reader.file, [reader], name):
                continue
            editable = self.files.edit(reader.file)
            owner = self.files.edit(group.owner)
            if "settings" not in editable.data:
                editable.insert(
                    (),
                    "settings",
                    {name: reader.value},
                    _SettingStyle(),
                    after=_after_header(editable),
                    template=owner.get(("settings",)),
                )
            else:
                template = owner.get(("settings", name))
                editable.set(("settings", name), reader.value, _SettingStyle(), template=template)
            self._record(
                reader.file,
                f"settings.{name}",
                f"{_show(reader.value)} (an override: {group.owner} has {_show(target)})",
            )

    def _decide_rules(self, group: _Group) -> None:
        owner_doc = self.files.doc(group.owner)
        entries = _rule_entries(owner_doc)
        indexes: list[int] = list(group.name) if group.kind == "rules" else []
        current = [
            {"conditions": entries[i]["conditions"]}
            for i in indexes
            if isinstance(entries[i], dict) and "conditions" in entries[i]
        ]

        def same(reader: _Reader, a: Any, b: Any) -> bool:
            return rules_equal(a, b, binary=_binary(reader))

        target = self._target(group, current, same)
        first = group.readers[0]
        if not rules_equal(target, current, binary=_binary(first)):
            if self._writable(group.owner, group.readers, first.metric or 0):
                self._write_rules(group, target, first)
            else:
                target = current
        for reader in group.readers:
            if _key(reader.file) == _key(group.owner):
                continue
            if rules_equal(reader.value, target, binary=_binary(reader)):
                continue
            if not self._writable(reader.file, [reader], reader.metric or 0):
                continue
            self._write_rule_override(group, reader, target)

    def _writable(self, file: str, readers: Sequence[_Reader], item: str | int) -> bool:
        if _key(file) not in self.blocked_files:
            return True
        for reader in readers:
            self.left[_key(reader.file)].add(item)
        what = f"the rules of metric {item}"
        if isinstance(item, str):
            what = item if item.startswith("metrics.") else f"settings.{item}"
        self.notes.append(
            f"{file}: {what} not pulled: a project reading it from this file could not be read; left as it is"
        )
        return False

    def _decide_metric(self, group: _Group) -> None:
        """One field of one metric definition: as a setting is decided (the owner gets its own
        project's value, or the value every project reading it agrees on; the others overrides)."""
        slug, name = group.name
        what = f"metrics.{slug}.{name}"
        owner_doc = self.files.doc(group.owner)
        current = _definition_of(owner_doc, slug).get(name, _MISSING)

        def same(reader: _Reader, a: Any, b: Any) -> bool:
            return not _field_differs(name, a, b)

        target = self._target(group, current, same)
        if _field_differs(name, target, current):
            if self._writable(group.owner, group.readers, what):
                index = _definition_index(owner_doc, slug)
                assert index is not None
                editable = self.files.edit(group.owner)
                editable.set(("metrics", "definitions", index, name), target, _MetricStyle())
                self._record(group.owner, what, _text_detail(current, target), (4, index))
            else:
                target = current
        for reader in group.readers:
            if _key(reader.file) == _key(group.owner) or not _field_differs(name, reader.value, target):
                continue
            if not self._writable(reader.file, [reader], what):
                continue
            self._write_metric_override(reader, slug, name)
            self._record(
                reader.file,
                what,
                f"{_show(reader.value)} (an override: {group.owner} has {_show(target)})",
                (5, 0),
            )

    def _write_metric_override(self, reader: _Reader, slug: str, name: str) -> None:
        """``name: value`` in the reader's own definition of ``slug`` (added when it has none)."""
        editable = self.files.edit(reader.file)
        index = _definition_index(self.files.doc(reader.file), slug)
        style = _MetricStyle()
        if index is not None:
            editable.set(("metrics", "definitions", index, name), reader.value, style)
        elif not editable.has(("metrics",)):
            entry = {"definitions": [{"slug": slug, name: reader.value}]}
            editable.insert((), "metrics", entry, style, after=_after_header(editable))
        elif not editable.has(("metrics", "definitions")):
            editable.insert(("metrics",), "definitions", [{"slug": slug, name: reader.value}], style)
        else:
            editable.append(("metrics", "definitions"), {"slug": slug, name: reader.value}, style)

    # -- rubric edits -----------------------------------------------------------------------------

    def _write_rules(self, group: _Group, target: list[dict[str, Any]], reader: _Reader) -> None:
        """Make the owner's entries for one metric say ``target`` (the live rules), entry by entry."""
        editable = self.files.edit(group.owner)
        style = _RuleStyle(_binary(reader))
        metric = reader.metric
        assert metric is not None
        label = _metric_label(reader.read, metric)
        if group.kind == "new-rules":
            naming = metric_reference(reader.read.catalog.metrics[metric], reader.read.catalog)
            self._ensure_rules(editable, group.owner, [_entry(naming, rule, style.binary) for rule in target])
            self._record(group.owner, f"rubric: {label}", _rules_detail(0, len(target)), (2, metric))
            return
        seq = editable.get(RULES)
        objects = [seq[i] for i in group.name]
        naming = _naming(objects[0])

        def where(obj: Any) -> tuple[str | int, ...]:
            return (*RULES, next(i for i, item in enumerate(seq) if item is obj))

        rules = [o for o in objects if "absent" not in o]
        absents = [o for o in objects if "absent" in o]
        left = list(range(len(target)))
        unpaired = []
        for obj in rules:  # rules that stand as they are keep their place and their comments
            plain = {"conditions": to_plain(obj.get("conditions"))}
            match = next((j for j in left if rules_equal([plain], [target[j]], binary=style.binary)), None)
            if match is None:
                unpaired.append(obj)
            else:
                left.remove(match)
        for obj, j in zip(unpaired, left, strict=False):
            editable.set((*where(obj), "conditions"), target[j]["conditions"], style)
        extra, left = unpaired[len(left) :], left[len(unpaired) :]
        for obj in absents:  # `absent: true` becomes a rule again
            if left:
                j = left.pop(0)
                editable.delete((*where(obj), "absent"))
                editable.set(
                    (*where(obj), "conditions"), _bools(target[j]["conditions"], style.binary), style
                )
            else:
                extra.append(obj)
        if not target:  # every rule removed live: one `absent: true` entry keeps the metric managed
            keep = absents[0] if absents else objects[0]
            extra = [o for o in extra if o is not keep]
            if "absent" not in keep:
                editable.delete((*where(keep), "conditions"))
                editable.set((*where(keep), "absent"), True, style)
        gone = {id(o) for o in extra}
        staying = [o for o in objects if id(o) not in gone]
        last = staying[-1] if staying else None
        for j in left:  # more live rules than entries: new entries after the metric's last one
            after = int(where(last)[-1]) if last is not None else None
            editable.append(RULES, _entry(naming, target[j], style.binary), style, after=after)
            last = seq[after + 1] if isinstance(after, int) else seq[-1]
        for obj in extra:
            editable.delete(where(obj))
        detail = _rules_detail(len(rules), len(target))
        detail += " (absent: true)" if not target else ""
        self._record(group.owner, f"rubric: {label}", detail, (1, min(group.name)))

    def _write_rule_override(self, group: _Group, reader: _Reader, target: list[dict[str, Any]]) -> None:
        """Rules of one metric in a project file, over the ones its base has."""
        editable = self.files.edit(reader.file)
        metric = reader.metric
        assert metric is not None
        binary = _binary(reader)
        if group.kind == "rules":
            naming = _naming(_rule_entries(self.files.doc(group.owner))[group.name[0]])
        else:
            naming = metric_reference(reader.read.catalog.metrics[metric], reader.read.catalog)
        rules: list[dict[str, Any]] = reader.value
        if rules:
            entries = [_entry(naming, rule, binary) for rule in rules]
        else:
            entries = [{naming[0]: naming[1], "absent": True}]
        self._ensure_rules(editable, group.owner, entries)
        ours = _rules_detail(len(rules), len(rules)).split(",")[0] + (" (absent: true)" if not rules else "")
        theirs = _rules_detail(len(target), len(target)).split(",")[0]
        self._record(
            reader.file,
            f"rubric: {_metric_label(reader.read, metric)}",
            f"{ours} (an override: {group.owner} has {theirs})",
            (3, metric),
        )

    def _ensure_rules(self, editable: EditableFile, owner: str, entries: list[dict[str, Any]] | None) -> None:
        """``rubric.rules`` in ``editable``, created (in the owner's style) when missing; ``entries``
        are appended to it."""
        style = _RuleStyle(False)
        template_rubric = None
        if _key(owner) != _key(editable.path):
            source = self.files.edit(owner)
            template_rubric = source.get(("rubric",)) if source.has(("rubric",)) else None
        if not editable.has(("rubric",)):
            editable.insert(
                (), "rubric", {"rules": entries or []}, style, template=_or_missing(template_rubric)
            )
            return
        if not editable.has(RULES):
            template = template_rubric.get("rules") if isinstance(template_rubric, dict) else None
            editable.insert(("rubric",), "rules", entries or [], style, template=_or_missing(template))
            return
        seq = editable.get(RULES)
        template_seq = template_rubric.get("rules") if isinstance(template_rubric, dict) else None
        for entry in entries or []:
            example = seq[-1] if seq else (template_seq[0] if template_seq else None)
            editable.append(RULES, entry, style, template=_or_missing(example) if not seq else MISSING)

    def _record(self, file: str, what: str, detail: str, order: tuple[int, int] = (0, 0)) -> None:
        changes = self.changes.setdefault(_key(file), [])
        changes.append(PulledChange(what, detail, order))
        changes.sort(key=lambda c: c.order)  # stable: settings in the file's order, then the rubric

    # -- checking and the result ------------------------------------------------------------------

    def result(self) -> PullResult:
        texts = {key: editable.render() for key, editable in self.files.editable.items() if editable.edited}
        self._check(texts)
        readers: dict[str, list[str]] = {}
        for read in self.reads:
            for base in self.files.chain(read.desired.file)[1:]:
                readers.setdefault(_key(base), []).append(read.desired.file)
        projects = {_key(r.desired.file): r.desired.project_id for r in self.reads}
        files: list[PulledFile] = []
        order = sorted(self.files.order, key=lambda k: (k not in projects, self.files.order.index(k)))
        for key in order:
            if key not in texts or texts[key] == self.files.editable[key].original:
                continue
            name = self.files.names[key]
            if key in projects:
                role = f"project {projects[key]}"
            else:
                role = "base of " + ", ".join(readers.get(key, []))
                self.notes.append(
                    f"{name}: updated as a base; files not given here that extend it inherit the new "
                    "value too (plan them before the next apply)"
                )
            editable = self.files.editable[key]
            files.append(
                PulledFile(name, role, self.changes.get(key, []), texts[key], editable.encoded(texts[key]))
            )
        return PullResult(files, list(dict.fromkeys(self.notes)))

    def _check(self, texts: dict[str, str]) -> None:
        """Every edited file validates, and plans to no change but what the notes name."""

        def load(path: str) -> Document:
            key = _key(path)
            return load_text(path, texts[key]) if key in texts else load_file(path)

        from reconciler.kinds.rubric import nearest_rules as _nearest_rules

        for read in self.reads:
            try:
                desired = load_desired(read.desired.file, load=load)
                rules: tuple[Any, ...] = ()
                if desired.rubric is not None:
                    rules = _nearest_rules(desired, resolve_rules(desired, read.catalog)[0])
            except (InputError, ReconcilerError) as exc:
                problems = [str(p) for p in exc.problems] if isinstance(exc, InputError) else [str(exc)]
                raise ReconcilerError(
                    f"internal error: after the pull, {read.desired.file} would not be valid: "
                    f"{'; '.join(problems)}; nothing was written"
                ) from None
            reads: dict[str, Any] = {}
            if "metrics" in desired.parts and "metrics" in read.reads:
                from reconciler.kinds.metrics import MetricsRead, metrics_read

                listed = read.reads["metrics"]
                assert isinstance(listed, MetricsRead)
                reads["metrics"] = metrics_read(listed.metrics, desired, listed.agents)
            plan = diff_project(
                desired, read.live, rules=rules, metrics=read.catalog.metrics, secret_values={}, reads=reads
            )
            left = self.left[_key(read.desired.file)]
            remaining = [
                c.path
                for c in plan.field_changes
                if not c.sensitive
                and c.path != "rubric_config.evaluation_logic"
                and c.path.split(".")[0] not in left
            ]
            remaining += [
                f"rubric metric {c.metric_id}" for c in plan.rule_changes if c.metric_id not in left
            ]
            remaining += [
                f"metrics.{c.slug}.{name}"
                for c in plan.metric_changes
                if f"metrics.{c.slug}" not in left
                for name in (c.after if c.action == "update" else ("",))
                if f"metrics.{c.slug}.{name}" not in left
            ]
            if remaining:
                raise ReconcilerError(
                    f"internal error: after the pull, {read.desired.file} would still plan changes "
                    f"({', '.join(remaining)}); nothing was written"
                )


# -- values and their styles ------------------------------------------------------------------------


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


_MISSING: Any = _Missing()


class _SettingStyle(ValueStyle):
    """Settings: id and phone lists and time periods are sets."""

    def unordered(self, path: tuple[str | int, ...]) -> bool:
        if len(path) == 2 and path[0] == "settings":
            return path[1] == "daily_report_dashboard_ids"
        return len(path) == 3 and path[1] == "no_calls_notify_time_period" and path[2] in _SET_LISTS


class _RuleStyle(ValueStyle):
    """Rule conditions: conditions and `in` lists are sets; for a binary metric true is 5 and false
    0, and a value is written as the file wrote the one it replaces (true/false when it is new)."""

    def __init__(self, binary: bool) -> None:
        self.binary = binary

    def unordered(self, path: tuple[str | int, ...]) -> bool:
        return path[-2:] == ("conditions", "conditions") or path[-1:] == ("value",)

    def canon(self, value: Any, path: tuple[str | int, ...]) -> Any:
        if self.binary and path[-1:] == ("value",) and isinstance(value, bool):
            return 5 if value else 0
        return super().canon(value, path)

    def leaf(self, old: Any, new: Any, path: tuple[str | int, ...], *, flow: bool) -> Any:
        if self.binary and path[-1:] == ("value",) and _binary_value(new):
            numeric = isinstance(old, int) and not isinstance(old, bool)
            return (5 if new else 0) if numeric else bool(new)
        return super().leaf(old, new, path, flow=flow)


class _MetricStyle(ValueStyle):
    """Metric definitions: agents and enum values are sets; a text of several lines is written as
    a literal block scalar where YAML keeps it exactly so (as export writes it)."""

    def unordered(self, path: tuple[str | int, ...]) -> bool:
        return len(path) == 4 and path[0] == "metrics" and path[3] in ("agents", "enum_values")

    def leaf(self, old: Any, new: Any, path: tuple[str | int, ...], *, flow: bool) -> Any:
        from ruamel.yaml.scalarstring import LiteralScalarString

        from reconciler.export import block_safe

        if isinstance(new, str) and not flow and block_safe(new):
            return LiteralScalarString(new)
        return super().leaf(old, new, path, flow=flow)


def _definitions_of(doc: Document) -> list[Any]:
    data = doc.data if isinstance(doc.data, dict) else {}
    metrics = data.get("metrics")
    listed = metrics.get("definitions") if isinstance(metrics, dict) else None
    return listed if isinstance(listed, list) else []


def _definition_index(doc: Document, slug: str) -> int | None:
    return next(
        (i for i, d in enumerate(_definitions_of(doc)) if isinstance(d, dict) and d.get("slug") == slug), None
    )


def _definition_of(doc: Document, slug: str) -> dict[str, Any]:
    index = _definition_index(doc, slug)
    found = _definitions_of(doc)[index] if index is not None else None
    return found if isinstance(found, dict) else {}


def _field_differs(name: str, a: Any, b: Any) -> bool:
    from reconciler.kinds.metrics import field_differs

    if a is _MISSING or b is _MISSING:
        return a is not b
    return field_differs(name, a, b)


def _text_detail(before: Any, after: Any) -> str:
    """A change of a text of several lines is said in lines; others as values."""
    if isinstance(before, str) and isinstance(after, str) and ("\n" in before or "\n" in after):
        return f"{len(before.splitlines())} lines -> {len(after.splitlines())} lines, changed"
    return f"{_show(before)} -> {_show(after)}"


def _binary_value(value: Any) -> bool:
    return isinstance(value, bool) or (type(value) is int and value in (0, 5))


def _binary(reader: _Reader) -> bool:
    metric = reader.read.catalog.metrics.get(reader.metric) if reader.metric is not None else None
    return metric is None or metric.eval_type in BINARY_TYPES


def _bools(conditions: Any, binary: bool) -> Any:
    """A binary metric's 5/0 as true/false, for rules the file did not have (the API's current form)."""
    if not binary or not isinstance(conditions, dict):
        return conditions
    inner = conditions.get("conditions")
    if not isinstance(inner, list):
        return conditions
    return {**conditions, "conditions": [with_bool_value(cond) for cond in inner]}


def _entry(naming: tuple[str, Any], rule: dict[str, Any], binary: bool) -> dict[str, Any]:
    return {naming[0]: naming[1], "conditions": _bools(rule["conditions"], binary)}


def _naming(entry: Any) -> tuple[str, Any]:
    if isinstance(entry, dict) and "metric" in entry:
        return "metric", str(entry["metric"])
    return "metric_id", int(entry["metric_id"])


def _or_missing(value: Any) -> Any:
    return MISSING if value is None else value


def _after_header(editable: EditableFile) -> str | None:
    keys = [k for k in ("extends", "project", "version") if k in editable.data]
    return keys[0] if keys else None


def _complete(name: str, current: Any, target: Any) -> Any:
    """Inside no_calls_notify_time_period a missing list equals an empty one: a list the file writes
    and the API leaves out stays in the file."""
    if name != "no_calls_notify_time_period" or not isinstance(current, dict) or not isinstance(target, dict):
        return target
    return {**{k: [] for k in _SET_LISTS if k in current and current[k] == []}, **target}


def _live_rules(live: dict[str, Any]) -> dict[int, list[dict[str, Any]]]:
    grouped: dict[int, list[dict[str, Any]]] = {}
    for rule in live_rubric_rules(live):
        metric = rule_metric(rule)
        if metric is not None and isinstance(rule, dict):
            grouped.setdefault(metric, []).append({k: v for k, v in rule.items() if k != "metric_id"})
    return grouped


def _rules_reason(read: LiveRead, metric: int, rules: list[dict[str, Any]]) -> str | None:
    if not rules:
        return None
    assert read.desired.project_id is not None
    group = [{"metric_id": metric, **rule} for rule in rules]
    return _group_reason(read.desired.project_id, metric, group, read.catalog)


def _metric_label(read: LiveRead, metric: int) -> str:
    found = read.catalog.metrics.get(metric)
    return f"metric {metric} ({found.name})" if found and found.name else f"metric {metric}"


def _rules_detail(before: int, after: int) -> str:
    def count(n: int) -> str:
        return f"{n} rule{'s' if n != 1 else ''}"

    return f"{count(before)} -> {count(after)}" if before != after else f"{count(after)}, changed"


def _sub_changes(name: str, before: Any, after: Any) -> list[tuple[str, Any, Any]]:
    """A JSON-object setting's change, sub-key by sub-key (as plan shows it); others whole."""
    if not isinstance(before, dict) or not isinstance(after, dict):
        return [(name, before, after)]
    keys = list(before) + [k for k in after if k not in before]
    return [
        (f"{name}.{key}", before.get(key, _MISSING), after.get(key, _MISSING))
        for key in keys
        if not settings_equal(name, {key: before.get(key)}, {key: after.get(key)})
    ]


def _show(value: Any) -> str:
    if value is _MISSING:
        return "(not set)"
    return json.dumps(value, ensure_ascii=False)


# -- the entry points -------------------------------------------------------------------------------


def compute_pull(reads: Sequence[LiveRead], *, failed: Sequence[DesiredProject] = ()) -> PullResult:
    """What pull writes into which file. ``failed``: the project files whose projects could not be
    read; they and their bases are not edited where that project reads a value."""
    pull = _Pull(reads, failed)
    pull.collect()
    pull.decide()
    return pull.result()


def write_pull(result: PullResult) -> list[str]:
    """Write every changed file atomically, keeping its permissions; returns the files written."""
    from reconciler.atomic import replace_keeping_mode

    written: list[str] = []
    for pulled in result.files:
        try:
            replace_keeping_mode(pulled.file, pulled.data)
        except ReconcilerError as exc:
            done = f" (already written: {', '.join(written)})" if written else ""
            raise ReconcilerError(f"{exc}{done}") from None
        written.append(pulled.file)
    return written


def render_pull_text(result: PullResult, out: TextIO, *, check: bool) -> None:
    """What pull changed (or, with ``check``, would change), file by file."""
    if not result.files:
        out.write("Nothing to pull: every file matches its live project.\n")
        return
    for pulled in result.files:
        out.write(f"{pulled.file} ({pulled.role}):\n")
        for change in pulled.changes:
            out.write(f"  {change.what}: {change.detail}\n")
    count = sum(len(p.changes) for p in result.files)
    files = len(result.files)
    verb = "Would pull" if check else "Pulled"
    out.write(
        f"{verb} {count} change{'s' if count != 1 else ''} into {files} file{'s' if files != 1 else ''}; "
        "nothing was sent to Cekura.\n"
    )
