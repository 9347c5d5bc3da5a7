"""The backup journal: before each PATCH, the previous live values of the fields it changes.

One JSON file per PATCH in the journal directory (default ``.cekura-journal/``, or
``--journal-dir`` / ``CEKURA_JOURNAL_DIR``), written before the PATCH is sent. Secrets are never
written: only their names, since their values cannot be read back from the API anyway.
``cekura-reconciler restore ENTRY`` plans and applies an entry's values back.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from reconciler.changes import ProjectPlan
from reconciler.errors import ApplyError, PlanError
from reconciler.model import READ_ONLY_FIELDS, SECRET_FIELDS

KIND = "cekura-reconciler/journal-entry"
DEFAULT_DIR = ".cekura-journal"


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


def write_entry(directory: str, plan: ProjectPlan, *, base_url: str, previous: Mapping[str, Any]) -> str:
    """Record ``previous`` (live values of the PATCH's non-secret fields); return the entry's path."""
    now = datetime.now(UTC)
    stamp = now.strftime("%Y%m%dT%H%M%S%fZ")
    secrets = sorted(k for k in plan.patch if k in plan.managed_secrets)
    entry = {
        "kind": KIND,
        "project_id": plan.project_id,
        "base_url": base_url.rstrip("/"),
        "created_at": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "file": plan.file,
        "fields": sorted(plan.patch),
        "before": {k: v for k, v in previous.items() if k not in plan.managed_secrets},
        "sent": {k: v for k, v in plan.patch.items() if k not in plan.managed_secrets},
        "secrets_sent": secrets,
    }
    folder = Path(directory)
    target = folder / f"{stamp}-project-{plan.project_id}.json"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        temp = folder / f".{target.name}.tmp"
        temp.write_text(json.dumps(entry, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        os.replace(temp, target)
    except OSError as exc:
        raise ApplyError(
            f"project {plan.project_id}: cannot write the backup journal entry in {directory} "
            f"({exc.strerror}); nothing was sent"
        ) from None
    return str(target)


def read_entry(path: str) -> JournalEntry:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise PlanError(f"{path}: not a readable journal entry ({exc})") from None
    if not isinstance(data, dict) or data.get("kind") != KIND:
        raise PlanError(f"{path}: not a journal entry of cekura-reconciler")
    try:
        entry = JournalEntry(
            path=path,
            project_id=int(data["project_id"]),
            base_url=str(data["base_url"]),
            created_at=str(data["created_at"]),
            file=str(data["file"]),
            before=dict(data["before"]),
            secrets_sent=tuple(data.get("secrets_sent", ())),
            sent=dict(data["sent"]) if isinstance(data.get("sent"), dict) else None,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise PlanError(f"{path}: malformed journal entry ({exc})") from None
    not_restorable = sorted(
        k
        for k in data["before"]
        if k in SECRET_FIELDS or k in READ_ONLY_FIELDS or k.endswith("_configured") or k == "organization_id"
    )
    if not_restorable:
        raise PlanError(
            f"{path}: the entry holds fields restore never sends ({', '.join(not_restorable)}); "
            "it was not written by apply, or it was edited. Refusing it"
        )
    return entry


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
