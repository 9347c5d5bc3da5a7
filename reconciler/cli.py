"""The command line: parse options, wire the stages, pick a renderer, map errors to exit codes.

Nothing else in the package knows about click or exit codes. Heavy modules (httpx, deepdiff,
jsonschema) are imported inside the commands that need them, so ``--help`` and ``validate`` start
fast. Exit codes: 0 ok / no changes, 1 error, 2 changes present (with --detailed-exitcode).
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, TextIO, TypeVar

import click

from reconciler import __version__
from reconciler.redact import RedactingFilter, Redactor

if TYPE_CHECKING:
    from reconciler.apply import Replan
    from reconciler.changes import ProjectPlan
    from reconciler.client import CekuraClient
    from reconciler.model import DesiredProject, Secret
    from reconciler.reconcile import PlannedProject

EXIT_OK, EXIT_ERROR, EXIT_CHANGES = 0, 1, 2
T = TypeVar("T")


# Every secret value and API key the client sends is added to this one redactor; every error message
# and log line printed goes through it (reconciler/redact.py).
_REDACTOR = Redactor()


def _fail(message: str, *, err: TextIO | None = None) -> None:
    from reconciler.render import clean

    stream = err or sys.stderr
    # Server text (a DRF detail, a metric name) can hold escape sequences: never raw to a terminal.
    for line in _REDACTOR(str(message)).splitlines() or [""]:
        stream.write(f"Error: {clean(line)}\n")


class _Terminated(KeyboardInterrupt):
    """SIGTERM (a cancelled CI job, `kill`): handled like Ctrl-C, so an apply still reports what
    became of every project, but the exit code is 143."""


def _on_sigterm(signum: int, frame: object) -> None:
    raise _Terminated()


def _run(body: Callable[[], int]) -> None:
    """Run a command body; every error on purpose becomes exit 1 with its message, never a traceback.

    Ctrl-C exits 130 and SIGTERM 143, after whatever the body reported on its way out."""
    from reconciler.errors import InputError, ReconcilerError

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        code = body()
    except InputError as exc:
        for problem in exc.problems:
            sys.stderr.write(f"{_REDACTOR(str(problem))}\n")
        count = len(exc.problems)
        sys.stderr.write(f"{count} problem{'s' if count != 1 else ''} found; nothing was changed.\n")
        code = EXIT_ERROR
    except ReconcilerError as exc:
        _fail(str(exc))
        code = EXIT_ERROR
    except KeyboardInterrupt as exc:
        terminated = isinstance(exc, _Terminated)
        sys.stderr.write("Terminated.\n" if terminated else "Interrupted.\n")
        code = 143 if terminated else 130
    sys.exit(code)


def _use_color(stream: TextIO) -> bool:
    return "NO_COLOR" not in os.environ and stream.isatty()


def _setup_logging(verbose: int) -> None:
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter(_REDACTOR))
    logging.basicConfig(level=level, handlers=[handler], force=True)
    # httpx logs every request at INFO and httpcore the raw response headers at DEBUG: the client
    # logs its own request lines (method, path, status, time) instead.
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.WARNING)


class _Cli(click.Group):
    """Click's usage errors exit 2, which here means "changes present" or "drifted": make them 1."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        kwargs["standalone_mode"] = False
        try:
            code = super().main(*args, **kwargs)
        except click.exceptions.Abort:
            sys.stderr.write("Aborted.\n")
            sys.exit(EXIT_ERROR)
        except click.ClickException as exc:
            exc.show()
            sys.exit(EXIT_ERROR)
        sys.exit(code if isinstance(code, int) else EXIT_OK)


@click.group(cls=_Cli, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "--version", prog_name="cekura-reconciler")
@click.option(
    "-v", "--verbose", count=True, help="More logging on stderr (-vv for debug). Never logs secrets."
)
def main(verbose: int) -> None:
    """Manage Cekura projects as code: validate, plan and apply project settings and rubrics.

    \b
    Example:
      export CEKURA_API_KEY=...
      cekura-reconciler validate examples/project.yaml
      cekura-reconciler plan examples/project.yaml
      cekura-reconciler apply examples/project.yaml
    """
    # One command per run: values a previous run in this process masked are not this run's secrets.
    _REDACTOR.clear()
    _setup_logging(verbose)


# -- validate -------------------------------------------------------------------------------------


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "github"]),
    default="text",
    show_default=True,
    help="text: FILE:LINE:COL: message on stderr; github: GitHub Actions annotations "
    "(::error file=F,line=L,col=C::message) on stdout, shown on the pull request's changed lines.",
)
def validate(paths: tuple[str, ...], fmt: str) -> None:
    """Check project files offline against the schema and the format's rules.

    Needs no credentials and no network (it is what a pre-commit hook runs). Every problem of every
    file is reported as FILE:LINE:COL: message. Directories are scanned for *.yaml and *.yml.

    \b
    Example:
      cekura-reconciler validate examples/project.yaml
      cekura-reconciler validate --format github projects/
    """

    def body() -> int:
        from reconciler.errors import InputError, ReconcilerError
        from reconciler.files import load_projects

        if fmt == "github":
            from reconciler.annotations import annotation, plain_annotation

            try:
                projects = load_projects(paths)
            except InputError as exc:
                for problem in exc.problems:
                    click.echo(_REDACTOR(annotation(problem)))
                count = len(exc.problems)
                sys.stderr.write(f"{count} problem{'s' if count != 1 else ''} found.\n")
                return EXIT_ERROR
            except ReconcilerError as exc:
                click.echo(_REDACTOR(plain_annotation(str(exc))))
                return EXIT_ERROR
        else:
            projects = load_projects(paths)
        for project in projects:
            label = f"project {project.project_id}" if project.project_id is not None else "base file"
            click.echo(f"{project.file}: valid ({label})")
        return EXIT_OK

    _run(body)


# -- shared options for commands that talk to the API --------------------------------------------


def _api_options(func: Callable[..., None]) -> Callable[..., None]:
    options = [
        click.option(
            "--base-url",
            envvar="CEKURA_BASE_URL",
            default="https://api.cekura.ai",
            show_default=True,
            help="Cekura API base URL (env CEKURA_BASE_URL). Plain http only for loopback hosts.",
        ),
        click.option(
            "--api-key-file",
            type=click.Path(dir_okay=False),
            help="Read the API key from this file instead of the CEKURA_API_KEY environment variable.",
        ),
        click.option(
            "--timeout",
            type=click.FloatRange(min=1.0),
            default=30.0,
            show_default=True,
            help="Seconds to wait for each API request.",
        ),
        click.option(
            "--parallelism",
            type=click.IntRange(min=1, max=64),
            default=8,
            show_default=True,
            help="Projects read at the same time.",
        ),
        click.option(
            "--max-rps",
            type=click.FloatRange(min=0.1),
            default=None,
            help="At most this many API requests a second, across all threads (default: no limit; "
            "a 429's Retry-After always pauses every thread).",
        ),
        _retry_budget_option,
    ]
    for option in reversed(options):
        func = option(func)
    return func


_retry_budget_option = click.option(
    "--retry-budget",
    type=click.FloatRange(min=0.0),
    default=60.0,
    show_default=True,
    metavar="SECONDS",
    help="Keep retrying a failed GET (and a PATCH the server did not take) for at most this long; "
    "no wait, a server's Retry-After included, goes past it. 0: never retry.",
)


def _project_option(func: Callable[..., None]) -> Callable[..., None]:
    return click.option(
        "--project",
        "only",
        type=int,
        multiple=True,
        metavar="ID",
        help="Only the files managing this project id (repeatable).",
    )(func)


def _given(force: bool, allow_delete: bool) -> list[str]:
    """The guard flags given, for the plan's notes on what apply would otherwise refuse."""
    return [flag for flag, on in (("--force", force), ("--allow-delete", allow_delete)) if on]


def _rotate_options(func: Callable[..., None]) -> Callable[..., None]:
    func = click.option("--rotate-all", is_flag=True, help="Send every secret the file references.")(func)
    return click.option(
        "--rotate",
        "rotate",
        multiple=True,
        metavar="NAME",
        help="Send this secret even though it is already configured (repeatable).",
    )(func)


def _secrets_dir_option(func: Callable[..., None]) -> Callable[..., None]:
    return click.option(
        "--secrets-dir",
        "secrets_dir",
        multiple=True,
        type=click.Path(file_okay=False),
        envvar="CEKURA_SECRETS_DIRS",
        metavar="DIR",
        help="Allow {file: PATH} secrets with an absolute (or ~) PATH in this folder (repeatable; env "
        "CEKURA_SECRETS_DIRS, folders separated by the OS path separator). Relative paths need no "
        "folder allowed: they stay inside the project file's repository.",
    )(func)


def _client(
    base_url: str,
    api_key_file: str | None,
    timeout: float,
    max_rps: float | None = None,
    retry_budget: float = 60.0,
) -> CekuraClient:
    from reconciler.client import CekuraClient, RetryPolicy
    from reconciler.credentials import read_api_key

    return CekuraClient(
        base_url,
        read_api_key(api_key_file),
        timeout=timeout,
        max_rps=max_rps,
        retry=RetryPolicy(budget=retry_budget),
        redactor=_REDACTOR,
    )


PROGRESS_MIN = 10  # projects: fewer finish too fast for progress to help


class _Progress:
    """Progress of a long multi-project run on stderr: one updating line on a terminal, else a
    line at each quarter (CI logs stay short)."""

    def __init__(self, total: int, what: str) -> None:
        self.total, self.what, self.done = total, what, 0
        self.tty = sys.stderr.isatty()
        self.enabled = total >= PROGRESS_MIN
        self.lock = threading.Lock()

    def step(self) -> None:
        if not self.enabled:
            return
        with self.lock:
            self.done += 1
            if self.tty:
                end = "\n" if self.done == self.total else ""
                sys.stderr.write(f"\r{self.what}: {self.done}/{self.total}{end}")
            elif self.done * 4 // self.total != (self.done - 1) * 4 // self.total:
                sys.stderr.write(f"{self.what}: {self.done}/{self.total}\n")
            sys.stderr.flush()


def _in_parallel(
    func: Callable[[Any], T], items: Sequence[Any], parallelism: int, progress: _Progress | None = None
) -> list[T]:
    """``func`` over ``items`` with at most ``parallelism`` at once; results in the items' order."""

    def run(item: Any) -> T:
        try:
            return func(item)
        finally:
            if progress:
                progress.step()

    if len(items) <= 1 or parallelism == 1:
        return [run(item) for item in items]
    # Daemon threads, not a ThreadPoolExecutor: on Ctrl-C or SIGTERM the main thread stops waiting
    # at once, no new item starts, and the process exits without joining reads still in flight
    # (an executor's threads are joined at exit, so exit would wait for the slowest read).
    results: list[Any] = [None] * len(items)
    failures: list[BaseException] = []
    next_index = iter(range(len(items)))
    lock = threading.Lock()
    stop = threading.Event()

    def worker() -> None:
        while not stop.is_set():
            with lock:
                index = next(next_index, None)
            if index is None:
                return
            try:
                results[index] = run(items[index])
            except BaseException as exc:  # re-raised in the main thread
                failures.append(exc)
                stop.set()
                return

    threads = [
        threading.Thread(target=worker, daemon=True, name=f"cekura-read-{n}")
        for n in range(min(parallelism, len(items)))
    ]
    for thread in threads:
        thread.start()
    try:
        for thread in threads:
            while thread.is_alive():
                thread.join(0.05)
    except BaseException:
        stop.set()
        raise
    if failures:
        raise failures[0]
    return results


def _rotation(desired: DesiredProject, rotate: tuple[str, ...], rotate_all: bool) -> tuple[str, ...]:
    """--rotate NAME over many files: the files that reference NAME rotate it."""
    return tuple(desired.secrets) if rotate_all else tuple(n for n in rotate if n in desired.secrets)


def _replanner(
    client: CekuraClient,
    desired: DesiredProject,
    rotate: tuple[str, ...],
    rotate_all: bool,
    secrets_dir: tuple[str, ...],
) -> Replan:
    """--auto-approve: plan a project again from the fresh read apply made just before its PATCH."""
    from reconciler.credentials import secrets_dirs
    from reconciler.reconcile import plan_project

    def replan(live: Mapping[str, Any]) -> tuple[ProjectPlan, Mapping[str, Secret]]:
        planned = plan_project(
            client,
            desired,
            rotate=_rotation(desired, rotate, rotate_all),
            live=live,
            secrets_dirs=secrets_dirs(secrets_dir),
        )
        return planned.plan, planned.secret_values

    return replan


def _plan_all(
    client: CekuraClient,
    projects: Sequence[DesiredProject],
    *,
    rotate: tuple[str, ...],
    rotate_all: bool,
    parallelism: int,
    read_secrets: bool = True,
    secrets_dir: tuple[str, ...] = (),
) -> tuple[list[PlannedProject], list[tuple[str, str]]]:
    """Plan every project; one project's failure (file, message) does not stop the others."""
    from reconciler.credentials import secrets_dirs
    from reconciler.errors import InputError, ReconcilerError
    from reconciler.reconcile import plan_project

    referenced = {name for desired in projects for name in desired.secrets}
    unknown = [n for n in rotate if n not in referenced]
    if unknown:
        from difflib import get_close_matches

        from reconciler.errors import PlanError

        close = [m for n in unknown for m in get_close_matches(n, sorted(referenced), n=1, cutoff=0.6)]
        hint = f"; did you mean {', '.join(dict.fromkeys(close))}?" if close else ""
        raise PlanError(f"--rotate {', '.join(unknown)}: no file given references such a secret{hint}")
    allowed = secrets_dirs(secrets_dir)

    def one(desired: DesiredProject) -> PlannedProject | tuple[str, str]:
        try:
            return plan_project(
                client,
                desired,
                rotate=_rotation(desired, rotate, rotate_all),
                read_secrets=read_secrets,
                secrets_dirs=allowed,
            )
        except InputError as exc:
            return desired.file, "\n".join(str(p) for p in exc.problems)
        except ReconcilerError as exc:
            return desired.file, str(exc)

    results = _in_parallel(one, projects, parallelism, _Progress(len(projects), "Reading projects"))
    planned = [r for r in results if not isinstance(r, tuple)]
    errors = [r for r in results if isinstance(r, tuple)]
    return planned, errors


# -- plan -----------------------------------------------------------------------------------------


def _select(projects: list[DesiredProject], only: tuple[int, ...]) -> list[DesiredProject]:
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


def _render(
    result: Any,
    fmt: str,
    failures: Sequence[tuple[str, str]],
    kind: Literal["plan", "drift"] = "plan",
    impact: Sequence[Any] | None = None,
) -> None:
    from reconciler.render import render_json, render_text

    names: dict[int, str] = {}
    for project in result.projects:
        names.update(project.metric_names)
    if fmt == "json":
        render_json(
            result,
            sys.stdout,
            failures=failures,
            impact=None if impact is None else [r.to_json() for r in impact],
        )
    elif fmt == "markdown":
        from reconciler.render_markdown import render_markdown

        title = "Cekura drift report" if kind == "drift" else "Cekura plan"
        sys.stdout.write(render_markdown(result, title=title, failures=failures, kind=kind))
        if impact:
            from reconciler.impact import render_impact_markdown

            sys.stdout.write("\n" + render_impact_markdown(impact, names))
    else:
        render_text(result, sys.stdout, color=_use_color(sys.stdout), kind=kind)
        if impact:
            from reconciler.impact import render_impact_text

            sys.stdout.write("\n" + render_impact_text(impact, names))


def _impact(
    client: CekuraClient, plans: Sequence[Any], since_text: str, parallelism: int
) -> tuple[list[Any], list[tuple[str, str]]]:
    """Replay the window's calls under the live and the planned rubric of each project it changes."""
    from datetime import UTC, datetime

    from reconciler.errors import ReconcilerError
    from reconciler.impact import compute_impact, parse_since

    until = datetime.now(UTC)
    since = until - parse_since(since_text)
    reports, errors = [], []
    for project in plans:
        if "rubric_config" not in project.patch:
            continue
        live = project.previous.get("rubric_config") or {}
        try:
            reports.append(
                compute_impact(
                    client,
                    project.project_id,
                    live,
                    project.patch["rubric_config"],
                    since,
                    until,
                    parallelism=min(4, parallelism),
                )
            )
        except ReconcilerError as exc:
            errors.append((project.file, f"rubric impact: {exc}"))
    return reports, errors


def _check_since(ctx: click.Context, param: click.Parameter, value: str) -> str:
    from reconciler.impact import parse_since

    try:
        parse_since(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    return value


def _load_for(
    paths: Sequence[str], only: tuple[int, ...], fmt: str, kind: Literal["plan", "drift"] = "plan"
) -> list[DesiredProject]:
    """Load the files; with --format json or markdown a bad file still gives a document (its
    failures, each FILE:LINE:COL: message), so a pull-request comment shows the problems."""
    from reconciler.errors import InputError, ReconcilerError
    from reconciler.files import load_projects

    try:
        projects = load_projects(paths)
        selected = _select(projects, only)
    except ReconcilerError as exc:
        if fmt in ("json", "markdown"):
            from reconciler.changes import Plan

            if isinstance(exc, InputError):
                failures = [(p.position.file, str(p)) for p in exc.problems]
            else:
                failures = [("", str(exc))]
            _render(Plan(()), fmt, failures, kind=kind)
        raise
    from reconciler.files import unextended_bases

    for base in unextended_bases(paths, projects):
        sys.stderr.write(
            f"Warning: {base} has no `project:` and no file extends it, so nothing plans it "
            "(a project file missing its `project:` line?)\n"
        )
    return selected


def _error_text(file: str, message: str) -> str:
    """One failure as printed: the message, prefixed with its file unless it already names it."""
    return message if not file or message.startswith(file) else f"{file}: {message}"


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@_api_options
@_rotate_options
@_secrets_dir_option
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "markdown"]),
    default="text",
    show_default=True,
    help="text for people and CI logs, json for machines (a versioned document), markdown for a "
    "pull-request comment.",
)
@click.option(
    "--detailed-exitcode",
    is_flag=True,
    help="Exit 0 when there are no changes, 2 when there are, 1 on error.",
)
@click.option(
    "--out",
    "out_file",
    type=click.Path(dir_okay=False),
    help="Also save the plan to this file; `apply FILE` then sends exactly it (refusing a stale plan).",
)
@_project_option
@click.option(
    "--impact",
    is_flag=True,
    help="For each project whose rubric changes, replay its recent calls under the live and the "
    "planned rubric and report which calls would flip between pass and fail, and why.",
)
@click.option(
    "--since",
    "since_text",
    default="7d",
    show_default=True,
    callback=_check_since,
    help="The window of calls --impact replays (e.g. 12h, 7d, 2w; windows over 32 days are split).",
)
def plan(
    paths: tuple[str, ...],
    base_url: str,
    api_key_file: str | None,
    timeout: float,
    parallelism: int,
    max_rps: float | None,
    retry_budget: float,
    rotate: tuple[str, ...],
    rotate_all: bool,
    secrets_dir: tuple[str, ...],
    fmt: str,
    detailed_exitcode: bool,
    out_file: str | None,
    only: tuple[int, ...],
    impact: bool,
    since_text: str,
) -> None:
    """Show what apply would change in the live projects, without changing anything.

    Reads each project (and its metrics when the file manages the rubric), compares the fields the
    file names and prints the changes and the one PATCH each project needs.

    \b
    Example:
      cekura-reconciler plan examples/project.yaml
      cekura-reconciler plan --format json --detailed-exitcode projects/
      cekura-reconciler plan --out reviewed.plan projects/ && cekura-reconciler apply reviewed.plan
      cekura-reconciler plan --impact --since 14d examples/project.yaml
    """

    ctx = click.get_current_context()

    def body() -> int:
        from reconciler.changes import Plan
        from reconciler.saved import looks_like_saved_plan

        saved = [p for p in paths if looks_like_saved_plan(p)]
        if saved:
            from reconciler.errors import PlanError

            raise PlanError(
                f"{saved[0]} is a saved plan, not a project file; apply it with: apply {saved[0]}"
            )
        if not impact and ctx.get_parameter_source("since_text") == click.core.ParameterSource.COMMANDLINE:
            sys.stderr.write("Note: --since only applies with --impact; ignored.\n")
        projects = _load_for(paths, only, fmt)
        with _client(base_url, api_key_file, timeout, max_rps, retry_budget) as client:
            planned, errors = _plan_all(
                client,
                projects,
                rotate=rotate,
                rotate_all=rotate_all,
                parallelism=parallelism,
                secrets_dir=secrets_dir,
            )
            result = Plan(tuple(p.plan for p in planned))
            reports = None
            if impact:
                reports, impact_errors = _impact(client, result.projects, since_text, parallelism)
                errors += impact_errors
        _render(result, fmt, errors, impact=reports)
        if out_file and errors:
            sys.stderr.write(
                f"Not saving the plan to {out_file}: {len(errors)} file(s) failed to plan, and a saved plan "
                "must cover everything that was asked for.\n"
            )
        elif out_file:
            from datetime import UTC, datetime

            from reconciler.saved import write_saved_plan

            stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            write_saved_plan(out_file, result.projects, base_url=base_url, created_at=stamp)
            sys.stderr.write(
                f"Saved the plan to {out_file}; apply it with: cekura-reconciler apply {out_file}\n"
            )
        for file, error in errors:
            _fail(_error_text(file, error))
        if errors:
            return EXIT_ERROR
        return EXIT_CHANGES if detailed_exitcode and result.has_changes else EXIT_OK

    _run(body)


# -- drift ----------------------------------------------------------------------------------------


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@_api_options
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "markdown"]),
    default="text",
    show_default=True,
    help="text for logs, json for machines, markdown for an issue or chat message.",
)
@_project_option
def drift(
    paths: tuple[str, ...],
    base_url: str,
    api_key_file: str | None,
    timeout: float,
    parallelism: int,
    max_rps: float | None,
    retry_budget: float,
    fmt: str,
    only: tuple[int, ...],
) -> None:
    """Report where live projects differ from their files (for a scheduled job).

    Exit 0 when every project is in sync, 2 when any managed field or rubric rule drifted, 1 on
    error (errors win). Never changes anything. Secrets count as drift only when not configured, and
    their values are never read (a drift job needs no secret variables).

    \b
    Example:
      cekura-reconciler drift --format markdown projects/
    """

    def body() -> int:
        from reconciler.changes import Plan

        projects = _load_for(paths, only, fmt, kind="drift")
        with _client(base_url, api_key_file, timeout, max_rps, retry_budget) as client:
            planned, errors = _plan_all(
                client, projects, rotate=(), rotate_all=False, parallelism=parallelism, read_secrets=False
            )
        result = Plan(tuple(p.plan for p in planned))
        _render(result, fmt, errors, kind="drift")
        for file, error in errors:
            _fail(_error_text(file, error))
        if errors:
            return EXIT_ERROR
        return EXIT_CHANGES if result.has_changes else EXIT_OK

    _run(body)


# -- show -----------------------------------------------------------------------------------------


@main.command()
@click.argument("plan_file", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "markdown"]),
    default="text",
    show_default=True,
    help="text for people and CI logs, json for machines, markdown for a pull-request comment or a "
    "job summary.",
)
def show(plan_file: str, fmt: str) -> None:
    """Print a plan saved with `plan --out FILE`, offline: no API key, no network.

    Shows exactly what `apply FILE` would send (secrets only by name), what it will refuse without
    --allow-delete or --force, and the warnings the plan was made with. A plan file that was edited
    after it was written is refused, as apply refuses it.

    \b
    Example:
      cekura-reconciler show reviewed.plan
      cekura-reconciler show --format markdown reviewed.plan >> "$GITHUB_STEP_SUMMARY"
    """

    def body() -> int:
        from reconciler.changes import Plan
        from reconciler.errors import PlanError
        from reconciler.saved import looks_like_saved_plan, read_saved_plan

        if not looks_like_saved_plan(plan_file):
            raise PlanError(
                f"{plan_file} is not a saved plan (one written by `plan --out FILE`); to see what "
                f"project files would change, run: cekura-reconciler plan {plan_file}"
            )
        saved = read_saved_plan(plan_file)
        result = Plan(tuple(s.plan for s in saved.projects))
        if fmt == "json":
            import json

            document = result.to_json()
            document["failures"] = []
            document["saved_plan"] = {
                "path": plan_file,
                "base_url": saved.base_url,
                "created_at": saved.created_at,
            }
            click.echo(json.dumps(document, indent=2, ensure_ascii=False))
            return EXIT_OK
        if fmt == "text":
            click.echo(f"Saved plan {plan_file}: made against {saved.base_url} at {saved.created_at}.\n")
        _render(result, fmt, [])
        return EXIT_OK

    _run(body)


# -- apply ----------------------------------------------------------------------------------------


def _confirm(projects: int) -> bool:
    command = click.get_current_context().info_name or "apply"
    if not sys.stdin.isatty():
        from reconciler.errors import RefusedError

        raise RefusedError(
            f"stdin is not a terminal, so {command} cannot ask for confirmation; nothing was changed. "
            f"Review the plan, then run {command} with --auto-approve"
        )
    click.echo(f"\nDo you want to apply these changes to {projects} project{'s' if projects != 1 else ''}?")
    answer: str = click.prompt("  Only 'yes' will be accepted to approve", default="", show_default=False)
    return answer.strip() == "yes"


def _journal_option(func: Callable[..., None]) -> Callable[..., None]:
    return click.option(
        "--journal-dir",
        envvar="CEKURA_JOURNAL_DIR",
        default=".cekura-journal",
        show_default=True,
        type=click.Path(file_okay=False),
        help="Where the previous values of the fields each PATCH changes are saved first "
        "(env CEKURA_JOURNAL_DIR); `restore ENTRY` puts them back.",
    )(func)


def _execute(
    client: CekuraClient,
    items: Sequence[tuple[ProjectPlan, Mapping[str, Secret], Replan | None]],
    *,
    base_url: str,
    journal_dir: str,
    allow_delete: bool,
    force: bool,
    confirm: bool,
    errors: list[tuple[str, str]],
    total: int,
) -> int:
    """Guards, confirmation, then per project: fresh read, journal entry, one PATCH, verify.

    ``items`` are (plan, secret values, re-plan from a fresh read or None) of the projects with
    changes: with None, a project that moved since its plan was shown is refused, not re-planned.
    An interruption (Ctrl-C, SIGTERM) still reports what became of every project.
    """
    from reconciler.apply import Attempt, check_guards, write_project
    from reconciler.errors import ApplyError, ReconcilerError

    ready = []
    for item in items:
        try:
            check_guards(item[0], allow_delete=allow_delete, force=force)
            ready.append(item)
        except ReconcilerError as exc:
            errors.append((item[0].file, str(exc)))
    for file, error in errors:
        _fail(_error_text(file, error))
    if not ready:
        if errors:
            sys.stderr.write("Nothing was applied.\n")
            return EXIT_ERROR
        click.echo("\nNothing to apply.")
        return EXIT_OK
    if errors and confirm:
        sys.stderr.write("Some projects failed to plan; the others can still be applied.\n")
    if confirm and not _confirm(len(ready)):
        click.echo("Apply cancelled; nothing was changed.")
        return EXIT_ERROR
    click.echo("")
    journal_existed = os.path.isdir(journal_dir)
    groups: dict[str, list[int]] = {
        "changed": [],
        "not_converged": [],
        "not_changed": [],
        "unknown": [],
        "unverified": [],
        "now_matching": [],
    }
    attempts = [Attempt(plan_.project_id) for plan_, _, _ in ready]
    interrupted: KeyboardInterrupt | None = None
    try:
        for (plan_, secret_values, replan), attempt in zip(ready, attempts, strict=True):
            try:
                outcome = write_project(
                    plan_,
                    client,
                    secret_values=secret_values,
                    journal_dir=journal_dir,
                    base_url=base_url,
                    allow_delete=allow_delete,
                    force=force,
                    replan=replan,
                    on_replan=_show_replan,
                    attempt=attempt,
                )
            except ReconcilerError as exc:
                attempt.stage = "done"
                # An ApplyError says what became of the project; any other error (the PATCH refused
                # with a 4xx, or never sent) left it unchanged.
                group = exc.outcome if isinstance(exc, ApplyError) else "not_changed"
                groups.get(group, groups["not_changed"]).append(plan_.project_id)
                _fail(str(exc))
                continue
            attempt.stage = "done"
            if outcome.status == "unchanged":
                groups["now_matching"].append(outcome.project_id)
                click.echo(f"Project {outcome.project_id}: {outcome.detail}; nothing to send.")
                continue
            groups["changed"].append(plan_.project_id)
            detail = f" {outcome.detail}" if outcome.detail else ""
            sent = attempt.plan or plan_
            count = len(sent.patch)
            if sent.metric_changes:  # writes of their own (reconciler/kinds/metrics.py), told one by one
                click.echo(f"Project {outcome.project_id}: verified: {outcome.detail}.")
                click.echo(f"Backup: {attempt.journal_entry}")
                continue
            click.echo(
                f"Project {outcome.project_id}: applied {count} field{'s' if count != 1 else ''} in one "
                f"PATCH; verified.{detail} Backup: {attempt.journal_entry}"
            )
    except KeyboardInterrupt as exc:
        interrupted = exc
        for attempt in attempts:
            if attempt.stage == "sending":
                groups["unknown"].append(attempt.project_id)
            elif attempt.stage == "verifying":
                groups["unverified"].append(attempt.project_id)
            elif attempt.stage != "done":
                groups["not_changed"].append(attempt.project_id)
    if not journal_existed and os.path.isdir(journal_dir):
        _suggest_gitignore(journal_dir)
    entries = {a.project_id: a.journal_entry for a in attempts if a.journal_entry}
    failed = sum(len(groups[k]) for k in ("not_changed", "unknown", "not_converged", "unverified"))
    failed += len(errors)
    unchanged = total - len(items) + len(groups["now_matching"])
    if interrupted is not None:
        what = "Terminated (SIGTERM)" if isinstance(interrupted, _Terminated) else "Interrupted"
        sys.stderr.write(f"\n{what} during apply; what became of each project is listed below.\n")
    click.echo(f"\nApply complete: {len(groups['changed'])} changed, {failed} failed, {unchanged} unchanged.")
    if failed or interrupted is not None:
        listing = [
            ("changed", groups["changed"]),
            ("changed but NOT as planned", groups["not_converged"]),
            ("changed, NOT verified (interrupted before the read-back)", groups["unverified"]),
            ("NOT changed", groups["not_changed"]),
            ("outcome UNKNOWN", groups["unknown"]),
        ]
        for label, ids in listing:
            if ids:
                click.echo(f"  {label}: {', '.join(f'project {i}' for i in ids)}")
        backups = [f"project {i}: {entries[i]}" for i in sorted(entries) if i not in groups["not_changed"]]
        if backups:
            click.echo(f"  backups (restore ENTRY puts the previous values back): {'; '.join(backups)}")
        if groups["unknown"]:
            click.echo("  Run plan to see where the projects of UNKNOWN outcome stand.")
    if interrupted is not None:
        raise interrupted
    return EXIT_ERROR if failed else EXIT_OK


def _suggest_gitignore(journal_dir: str) -> None:
    """The journal folder was just created inside a git work tree: say how to keep it out of git
    (its entries hold live values of the projects; they belong in a CI artifact, not a commit)."""
    from pathlib import Path

    from reconciler.journal import git_work_tree, ignored_by_git

    tree = git_work_tree(journal_dir)
    if tree is None or ignored_by_git(journal_dir, tree):
        return
    relative = Path(journal_dir).resolve().relative_to(tree).as_posix()
    sys.stderr.write(
        f"Note: the backup journal {journal_dir} is inside the git work tree {tree}; keep its entries "
        f"out of commits: echo '{relative}/' >> .gitignore\n"
    )


def _show_replan(plan: ProjectPlan, moved: list[str]) -> None:
    """--auto-approve: a project moved since its plan was shown; show the plan that is sent instead."""
    from reconciler.changes import Plan
    from reconciler.render import render_text

    click.echo(
        f"Project {plan.project_id} changed since the plan was shown ({', '.join(moved)}); "
        "planned again from a fresh read (--auto-approve):"
    )
    render_text(Plan((plan,)), sys.stdout, color=_use_color(sys.stdout))


def _apply_saved(
    path: str,
    client: CekuraClient,
    *,
    base_url: str,
    parallelism: int,
    journal_dir: str,
    allow_delete: bool,
    force: bool,
    secrets_dir: tuple[str, ...] = (),
) -> int:
    from pathlib import Path

    from reconciler.apply import changed_since, live_fingerprint, read_watched
    from reconciler.changes import Plan
    from reconciler.client import same_server
    from reconciler.credentials import resolve_secret, saved_plan_root, secrets_dirs
    from reconciler.errors import PlanError, RefusedError
    from reconciler.model import Secret
    from reconciler.render import render_text
    from reconciler.saved import read_saved_plan, rebuild, secret_references

    saved = read_saved_plan(path)
    if not same_server(saved.base_url, base_url):
        raise RefusedError(
            f"{path}: the plan was made against {saved.base_url}, not {base_url.rstrip('/')}; refusing it"
        )
    lives = _in_parallel(lambda s: read_watched(client, s.plan), saved.projects, parallelism)
    done = {
        s.plan.project_id
        for s, live in zip(saved.projects, lives, strict=True)
        if s.plan.has_changes
        and s.plan.expected_fingerprint
        and live_fingerprint(s.plan, live) == s.plan.expected_fingerprint
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
    # What is shown, guarded and sent is the plan made again from the changes the file shows (never
    # its stored PATCH, which anyone can edit and re-checksum); a file that disagrees is refused.
    shown = []
    items: list[tuple[ProjectPlan, Mapping[str, Secret], Replan | None]] = []
    for s, live in zip(saved.projects, lives, strict=True):
        if s.plan.project_id in done:
            shown.append(s.plan)
            continue
        values: dict[str, Secret] = {}
        for name, ref in secret_references(s).items():
            try:
                values[name] = Secret(
                    resolve_secret(
                        ref,
                        base_dir=Path(s.secret_dir),
                        root=saved_plan_root(Path(s.secret_dir)),
                        allowed_dirs=secrets_dirs(secrets_dir),
                    )
                )
            except ValueError as exc:
                raise PlanError(
                    f"{path}: project {s.plan.project_id}: secret {name} {ref.describe()}: {exc}; "
                    "nothing was sent"
                ) from None
        # Planned from this read, which matched the plan's fingerprint: its baseline says what moved
        # if the read right before the PATCH differs. A reviewed plan is never re-planned then.
        rebuilt = rebuild(s, live, secret_values=values, where=path)
        shown.append(rebuilt)
        if rebuilt.has_changes:
            items.append((rebuilt, values, None))
    given = _given(force, allow_delete)
    render_text(Plan(tuple(shown)), sys.stdout, color=_use_color(sys.stdout), given=given)
    for project_id in sorted(done):
        click.echo(f"Project {project_id} already matches this plan (applied before?); nothing to send.")
    return _execute(
        client,
        items,
        base_url=base_url,
        journal_dir=journal_dir,
        allow_delete=allow_delete,
        force=force,
        confirm=False,
        errors=[],
        total=len(saved.projects),
    )


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@_api_options
@_rotate_options
@_secrets_dir_option
@click.option("--auto-approve", is_flag=True, help="Apply without asking for confirmation (for pipelines).")
@click.option("--allow-delete", is_flag=True, help="Allow a plan that sets is_deleted: true.")
@click.option("--force", is_flag=True, help="Allow a plan that removes most of the live rubric rules.")
@_project_option
@_journal_option
def apply(
    paths: tuple[str, ...],
    base_url: str,
    api_key_file: str | None,
    timeout: float,
    parallelism: int,
    max_rps: float | None,
    retry_budget: float,
    rotate: tuple[str, ...],
    rotate_all: bool,
    secrets_dir: tuple[str, ...],
    auto_approve: bool,
    allow_delete: bool,
    force: bool,
    only: tuple[int, ...],
    journal_dir: str,
) -> None:
    """Plan, ask for confirmation, then send ONE PATCH per changed project and verify it.

    Fields the file does not name are never sent. Right before each PATCH the project is read
    again: if a managed field moved since the plan was shown, that project is refused (with
    --auto-approve: planned again from that read, shown, and sent). The previous values of the
    fields the PATCH changes are saved to the journal; after it the project is read back, and a
    project that does not match the file is an error. Without a terminal, --auto-approve is needed.
    Ctrl-C or SIGTERM still reports what became of each project (exit 130 / 143).

    Given a plan saved with `plan --out FILE` instead of project files, apply re-reads the projects,
    refuses a stale plan (anything managed moved since), and otherwise sends exactly the reviewed
    change, without asking again: the review was the approval.

    \b
    Example:
      cekura-reconciler apply examples/project.yaml
      cekura-reconciler apply --auto-approve projects/
      cekura-reconciler apply reviewed.plan
    """

    def body() -> int:
        from reconciler.changes import Plan
        from reconciler.render import render_text
        from reconciler.saved import looks_like_saved_plan

        saved_plans = [p for p in paths if looks_like_saved_plan(p)]
        if saved_plans and (len(paths) > 1 or only or rotate or rotate_all):
            from reconciler.errors import RefusedError

            raise RefusedError(
                f"{saved_plans[0]} is a saved plan: it must be apply's only argument, without --project, "
                "--rotate or --rotate-all (the plan already says what to send; make a new plan to change it)"
            )
        if saved_plans:
            with _client(base_url, api_key_file, timeout, max_rps, retry_budget) as client:
                return _apply_saved(
                    paths[0],
                    client,
                    base_url=base_url,
                    parallelism=parallelism,
                    journal_dir=journal_dir,
                    allow_delete=allow_delete,
                    force=force,
                    secrets_dir=secrets_dir,
                )
        projects = _load_for(paths, only, "text")
        with _client(base_url, api_key_file, timeout, max_rps, retry_budget) as client:
            planned, errors = _plan_all(
                client,
                projects,
                rotate=rotate,
                rotate_all=rotate_all,
                parallelism=parallelism,
                secrets_dir=secrets_dir,
            )
            given = _given(force, allow_delete)
            render_text(
                Plan(tuple(p.plan for p in planned)), sys.stdout, color=_use_color(sys.stdout), given=given
            )
            by_file = {desired.file: desired for desired in projects}
            items = [
                (
                    p.plan,
                    p.secret_values,
                    (
                        _replanner(client, by_file[p.plan.file], rotate, rotate_all, secrets_dir)
                        if auto_approve
                        else None
                    ),
                )
                for p in planned
                if p.plan.has_changes
            ]
            return _execute(
                client,
                items,
                base_url=base_url,
                journal_dir=journal_dir,
                allow_delete=allow_delete,
                force=force,
                confirm=not auto_approve,
                errors=errors,
                total=len(planned),
            )

    _run(body)


# -- restore --------------------------------------------------------------------------------------


@main.command()
@click.argument("entry", type=click.Path(exists=True, dir_okay=False))
@_api_options
@click.option("--auto-approve", is_flag=True, help="Restore without asking for confirmation.")
@click.option("--allow-delete", is_flag=True, help="Allow a restore that sets is_deleted: true.")
@click.option("--force", is_flag=True, help="Allow a restore that removes most of the live rubric rules.")
@_journal_option
def restore(
    entry: str,
    base_url: str,
    api_key_file: str | None,
    timeout: float,
    parallelism: int,
    max_rps: float | None,
    retry_budget: float,
    auto_approve: bool,
    allow_delete: bool,
    force: bool,
    journal_dir: str,
) -> None:
    """Put back the values a journal entry saved before an apply's PATCH.

    Plans the restore against the live project (only fields that differ are sent; in the rubric only
    the metrics that apply changed, so rules added since by others stay), asks for confirmation, then
    applies it like apply does, with the same guards (and journals it too, so a restore can be
    undone). Secrets cannot be restored: their old values were never readable.

    \b
    Example:
      cekura-reconciler restore .cekura-journal/20261128T101500123456Z-project-123.json
    """

    def body() -> int:
        from reconciler.changes import Plan
        from reconciler.client import same_server
        from reconciler.diff import diff_restore
        from reconciler.errors import RefusedError
        from reconciler.journal import read_entry
        from reconciler.render import render_text

        record = read_entry(entry)
        if not same_server(record.base_url, base_url):
            raise RefusedError(
                f"{entry}: the entry was written for {record.base_url}, "
                f"not {base_url.rstrip('/')}; refusing it"
            )
        with _client(base_url, api_key_file, timeout, max_rps, retry_budget) as client:
            live = client.get_project(record.project_id)
            restore_plan = diff_restore(record.project_id, entry, live, record.before, record.sent)
            given = _given(force, allow_delete)
            render_text(Plan((restore_plan,)), sys.stdout, color=_use_color(sys.stdout), given=given)
            if record.secrets_sent:
                sys.stderr.write(
                    f"Note: secrets {', '.join(record.secrets_sent)} were also sent by that apply; their "
                    "previous values were never readable and are not restored.\n"
                )

            def replan(fresh: Mapping[str, Any]) -> tuple[ProjectPlan, Mapping[str, Secret]]:
                plan_ = diff_restore(record.project_id, entry, fresh, record.before, record.sent)
                return plan_, {}

            items: list[tuple[ProjectPlan, Mapping[str, Secret], Replan | None]] = []
            if restore_plan.has_changes:
                items.append((restore_plan, {}, replan if auto_approve else None))
            return _execute(
                client,
                items,
                base_url=base_url,
                journal_dir=journal_dir,
                allow_delete=allow_delete,
                force=force,
                confirm=not auto_approve,
                errors=[],
                total=1,
            )

    _run(body)


# -- export ---------------------------------------------------------------------------------------


@main.command()
@click.argument("project_id", type=click.IntRange(min=1), required=False)
@click.option(
    "-o",
    "--output",
    type=click.Path(),
    help="Write the file here (refuses to overwrite an existing file) instead of stdout; - is stdout. "
    "With --all: the directory to write the files into (created if missing).",
)
@click.option(
    "--all",
    "all_projects",
    is_flag=True,
    help="Export every project the key can see, one file each in the -o directory, named "
    "<id>-<name>.yaml (soft-deleted projects only when named with --project).",
)
@click.option(
    "--project",
    "only",
    type=click.IntRange(min=1),
    multiple=True,
    metavar="ID",
    help="With --all: only this project (repeatable).",
)
@click.option(
    "--parallelism",
    type=click.IntRange(min=1, max=64),
    default=8,
    show_default=True,
    help="With --all: projects read at the same time.",
)
@click.option(
    "--base-url",
    envvar="CEKURA_BASE_URL",
    default="https://api.cekura.ai",
    show_default=True,
    help="Cekura API base URL (env CEKURA_BASE_URL). Plain http only for loopback hosts.",
)
@click.option(
    "--api-key-file",
    type=click.Path(dir_okay=False),
    help="Read the API key from this file instead of the CEKURA_API_KEY environment variable.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=1.0),
    default=30.0,
    show_default=True,
    help="Seconds to wait for each API request.",
)
@_retry_budget_option
def export(
    project_id: int | None,
    output: str | None,
    all_projects: bool,
    only: tuple[int, ...],
    parallelism: int,
    base_url: str,
    api_key_file: str | None,
    timeout: float,
    retry_budget: float,
) -> None:
    """Write a project file from a live project: every writable setting, the rubric, secret references.

    Configured secrets become {env: CEKURA_<ID>_<NAME>} references to fill in (their values cannot
    be read). The exported file plans to no changes against the project it came from. With --all,
    one file per project the key can see, into a directory: onboarding a whole organisation.

    \b
    Example:
      cekura-reconciler export 123 -o projects/support.yaml
      cekura-reconciler export --all -o projects/
    """

    def body() -> int:
        if all_projects or only:
            return _export_all(
                output,
                only,
                base_url=base_url,
                api_key_file=api_key_file,
                timeout=timeout,
                retry_budget=retry_budget,
                parallelism=parallelism,
            )
        if project_id is None:
            from reconciler.errors import ReconcilerError

            raise ReconcilerError("give a PROJECT_ID, or --all -o DIR for every project")
        from pathlib import Path

        from reconciler.atomic import write_atomic
        from reconciler.errors import ReconcilerError
        from reconciler.export import export_project, fetch_export_inputs

        destination = None if output == "-" else output
        if destination and Path(destination).is_file():
            raise ReconcilerError(f"{destination} already exists; refusing to overwrite it (remove it first)")
        with _client(base_url, api_key_file, timeout, retry_budget=retry_budget) as client:
            live, metrics = fetch_export_inputs(client, project_id)
        text = export_project(live, metrics, base_url_comment=base_url)
        if not destination:
            click.echo(text, nl=False)
            return EXIT_OK
        write_atomic(destination, text, 0o666)  # a project file: as readable as any the user writes
        sys.stderr.write(f"Wrote project {project_id} to {destination}.\n")
        return EXIT_OK

    _run(body)


def _export_all(
    output: str | None,
    only: tuple[int, ...],
    *,
    base_url: str,
    api_key_file: str | None,
    timeout: float,
    retry_budget: float,
    parallelism: int,
) -> int:
    """export --all: every project the key can see (or those of --project), one file each."""
    from pathlib import Path

    from reconciler.errors import ReconcilerError
    from reconciler.export import (
        export_project,
        fetch_export_inputs,
        files_managing,
        project_file_name,
        write_new_file,
    )

    if not output or output == "-":
        raise ReconcilerError("--all writes one file per project: give the directory with -o DIR")
    directory = Path(output)
    if directory.exists() and not directory.is_dir():
        raise ReconcilerError(f"{output} is not a directory")
    with _client(base_url, api_key_file, timeout, retry_budget=retry_budget) as client:
        listed = {p["id"]: p for p in client.list_projects() if type(p.get("id")) is int}
        if only:
            missing = [str(i) for i in only if i not in listed]
            if missing:
                raise ReconcilerError(
                    f"--project {', '.join(missing)}: not among the projects this key can see"
                )
            chosen = list(dict.fromkeys(only))
        else:
            deleted = sorted(i for i, p in listed.items() if p.get("is_deleted") is True)
            chosen = sorted(i for i in listed if i not in deleted)
            if deleted:
                sys.stderr.write(
                    f"Note: skipping soft-deleted project(s) {', '.join(map(str, deleted))}; name one "
                    "with --project to export it.\n"
                )
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

        def one(project_id: int) -> tuple[int, str | None, str | None]:
            try:
                live, metrics = fetch_export_inputs(client, project_id)
                return project_id, export_project(live, metrics, base_url_comment=base_url), None
            except ReconcilerError as exc:
                return project_id, None, str(exc)

        results = _in_parallel(one, chosen, parallelism, _Progress(len(chosen), "Exporting projects"))
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ReconcilerError(f"cannot create {output}: {exc.strerror}") from None
    written = 0
    errors: list[tuple[str, str]] = []
    for project_id, text, error in results:
        if text is None:
            errors.append((f"project {project_id}", error or "failed"))
            continue
        try:
            write_new_file(targets[project_id], text)
        except ReconcilerError as exc:
            errors.append((str(targets[project_id]), str(exc)))
            continue
        written += 1
    sys.stderr.write(f"Wrote {written} project file{'s' if written != 1 else ''} to {output}.\n")
    for what, error in errors:
        _fail(f"{what}: {error}")
    return EXIT_ERROR if errors else EXIT_OK


# -- pull -----------------------------------------------------------------------------------------


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@_api_options
@click.option(
    "--check",
    is_flag=True,
    help="Write nothing: exit 2 when a pull would change a file, 0 when none, 1 on error.",
)
@_project_option
def pull(
    paths: tuple[str, ...],
    base_url: str,
    api_key_file: str | None,
    timeout: float,
    parallelism: int,
    max_rps: float | None,
    retry_budget: float,
    check: bool,
    only: tuple[int, ...],
) -> None:
    """Write the live values of the fields each file manages back into the file (adopt UI edits).

    Settings the file names and the rubric rules of the metrics it names are written as the live
    project has them, in the file's own style: comments, key order, quoting and layout are kept.
    Nothing else is written, and secrets never (their references stay). With extends, a value is
    written where it is set: in a base when every file given that extends it reads the same live
    value, else as an override in each file whose project differs. Nothing is sent to Cekura; plan
    right after shows no changes.

    \b
    Example:
      cekura-reconciler pull projects/
      cekura-reconciler pull --check projects/   # exit 2: the UI changed something
    """

    def body() -> int:
        from reconciler.errors import InputError, ReconcilerError
        from reconciler.files import load_projects
        from reconciler.pull import LiveRead, compute_pull, read_live, render_pull_text, write_pull

        projects = _select(load_projects(paths), only)
        with _client(base_url, api_key_file, timeout, max_rps, retry_budget) as client:

            def one(desired: DesiredProject) -> LiveRead | tuple[DesiredProject, str]:
                try:
                    return read_live(client, desired)
                except InputError as exc:
                    return desired, "\n".join(str(p) for p in exc.problems)
                except ReconcilerError as exc:
                    return desired, str(exc)

            results = _in_parallel(one, projects, parallelism, _Progress(len(projects), "Reading projects"))
        reads = [r for r in results if isinstance(r, LiveRead)]
        failed = [r for r in results if not isinstance(r, LiveRead)]
        result = compute_pull(reads, failed=[desired for desired, _ in failed])
        written = [] if check else write_pull(result)  # a failed write says which files were written
        render_pull_text(result, sys.stdout, check=check)
        for note in result.notes:
            sys.stderr.write(f"Note: {note}\n")
        for file in written:
            sys.stderr.write(f"Wrote {file}.\n")
        for desired, error in failed:
            _fail(_error_text(desired.file, error))
        if failed:
            return EXIT_ERROR
        return EXIT_CHANGES if check and result.has_changes else EXIT_OK

    _run(body)


# -- schema & emulator ---------------------------------------------------------------------------


@main.command()
def schema() -> None:
    """Print the JSON Schema of project files (editors use it for completion and checks).

    \b
    Example:
      cekura-reconciler schema > project.schema.json
    """
    from reconciler.validate import schema_path

    click.echo(schema_path().read_text(encoding="utf-8"), nl=False)


@main.command()
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8787,
    show_default=True,
    help="Port on 127.0.0.1 (0 picks a free one).",
)
@click.option(
    "--seed",
    type=click.Path(exists=True, dir_okay=False),
    help="JSON or YAML file of projects, metrics and agents (default: built-in demo data).",
)
@click.option(
    "--api-key",
    default="demo",
    show_default=True,
    help="The key the emulator accepts (it is a local fake, not a real credential).",
)
@click.option(
    "--latency-ms",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    help="Delay added to every request, to mimic a remote API.",
)
def emulator(port: int, seed: str | None, api_key: str, latency_ms: float) -> None:
    """Run a local emulator of the Cekura API on 127.0.0.1, for demos and tests.

    It keeps state, records every request, and answers like the real API (401 for a wrong key, DRF
    errors, write-only secrets). Stop it with Ctrl-C.

    \b
    Example:
      cekura-reconciler emulator --port 8787 &
      CEKURA_API_KEY=demo cekura-reconciler plan --base-url http://127.0.0.1:8787 examples/project.yaml
    """

    def body() -> int:
        from reconciler.emulator import run_forever
        from reconciler.errors import ReconcilerError

        try:
            run_forever(port=port, seed_file=seed, api_key=api_key, latency_ms=latency_ms, out=sys.stdout)
        except OSError as exc:
            raise ReconcilerError(f"cannot listen on 127.0.0.1:{port}: {exc.strerror}") from None
        except (ValueError, KeyError, TypeError) as exc:
            raise ReconcilerError(f"--seed {seed}: {exc}") from None
        return EXIT_OK

    _run(body)
