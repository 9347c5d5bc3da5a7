"""The project's settings: the ``settings:`` mapping of a file, compared by deepdiff, sent in the PATCH.

Semantic equality (DESIGN.md) is deepdiff's, configured for it rather than imitated by hand:
``ignore_numeric_type_changes`` (300 == 300.0), ``math_epsilon`` (floats within a small tolerance),
``ignore_order_func`` for the set-like lists (dashboard ids, and the time periods, exception numbers
and agents of ``no_calls_notify_time_period``; a repeated item is no change either), and
``exclude_obj_callback_strict`` so that a missing list inside ``no_calls_notify_time_period``
equals an empty one. Its tree view is mapped to ``FieldChange``s: a whole setting, or one sub-key
of a JSON-object setting (which is still sent whole).

One hand path stays because it is measurably faster: top-level scalars (most settings) get
deepdiff's verdict from ``scalars_differ`` without calling it, so a plan of scalar settings never
imports deepdiff (~30 ms) nor pays a ``DeepDiff`` (timeit, two scalar settings that differ: 1.8 us
by hand, 185 us by ``DeepDiff``). ``tests/test_diff.py`` holds it to deepdiff's answers.
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any, ClassVar

from reconciler.changes import FieldChange, ProjectPlan
from reconciler.kinds.base import MISSING, ExportContext, Kind, PlanInputs, SavedPart, json_copy
from reconciler.kinds.base import Edited as _Edited
from reconciler.model import OBJECT_FIELDS, DesiredProject, SecretRef, is_number

MATH_EPSILON = 1e-9
# The lists whose order (and repetition) means nothing to the API, as deepdiff paths.
_SET_LIKE = re.compile(
    r"^root\['daily_report_dashboard_ids'\]$"
    r"|^root\['no_calls_notify_time_period'\]\['(time_periods|exception_numbers|agents)'\]$"
)
# Lists of no_calls_notify_time_period that the API treats as empty when they are missing or null.
_EMPTY_WHEN_ABSENT = re.compile(
    r"^root\['no_calls_notify_time_period'\]\['(time_periods|exception_numbers|agents)'\]$"
)


def _set_like(level: Any) -> bool:
    return _SET_LIKE.match(level.path()) is not None


def _absent_as_empty(obj: Any, path: str) -> bool:
    from deepdiff.helper import notpresent

    return (obj is notpresent or obj is None or obj == []) and _EMPTY_WHEN_ABSENT.match(path) is not None


def scalars_differ(a: Any, b: Any) -> bool | None:
    """deepdiff's verdict on two scalars, without deepdiff, or None to ask deepdiff itself.

    Numbers of either type compare within MATH_EPSILON (``math.isclose(a, b,
    abs_tol=MATH_EPSILON)``, as its ``math_epsilon`` does); two booleans, two strings, nulls by
    type and value. A boolean against a number is left to deepdiff. ``tests/test_diff.py`` holds
    this to deepdiff's answers.
    """
    if is_number(a) and is_number(b):
        return not math.isclose(a, b, abs_tol=MATH_EPSILON)
    if (isinstance(a, bool) and is_number(b)) or (is_number(a) and isinstance(b, bool)):
        return None
    return type(a) is not type(b) or a != b


def differing_paths(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[list[Any]]:
    """The paths (as lists, the setting's name first) where two mappings of settings really differ;
    a name missing from one side is ``MISSING`` there."""
    paths: list[list[Any]] = []
    nested_before: dict[str, Any] = {}
    nested_after: dict[str, Any] = {}
    for key in before.keys() | after.keys():
        a, b = before.get(key, MISSING), after.get(key, MISSING)
        verdict = None if isinstance(a, dict | list) or isinstance(b, dict | list) else scalars_differ(a, b)
        if verdict is None:
            nested_before[key], nested_after[key] = a, b
        elif verdict:
            paths.append([key])
    if nested_before:
        paths += deep_paths(nested_before, nested_after)
    return paths


def deep_paths(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[list[Any]]:
    """deepdiff's answer alone: the paths where two mappings of settings differ."""
    from deepdiff import DeepDiff  # here, not at the top: most plans never need it

    diff = DeepDiff(
        before,
        after,
        math_epsilon=MATH_EPSILON,
        ignore_numeric_type_changes=True,
        ignore_order_func=_set_like,
        report_repetition=False,
        exclude_obj_callback_strict=_absent_as_empty,
        view="tree",
    )
    return [level.path(output_format="list") for report in diff.values() for level in report]


def values_differ(name: str, a: Any, b: Any) -> bool:
    """Whether two values of the setting ``name`` differ to a plan (``MISSING``: not there)."""
    if a == b and type(a) is type(b):
        return False
    return bool(differing_paths({name: a}, {name: b}))


def settings_equal(name: str, a: Any, b: Any) -> bool:
    """Two values of setting ``name`` are the same to a plan (300 == 300.0, id lists as sets...)."""
    return not values_differ(name, a, b)


def diff_settings(
    desired: Mapping[str, Any], live: Mapping[str, Any]
) -> tuple[list[FieldChange], dict[str, Any]]:
    """The changes and the PATCH part that bring ``live`` to the ``desired`` settings."""
    before = {k: live.get(k, MISSING) for k in desired}
    # An exact equality first skips the settings that are plainly equal (most of them).
    maybe = [k for k in desired if before[k] != desired[k] or type(before[k]) is not type(desired[k])]
    if not maybe:
        return [], {}
    paths = differing_paths({k: before[k] for k in maybe}, {k: desired[k] for k in maybe})
    changed: dict[str, set[str] | None] = {}
    for path in paths:
        name = str(path[0])
        whole = (
            name not in OBJECT_FIELDS
            or len(path) < 2
            or not (isinstance(before[name], dict) and isinstance(desired[name], dict))
        )
        if whole:
            changed[name] = None
        elif changed.get(name, set()) is not None:
            changed.setdefault(name, set()).add(str(path[1]))  # type: ignore[union-attr]
    changes: list[FieldChange] = []
    patch: dict[str, Any] = {}
    for name in desired:
        if name not in changed:
            continue
        patch[name] = desired[name]
        subkeys = changed[name]
        # Changes show the values as the API and the file have them.
        shown_before, shown_after = live.get(name), desired[name]
        if subkeys is None:
            changes.append(FieldChange(name, shown_before, shown_after, before_missing=name not in live))
            continue
        old, new = dict(shown_before or {}), dict(shown_after or {})  # both are mappings here
        for key in sorted(subkeys):
            changes.append(
                FieldChange(
                    f"{name}.{key}",
                    old.get(key),
                    new.get(key),
                    before_missing=key not in old,
                    after_missing=key not in new,
                )
            )
    return changes, patch


class SettingsKind(Kind):
    """``settings:``: the project's own fields, each sent in the PATCH when it differs."""

    name: ClassVar[str] = "settings"
    key: ClassVar[str] = "settings"

    def desired(self, project: DesiredProject) -> Any:
        return project.settings

    def plan(self, plan: ProjectPlan, inputs: PlanInputs) -> ProjectPlan:
        settings = inputs.desired.settings
        changes, patch = diff_settings(settings, inputs.live)
        return replace(
            plan,
            field_changes=(*plan.field_changes, *changes),
            patch={**plan.patch, **patch},
            managed_settings=tuple(settings),
        )

    def managed(self, plan: ProjectPlan) -> tuple[str, ...]:
        return plan.managed_settings

    def watched(self, live: Mapping[str, Any], managed: Sequence[str]) -> dict[str, Any]:
        from reconciler.kinds.base import MISSING_MARK

        return {k: json_copy(live.get(k, MISSING_MARK)) for k in sorted(managed)}

    def from_plan(
        self, plan: ProjectPlan, live: Mapping[str, Any], refs: Mapping[str, SecretRef]
    ) -> SavedPart:
        names = plan.managed_settings
        if len(set(names)) != len(names) or not set(names) <= set(setting_names()):
            raise _Edited("its managed settings are not a list of settings a project file can manage")
        whole: dict[str, FieldChange] = {}
        parts: dict[str, list[FieldChange]] = {}
        for change in plan.setting_changes:
            name, _, key = change.path.partition(".")
            if name not in names:
                continue  # another kind's (checked by the codec: every change has its kind)
            if key and name not in OBJECT_FIELDS:
                raise _Edited(f"it changes {change.path}, which it does not manage")
            if key:
                parts.setdefault(name, []).append(change)
            else:
                whole[name] = change
        settings: dict[str, Any] = {}
        for name in names:
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
        return SavedPart(settings)

    def export(self, live: Mapping[str, Any], context: ExportContext) -> list[str]:
        from reconciler.export import settings_lines

        return settings_lines(live)


def setting_names() -> frozenset[str]:
    """The settings a project file may manage (the schema's ``settings`` properties)."""
    from reconciler.validate import settings_names

    return frozenset(settings_names())
