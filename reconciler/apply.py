"""Apply a plan: guards, then ONE PATCH per project, then a GET to prove the project converged.

``write_project`` is one project's whole write: a fresh read immediately before the PATCH (a plan
is never sent against a state that moved since it was shown), the backup journal entry of that
fresh read, the PATCH, and the verifying read. ``apply_plan`` is the PATCH and the verification; it
never re-plans and never prints. A PATCH whose answer was lost is not retried blindly: the project
is read again and the outcome decided from what it shows.

What is left: the API has no If-Match, so another writer between the fresh read and the PATCH is
not seen (docs/fault-matrix.md).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from reconciler.changes import ProjectPlan
from reconciler.client import CekuraClient
from reconciler.diff import moved_fields, plan_fingerprint, unconverged
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
from reconciler.journal import write_entry
from reconciler.kinds import kinds, write_order
from reconciler.kinds.metrics import journal_metrics
from reconciler.model import Secret, SecretRef

Status = Literal["unchanged", "changed"]
Stage = Literal["waiting", "reading", "journal", "sending", "verifying", "done"]
# A fresh read that moved again right after a re-plan is re-planned at most this often.
MAX_REPLANS = 3


@dataclass(frozen=True)
class ApplyOutcome:
    project_id: int
    status: Status
    detail: str = ""


class Gate:
    """Shared by the projects of one apply written in parallel. An interruption closes it, under
    ``lock``, while it notes where each project stands; from then on no project starts its fresh
    read, its journal entry or its PATCH, so what was reported as not sent is never sent."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.closed = False


class Stopped(Exception):
    """The gate closed before this project sent anything: it stops where it is."""


_NOT_SENT_YET: frozenset[Stage] = frozenset({"reading", "journal", "sending"})


@dataclass
class Attempt:
    """Where one project's write stands, so that an interruption (Ctrl-C, a cancelled CI job) can
    say what became of it: nothing sent before "sending", unknown from then until "done"."""

    project_id: int
    stage: Stage = "waiting"
    journal_entry: str | None = None
    plan: ProjectPlan | None = None
    gate: Gate | None = field(default=None, repr=False, compare=False)

    def enter(self, stage: Stage) -> None:
        """Move on to ``stage``; raises Stopped instead when the gate has closed and the project
        would start a step towards its PATCH."""
        if self.gate is None:
            self.stage = stage
            return
        with self.gate.lock:
            if self.gate.closed and stage in _NOT_SENT_YET:
                raise Stopped(self.project_id)
            self.stage = stage


# Re-plans a project from a fresh read of it: (new plan, the secret values that plan sends).
Replan = Callable[[Mapping[str, Any]], tuple[ProjectPlan, Mapping[str, Secret]]]


def write_project(
    plan: ProjectPlan,
    client: CekuraClient,
    *,
    secret_values: Mapping[str, Secret],
    journal_dir: str,
    base_url: str,
    allow_delete: bool,
    force: bool,
    replan: Replan | None,
    on_replan: Callable[[ProjectPlan, list[str]], None],
    attempt: Attempt,
) -> ApplyOutcome:
    """Read the project again, journal that read, send the PATCH, verify.

    When a managed field moved since ``plan`` was made: without ``replan`` (a person approved this
    plan, or it is a reviewed saved plan) nothing is sent and RefusedError names what moved; with
    ``replan`` (--auto-approve) the project is planned again from the fresh read, the guards are
    checked again, ``on_replan`` is told, and that plan is sent instead.
    """
    attempt.plan = plan
    for _ in range(MAX_REPLANS + 1):
        attempt.enter("reading")
        try:
            live = read_watched(client, plan)
        except ApiError as exc:
            raise ApplyError(
                f"project {plan.project_id}: cannot read it again before the PATCH ({exc}); nothing was sent"
            ) from None
        moved = changed_since(plan, live)
        if not moved:
            break
        if replan is None:
            raise RefusedError(
                f"project {plan.project_id}: changed since the plan was shown: {', '.join(moved)}; "
                "nothing was sent for it. Run plan (or apply) again to see and approve the new change"
            )
        plan, secret_values = replan(live)
        attempt.plan = plan
        on_replan(plan, moved)
        check_guards(plan, allow_delete=allow_delete, force=force)
        if not plan.has_changes:
            attempt.stage = "done"
            return ApplyOutcome(plan.project_id, "unchanged", "it now matches the file")
    else:
        raise RefusedError(
            f"project {plan.project_id}: it kept changing while being applied (someone else is editing it); "
            "nothing was sent for it. Run apply again when it is quiet"
        )
    attempt.enter("journal")
    previous = {k: live[k] for k in plan.patch if k in live and k not in plan.managed_secrets}
    attempt.journal_entry = write_entry(
        journal_dir, plan, base_url=base_url, previous=previous, metrics=journal_metrics(plan, live)
    )
    attempt.enter("sending")
    on_answer = lambda: setattr(attempt, "stage", "verifying")  # noqa: E731
    if any(r.kind != "project" for r in write_order(plan)):
        outcome = send_writes(plan, client, secret_values=secret_values, on_answer=on_answer)
    else:
        outcome = apply_plan(plan, client, secret_values=secret_values, on_answer=on_answer)
    attempt.stage = "done"
    return outcome


def read_watched(client: CekuraClient, plan: ProjectPlan) -> dict[str, Any]:
    """The project as a GET answers it, with what the kinds ``plan`` manages read beside it (the
    project's metrics): everything ``plan``'s fingerprint and baseline watch, read now."""
    live = dict(client.get_project(plan.project_id))
    for kind in kinds():
        live.update(kind.read_fresh(client, plan))
    return live


def with_created_ids(plan: ProjectPlan, created: Mapping[int, int]) -> ProjectPlan:
    """``plan`` with the stand-in ids of the objects it creates (negative) replaced, in its PATCH's
    rubric rules, by the ids their POSTs answered."""
    config = plan.patch.get("rubric_config")
    if not created or not isinstance(config, dict) or not isinstance(config.get("rules"), list):
        return plan
    rules = [
        {**rule, "metric_id": created[rule["metric_id"]]}
        if isinstance(rule, dict) and rule.get("metric_id") in created
        else rule
        for rule in config["rules"]
    ]
    return replace(plan, patch={**plan.patch, "rubric_config": {**config, "rules": rules}})


def send_writes(
    plan: ProjectPlan,
    client: CekuraClient,
    *,
    secret_values: Mapping[str, Secret],
    on_answer: Callable[[], None] = lambda: None,
) -> ApplyOutcome:
    """Every write of ``plan`` in dependency order (``kinds.write_order``: the object kinds' creates
    and updates, the project PATCH naming the ids the creates answered, then deletes), then each
    kind's verification. A failing write stops the rest; its error says write by write what was
    done, what failed and what was not sent (a re-run converges: objects are found by their keys)."""
    created: dict[int, int] = {}
    done: list[str] = []
    writes = write_order(plan)
    for index, request in enumerate(writes):
        try:
            if request.kind == "project":
                outcome = apply_plan(
                    with_created_ids(plan, created), client, secret_values=secret_values, on_answer=on_answer
                )
                done.append(
                    f"{request.describe}: sent and verified{f' {outcome.detail}' if outcome.detail else ''}"
                )
                continue
            answer = client.write_object(
                request.method,
                request.path,
                dict(request.body) if request.body is not None else None,
                what=request.describe,
            )
        except (ApiError, ApplyError) as exc:
            raise ApplyError(
                _write_report(plan, done, request.describe, exc, [r.describe for r in writes[index + 1 :]]),
                outcome="unknown" if done or isinstance(exc, ApplyError) else "not_changed",
            ) from None
        if request.creates is not None:
            new_id = answer.get("id") if isinstance(answer, dict) else None
            if not isinstance(new_id, int):
                raise ApplyError(
                    _write_report(
                        plan,
                        done,
                        request.describe,
                        MalformedResponse("its answer has no id"),
                        [r.describe for r in writes[index + 1 :]],
                    ),
                    outcome="unknown",
                )
            created[request.creates] = new_id
            done.append(f"{request.describe}: created (id {new_id})")
        else:
            done.append(f"{request.describe}: done")
    on_answer()
    try:
        left = [item for kind in kinds() for item in kind.verify(client, plan, created)]
    except ApiError as exc:
        raise ApplyError(
            f"project {plan.project_id}: outcome UNKNOWN: every write was accepted ({'; '.join(done)}), "
            f"but reading them back to verify failed ({exc}); run plan to see where it stands",
            outcome="unknown",
        ) from None
    if left:
        raise NotConvergedError(
            f"project {plan.project_id}: the writes were accepted but read back still differ: "
            + "; ".join(left)
        )
    return ApplyOutcome(plan.project_id, "changed", "; ".join(done))


def _write_report(plan: ProjectPlan, done: list[str], failed: str, error: Exception, rest: list[str]) -> str:
    """Write by write: what was done, what failed and why, what was not sent."""
    lines = [f"project {plan.project_id}: {failed} FAILED: {error}"]
    lines += [f"  done: {item}" for item in done] or ["  done: nothing"]
    lines += [f"  not sent: {item}" for item in rest]
    lines.append("  running apply again converges: metrics are found by slug, so nothing is created twice")
    return "\n".join(lines)


def changed_since(plan: ProjectPlan, live: Mapping[str, Any]) -> list[str]:
    """The managed fields that moved between the plan's read and ``live`` (empty: none did)."""
    if live_fingerprint(plan, live) == plan.fingerprint:
        return []
    if not plan.baseline:  # a plan saved by an older version: only its digest is known
        return ["the fields this file manages"]
    return moved_fields(plan.baseline, live, plan.metric_names) or ["the fields this file manages"]


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
    metrics = plan.metric_mass_deletion()
    if metrics and not force:
        raise RefusedError(
            f"project {plan.project_id}: the plan deletes {metrics[0]} of the project's {metrics[1]} "
            "metrics; refusing without --force"
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
    plan: ProjectPlan,
    client: CekuraClient,
    *,
    secret_values: Mapping[str, Secret],
    on_answer: Callable[[], None] = lambda: None,
) -> ApplyOutcome:
    """Send the plan's PATCH and verify it. ``on_answer`` is called once the API has accepted the
    PATCH, before the verifying read."""
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
    on_answer()
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
    return plan_fingerprint(plan, live)


def already_applied(plan: ProjectPlan, live: Mapping[str, Any]) -> bool:
    """Whether ``live`` (``read_watched``) is what ``plan`` leaves: its expected fingerprint, which
    names the metrics the plan creates by their stand-in ids; their real ids (found by slug in the
    metrics list) are named so before comparing."""
    if not plan.expected_fingerprint:
        return False
    creates = {c.slug: c.new_id for c in plan.metric_changes if c.action == "create" and c.new_id is not None}
    listed = live.get("$metrics")
    created = {
        m["id"]: creates[m["slug"]]
        for m in (listed if isinstance(listed, list) else [])
        if isinstance(m, dict) and m.get("slug") in creates and isinstance(m.get("id"), int)
    }
    config = live.get("rubric_config")
    if created and isinstance(config, dict) and isinstance(config.get("rules"), list):
        rules = [
            {**r, "metric_id": created[r["metric_id"]]}
            if isinstance(r, dict) and r.get("metric_id") in created
            else r
            for r in config["rules"]
        ]
        live = {**live, "rubric_config": {**config, "rules": rules}}
    return plan_fingerprint(plan, live) == plan.expected_fingerprint
