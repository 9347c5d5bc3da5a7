"""The project's secrets: write-only API keys, referenced by the file, set when not configured.

A GET answers only ``<name>_configured``, so a secret is planned from that: not configured → set;
configured → unchanged unless rotated. An older API that returns the value itself is compared
with the value the file references, never shown. Values live only in ``Secret``s; plans, baselines,
journal entries and saved plans hold names and references (``SecretRef``), never a value.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any, ClassVar

from reconciler.changes import FieldAction, FieldChange, ProjectPlan
from reconciler.kinds.base import Edited, ExportContext, Kind, PlanInputs, SavedPart
from reconciler.model import SECRET_FIELDS, DesiredProject, SecretRef, is_configured

_SUFFIX = "_configured"
# Never sent: an unchanged managed secret is in a rebuilt file only so that its fingerprint counts
# it; a change it would need is not in the saved plan, so the plan is refused.
UNCHANGED_SECRET = SecretRef("env", "(unchanged)")


class SecretsKind(Kind):
    """``secrets:``: references to write-only values, sent in the PATCH when set or rotated."""

    name: ClassVar[str] = "secrets"
    key: ClassVar[str] = "secrets"

    def desired(self, project: DesiredProject) -> Any:
        return project.secrets

    def plan(self, plan: ProjectPlan, inputs: PlanInputs) -> ProjectPlan:
        live, values = inputs.live, inputs.secret_values
        changes: list[FieldChange] = []
        patch: dict[str, Any] = {}
        for name, ref in inputs.desired.secrets.items():
            action: FieldAction | None = None
            if isinstance(live.get(name), str) and values is not None and name in values:
                # Older API versions returned the value itself: compare it, never show it.
                if live[name] != values[name].reveal():
                    action = "update"
                elif name in inputs.rotate:
                    action = "rotate"
            elif not is_configured(live.get(f"{name}{_SUFFIX}")) and not (
                isinstance(live.get(name), str) and live[name]  # an older API's value: configured
            ):
                action = "set"
            elif name in inputs.rotate:
                action = "rotate"
            if action is not None:
                changes.append(FieldChange(name, None, ref, sensitive=True, action=action))
                patch[name] = ref
        return replace(
            plan,
            field_changes=(*plan.field_changes, *changes),
            patch={**plan.patch, **patch},
            managed_secrets=tuple(inputs.desired.secrets),
        )

    def managed(self, plan: ProjectPlan) -> tuple[str, ...]:
        return plan.managed_secrets

    def watched(self, live: Mapping[str, Any], managed: Sequence[str]) -> dict[str, Any]:
        return {f"{name}{_SUFFIX}": is_configured(live.get(f"{name}{_SUFFIX}")) for name in sorted(managed)}

    def watches(self, key: str) -> bool:
        return key.endswith(_SUFFIX) and key.removesuffix(_SUFFIX) in SECRET_FIELDS

    def moved(
        self, key: str, before: Any, live: Mapping[str, Any], metric_names: Mapping[int, str]
    ) -> list[str]:
        now = live.get(key)
        if is_configured(now) == before:
            return []
        state = "configured" if is_configured(now) else "no longer configured"
        return [f"{key.removesuffix(_SUFFIX)} ({state})"]

    def expected(self, live: Mapping[str, Any], plan: ProjectPlan) -> dict[str, Any]:
        return {**live, **{f"{k}{_SUFFIX}": True for k in self.patch_keys(plan)}}

    def journaled(self, plan: ProjectPlan) -> tuple[str, ...]:
        return ()  # their old values were never readable; the journal keeps names only

    def unconverged(
        self, plan: ProjectPlan, live: Mapping[str, Any], sent_secrets: Mapping[str, str] | None
    ) -> list[str]:
        left: list[str] = []
        for name in self.patch_keys(plan):
            value = live.get(name)
            if isinstance(value, str) and sent_secrets is not None and name in sent_secrets:
                if value != sent_secrets[name]:
                    left.append(name)
            elif name not in live and not is_configured(live.get(f"{name}{_SUFFIX}")):
                left.append(name)
        return left

    def owns(self, change: FieldChange, plan: ProjectPlan) -> bool:
        return change.sensitive and change.path in plan.managed_secrets

    def from_plan(
        self, plan: ProjectPlan, live: Mapping[str, Any], refs: Mapping[str, SecretRef]
    ) -> SavedPart:
        names = plan.managed_secrets
        if len(set(names)) != len(names) or not set(names) <= set(SECRET_FIELDS):
            raise Edited("its managed secrets are not a list of secrets a project file can manage")
        if not {c.path for c in plan.secret_changes} <= set(names):
            raise Edited("it sends a secret it does not manage")
        return SavedPart({n: refs.get(n, UNCHANGED_SECRET) for n in names})

    def export(self, live: Mapping[str, Any], context: ExportContext) -> list[str]:
        from reconciler.export import secret_lines

        return secret_lines(context.project_id, live)
