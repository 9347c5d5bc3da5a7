"""Saved plans: ``plan --out FILE`` writes the reviewed plan; ``apply FILE`` sends only what it shows.

A saved plan is JSON: the plans of its projects (changes, PATCH body, the fingerprint of the live
values of the managed fields when the plan was made) plus the base URL it was made against and a
SHA-256 checksum of its content. Secrets are kept as references (``{"$secret": {"env": "NAME"}}``)
with the directory their file references are relative to, never as values; a rotation is kept as
the secret's presence in the PATCH, not as a value. The file is written private (0600).

The checksum catches a damaged file, not an edited one: anyone can recompute it. So applying one
trusts none of the stored PATCH: ``rebuild`` makes the plan again with ``diff_project``, from the
changes the file shows and the project as it is now, and refuses the file when its stored PATCH,
changes, managed fields or counts are not what that gives. What apply shows, guards (``--force``,
``--allow-delete``) and sends is that rebuilt plan, with each secret named by the reference it is
read from (the path actually read, for a file). Applying also refuses a file made for another base
URL and, after reading each project again, one whose projects moved since (stale plan).
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from reconciler.atomic import write_private
from reconciler.changes import FieldChange, ProjectPlan, RuleChange
from reconciler.diff import diff_project, unconverged
from reconciler.errors import PlanError
from reconciler.model import (
    OBJECT_FIELDS,
    SECRET_FIELDS,
    DesiredProject,
    Metric,
    RubricSpec,
    RuleSpec,
    Secret,
    SecretRef,
)
from reconciler.rubric import ResolvedRule

KIND = "cekura-reconciler/saved-plan"
SAVED_FORMAT_VERSION = 2  # 2: a secret change names its reference; the PATCH is rebuilt from the changes
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
        if value.kind == "file" and value.relative_to is not None:
            # A base file's reference (made absolute by extends): relative to secret_dir again, so
            # the plan carries no path of the checkout it was made in.
            value = SecretRef("file", os.path.relpath(value.name, secret_dir))
        return {_SECRET_KEY: value.to_json()}
    return value


def _decode_value(value: Any) -> Any:
    if isinstance(value, dict) and set(value) == {_SECRET_KEY}:
        ref = value[_SECRET_KEY]
        if not isinstance(ref, dict) or len(ref) != 1:
            raise ValueError("bad secret reference")
        ((kind, name),) = ref.items()
        if kind not in ("env", "file") or not isinstance(name, str):
            raise ValueError("bad secret reference")
        return SecretRef(kind, name)
    return value


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def _field_change(change: FieldChange, secret_dir: Path) -> dict[str, Any]:
    return {
        "path": change.path,
        "before": None if change.sensitive else change.before,
        "after": _encode_value(change.after, secret_dir),  # a secret: its reference, never a value
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
    secret_dir = Path(plan.file).resolve().parent
    return {
        "project_id": plan.project_id,
        "file": plan.file,
        # Relative to the working directory (a pipeline plans and applies from the checkout's root,
        # maybe in two different checkouts); absolute only when the file lies outside it.
        "secret_dir": _portable_dir(Path(plan.file).resolve().parent),
        "fingerprint": plan.fingerprint,
        "expected_fingerprint": plan.expected_fingerprint,
        "patch": {k: _encode_value(v, secret_dir) for k, v in plan.patch.items()},
        "field_changes": [_field_change(c, secret_dir) for c in plan.field_changes],
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
    """Write the plan atomically (a reviewer must never see half a file), readable by its owner only;
    raises WriteError."""
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
    write_private(path, json.dumps(document, indent=2, ensure_ascii=False) + "\n")


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
        document = json.loads(Path(path).read_text(encoding="utf-8"), parse_constant=_no_constant)
    except (OSError, ValueError) as exc:
        raise PlanError(f"{path}: not a readable saved plan ({exc}); nothing was sent") from None
    except RecursionError:
        raise PlanError(f"{path}: not a readable saved plan (nested too deeply); nothing was sent") from None
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
        projects = document["projects"]
        if not isinstance(projects, list):
            raise ValueError("`projects` is not a list")
        return SavedPlan(
            path,
            _text(document["base_url"], "base_url"),
            _text(document["created_at"], "created_at"),
            tuple(_read_project(p) for p in projects),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise PlanError(f"{path}: malformed saved plan ({exc}); nothing was sent") from None


def _text(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"`{what}` is not a string")
    return value


def _count(value: Any, what: str, *, least: int = 0) -> int:
    if type(value) is not int or value < least:
        raise ValueError(f"`{what}` is not a whole number >= {least}")
    return value


def _flag(value: Any, what: str) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"`{what}` is not true or false")
    return value


def _list(value: Any, what: str) -> list[Any]:
    if not isinstance(value, list):
        raise ValueError(f"`{what}` is not a list")
    return value


def _names(value: Any, what: str) -> tuple[str, ...]:
    return tuple(_text(v, what) for v in _list(value, what))


def _object(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError(f"`{what}` is not an object")
    return value


_FIELD_KEYS = {"path", "before", "after", "sensitive", "action", "before_missing", "after_missing"}
_RULE_KEYS = {"metric_id", "action", "before", "after", "metric_name", "eval_type"}


def _read_field_change(data: Any) -> FieldChange:
    data = _object(data, "field_changes[]")
    if set(data) != _FIELD_KEYS:
        raise ValueError(f"a field change has the keys {sorted(data)}, not {sorted(_FIELD_KEYS)}")
    sensitive = _flag(data["sensitive"], "sensitive")
    after = _decode_value(data["after"])
    if sensitive and not isinstance(after, SecretRef):
        raise ValueError(f"the secret change {data['path']!r} names no reference")
    if data["action"] not in ("update", "set", "rotate"):
        raise ValueError(f"unknown change action {data['action']!r}")
    return FieldChange(
        path=_text(data["path"], "path"),
        before=data["before"],
        after=after,
        sensitive=sensitive,
        action=data["action"],
        before_missing=_flag(data["before_missing"], "before_missing"),
        after_missing=_flag(data["after_missing"], "after_missing"),
    )


def _rules(value: Any, what: str) -> tuple[dict[str, Any], ...]:
    return tuple(_object(r, what) for r in _list(value, what))


def _read_rule_change(data: Any) -> RuleChange:
    data = _object(data, "rule_changes[]")
    if set(data) != _RULE_KEYS:
        raise ValueError(f"a rule change has the keys {sorted(data)}, not {sorted(_RULE_KEYS)}")
    if data["action"] not in ("add", "change", "remove"):
        raise ValueError(f"unknown rule change action {data['action']!r}")
    optional = {k: data[k] if data[k] is None else _text(data[k], k) for k in ("metric_name", "eval_type")}
    return RuleChange(
        metric_id=_count(data["metric_id"], "metric_id", least=1),
        action=data["action"],
        before=_rules(data["before"], "before"),
        after=_rules(data["after"], "after"),
        metric_name=optional["metric_name"],
        eval_type=optional["eval_type"],
    )


def _read_project(data: Any) -> SavedProject:
    data = _object(data, "projects[]")
    plan = ProjectPlan(
        project_id=_count(data["project_id"], "project_id", least=1),
        file=_text(data["file"], "file"),
        field_changes=tuple(_read_field_change(c) for c in _list(data["field_changes"], "field_changes")),
        rule_changes=tuple(_read_rule_change(c) for c in _list(data["rule_changes"], "rule_changes")),
        rules_kept=_count(data["rules_kept"], "rules_kept"),
        metrics_kept=_count(data["metrics_kept"], "metrics_kept"),
        rules_live=_count(data["rules_live"], "rules_live"),
        patch={k: _decode_value(v) for k, v in _object(data["patch"], "patch").items()},
        fingerprint=_text(data["fingerprint"], "fingerprint"),
        expected_fingerprint=_text(data["expected_fingerprint"], "expected_fingerprint"),
        warnings=_names(data["warnings"], "warnings"),
        managed_settings=_names(data["managed_settings"], "managed_settings"),
        managed_secrets=_names(data["managed_secrets"], "managed_secrets"),
        manages_rubric=_flag(data["manages_rubric"], "manages_rubric"),
        # What the plan was made from, for a stale plan's message (absent in older plans).
        baseline=_object(data.get("baseline") or {}, "baseline"),
        metric_names={
            int(k): _text(v, "metric_names")
            for k, v in _object(data.get("metric_names") or {}, "metric_names").items()
        },
        stale_rule_metrics=tuple(
            _count(m, "stale_rule_metrics", least=1)
            for m in _list(data.get("stale_rule_metrics") or [], "stale_rule_metrics")
        ),
    )
    return SavedProject(plan, _text(data["secret_dir"], "secret_dir"))


# -- applying: the plan made again from what the file shows --------------------------------------


class _Edited(Exception):
    """What in a saved project is not what its changes and the live project give."""


# Never sent: an unchanged managed secret is in the rebuilt file only so that its fingerprint counts
# it; a change it would need is not in the saved plan, so the plan is refused.
_UNCHANGED_SECRET = SecretRef("env", "(unchanged)")


def _effective(ref: SecretRef, secret_dir: str) -> SecretRef:
    """The reference as it is read at apply: a relative file path joined to ``secret_dir`` (the path
    actually read, relative to the working directory), so that what is shown is what is read."""
    if ref.kind != "file" or Path(ref.name).expanduser().is_absolute():
        return ref
    return SecretRef("file", os.path.normpath(os.path.join(secret_dir, ref.name)))


def secret_references(saved: SavedProject) -> dict[str, SecretRef]:
    """The secrets the saved project's changes send, each with its reference as written (file paths
    relative to the plan's ``secret_dir``): what apply resolves, under the same rules as a project
    file's references."""
    return {
        c.path: c.after for c in saved.plan.field_changes if c.sensitive and isinstance(c.after, SecretRef)
    }


def shown_secrets(saved: SavedProject) -> dict[str, SecretRef]:
    """The secrets the saved project's changes send, each with the reference it is read from (file
    paths relative to the working directory)."""
    return {
        c.path: _effective(c.after, saved.secret_dir)
        for c in saved.plan.field_changes
        if c.sensitive and isinstance(c.after, SecretRef)
    }


def _strict(values: Any) -> str:
    """Equal strings for equal JSON values (true is not 1, 1 is not 1.0), references included."""

    def encode(value: Any) -> Any:
        if isinstance(value, SecretRef):
            return {_SECRET_KEY: value.to_json()}
        raise TypeError(f"{type(value).__name__} in a saved plan")

    try:
        return json.dumps(values, sort_keys=True, default=encode, allow_nan=False)
    except (TypeError, ValueError, RecursionError) as exc:  # NaN from the API, say: no JSON equals it
        raise _Edited(f"it holds a value that is not JSON ({exc})") from None


def _desired(saved: SavedProject, live: Mapping[str, Any]) -> tuple[DesiredProject, tuple[ResolvedRule, ...]]:
    """The project file the saved plan's changes describe, against ``live``: changed fields as the
    changes show them, every other managed field as it is live (so it makes no change)."""
    from reconciler.validate import load_schema

    stored = saved.plan
    writable = set(load_schema()["properties"]["settings"]["properties"])
    for kind, names, allowed in (
        ("settings", stored.managed_settings, writable),
        ("secrets", stored.managed_secrets, set(SECRET_FIELDS)),
    ):
        if len(set(names)) != len(names) or not set(names) <= allowed:
            raise _Edited(f"its managed {kind} are not a list of {kind} a project file can manage")
    whole: dict[str, FieldChange] = {}
    parts: dict[str, list[FieldChange]] = {}
    for change in stored.setting_changes:
        name, _, key = change.path.partition(".")
        if change.path == "rubric_config.evaluation_logic" and stored.manages_rubric:
            continue
        if name not in stored.managed_settings or (key and name not in OBJECT_FIELDS):
            raise _Edited(f"it changes {change.path}, which it does not manage")
        if key:
            parts.setdefault(name, []).append(change)
        else:
            whole[name] = change
    secrets = {c.path: c for c in stored.secret_changes}
    if not set(secrets) <= set(stored.managed_secrets):
        raise _Edited("it sends a secret it does not manage")
    if stored.rule_changes and not stored.manages_rubric:
        raise _Edited("it changes rubric rules but does not manage the rubric")
    settings: dict[str, Any] = {}
    for name in stored.managed_settings:
        if name in whole and name in parts:
            raise _Edited(f"it changes {name} both whole and by sub-key")
        if name in whole:
            settings[name] = copy.deepcopy(whole[name].after)
        elif name in parts:
            current = live.get(name)
            if not isinstance(current, dict):
                raise _Edited(f"its sub-key changes of {name} do not fit the live value")
            merged = copy.deepcopy(current)
            for change in parts[name]:
                key = change.path.partition(".")[2]
                if change.after_missing:
                    merged.pop(key, None)
                else:
                    merged[key] = copy.deepcopy(change.after)
            settings[name] = merged
        elif name in live:
            settings[name] = copy.deepcopy(live[name])
        else:
            raise _Edited(f"it manages {name}, which the live project does not have, without changing it")
    refs = shown_secrets(saved)
    rubric = RubricSpec(prune=False, rules=()) if stored.manages_rubric else None
    resolved: list[ResolvedRule] = []
    for index, rule_change in enumerate(stored.rule_changes):
        metric_id = rule_change.metric_id
        spec = RuleSpec(metric_id, None, None, not rule_change.after, ("rubric", "rules", index))
        if not rule_change.after:
            resolved.append(ResolvedRule(metric_id, None, spec))
        for rule in rule_change.after:
            if set(rule) != {"metric_id", "conditions"} or rule["metric_id"] != metric_id:
                raise _Edited(f"a rule of metric {metric_id} is not one the planner makes")
            if not isinstance(rule["conditions"], dict):
                raise _Edited(f"a rule of metric {metric_id} has no conditions object")
            resolved.append(ResolvedRule(metric_id, copy.deepcopy(rule["conditions"]), spec))
    if len({c.metric_id for c in stored.rule_changes}) != len(stored.rule_changes):
        raise _Edited("it changes the rules of one metric twice")
    desired = DesiredProject(
        file=stored.file,
        project_id=stored.project_id,
        settings=settings,
        secrets={n: refs.get(n, _UNCHANGED_SECRET) for n in stored.managed_secrets},
        rubric=rubric,
    )
    return desired, tuple(resolved)


def rebuild(
    saved: SavedProject, live: Mapping[str, Any], *, secret_values: Mapping[str, Secret], where: str
) -> ProjectPlan:
    """The plan apply shows, guards and sends for a saved project: made again by ``diff_project``
    from the changes the saved plan shows and ``live`` (the project read just now). Raises PlanError
    (nothing sent) when the stored PATCH, changes, managed fields or counts are not what that gives:
    the file was edited (its checksum recomputed), or the project moved in a way its fingerprint
    does not see. ``secret_values``: the values of ``shown_secrets(saved)``."""
    stored = saved.plan
    try:
        desired, rules = _desired(saved, live)
        metrics = {
            c.metric_id: Metric(c.metric_id, c.metric_name or "", None, c.eval_type, (), None, ())
            for c in stored.rule_changes
            if c.metric_name is not None or c.eval_type is not None
        }
        rotate = {c.path for c in stored.secret_changes if c.action == "rotate"}
        plan = diff_project(
            desired,
            live,
            rules=rules,
            metrics=metrics,
            rotate=rotate,
            secret_values=secret_values,
            warnings=stored.warnings,
        )
        shown = replace(
            stored,
            field_changes=tuple(
                replace(c, after=_effective(c.after, saved.secret_dir)) if c.sensitive else c
                for c in stored.field_changes
            ),
            patch={
                k: _effective(v, saved.secret_dir) if isinstance(v, SecretRef) else v
                for k, v in stored.patch.items()
            },
        )
        if _strict([c.__dict__ for c in plan.field_changes]) != _strict(
            [c.__dict__ for c in shown.field_changes]
        ):
            raise _Edited("the setting and secret changes it shows are not what the project needs now")
        if _strict([c.__dict__ for c in plan.rule_changes]) != _strict(
            [c.__dict__ for c in stored.rule_changes]
        ):
            raise _Edited("the rubric rule changes it shows are not what the project needs now")
        if plan.rules_live != stored.rules_live:
            raise _Edited(
                f"it counts {stored.rules_live} live rubric rules; the project has {plan.rules_live}"
            )
        if not (stored.rules_kept <= plan.rules_kept and stored.metrics_kept <= plan.metrics_kept):
            raise _Edited("it counts more kept rubric rules than the project has")
        differ = sorted(set(plan.patch) ^ set(shown.patch))
        differ += [
            k
            for k in plan.patch
            if k in shown.patch
            and (
                plan.patch[k] != shown.patch[k]
                if isinstance(plan.patch[k], SecretRef) or isinstance(shown.patch[k], SecretRef)
                else bool(unconverged(replace(plan, patch={k: plan.patch[k]}), {k: shown.patch[k]}))
            )
        ]
        if differ:
            raise _Edited(f"its PATCH is not what its changes show ({', '.join(sorted(set(differ)))})")
    except _Edited as exc:
        raise PlanError(
            f"{where}: project {stored.project_id}: {exc}. The saved plan was edited after it was made "
            "(or the project moved since); refusing it, nothing was sent. Make the plan again"
        ) from None
    # The counts of kept rules are the plan's (rules of metrics its file did not name); checked
    # above not to claim more than the project has, so they cannot hide a mass deletion.
    return replace(plan, rules_kept=stored.rules_kept, metrics_kept=stored.metrics_kept)
