"""The backup journal: before each PATCH, the previous live values of the fields it changes.

One JSON file per PATCH in the journal directory (default ``.cekura-journal/``, or
``--journal-dir`` / ``CEKURA_JOURNAL_DIR``), written before the PATCH is sent. Secrets are never
written: only their names, since their values cannot be read back from the API anyway.
``cekura-reconciler restore ENTRY`` plans and applies an entry's values back.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from reconciler.atomic import write_private
from reconciler.changes import ProjectPlan
from reconciler.errors import (
    ApplyError,
    InputError,
    PlanError,
    Position,
    Problem,
    ReconcilerError,
    WriteError,
)
from reconciler.loader import MAX_FILE_BYTES, Document, JsonPath, load_text
from reconciler.model import NOT_SETTINGS, SecretRef
from reconciler.validate import validate_values

KIND = "cekura-reconciler/journal-entry"
DEFAULT_DIR = ".cekura-journal"
MAX_ENTRY_BYTES = MAX_FILE_BYTES  # a project file's limit: an entry holds at most one project's values


@dataclass(frozen=True)
class JournalEntry:
    path: str
    project_id: int
    base_url: str
    created_at: str
    file: str
    before: dict[str, Any]
    secrets_sent: tuple[str, ...]
    sent: dict[str, Any] | None = None  # None in entries written before it was recorded
    # The metric writes of that apply (reconciler/kinds/metrics.py ``journal_metrics``).
    metrics: tuple[dict[str, Any], ...] = ()


def write_entry(
    directory: str,
    plan: ProjectPlan,
    *,
    base_url: str,
    previous: Mapping[str, Any],
    metrics: Sequence[Mapping[str, Any]] = (),
) -> str:
    """Record ``previous`` (live values of the PATCH's non-secret fields) and ``metrics`` (what the
    metric writes replace); return the entry's path."""
    now = datetime.now(UTC)
    stamp = now.strftime("%Y%m%dT%H%M%S%fZ")
    kept = journaled_fields(plan)
    entry = {
        "kind": KIND,
        "project_id": plan.project_id,
        "base_url": base_url.rstrip("/"),
        "created_at": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "file": plan.file,
        "fields": sorted(plan.patch),
        "before": {k: v for k, v in previous.items() if k in kept},
        "sent": {k: v for k, v in plan.patch.items() if k in kept},
        "secrets_sent": sorted(k for k in plan.patch if k not in kept),
    }
    if metrics:
        entry["metrics"] = [dict(m) for m in metrics]
    folder = Path(directory)
    target = folder / f"{stamp}-project-{plan.project_id}.json"
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)  # 0700 when this creates it
        write_private(target, json.dumps(entry, indent=2, ensure_ascii=False) + "\n")
    except (OSError, WriteError) as exc:
        reason = exc.reason if isinstance(exc, WriteError) else exc.strerror or str(exc)
        raise ApplyError(
            f"project {plan.project_id}: cannot write the backup journal entry in {directory} "
            f"({reason}); nothing was sent"
        ) from None
    return str(target)


def journaled_fields(plan: ProjectPlan) -> frozenset[str]:
    """The PATCH fields whose values an entry keeps: every one but those a kind withholds (a
    secret's value is never written; its name is, under ``secrets_sent``)."""
    from reconciler.kinds import kinds

    claimed = {k for kind in kinds() for k in kind.patch_keys(plan)}
    kept = {k for kind in kinds() for k in kind.journaled(plan)}
    return frozenset(
        k for k, v in plan.patch.items() if (k in kept or k not in claimed) and not isinstance(v, SecretRef)
    )


def read_entry(path: str) -> JournalEntry:
    """Read and check an entry before anything is sent: its size, its JSON, the type of every field,
    and its previous values against the schema of a project file's settings and rubric rules (an
    entry can be edited by hand like any file). Raises InputError (each problem at its line and
    column in the entry) or PlanError."""
    text = _read_text(path)
    data = _parse(path, text)
    if not isinstance(data, dict) or data.get("kind") != KIND:
        raise PlanError(f"{path}: not a journal entry of cekura-reconciler")
    problems = _shape_problems(data)
    if problems:
        doc = _positions(path, text)
        raise InputError([doc.problem(where, message) for where, message in problems])
    before: dict[str, Any] = data["before"]
    not_restorable = sorted(k for k in before if k in NOT_SETTINGS or k.endswith("_configured"))
    if not_restorable:
        raise PlanError(
            f"{path}: the entry holds fields restore never sends ({', '.join(not_restorable)}); "
            "it was not written by apply, or it was edited. Refusing it"
        )
    _check_values(path, text, data["project_id"], before)
    metrics = _metric_entries(path, data.get("metrics", []))
    sent = data.get("sent")
    return JournalEntry(
        path=path,
        project_id=data["project_id"],
        base_url=data["base_url"],
        created_at=data["created_at"],
        file=data["file"],
        before=before,
        secrets_sent=tuple(data.get("secrets_sent") or ()),
        sent=sent if isinstance(sent, dict) else None,
        metrics=metrics,
    )


def _metric_entries(path: str, value: Any) -> tuple[dict[str, Any], ...]:
    """An entry's ``metrics``, checked: each a slug, an action, and the previous values of fields
    a metric definition can write, each a value the file format accepts (restore sends them)."""
    from reconciler.kinds.metrics import pullable_reason

    def refuse(why: str) -> PlanError:
        return PlanError(
            f"{path}: metrics: {why}; it was not written by apply, or it was edited. Refusing it"
        )

    if not isinstance(value, list):
        raise refuse("not a list")
    out: list[dict[str, Any]] = []
    for index, item in enumerate(value):
        label = f"metrics[{index}]"
        if not isinstance(item, dict) or not isinstance(item.get("slug"), str):
            raise refuse(f"{label} has no slug")
        if item.get("action") not in ("create", "update", "delete"):
            raise refuse(f"{label} has no action (create, update, delete)")
        if item.get("id") is not None and not _is_id(item.get("id")):
            raise refuse(f"{label}.id is not a metric id")
        for part in ("before", "sent"):
            if part in item and not isinstance(item[part], dict):
                raise refuse(f"{label}.{part} is not an object")
        if item["action"] == "update":
            for name, field_value in item.get("before", {}).items():
                reason = pullable_reason(name, field_value)
                if reason:
                    raise refuse(f"{label}.before.{name}: {reason}")
        out.append(item)
    return tuple(out)


def _read_text(path: str) -> str:
    where = Position(path, 1, 1)
    try:
        with open(path, "rb") as handle:
            if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                raise InputError([Problem(where, "not a regular file")])
            raw = handle.read(MAX_ENTRY_BYTES + 1)
    except OSError as exc:
        raise InputError([Problem(where, f"cannot read the entry: {exc.strerror or exc}")]) from None
    if len(raw) > MAX_ENTRY_BYTES:
        size = os.path.getsize(path)
        raise InputError(
            [Problem(where, f"the entry is {size:,} bytes; the limit is {MAX_ENTRY_BYTES:,} (10 MiB)")]
        )
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError([Problem(where, f"not UTF-8 text (byte {exc.start + 1})")]) from None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def _parse(path: str, text: str) -> Any:
    try:
        return json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        where = Position(path, exc.lineno, exc.colno)
        raise InputError([Problem(where, f"not valid JSON: {exc.msg}")]) from None
    except ValueError as exc:
        raise InputError([Problem(Position(path, 1, 1), f"not valid JSON: {exc}")]) from None
    except RecursionError:
        raise InputError([Problem(Position(path, 1, 1), "not valid JSON here: nested too deeply")]) from None


def _is_id(value: Any) -> bool:
    return type(value) is int and value >= 1


def _names(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _shape_problems(data: dict[str, Any]) -> list[tuple[JsonPath, str]]:
    """Every field of the wrong type, at its path in the entry (what apply writes, nothing else)."""
    problems: list[tuple[JsonPath, str]] = []
    if not _is_id(data.get("project_id")):
        problems.append((("project_id",), "`project_id` must be a whole number >= 1"))
    for name in ("base_url", "created_at", "file"):
        if not isinstance(data.get(name), str):
            problems.append(((name,), f"`{name}` must be a string"))
    for name in ("fields", "secrets_sent"):
        if name in data and not _names(data[name]):
            problems.append(((name,), f"`{name}` must be a list of names"))
    if data.get("sent") is not None and not isinstance(data["sent"], dict):
        problems.append((("sent",), "`sent` must be an object (the values that apply sent)"))
    before = data.get("before")
    if not isinstance(before, dict):
        problems.append((("before",), "`before` must be an object (the previous values of the fields)"))
        return problems
    if "rubric_config" not in before or before["rubric_config"] is None:
        return problems
    config = before["rubric_config"]
    here: JsonPath = ("before", "rubric_config")
    if not isinstance(config, dict):
        return [*problems, (here, "before.rubric_config must be an object or null")]
    for key in sorted(set(config) - {"evaluation_logic", "rules"}):
        problems.append(((*here, key), f"before.rubric_config: unknown key `{key}` (restore never sends it)"))
    if "evaluation_logic" in config and not isinstance(config["evaluation_logic"], str):
        problems.append(
            ((*here, "evaluation_logic"), "before.rubric_config.evaluation_logic must be a string")
        )
    rules = config.get("rules", [])
    if not isinstance(rules, list):
        return [*problems, ((*here, "rules"), "before.rubric_config.rules must be a list")]
    for index, rule in enumerate(rules):
        if isinstance(rule, dict) and set(rule) != {"metric_id", "conditions"}:
            keys = (
                ", ".join(f"`{k}`" for k in sorted(set(rule) - {"metric_id", "conditions"})) or "missing keys"
            )
            problems.append(
                (
                    (*here, "rules", index),
                    f"before.rubric_config.rules[{index}]: a rule of a journal entry is "
                    f"{{metric_id, conditions}}, as the API stores it, not {keys}",
                )
            )
    return problems


def _positions(path: str, text: str) -> Document:
    """Where each value of the entry is written (JSON is YAML to the loader); best effort."""
    try:
        return load_text(path, text)
    except (ReconcilerError, RecursionError, ValueError):
        return Document(path, None)


def _as_file_path(path: JsonPath) -> JsonPath | None:
    """An entry's path as the same value's path in a project file (what the schema checks)."""
    if path[:3] == ("before", "rubric_config", "rules"):
        return ("rubric", "rules", *path[3:])
    if path[:2] == ("before", "rubric_config"):
        return ("rubric", *path[2:])
    if path[:1] == ("before",):
        return ("settings", *path[1:])
    if path == ("project_id",):
        return ("project",)
    return None


_FILE_WORDS = re.compile(r"(?<![\w.`])(settings\.|rubric\.rules\[)")


def _entry_words(message: str) -> str:
    """A schema message about a project file's paths, told with the entry's paths."""
    return _FILE_WORDS.sub(
        lambda m: "before." if m.group(1) == "settings." else "before.rubric_config.rules[", message
    )


def _check_values(path: str, text: str, project_id: int, before: dict[str, Any]) -> None:
    settings = {k: v for k, v in before.items() if k != "rubric_config"}
    rules: list[Any] | None = None
    if "rubric_config" in before:
        rules = list((before["rubric_config"] or {}).get("rules") or [])
    try:
        validate_values(path, project_id=project_id, settings=settings, rules=rules)
        return
    except InputError as exc:
        first = exc
    # Only now, with problems to place, is the entry parsed again for positions (it can be large).
    doc = _positions(path, text)
    values = {p: pos for e, pos in doc.value_positions.items() if (p := _as_file_path(e)) is not None}
    keys = {p: pos for e, pos in doc.key_positions.items() if (p := _as_file_path(e)) is not None}
    try:
        validate_values(
            path,
            project_id=project_id,
            settings=settings,
            rules=rules,
            value_positions=values,
            key_positions=keys,
        )
    except InputError as exc:
        first = exc
    raise InputError([Problem(p.position, _entry_words(p.message)) for p in first.problems]) from None


def git_work_tree(path: str) -> Path | None:
    """The git work tree that holds ``path`` (the nearest folder with a ``.git`` directory, or the
    ``.git`` file of a linked work tree or submodule), or None."""
    here = Path(path).resolve()
    for folder in (here, *here.parents):
        if (folder / ".git").exists():
            return folder
    return None


def ignored_by_git(path: str, work_tree: Path) -> bool | None:
    """Whether git ignores ``path``; None when it cannot be told (no git, or git failed)."""
    git = shutil.which("git")
    if git is None:
        return None
    try:
        result = subprocess.run(
            [git, "-C", str(work_tree), "check-ignore", "-q", str(Path(path).resolve())],
            capture_output=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return {0: True, 1: False}.get(result.returncode)
