"""What the commands do, as a library: plan many files, drift, apply, apply a saved plan, restore, export.

Each operation takes a client, plain typed options and, where something happens over time,
callbacks (progress, confirmation, a project planned again, a project done); it returns a typed
result: a ``PlanRun`` (the plans and the files that failed) or an ``ApplyReport`` (what became of
every project). Failures of one project are values (``Failure``), so the others go on; an error that
stops the whole operation is raised from the ``ReconcilerError`` tree.

This module never prints, never exits and knows nothing of click: ``cli.py`` renders the results
and maps them to exit codes. Heavy modules (httpx, deepdiff, jsonschema) are imported inside the
operations that need them, so importing this module is cheap.

    from reconciler import operations
    run = operations.plan(client, projects)
    report = operations.apply(client, run, options=operations.ApplyOptions(journal_dir="journal"))
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

from reconciler.changes import Plan, ProjectPlan

if TYPE_CHECKING:
    from datetime import datetime
    from pathlib import Path

    from reconciler.apply import Replan
    from reconciler.client import CekuraClient
    from reconciler.impact import ImpactReport
    from reconciler.journal import JournalEntry
    from reconciler.model import DesiredProject, Secret
    from reconciler.pull import PullResult
    from reconciler.reconcile import PlannedProject

# (done, total) after each project read; called from the reading threads, one call at a time.
Progress = Callable[[int, int], None]
Signal = Literal["SIGINT", "SIGTERM"]
Outcome = Literal[
    "changed",  # the PATCH was sent and the project read back as planned
    "now_matching",  # planned again from a fresh read, it already matched: nothing sent
    "no_changes",  # nothing to send
    "already_applied",  # a saved plan found the project as the plan leaves it: nothing sent
    "refused",  # a guard said no before anything was sent (--allow-delete, --force)
    "not_changed",  # nothing was sent, or the project reads back as before: safe to run again
    "unknown",  # the PATCH may or may not have landed: look before going on
    "not_converged",  # changed, but it does not read back as planned
    "not_verified",  # the PATCH was accepted; interrupted before the read-back
]
FAILED: frozenset[str] = frozenset({"refused", "not_changed", "unknown", "not_converged", "not_verified"})
UNCHANGED: frozenset[str] = frozenset({"no_changes", "already_applied", "now_matching"})


class Terminated(KeyboardInterrupt):
    """SIGTERM (a cancelled CI job, `kill`), raised by the CLI's signal handler: handled like Ctrl-C,
    so an apply still reports what became of every project, but it is told apart (exit 143)."""


# -- results --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Failure:
    """A file (or project) that could not be planned, or a project a guard refused."""

    file: str
    message: str

    def text(self) -> str:
        """The message, prefixed with its file unless it already names it."""
        if not self.file or self.message.startswith(self.file):
            return self.message
        return f"{self.file}: {self.message}"


@dataclass(frozen=True)
class PlanRun:
    """The plans of many files, and the files that could not be planned.

    ``secret_values`` and ``replans`` run beside ``plan.projects`` (same order): the values each
    PATCH sends, and how to plan a project again from a fresh read (apply uses it when
    ``ApplyOptions.replan`` is set). Neither is ever shown or serialized.
    """

    plan: Plan
    failures: tuple[Failure, ...] = ()
    # With `plan --impact`: the rubric impact report of each project whose rubric changes.
    impact: tuple[ImpactReport, ...] | None = None
    # A saved plan: projects already as the plan leaves them (shown, never sent again).
    already_applied: tuple[int, ...] = ()
    secret_values: tuple[Mapping[str, Secret], ...] = field(default=(), repr=False, compare=False)
    replans: tuple[Replan | None, ...] = field(default=(), repr=False, compare=False)

    @property
    def has_changes(self) -> bool:
        return self.plan.has_changes

    @property
    def metric_names(self) -> dict[int, str]:
        names: dict[int, str] = {}
        for project in self.plan.projects:
            names.update(project.metric_names)
        return names

    def items(self) -> list[tuple[ProjectPlan, Mapping[str, Secret], Replan | None]]:
        """(plan, secret values, re-plan) of every project, in order."""
        count = len(self.plan.projects)
        values = (*self.secret_values, *({},) * (count - len(self.secret_values)))
        replans = (*self.replans, *(None,) * (count - len(self.replans)))
        return list(zip(self.plan.projects, values, replans, strict=True))


@dataclass(frozen=True)
class ProjectResult:
    """What became of one project in an apply."""

    project_id: int
    file: str
    outcome: Outcome
    message: str
    # The backup of the values the PATCH replaced (`restore ENTRY` puts them back).
    journal_entry: str | None = None
    # The plan that was sent (planned again from a fresh read, if it was), or would have been.
    plan: ProjectPlan | None = field(default=None, repr=False)

    @property
    def fields_sent(self) -> int:
        return len(self.plan.patch) if self.plan is not None and self.outcome == "changed" else 0


@dataclass(frozen=True)
class ApplyReport:
    """What became of every project of an apply (or a restore).

    ``status``: "applied" (writes were attempted), "nothing_to_apply" (no project needed a write,
    or every one that did failed first), "cancelled" (confirmation refused). ``interrupted``: the
    signal that stopped it (the projects not reached are then "not_changed"; the one in flight
    "unknown" or "not_verified"); the caller decides how to exit.
    """

    projects: tuple[ProjectResult, ...]
    failures: tuple[Failure, ...] = ()
    status: Literal["applied", "nothing_to_apply", "cancelled"] = "applied"
    interrupted: Signal | None = None

    def with_outcome(self, *outcomes: str) -> list[ProjectResult]:
        return [p for p in self.projects if p.outcome in outcomes]

    @property
    def changed(self) -> int:
        return len(self.with_outcome("changed"))

    @property
    def failed(self) -> int:
        return len(self.failures) + len(self.with_outcome(*FAILED))

    @property
    def unchanged(self) -> int:
        return len(self.with_outcome(*UNCHANGED))

    @property
    def ok(self) -> bool:
        return self.status != "cancelled" and not self.failed and self.interrupted is None

    def redacted(self, redact: Callable[[str], str]) -> ApplyReport:
        """The same report with every message passed through ``redact``."""
        return replace(
            self,
            projects=tuple(replace(p, message=redact(p.message)) for p in self.projects),
            failures=tuple(replace(f, message=redact(f.message)) for f in self.failures),
        )


@dataclass(frozen=True)
class RestoreReport:
    """A restore: the journal entry it put back, and the apply of that restore."""

    entry: str
    project_id: int
    apply: ApplyReport
    # Secrets the journaled apply sent: their previous values were never readable, so not restored.
    secrets_not_restored: tuple[str, ...] = ()


# -- options and callbacks ------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class PlanOptions:
    rotate: tuple[str, ...] = ()  # send these secrets although configured (files naming them)
    rotate_all: bool = False  # send every secret a file references
    parallelism: int = 8  # projects read at the same time
    secrets_dirs: tuple[str, ...] = ()  # folders allowed for absolute {file: PATH} secrets


@dataclass(frozen=True, kw_only=True)
class ApplyOptions:
    journal_dir: str  # where the previous values of what each PATCH changes are saved first
    base_url: str | None = None  # recorded in journal entries; default: the client's
    allow_delete: bool = False  # allow a plan that sets is_deleted: true
    force: bool = False  # allow a plan that removes most of the live rubric rules
    # A project that moved since its plan was shown: plan it again from the fresh read and send
    # that (--auto-approve), instead of refusing it (a plan a person approved, a saved plan).
    replan: bool = False
    parallelism: int = 1  # projects written at the same time, each in its own order


class ApplyListener:
    """What apply tells its caller while it runs, in this order. By default: nothing, and approve
    (calling apply from code is the approval)."""

    def failed(self, failures: Sequence[Failure]) -> None:
        """Before any write: the files that failed to plan and the projects a guard refused."""

    def confirm(self, projects: int) -> bool:
        """Go on and write ``projects`` projects? Not asked when no project needs a write."""
        return True

    def writing(self, projects: int) -> None:
        """Approved: the writes start."""

    def replanned(self, plan: ProjectPlan, moved: Sequence[str]) -> None:
        """A project moved since its plan was shown (``moved`` says what) and ``plan`` is sent instead."""

    def finished(self, result: ProjectResult) -> None:
        """One project is done (changed, or failed: ``result.outcome`` says)."""


# -- planning -------------------------------------------------------------------------------------


def select_projects(projects: Sequence[DesiredProject], only: Sequence[int] = ()) -> list[DesiredProject]:
    """The files that manage a project, or only those of the project ids in ``only``."""
    from reconciler.errors import PlanError

    if not any(p.project_id is not None for p in projects):
        raise PlanError("no file given manages a project (only base files, without `project:`)")
    if not only:
        return [p for p in projects if p.project_id is not None]
    known = {p.project_id for p in projects}
    missing = [str(i) for i in only if i not in known]
    if missing:
        raise PlanError(f"--project {', '.join(missing)}: no file given manages such a project")
    return [p for p in projects if p.project_id in only]


def _rotation(desired: DesiredProject, rotate: Sequence[str], rotate_all: bool) -> tuple[str, ...]:
    """--rotate NAME over many files: the files that reference NAME rotate it."""
    return tuple(desired.secrets) if rotate_all else tuple(n for n in rotate if n in desired.secrets)


def _replanner(client: CekuraClient, desired: DesiredProject, options: PlanOptions) -> Replan:
    """Plan a project again from the fresh read apply made just before its PATCH."""
    from reconciler.credentials import secrets_dirs
    from reconciler.reconcile import plan_project

    def replan(live: Mapping[str, Any]) -> tuple[ProjectPlan, Mapping[str, Secret]]:
        planned = plan_project(
            client,
            desired,
            rotate=_rotation(desired, options.rotate, options.rotate_all),
            live=live,
            secrets_dirs=secrets_dirs(options.secrets_dirs),
        )
        return planned.plan, planned.secret_values

    return replan


def _counter(total: int, progress: Progress | None) -> Callable[[], None] | None:
    if progress is None:
        return None
    lock = threading.Lock()
    done = 0

    def step() -> None:
        nonlocal done
        with lock:
            done += 1
            progress(done, total)

    return step


def _plan_many(
    client: CekuraClient,
    projects: Sequence[DesiredProject],
    options: PlanOptions,
    *,
    read_secrets: bool,
    progress: Progress | None,
) -> PlanRun:
    from reconciler.credentials import secrets_dirs
    from reconciler.errors import InputError, PlanError, ReconcilerError
    from reconciler.parallel import in_parallel
    from reconciler.reconcile import plan_project

    referenced = {name for desired in projects for name in desired.secrets}
    unknown = [n for n in options.rotate if n not in referenced]
    if unknown:
        from difflib import get_close_matches

        close = [m for n in unknown for m in get_close_matches(n, sorted(referenced), n=1, cutoff=0.6)]
        hint = f"; did you mean {', '.join(dict.fromkeys(close))}?" if close else ""
        raise PlanError(f"--rotate {', '.join(unknown)}: no file given references such a secret{hint}")
    allowed = secrets_dirs(options.secrets_dirs)

    def one(desired: DesiredProject) -> PlannedProject | Failure:
        try:
            return plan_project(
                client,
                desired,
                rotate=_rotation(desired, options.rotate, options.rotate_all),
                read_secrets=read_secrets,
                secrets_dirs=allowed,
            )
        except InputError as exc:
            return Failure(desired.file, "\n".join(str(p) for p in exc.problems))
        except ReconcilerError as exc:
            return Failure(desired.file, str(exc))

    results = in_parallel(one, projects, options.parallelism, _counter(len(projects), progress))
    planned = [(r, d) for r, d in zip(results, projects, strict=True) if not isinstance(r, Failure)]
    return PlanRun(
        Plan(tuple(p.plan for p, _ in planned)),
        failures=tuple(r for r in results if isinstance(r, Failure)),
        secret_values=tuple(p.secret_values for p, _ in planned),
        replans=tuple(_replanner(client, d, options) for _, d in planned),
    )


def plan(
    client: CekuraClient,
    projects: Sequence[DesiredProject],
    *,
    options: PlanOptions | None = None,
    progress: Progress | None = None,
) -> PlanRun:
    """Plan every project; one project's failure does not stop the others (it is in ``failures``)."""
    return _plan_many(client, projects, options or PlanOptions(), read_secrets=True, progress=progress)


def drift(
    client: CekuraClient,
    projects: Sequence[DesiredProject],
    *,
    parallelism: int = 8,
    progress: Progress | None = None,
) -> PlanRun:
    """Where the live projects differ from their files. Reads no secret value: a secret that is
    configured is in sync, one that is not is drift."""
    options = PlanOptions(parallelism=parallelism)
    return _plan_many(client, projects, options, read_secrets=False, progress=progress)


def with_impact(
    client: CekuraClient,
    run: PlanRun,
    *,
    since: str = "7d",
    until: datetime | None = None,
    parallelism: int = 8,
) -> PlanRun:
    """Replay the window's calls under the live and the planned rubric of each project the run
    changes the rubric of: every project's windows at once, at most ``parallelism`` requests in
    flight; a project whose calls cannot be read becomes a failure."""
    from datetime import UTC
    from datetime import datetime as _datetime

    from reconciler.impact import ImpactReport, ImpactRequest, compute_impacts, parse_since

    end = until or _datetime.now(UTC)
    start = end - parse_since(since)
    changed = [p for p in run.plan.projects if "rubric_config" in p.patch]
    requests = [
        ImpactRequest(p.project_id, p.previous.get("rubric_config") or {}, p.patch["rubric_config"])
        for p in changed
    ]
    reports: list[ImpactReport] = []
    failures: list[Failure] = []
    for project, result in zip(
        changed, compute_impacts(client, requests, start, end, parallelism), strict=True
    ):
        if isinstance(result, ImpactReport):
            reports.append(result)
        else:
            failures.append(Failure(project.file, f"rubric impact: {result}"))
    return replace(run, impact=tuple(reports), failures=(*run.failures, *failures))


def save_plan(path: str, run: PlanRun, *, base_url: str, created_at: str | None = None) -> None:
    """Save the run's plan for `apply PATH`; a run with failures is refused (a saved plan must cover
    everything that was asked for)."""
    from datetime import UTC
    from datetime import datetime as _datetime

    from reconciler.errors import PlanError
    from reconciler.saved import write_saved_plan

    if run.failures:
        raise PlanError(f"not saving the plan to {path}: {len(run.failures)} file(s) failed to plan")
    stamp = created_at or _datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    write_saved_plan(path, run.plan.projects, base_url=base_url, created_at=stamp)


def load_saved_plan(
    path: str,
    client: CekuraClient,
    *,
    base_url: str,
    parallelism: int = 8,
    secrets_dirs: Sequence[str] = (),
) -> PlanRun:
    """A plan saved with `plan --out`, checked against the live projects: refused when it was made
    against another API or anything it manages moved since (stale); otherwise planned again from
    the changes it shows (never from its stored PATCH, which anyone can edit and re-checksum).

    Projects found as the plan leaves them are in ``already_applied``. The run never re-plans.
    """
    from pathlib import Path

    from reconciler.apply import already_applied, changed_since, live_fingerprint, read_watched
    from reconciler.client import same_server
    from reconciler.credentials import resolve_secret, saved_plan_root
    from reconciler.credentials import secrets_dirs as allowed_dirs
    from reconciler.errors import PlanError, RefusedError
    from reconciler.model import Secret
    from reconciler.parallel import in_parallel
    from reconciler.saved import read_saved_plan, rebuild, secret_references

    saved = read_saved_plan(path)
    if not same_server(saved.base_url, base_url):
        raise RefusedError(
            f"{path}: the plan was made against {saved.base_url}, not {base_url.rstrip('/')}; refusing it"
        )
    lives = in_parallel(lambda s: read_watched(client, s.plan), saved.projects, parallelism)
    done = {
        s.plan.project_id
        for s, live in zip(saved.projects, lives, strict=True)
        if s.plan.has_changes
        and already_applied(s.plan, live)
        and live_fingerprint(s.plan, live) != s.plan.fingerprint
    }
    stale = [
        f"  project {s.plan.project_id}: {', '.join(changed_since(s.plan, live))}"
        for s, live in zip(saved.projects, lives, strict=True)
        if live_fingerprint(s.plan, live) != s.plan.fingerprint and s.plan.project_id not in done
    ]
    if stale:
        files = " ".join(sorted({s.plan.file for s in saved.projects}))
        raise RefusedError(
            f"{path}: stale plan: the live projects moved since the plan was made ({saved.created_at}):\n"
            + "\n".join(stale)
            + f"\nNothing was sent. Plan again from the same files (cekura-reconciler plan --out {path} "
            f"{files}), review the new plan, and apply that"
        )
    shown: list[ProjectPlan] = []
    secret_values: list[Mapping[str, Secret]] = []
    for s, live in zip(saved.projects, lives, strict=True):
        if s.plan.project_id in done:
            shown.append(s.plan)
            secret_values.append({})
            continue
        values: dict[str, Secret] = {}
        for name, ref in secret_references(s).items():
            try:
                values[name] = Secret(
                    resolve_secret(
                        ref,
                        base_dir=Path(s.secret_dir),
                        root=saved_plan_root(Path(s.secret_dir)),
                        allowed_dirs=allowed_dirs(secrets_dirs),
                    )
                )
            except ValueError as exc:
                raise PlanError(
                    f"{path}: project {s.plan.project_id}: secret {name} {ref.describe()}: {exc}; "
                    "nothing was sent"
                ) from None
        # Planned from this read, which matched the plan's fingerprint: its baseline says what moved
        # if the read right before the PATCH differs. A reviewed plan is never re-planned then.
        shown.append(rebuild(s, live, secret_values=values, where=path))
        secret_values.append(values)
    return PlanRun(
        Plan(tuple(shown)), already_applied=tuple(sorted(done)), secret_values=tuple(secret_values)
    )


@dataclass(frozen=True)
class SavedPlanView:
    """A saved plan as `show` prints it: offline, its plans as they were made."""

    path: str
    base_url: str
    created_at: str
    run: PlanRun


def read_plan_file(path: str) -> SavedPlanView:
    """A plan saved with `plan --out`, read offline (no client): refused when it is not one, or was
    edited after it was written (as apply refuses it)."""
    from reconciler.errors import PlanError
    from reconciler.saved import read_saved_plan
    from reconciler.saved_kind import looks_like_saved_plan

    if not looks_like_saved_plan(path):
        raise PlanError(
            f"{path} is not a saved plan (one written by `plan --out FILE`); to see what "
            f"project files would change, run: cekura-reconciler plan {path}"
        )
    saved = read_saved_plan(path)
    run = PlanRun(Plan(tuple(s.plan for s in saved.projects)))
    return SavedPlanView(path, saved.base_url, saved.created_at, run)


@dataclass(frozen=True)
class RestorePlan:
    """The restore of one journal entry, planned against the live project."""

    entry: str
    project_id: int
    run: PlanRun
    secrets_not_restored: tuple[str, ...] = ()


def read_restore_entry(entry: str, *, base_url: str) -> JournalEntry:
    """Read and check a journal entry (before anything is read live); refused when it was written
    for another API."""
    from reconciler.client import same_server
    from reconciler.errors import RefusedError
    from reconciler.journal import read_entry

    record = read_entry(entry)
    if not same_server(record.base_url, base_url):
        raise RefusedError(
            f"{entry}: the entry was written for {record.base_url}, not {base_url.rstrip('/')}; refusing it"
        )
    return record


def plan_restore(record: JournalEntry, client: CekuraClient) -> RestorePlan:
    """Plan putting back the values a journal entry saved: only fields that differ are sent, and in
    the rubric only the metrics that apply changed (rules added since by others stay)."""
    from reconciler.diff import diff_restore

    live = dict(client.get_project(record.project_id))
    if record.metrics:  # what the fresh read before the writes lists again (apply.read_watched)
        live["$metrics"] = [
            m for m in client.list_metrics(project_id=record.project_id) if isinstance(m, dict)
        ]
    restore_plan = diff_restore(
        record.project_id, record.path, live, record.before, record.sent, record.metrics
    )

    def replan(fresh: Mapping[str, Any]) -> tuple[ProjectPlan, Mapping[str, Secret]]:
        plan = diff_restore(record.project_id, record.path, fresh, record.before, record.sent, record.metrics)
        return plan, {}

    run = PlanRun(Plan((restore_plan,)), secret_values=({},), replans=(replan,))
    return RestorePlan(record.path, record.project_id, run, tuple(record.secrets_sent))


# -- applying -------------------------------------------------------------------------------------

_ERROR_OUTCOMES: dict[str, Outcome] = {"unknown": "unknown", "not_converged": "not_converged"}
# What became of the project a signal stopped, by the stage its write was in.
_INTERRUPTED: dict[str, tuple[Outcome, str]] = {
    "sending": ("unknown", "interrupted while the PATCH was sent; outcome UNKNOWN"),
    "verifying": ("not_verified", "interrupted after the PATCH was accepted, before the read-back"),
}


def _fields(count: int) -> str:
    return f"{count} field{'s' if count != 1 else ''}"


def apply(
    client: CekuraClient,
    run: PlanRun,
    *,
    options: ApplyOptions,
    listener: ApplyListener | None = None,
) -> ApplyReport:
    """Guards, confirmation, then per project with changes: a fresh read, the journal entry, ONE
    PATCH, and the read-back that verifies it; up to ``options.parallelism`` projects at once,
    each in that order.

    A project that moved since its plan was made is refused (nothing sent) unless
    ``options.replan``; then it is planned again from the fresh read and that plan is sent. An
    interruption (Ctrl-C, SIGTERM) during the writes is caught: the report says what became of
    every project and which signal it was, and the caller decides how to exit. It closes a gate
    first, so a project reported as not changed sends nothing afterwards, and the writes still in
    flight are not waited for (their threads are not joined).
    """
    from reconciler.apply import Attempt, Gate, Stopped, check_guards, write_project
    from reconciler.errors import ApplyError, ReconcilerError
    from reconciler.parallel import in_parallel

    tell = listener or ApplyListener()
    base_url = options.base_url if options.base_url is not None else client.base_url
    items = run.items()
    results: list[ProjectResult | None] = [None] * len(items)
    ready: list[int] = []
    refused: list[Failure] = []
    for index, (project_plan, _, _) in enumerate(items):
        if project_plan.project_id in run.already_applied:
            message = "already matches this plan (applied before?); nothing to send."
            results[index] = _result(project_plan, "already_applied", message)
        elif not project_plan.has_changes:
            results[index] = _result(project_plan, "no_changes", "no changes; nothing to send.")
        else:
            try:
                check_guards(project_plan, allow_delete=options.allow_delete, force=options.force)
                ready.append(index)
            except ReconcilerError as exc:
                results[index] = _result(project_plan, "refused", str(exc))
                refused.append(Failure(project_plan.file, str(exc)))

    def report(
        status: Literal["applied", "nothing_to_apply", "cancelled"], signal: Signal | None = None
    ) -> ApplyReport:
        done = tuple(r for r in results if r is not None)
        return ApplyReport(done, failures=run.failures, status=status, interrupted=signal)

    if run.failures or refused:
        tell.failed((*run.failures, *refused))
    if not ready:
        return report("nothing_to_apply")
    if not tell.confirm(len(ready)):
        for index in ready:
            results[index] = _result(items[index][0], "not_changed", "apply cancelled; nothing was sent.")
        return report("cancelled")
    tell.writing(len(ready))
    gate = Gate()  # its lock also keeps what the listener is told of one project together
    attempts = {index: Attempt(items[index][0].project_id, gate=gate) for index in ready}

    def replanned(plan_: ProjectPlan, moved: Sequence[str]) -> None:
        with gate.lock:
            if not gate.closed:
                tell.replanned(plan_, moved)

    def write_one(index: int) -> None:
        project_plan, secret_values, replan = items[index]
        attempt = attempts[index]
        try:
            outcome = write_project(
                project_plan,
                client,
                secret_values=secret_values,
                journal_dir=options.journal_dir,
                base_url=base_url,
                allow_delete=options.allow_delete,
                force=options.force,
                replan=replan if options.replan else None,
                on_replan=replanned,
                attempt=attempt,
            )
        except Stopped:
            return  # interrupted before it sent anything: reported below as NOT changed
        except ReconcilerError as exc:
            # An ApplyError says what became of the project; any other error (the PATCH refused
            # with a 4xx, or never sent) left it unchanged.
            group = (
                _ERROR_OUTCOMES.get(exc.outcome, "not_changed")
                if isinstance(exc, ApplyError)
                else "not_changed"
            )
            result = _result(attempt.plan or project_plan, group, str(exc), attempt.journal_entry)
        else:
            sent = attempt.plan or project_plan
            if outcome.status == "unchanged":
                result = _result(sent, "now_matching", f"{outcome.detail}; nothing to send.")
            elif sent.metric_changes:  # writes of their own (kinds/metrics.py), told one by one
                message = f"verified: {outcome.detail}."
                result = _result(sent, "changed", message, attempt.journal_entry)
            else:
                detail = f" {outcome.detail}" if outcome.detail else ""
                message = f"applied {_fields(len(sent.patch))} in one PATCH; verified.{detail}"
                result = _result(sent, "changed", message, attempt.journal_entry)
        with gate.lock:
            if gate.closed:
                return  # interrupted meanwhile: reported below by where it stood then
            attempt.stage = "done"
            results[index] = result
            tell.finished(result)

    signal: Signal | None = None
    try:
        in_parallel(write_one, ready, options.parallelism)
    except KeyboardInterrupt as exc:
        signal = "SIGTERM" if isinstance(exc, Terminated) else "SIGINT"
    finally:  # whatever ended the writes (a bug's exception too), no other project starts one
        with gate.lock:
            gate.closed = True
            stood = {
                index: (attempts[index].stage, attempts[index].journal_entry, attempts[index].plan)
                for index in ready
            }
    if signal is None:
        return report("applied")
    for index in ready:
        if results[index] is not None:
            continue
        stage, journal_entry, attempted = stood[index]
        project_plan = attempted or items[index][0]
        if stage in _INTERRUPTED:
            outcome_, message = _INTERRUPTED[stage]
            results[index] = _result(project_plan, outcome_, message, journal_entry)
        elif stage == "done":  # finished, interrupted before it was reported
            done_outcome: Outcome = "changed" if journal_entry else "now_matching"
            results[index] = _result(project_plan, done_outcome, "done", journal_entry)
        else:
            message = "interrupted before anything was sent; NOT changed"
            results[index] = _result(project_plan, "not_changed", message, journal_entry)
    return report("applied", signal)


def _result(
    project_plan: ProjectPlan, outcome: Outcome, message: str, journal_entry: str | None = None
) -> ProjectResult:
    return ProjectResult(
        project_plan.project_id, project_plan.file, outcome, message, journal_entry, project_plan
    )


def restore(
    client: CekuraClient,
    planned: RestorePlan,
    *,
    options: ApplyOptions,
    listener: ApplyListener | None = None,
) -> RestoreReport:
    """Apply a planned restore like apply does, with the same guards (and journaled too, so that a
    restore can be undone)."""
    report = apply(client, planned.run, options=options, listener=listener)
    return RestoreReport(planned.entry, planned.project_id, report, planned.secrets_not_restored)


# -- export and pull -----------------------------------------------------------------------------


def export(client: CekuraClient, project_id: int, *, base_url: str) -> str:
    """A project file (YAML text) from a live project, which plans to no changes against it."""
    from reconciler.export import export_project, fetch_export_inputs

    live, metrics = fetch_export_inputs(client, project_id)
    return export_project(live, metrics, base_url_comment=base_url)


@dataclass(frozen=True)
class ExportSelection:
    """The projects `export --all` writes, each to its file in ``directory``."""

    directory: Path
    targets: dict[int, Path]
    # Soft-deleted projects left out (export them by naming them).
    skipped_deleted: tuple[int, ...] = ()
    # The directory as the caller named it, for messages.
    label: str = ""


@dataclass(frozen=True)
class ExportReport:
    written: tuple[Path, ...]
    failures: tuple[Failure, ...] = ()


def export_directory(output: str | None) -> Path:
    """The directory `export --all` writes into (checked before anything is read)."""
    from pathlib import Path

    from reconciler.errors import ReconcilerError

    if not output or output == "-":
        raise ReconcilerError("--all writes one file per project: give the directory with -o DIR")
    directory = Path(output)
    if directory.exists() and not directory.is_dir():
        raise ReconcilerError(f"{output} is not a directory")
    return directory


def select_exports(
    client: CekuraClient, directory: Path, only: Sequence[int] = (), *, label: str | None = None
) -> ExportSelection:
    """Every project the key can see (soft-deleted ones only when named in ``only``), or those of
    ``only``, each with its file name; refused when a file is in the way (nothing is written)."""
    from reconciler.errors import ReconcilerError
    from reconciler.export import files_managing, project_file_name

    listed = {p["id"]: p for p in client.list_projects() if type(p.get("id")) is int}
    deleted: list[int] = []
    if only:
        missing = [str(i) for i in only if i not in listed]
        if missing:
            raise ReconcilerError(f"--project {', '.join(missing)}: not among the projects this key can see")
        chosen = list(dict.fromkeys(only))
    else:
        deleted = sorted(i for i, p in listed.items() if p.get("is_deleted") is True)
        chosen = sorted(i for i in listed if i not in deleted)
    if not chosen:
        raise ReconcilerError("this key sees no project to export")
    targets = {i: directory / project_file_name(i, listed[i].get("name")) for i in chosen}
    taken = files_managing(directory, chosen) if directory.is_dir() else {}
    clashes = [f"{path} (manages project {i})" for i, path in taken.items()]
    clashes += [str(path) for i, path in targets.items() if path.exists() and i not in taken]
    if clashes:
        raise ReconcilerError(
            "refusing to overwrite: " + "; ".join(clashes) + ". Remove them, or update them with "
            "`cekura-reconciler pull`; nothing was written"
        )
    return ExportSelection(
        directory, targets, tuple(deleted), label=label if label is not None else str(directory)
    )


def export_selected(
    client: CekuraClient,
    selection: ExportSelection,
    *,
    base_url: str,
    parallelism: int = 8,
    progress: Progress | None = None,
) -> ExportReport:
    """Read the selected projects (``parallelism`` at once) and write each one's file; a project that
    cannot be read or written is a failure, the others are written."""
    from reconciler.errors import ReconcilerError
    from reconciler.export import export_project, fetch_export_inputs, write_new_file
    from reconciler.parallel import in_parallel

    def one(project_id: int) -> tuple[int, str | None, str | None]:
        try:
            live, metrics = fetch_export_inputs(client, project_id)
            return project_id, export_project(live, metrics, base_url_comment=base_url), None
        except ReconcilerError as exc:
            return project_id, None, str(exc)

    chosen = list(selection.targets)
    results = in_parallel(one, chosen, parallelism, _counter(len(chosen), progress))
    try:
        selection.directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ReconcilerError(f"cannot create {selection.label}: {exc.strerror}") from None
    written: list[Path] = []
    failures: list[Failure] = []
    for project_id, text, error in results:
        if text is None:
            failures.append(Failure(f"project {project_id}", error or "failed"))
            continue
        target = selection.targets[project_id]
        try:
            write_new_file(target, text)
        except ReconcilerError as exc:
            failures.append(Failure(str(target), str(exc)))
            continue
        written.append(target)
    return ExportReport(tuple(written), tuple(failures))


@dataclass(frozen=True)
class PullRun:
    """What pull would write into the files (``result``), and the files whose project could not be
    read (their files are left as they are)."""

    result: PullResult
    failures: tuple[Failure, ...] = ()


def pull(
    client: CekuraClient,
    projects: Sequence[DesiredProject],
    *,
    parallelism: int = 8,
    progress: Progress | None = None,
) -> PullRun:
    """Read every project (``parallelism`` at once) and work out the edits that write the live values
    of what each file manages back into it. Writes nothing: ``reconciler.pull.write_pull`` does."""
    from reconciler.errors import InputError, ReconcilerError
    from reconciler.parallel import in_parallel
    from reconciler.pull import LiveRead, compute_pull, read_live

    def one(desired: DesiredProject) -> LiveRead | tuple[DesiredProject, str]:
        try:
            return read_live(client, desired)
        except InputError as exc:
            return desired, "\n".join(str(p) for p in exc.problems)
        except ReconcilerError as exc:
            return desired, str(exc)

    results = in_parallel(one, projects, parallelism, _counter(len(projects), progress))
    reads = [r for r in results if isinstance(r, LiveRead)]
    failed = [r for r in results if not isinstance(r, LiveRead)]
    result = compute_pull(reads, failed=[desired for desired, _ in failed])
    return PullRun(result, tuple(Failure(desired.file, error) for desired, error in failed))
