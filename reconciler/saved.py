"""Saved plans: ``plan --out FILE`` writes the reviewed plan; ``apply FILE`` sends exactly that.

A saved plan is JSON: the plans of its projects (changes, PATCH body, the fingerprint of the live
values of the managed fields when the plan was made) plus the base URL it was made against and a
SHA-256 checksum of its content. Secrets are kept as references (``{"$secret": {"env": "NAME"}}``)
with the directory their file references are relative to, never as values; a rotation is kept as
the secret's presence in the PATCH, not as a value.

Applying one refuses a file whose checksum does not match its content, one made for another base
URL, and, after reading each project again, one whose projects moved since (stale plan).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reconciler.changes import FieldChange, ProjectPlan, RuleChange
from reconciler.errors import PlanError
from reconciler.model import SecretRef

KIND = "cekura-reconciler/saved-plan"
SAVED_FORMAT_VERSION = 1
_SECRET_KEY = "$secret"


@dataclass(frozen=True)
class SavedProject:
    plan: ProjectPlan
    secret_dir: str  # file references of the plan's secrets are relative to this (relative: to the cwd)


@dataclass(frozen=True)
class SavedPlan:
    path: str
    base_url: str
    created_at: str
    projects: tuple[SavedProject, ...]


def _canonical(data: Any) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _checksum(body: dict[str, Any]) -> str:
    return "sha256:" + hashlib.sha256(_canonical(body)).hexdigest()


def _encode_value(value: Any, secret_dir: Path) -> Any:
    if isinstance(value, SecretRef):
        if value.kind == "file" and Path(value.name).is_absolute():
            # A base file's reference (made absolute by extends): relative to secret_dir again, so
            # the plan carries no path of the checkout it was made in.
            value = SecretRef("file", os.path.relpath(value.name, secret_dir))
        return {_SECRET_KEY: value.to_json()}
    return value


def _decode_value(value: Any) -> Any:
    if isinstance(value, dict) and set(value) == {_SECRET_KEY}:
        ((kind, name),) = value[_SECRET_KEY].items()
        if kind not in ("env", "file") or not isinstance(name, str):
            raise ValueError("bad secret reference")
        return SecretRef(kind, name)
    return value


def _field_change(change: FieldChange) -> dict[str, Any]:
    return {
        "path": change.path,
        "before": None if change.sensitive else change.before,
        "after": None if change.sensitive else change.after,
        "sensitive": change.sensitive,
        "action": change.action,
        "before_missing": change.before_missing,
        "after_missing": change.after_missing,
    }


def _rule_change(change: RuleChange) -> dict[str, Any]:
    return {
        "metric_id": change.metric_id,
        "action": change.action,
        "before": list(change.before),
        "after": list(change.after),
        "metric_name": change.metric_name,
        "eval_type": change.eval_type,
    }


def _portable_dir(directory: Path) -> str:
    try:
        return str(directory.relative_to(Path.cwd().resolve())) or "."
    except ValueError:
        return str(directory)


def _project(plan: ProjectPlan) -> dict[str, Any]:
    return {
        "project_id": plan.project_id,
        "file": plan.file,
        # Relative to the working directory (a pipeline plans and applies from the checkout's root,
        # maybe in two different checkouts); absolute only when the file lies outside it.
        "secret_dir": _portable_dir(Path(plan.file).resolve().parent),
        "fingerprint": plan.fingerprint,
        "expected_fingerprint": plan.expected_fingerprint,
        "patch": {k: _encode_value(v, Path(plan.file).resolve().parent) for k, v in plan.patch.items()},
        "field_changes": [_field_change(c) for c in plan.field_changes],
        "rule_changes": [_rule_change(c) for c in plan.rule_changes],
        "rules_kept": plan.rules_kept,
        "metrics_kept": plan.metrics_kept,
        "rules_live": plan.rules_live,
        "warnings": list(plan.warnings),
        "managed_settings": list(plan.managed_settings),
        "managed_secrets": list(plan.managed_secrets),
        "manages_rubric": plan.manages_rubric,
        # The managed live values the plan was made from, and the metric names, so that a stale plan
        # can say what moved (field by field, rule by rule), not only that something did.
        "baseline": plan.baseline,
        "metric_names": {str(k): v for k, v in sorted(plan.metric_names.items())},
        "stale_rule_metrics": list(plan.stale_rule_metrics),
    }


def write_saved_plan(path: str, plans: Sequence[ProjectPlan], *, base_url: str, created_at: str) -> None:
    """Write the plan atomically (a reviewer must never see half a file)."""
    from reconciler import __version__

    body = {
        "kind": KIND,
        "format_version": SAVED_FORMAT_VERSION,
        "tool_version": __version__,
        "base_url": base_url.rstrip("/"),
        "created_at": created_at,
        "projects": [_project(p) for p in plans],
    }
    document = {**body, "checksum": _checksum(body)}
    target = Path(path)
    temp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    try:
        temp.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        os.replace(temp, target)
    except OSError as exc:
        temp.unlink(missing_ok=True)
        raise PlanError(f"cannot write the plan to {path}: {exc.strerror}") from None


def looks_like_saved_plan(path: str) -> bool:
    """True for a file that starts like a saved plan (cheap: reads the first bytes only)."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(4096)
    except OSError:
        return False
    return head.lstrip().startswith(b"{") and KIND.encode() in head


def read_saved_plan(path: str) -> SavedPlan:
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise PlanError(f"{path}: not a readable saved plan ({exc})") from None
    if not isinstance(document, dict) or document.get("kind") != KIND:
        raise PlanError(f"{path}: not a saved plan of cekura-reconciler")
    if document.get("format_version") != SAVED_FORMAT_VERSION:
        raise PlanError(
            f"{path}: saved plan format {document.get('format_version')!r} is not supported by this "
            f"version (it reads format {SAVED_FORMAT_VERSION}); make the plan again"
        )
    checksum = document.pop("checksum", None)
    if checksum != _checksum(document):
        raise PlanError(
            f"{path}: the saved plan's checksum does not match its content; it was edited or damaged "
            "after it was written. Refusing it; make the plan again"
        )
    try:
        projects = tuple(_read_project(p) for p in document["projects"])
        return SavedPlan(path, str(document["base_url"]), str(document["created_at"]), projects)
    except (KeyError, TypeError, ValueError) as exc:
        raise PlanError(f"{path}: malformed saved plan ({exc})") from None


def _read_project(data: dict[str, Any]) -> SavedProject:
    plan = ProjectPlan(
        project_id=int(data["project_id"]),
        file=str(data["file"]),
        field_changes=tuple(FieldChange(**c) for c in data["field_changes"]),
        rule_changes=tuple(
            RuleChange(
                metric_id=int(c["metric_id"]),
                action=c["action"],
                before=tuple(c["before"]),
                after=tuple(c["after"]),
                metric_name=c.get("metric_name"),
                eval_type=c.get("eval_type"),
            )
            for c in data["rule_changes"]
        ),
        rules_kept=int(data["rules_kept"]),
        metrics_kept=int(data["metrics_kept"]),
        rules_live=int(data.get("rules_live", 0)),
        patch={k: _decode_value(v) for k, v in data["patch"].items()},
        fingerprint=str(data["fingerprint"]),
        expected_fingerprint=str(data.get("expected_fingerprint", "")),
        warnings=tuple(data["warnings"]),
        managed_settings=tuple(data["managed_settings"]),
        managed_secrets=tuple(data["managed_secrets"]),
        manages_rubric=bool(data["manages_rubric"]),
        baseline=dict(data.get("baseline") or {}),
        metric_names={int(k): str(v) for k, v in (data.get("metric_names") or {}).items()},
        stale_rule_metrics=tuple(int(m) for m in data.get("stale_rule_metrics") or ()),
    )
    return SavedProject(plan, str(data["secret_dir"]))
