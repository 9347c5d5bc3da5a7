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

import hashlib
import json
import os
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, is_dataclass, replace
from functools import cache
from pathlib import Path
from typing import Any

from reconciler.atomic import write_private
from reconciler.changes import FieldChange, ProjectPlan
from reconciler.diff import diff_project, unconverged
from reconciler.errors import PlanError
from reconciler.kinds import Edited, kinds
from reconciler.model import DesiredProject, Secret, SecretRef
from reconciler.saved_kind import KIND

# 2: a secret change names its reference; the PATCH is rebuilt from the changes.
# 3: every field of the plan, from its dataclass (the baseline and metric names included).
SAVED_FORMAT_VERSION = 3
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


# -- the codec: a plan's dataclasses to JSON and back, field by field, by their type hints ----------
#
# Every field of ProjectPlan, FieldChange and RuleChange is written, under its own name; reading
# wants exactly those keys and checks each value against the field's type. A value typed Any (a
# setting's value, the PATCH's values, a baseline) is JSON as it is, except a SecretRef, which is
# written {"$secret": {"env": NAME}} and never as a value.


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _encode(value: Any, hint: Any, secret_dir: Path) -> Any:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if isinstance(hint, type) and is_dataclass(hint):
        if isinstance(value, FieldChange) and value.sensitive:
            value = replace(value, before=None)  # a secret's old value is never known; never written
        return {
            f.name: _encode(getattr(value, f.name), _hints(hint)[f.name], secret_dir) for f in fields(hint)
        }
    if hint is Any:
        return _encode_any(value, secret_dir)
    if origin is tuple:
        return [_encode(v, args[0], secret_dir) for v in value]
    if origin is dict:
        return {str(k): _encode(v, args[1], secret_dir) for k, v in value.items()}
    return value  # int, str, bool, None, a Literal


def _encode_any(value: Any, secret_dir: Path) -> Any:
    if isinstance(value, SecretRef):
        if value.kind == "file" and value.relative_to is not None:
            # A base file's reference (made absolute by extends): relative to secret_dir again, so
            # the plan carries no path of the checkout it was made in.
            value = SecretRef("file", os.path.relpath(value.name, secret_dir))
        return {_SECRET_KEY: value.to_json()}
    return value


def _decode(data: Any, hint: Any, what: str, *, stand_in: bool = False) -> Any:
    """``data`` as a value of type ``hint``; ``stand_in``: a negative whole number is accepted
    (the stand-in id of a metric the plan creates)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if isinstance(hint, type) and is_dataclass(hint):
        names = [f.name for f in fields(hint)]
        data = _object(data, what)
        if set(data) != set(names):
            raise ValueError(f"`{what}` has the keys {sorted(data)}, not {sorted(names)}")
        hints = _hints(hint)
        values = {
            f.name: _decode(data[f.name], hints[f.name], f.name, stand_in=bool(f.metadata.get("stand_in")))
            for f in fields(hint)
        }
        for f in fields(hint):
            least, value = f.metadata.get("least"), values[f.name]
            if f.metadata.get("stand_in") and value is not None and value < 0:
                continue
            if f.metadata.get("stand_in") and value == 0:
                raise ValueError(f"`{f.name}` is 0, which no metric is")
            if least is not None and value is not None and value < least:
                raise ValueError(f"`{f.name}` is not a whole number >= {least}")
        return hint(**values)
    if hint is Any:
        return _decode_any(data)
    if origin is typing.Literal:
        if data not in args:
            raise ValueError(f"`{what}` is {data!r}, not one of {', '.join(map(repr, args))}")
        return data
    if origin in (typing.Union, types.UnionType):
        if data is None and type(None) in args:
            return None
        (other,) = (a for a in args if a is not type(None))
        return _decode(data, other, what, stand_in=stand_in)
    if origin is tuple:
        return tuple(_decode(v, args[0], f"{what}[]") for v in _list(data, what))
    if origin is dict:
        key_type, value_type = args
        items = _object(data, what).items()
        if key_type is int:  # metric ids: a negative one stands in for a metric the plan creates
            if not all(k.removeprefix("-").isdigit() for k, _ in items):
                raise ValueError(f"`{what}` has a key that is not a whole number")
            return {int(k): _decode(v, value_type, what) for k, v in items}
        return {k: _decode(v, value_type, what) for k, v in items}
    if hint is bool:
        return _flag(data, what)
    if hint is int:
        if stand_in and type(data) is int and data < 0:
            return data
        return _count(data, what)
    if hint is str:
        return _text(data, what)
    raise TypeError(f"no codec for {hint!r}")


def _decode_any(value: Any) -> Any:
    if isinstance(value, dict) and set(value) == {_SECRET_KEY}:
        ref = value[_SECRET_KEY]
        if not isinstance(ref, dict) or len(ref) != 1:
            raise ValueError("bad secret reference")
        ((kind, name),) = ref.items()
        if kind not in ("env", "file") or not isinstance(name, str):
            raise ValueError("bad secret reference")
        return SecretRef(kind, name)
    return value


def encode_plan(plan: ProjectPlan, secret_dir: Path) -> dict[str, Any]:
    """A plan as JSON data (secrets as references; file references relative to ``secret_dir``)."""
    data: dict[str, Any] = _encode(plan, ProjectPlan, secret_dir)
    return data


def decode_plan(data: Any) -> ProjectPlan:
    """The plan ``encode_plan`` wrote; raises ValueError (or TypeError) for anything else."""
    plan: ProjectPlan = _decode(data, ProjectPlan, "projects[]")
    for change in plan.field_changes:
        if change.sensitive and not isinstance(change.after, SecretRef):
            raise ValueError(f"the secret change {change.path!r} names no reference")
    return plan


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def _portable_dir(directory: Path) -> str:
    try:
        return str(directory.relative_to(Path.cwd().resolve())) or "."
    except ValueError:
        return str(directory)


def _project(plan: ProjectPlan) -> dict[str, Any]:
    secret_dir = Path(plan.file).resolve().parent
    return {
        **encode_plan(plan, secret_dir),
        # Relative to the working directory (a pipeline plans and applies from the checkout's root,
        # maybe in two different checkouts); absolute only when the file lies outside it.
        "secret_dir": _portable_dir(secret_dir),
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


def _count(value: Any, what: str) -> int:
    if type(value) is not int or value < 0:
        raise ValueError(f"`{what}` is not a whole number >= 0")
    return value


def _flag(value: Any, what: str) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"`{what}` is not true or false")
    return value


def _list(value: Any, what: str) -> list[Any]:
    if not isinstance(value, list):
        raise ValueError(f"`{what}` is not a list")
    return value


def _object(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError(f"`{what}` is not an object")
    return value


def _read_project(data: Any) -> SavedProject:
    data = dict(_object(data, "projects[]"))
    secret_dir = _text(data.pop("secret_dir", None), "secret_dir")
    return SavedProject(decode_plan(data), secret_dir)


# -- applying: the plan made again from what the file shows --------------------------------------


# What in a saved project is not what its changes and the live project give.
_Edited = Edited


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


def _desired(saved: SavedProject, live: Mapping[str, Any]) -> tuple[DesiredProject, dict[str, Any]]:
    """The project file the saved plan's changes describe, against ``live``: changed fields as the
    changes show them, every other managed field as it is live (so it makes no change); and what
    the kinds would have read beside the project. Each kind gives its own part (``Kind.from_plan``)."""
    stored = saved.plan
    registered = kinds()
    unknown = sorted(set(stored.managed_kinds) - {kind.name for kind in registered})
    if unknown:
        raise _Edited(f"it manages {', '.join(unknown)}, which this version does not know")
    for change in stored.field_changes:
        if not any(kind.owns(change, stored) for kind in registered):
            raise _Edited(f"it changes {change.path}, which it does not manage")
    refs = shown_secrets(saved)
    values: dict[str, Any] = {}
    reads: dict[str, Any] = {}
    for kind in registered:
        part = kind.from_plan(stored, live, refs)
        values[kind.key] = part.value
        if part.read is not None:
            reads[kind.name] = part.read
    desired = DesiredProject(
        file=stored.file,
        project_id=stored.project_id,
        settings=values.pop("settings"),
        secrets=values.pop("secrets"),
        rubric=values.pop("rubric"),
        parts={key: value for key, value in values.items() if value is not None},
    )
    return desired, reads


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
        desired, reads = _desired(saved, live)
        rotate = {c.path for c in stored.secret_changes if c.action == "rotate"}
        plan = diff_project(
            desired, live, rotate=rotate, secret_values=secret_values, warnings=stored.warnings, reads=reads
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
        if _strict([c.__dict__ for c in plan.metric_changes]) != _strict(
            [c.__dict__ for c in stored.metric_changes]
        ):
            raise _Edited("the metric changes it shows are not what the project needs now")
        if plan.managed_kinds != stored.managed_kinds:
            raise _Edited("what it manages is not what its changes give")
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
