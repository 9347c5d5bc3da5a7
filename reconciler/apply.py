"""Apply a plan: guards, then ONE PATCH per project, then a GET to prove the project converged.

``apply_plan`` takes a plan (plus the secret values its references name, resolved at the last
moment) and a client; it never re-plans and never prints. A PATCH whose answer was lost is not
retried blindly: the project is read again and the outcome decided from what it shows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from reconciler.changes import ProjectPlan
from reconciler.client import CekuraClient
from reconciler.diff import fingerprint, unconverged
from reconciler.errors import (
    ApiError,
    ApplyError,
    MalformedResponse,
    NotConvergedError,
    NotFoundError,
    RefusedError,
    ServerError,
    TransportError,
)
from reconciler.model import Secret, SecretRef

Status = Literal["unchanged", "changed"]


@dataclass(frozen=True)
class ApplyOutcome:
    project_id: int
    status: Status
    detail: str = ""


def check_guards(plan: ProjectPlan, *, allow_delete: bool, force: bool) -> None:
    """Refuse, before anything is sent, what must be asked for explicitly."""
    if plan.patch.get("is_deleted") is True and not allow_delete:
        raise RefusedError(
            f"project {plan.project_id}: the plan sets is_deleted: true, which deletes the project; "
            "refusing without --allow-delete"
        )
    mass = plan.mass_deletion()
    if mass and not force:
        raise RefusedError(
            f"project {plan.project_id}: the plan removes {mass[0]} of the {mass[1]} live rubric rules; "
            "refusing without --force"
        )


def patch_body(plan: ProjectPlan, secret_values: Mapping[str, Secret]) -> dict[str, object]:
    """The PATCH body of the plan, with secret references replaced by their values."""
    body: dict[str, object] = {}
    for name, value in plan.patch.items():
        if isinstance(value, SecretRef):
            if name not in secret_values:
                raise ApplyError(f"project {plan.project_id}: the value of secret {name} was not resolved")
            body[name] = secret_values[name].reveal()
        else:
            body[name] = value
    return body


def apply_plan(
    plan: ProjectPlan, client: CekuraClient, *, secret_values: Mapping[str, Secret]
) -> ApplyOutcome:
    if not plan.has_changes:
        return ApplyOutcome(plan.project_id, "unchanged")
    body = patch_body(plan, secret_values)
    redact = [s.reveal() for s in secret_values.values()]
    sent = {k: v for k, v in body.items() if k in plan.managed_secrets and isinstance(v, str)}
    lost = ""
    try:
        client.patch_project(plan.project_id, body, redact=redact)
    except (TransportError, ServerError, MalformedResponse) as exc:
        if isinstance(exc, TransportError) and not exc.maybe_sent:
            raise
        # The server may or may not have applied it: look instead of guessing or re-sending.
        try:
            live = client.get_project(plan.project_id)
        except ApiError as again:
            if _deleted(plan, again):
                return ApplyOutcome(plan.project_id, "changed", f"(the PATCH's answer was lost; {DELETED})")
            raise ApplyError(
                f"project {plan.project_id}: outcome UNKNOWN: the PATCH failed ({exc}) and reading the "
                f"project back failed too ({again}); run plan to see where it stands",
                outcome="unknown",
            ) from None
        rotated = [c.path for c in plan.secret_changes if c.action != "set"]
        if rotated and all(k in plan.managed_secrets for k in plan.patch):
            # A configured secret reads back as configured whether or not the new value landed.
            raise ApplyError(
                f"project {plan.project_id}: outcome UNKNOWN: the PATCH failed ({exc}) and it only sent "
                f"{', '.join(rotated)}, which was already configured, so reading the project back cannot "
                "tell whether the new value landed; sending it again with the same --rotate is safe",
                outcome="unknown",
            ) from None
        if not unconverged(plan, live, sent):
            lost = " (the PATCH's answer was lost; reading the project back shows it was applied)"
        elif live_fingerprint(plan, live) == plan.fingerprint:
            raise ApplyError(
                f"project {plan.project_id}: NOT changed: the PATCH failed ({exc}) and the project reads "
                "back as before; it is safe to run apply again"
            ) from None
        else:
            raise ApplyError(
                f"project {plan.project_id}: outcome UNKNOWN: the PATCH failed ({exc}) and the project now "
                "matches neither the plan nor its state before; run plan to see where it stands",
                outcome="unknown",
            ) from None
        return ApplyOutcome(plan.project_id, "changed", lost.strip())
    try:
        live = client.get_project(plan.project_id)
    except ApiError as exc:
        if _deleted(plan, exc):
            return ApplyOutcome(plan.project_id, "changed", f"({DELETED})")
        raise ApplyError(
            f"project {plan.project_id}: outcome UNKNOWN: the API accepted the PATCH, but reading the "
            f"project back to verify it failed ({exc}); run plan to see where it stands",
            outcome="unknown",
        ) from None
    left = unconverged(plan, live, sent)
    if left:
        raise NotConvergedError(
            f"project {plan.project_id}: the PATCH was accepted but the project read back still differs in "
            f"{', '.join(left)}; the API may have rejected or rewritten these values"
        )
    return ApplyOutcome(plan.project_id, "changed")


DELETED = "deleted: the project now answers 404, as a deleted project does"


def _deleted(plan: ProjectPlan, error: ApiError) -> bool:
    """The plan deleted the project (is_deleted: true) and reading it back answers 404: the
    expected outcome, not an unknown one."""
    return plan.patch.get("is_deleted") is True and isinstance(error, NotFoundError)


def live_fingerprint(plan: ProjectPlan, live: Mapping[str, object]) -> str:
    return fingerprint(
        live, settings=plan.managed_settings, secrets=plan.managed_secrets, rubric=plan.manages_rubric
    )
