"""The command line: parse options, build objects, call the library, pick a renderer, map to exit codes.

What the commands do lives in ``operations`` (plan many files, drift, apply, apply a saved plan,
restore, export); how results look lives in ``renderers`` (one class per ``--format``). This module
only wires them, and it is the one place that knows click and exit codes: one error boundary
(``_Cli.invoke``) turns the exception tree into exit codes for every command. Heavy modules (httpx,
deepdiff, jsonschema) are imported inside the commands that need them, so ``--help`` and
``validate`` start fast. Exit codes: 0 ok / no changes, 1 error, 2 changes present (with
--detailed-exitcode, or drift), 130 Ctrl-C, 143 SIGTERM.
"""

from __future__ import annotations

import functools
import gc
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields, replace
from typing import TYPE_CHECKING, Any, Literal, TextIO

import click

from reconciler import __version__
from reconciler.errors import InputError, ReconcilerError
from reconciler.operations import FAILED, ApplyListener, Failure, Terminated
from reconciler.redact import RedactingFilter, Redactor
from reconciler.renderers import REGISTRY

if TYPE_CHECKING:
    from reconciler.changes import ProjectPlan
    from reconciler.client import CekuraClient
    from reconciler.model import DesiredProject
    from reconciler.operations import ApplyReport, ProjectResult
    from reconciler.renderers import Renderer

EXIT_OK, EXIT_ERROR, EXIT_CHANGES = 0, 1, 2
EXIT_INTERRUPTED, EXIT_TERMINATED = 130, 143


# Every secret value and API key the client sends is added to this one redactor; every error message
# and log line printed goes through it (reconciler/redact.py).
_REDACTOR = Redactor()


def _fail(message: str, *, err: TextIO | None = None) -> None:
    from reconciler.renderers.text import clean

    stream = err or sys.stderr
    # Server text (a DRF detail, a metric name) can hold escape sequences: never raw to a terminal.
    for line in _REDACTOR(str(message)).splitlines() or [""]:
        stream.write(f"Error: {clean(line)}\n")


def _on_sigterm(signum: int, frame: object) -> None:
    """SIGTERM (a cancelled CI job, `kill`) is handled like Ctrl-C, so an apply still reports what
    became of every project, but the exit code is 143."""
    raise Terminated()


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
    """The one error boundary: every error on purpose becomes exit 1 with its message, never a
    traceback; Ctrl-C exits 130 and SIGTERM 143, after whatever the command reported on its way
    out. Click's usage errors exit 2, which here means "changes present" or "drifted": make them 1.
    """

    def invoke(self, ctx: click.Context) -> Any:
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, _on_sigterm)
        collector = gc.get_threshold()  # `main` sets the run's own; a caller's process gets its back
        try:
            return super().invoke(ctx)
        except InputError as exc:
            for problem in exc.problems:
                sys.stderr.write(f"{_REDACTOR(str(problem))}\n")
            count = len(exc.problems)
            sys.stderr.write(f"{count} problem{'s' if count != 1 else ''} found; nothing was changed.\n")
            return EXIT_ERROR
        except ReconcilerError as exc:
            _fail(str(exc))
            return EXIT_ERROR
        except KeyboardInterrupt as exc:
            terminated = isinstance(exc, Terminated)
            sys.stderr.write("Terminated.\n" if terminated else "Interrupted.\n")
            return EXIT_TERMINATED if terminated else EXIT_INTERRUPTED
        finally:
            gc.set_threshold(*collector)

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
    # A run builds many objects that live until it ends (files, plans, pages). With the default
    # thresholds the collector kept re-walking them: a 20,000-rule plan spent a quarter of its CPU
    # there and grew faster than its input. Cycles are still collected, less often.
    gc.set_threshold(100_000, 50, 100)


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
def validate(paths: tuple[str, ...], fmt: str) -> int:
    """Check project files offline against the schema and the format's rules.

    Needs no credentials and no network (it is what a pre-commit hook runs). Every problem of every
    file is reported as FILE:LINE:COL: message. Directories are scanned for *.yaml and *.yml.

    \b
    Example:
      cekura-reconciler validate examples/project.yaml
      cekura-reconciler validate --format github projects/
    """
    from reconciler.files import load_projects

    if fmt == "github":
        # Problems are this format's output (annotations on stdout), not errors for the boundary.
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


# -- shared options for commands that talk to the API --------------------------------------------


_CONNECTION_OPTIONS = [
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
]


def _connection_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """--base-url, --api-key-file and --timeout: every command that talks to the API."""
    for option in reversed(_CONNECTION_OPTIONS):
        func = option(func)
    return func


@dataclass(frozen=True)
class _Api:
    """The API options of a command (--base-url, --api-key-file, --timeout, and where the command
    has them --parallelism, --max-rps, --retry-budget): one value instead of six parameters."""

    base_url: str
    api_key_file: str | None
    timeout: float
    parallelism: int = 1
    max_rps: float | None = None
    retry_budget: float = 60.0

    def client(self) -> CekuraClient:
        from reconciler.client import CekuraClient, RetryPolicy
        from reconciler.credentials import read_api_key

        return CekuraClient(
            self.base_url,
            read_api_key(self.api_key_file),
            timeout=self.timeout,
            max_rps=self.max_rps,
            retry=RetryPolicy(budget=self.retry_budget),
            redactor=_REDACTOR,
            parallelism=self.parallelism,
        )


_API_FIELDS = tuple(f.name for f in fields(_Api))


def _api_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """The API options; the command receives them as ``api: _Api``."""

    @functools.wraps(func)
    def with_api(**kwargs: Any) -> Any:
        api = _Api(**{name: kwargs.pop(name) for name in _API_FIELDS})
        return func(api=api, **kwargs)

    options = [
        _connection_options,
        click.option(
            "--parallelism",
            type=click.IntRange(min=1, max=64),
            default=8,
            show_default=True,
            help="Projects read (and, by apply, written) at the same time.",
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
    command: Callable[..., Any] = with_api
    for option in reversed(options):
        command = option(command)
    return command


_retry_budget_option = click.option(
    "--retry-budget",
    type=click.FloatRange(min=0.0),
    default=60.0,
    show_default=True,
    metavar="SECONDS",
    help="Keep retrying a failed GET (and a PATCH the server did not take) for at most this long; "
    "no wait, a server's Retry-After included, goes past it. 0: never retry.",
)


def _project_option(func: Callable[..., Any]) -> Callable[..., Any]:
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


def _rotate_options(func: Callable[..., Any]) -> Callable[..., Any]:
    func = click.option("--rotate-all", is_flag=True, help="Send every secret the file references.")(func)
    return click.option(
        "--rotate",
        "rotate",
        multiple=True,
        metavar="NAME",
        help="Send this secret even though it is already configured (repeatable).",
    )(func)


def _secrets_dir_option(func: Callable[..., Any]) -> Callable[..., Any]:
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


PROGRESS_MIN = 10  # projects: fewer finish too fast for progress to help


class _ProgressLine:
    """Progress of a long multi-project run on stderr: one updating line on a terminal, else a
    line at each quarter (CI logs stay short). The library calls it after each project."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.tty = sys.stderr.isatty()

    def __call__(self, done: int, total: int) -> None:
        if total < PROGRESS_MIN:
            return
        if self.tty:
            end = "\n" if done == total else ""
            sys.stderr.write(f"\r{self.what}: {done}/{total}{end}")
        elif done * 4 // total != (done - 1) * 4 // total:
            sys.stderr.write(f"{self.what}: {done}/{total}\n")
        sys.stderr.flush()


def _renderer(fmt: str) -> Renderer:
    return REGISTRY[fmt](sys.stdout, color=_use_color(sys.stdout))


def _format_option(*, asks: bool = False) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """--format, with the choices and their help from the renderers' registry. ``asks``: the
    command may prompt, which only a streaming format leaves room for."""
    described = ", ".join(renderer.help for renderer in REGISTRY.values())
    documents = [name for name, renderer in REGISTRY.items() if not renderer.streams]
    note = f" {' and '.join(documents)} report at the end and ask nothing: they need --auto-approve."
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(list(REGISTRY)),
        default="text",
        show_default=True,
        help=f"{described}.{note if asks and documents else ''}",
    )


def _report_failures(failures: Sequence[Failure]) -> None:
    for failure in failures:
        _fail(failure.text())


def _check_since(ctx: click.Context, param: click.Parameter, value: str) -> str:
    if ctx.get_parameter_source(param.name or "") is click.core.ParameterSource.DEFAULT:
        return value  # known good; checking it would import the impact module into every plan
    from reconciler.impact import parse_since

    try:
        parse_since(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    return value


def _load_for(
    paths: Sequence[str], only: tuple[int, ...], fmt: str, kind: Literal["plan", "drift"] = "plan"
) -> list[DesiredProject]:
    """Load the files; with a format that writes a document (json, markdown) a bad file still gives
    one (its failures, each FILE:LINE:COL: message), so a pull-request comment shows the problems."""
    from reconciler.files import load_projects, unextended_bases
    from reconciler.operations import select_projects

    try:
        projects = load_projects(paths)
        selected = select_projects(projects, only)
    except ReconcilerError as exc:
        if not REGISTRY[fmt].streams:
            from reconciler.changes import Plan
            from reconciler.operations import PlanRun

            if isinstance(exc, InputError):
                failures = tuple(Failure(p.position.file, str(p)) for p in exc.problems)
            else:
                failures = (Failure("", str(exc)),)
            run = PlanRun(Plan(()), failures=failures)
            if kind == "drift":
                _renderer(fmt).drift(run)
            else:
                _renderer(fmt).plan(run)
        raise
    for base in unextended_bases(paths, projects):
        sys.stderr.write(
            f"Warning: {base} has no `project:` and no file extends it, so nothing plans it "
            "(a project file missing its `project:` line?)\n"
        )
    return selected


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@_api_options
@_rotate_options
@_secrets_dir_option
@_format_option()
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
    api: _Api,
    rotate: tuple[str, ...],
    rotate_all: bool,
    secrets_dir: tuple[str, ...],
    fmt: str,
    detailed_exitcode: bool,
    out_file: str | None,
    only: tuple[int, ...],
    impact: bool,
    since_text: str,
) -> int:
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

    from reconciler import operations
    from reconciler.errors import PlanError
    from reconciler.saved_kind import looks_like_saved_plan

    saved = [p for p in paths if looks_like_saved_plan(p)]
    if saved:
        raise PlanError(f"{saved[0]} is a saved plan, not a project file; apply it with: apply {saved[0]}")
    ctx = click.get_current_context()
    if not impact and ctx.get_parameter_source("since_text") == click.core.ParameterSource.COMMANDLINE:
        sys.stderr.write("Note: --since only applies with --impact; ignored.\n")
    projects = _load_for(paths, only, fmt)
    options = operations.PlanOptions(
        rotate=rotate, rotate_all=rotate_all, parallelism=api.parallelism, secrets_dirs=secrets_dir
    )
    with api.client() as client:
        run = operations.plan(client, projects, options=options, progress=_ProgressLine("Reading projects"))
        if impact:
            run = operations.with_impact(client, run, since=since_text, parallelism=api.parallelism)
    _renderer(fmt).plan(run)
    if out_file and run.failures:
        sys.stderr.write(
            f"Not saving the plan to {out_file}: {len(run.failures)} file(s) failed to plan, and a saved "
            "plan must cover everything that was asked for.\n"
        )
    elif out_file:
        operations.save_plan(out_file, run, base_url=api.base_url)
        sys.stderr.write(f"Saved the plan to {out_file}; apply it with: cekura-reconciler apply {out_file}\n")
    _report_failures(run.failures)
    if run.failures:
        return EXIT_ERROR
    return EXIT_CHANGES if detailed_exitcode and run.has_changes else EXIT_OK


# -- drift ----------------------------------------------------------------------------------------


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@_api_options
@_format_option()
@_project_option
def drift(
    paths: tuple[str, ...],
    api: _Api,
    fmt: str,
    only: tuple[int, ...],
) -> int:
    """Report where live projects differ from their files (for a scheduled job).

    Exit 0 when every project is in sync, 2 when any managed field or rubric rule drifted, 1 on
    error (errors win). Never changes anything. Secrets count as drift only when not configured, and
    their values are never read (a drift job needs no secret variables).

    \b
    Example:
      cekura-reconciler drift --format markdown projects/
    """

    from reconciler import operations

    projects = _load_for(paths, only, fmt, kind="drift")
    with api.client() as client:
        run = operations.drift(
            client, projects, parallelism=api.parallelism, progress=_ProgressLine("Reading projects")
        )
    _renderer(fmt).drift(run)
    _report_failures(run.failures)
    if run.failures:
        return EXIT_ERROR
    return EXIT_CHANGES if run.has_changes else EXIT_OK


# -- show -----------------------------------------------------------------------------------------


@main.command()
@click.argument("plan_file", type=click.Path(exists=True, dir_okay=False))
@_format_option()
def show(plan_file: str, fmt: str) -> int:
    """Print a plan saved with `plan --out FILE`, offline: no API key, no network.

    Shows exactly what `apply FILE` would send (secrets only by name), what it will refuse without
    --allow-delete or --force, and the warnings the plan was made with. A plan file that was edited
    after it was written is refused, as apply refuses it.

    \b
    Example:
      cekura-reconciler show reviewed.plan
      cekura-reconciler show --format markdown reviewed.plan >> "$GITHUB_STEP_SUMMARY"
    """
    from reconciler import operations

    _renderer(fmt).show(operations.read_plan_file(plan_file))
    return EXIT_OK


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


def _journal_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--journal-dir",
        envvar="CEKURA_JOURNAL_DIR",
        default=".cekura-journal",
        show_default=True,
        type=click.Path(file_okay=False),
        help="Where the previous values of the fields each PATCH changes are saved first "
        "(env CEKURA_JOURNAL_DIR); `restore ENTRY` puts them back.",
    )(func)


class _ApplyConsole(ApplyListener):
    """Apply's callbacks at the terminal: errors on stderr, the confirmation prompt, and the
    renderer's progress lines."""

    def __init__(self, renderer: Renderer, *, ask: bool, journal_dir: str) -> None:
        self.renderer = renderer
        self.ask = ask
        self.journal_dir = journal_dir
        self.some_failed = False
        self.journal_existed: bool | None = None  # known once the writes start

    def failed(self, failures: Sequence[Failure]) -> None:
        self.some_failed = bool(failures)
        _report_failures(failures)

    def confirm(self, projects: int) -> bool:
        if not self.ask:
            return True
        if self.some_failed:
            sys.stderr.write("Some projects failed to plan; the others can still be applied.\n")
        return _confirm(projects)

    def writing(self, projects: int) -> None:
        self.journal_existed = os.path.isdir(self.journal_dir)
        self.renderer.writing()

    def writes_done(self) -> None:
        """The journal folder was just created inside a git work tree: say how to keep it out of git
        (its entries hold live values of the projects; they belong in a CI artifact, not a commit)."""
        if self.journal_existed is not False or not os.path.isdir(self.journal_dir):
            return
        from pathlib import Path

        from reconciler.journal import git_work_tree, ignored_by_git

        tree = git_work_tree(self.journal_dir)
        if tree is None or ignored_by_git(self.journal_dir, tree):
            return
        relative = Path(self.journal_dir).resolve().relative_to(tree).as_posix()
        sys.stderr.write(
            f"Note: the backup journal {self.journal_dir} is inside the git work tree {tree}; keep its "
            f"entries out of commits: echo '{relative}/' >> .gitignore\n"
        )

    def replanned(self, plan: ProjectPlan, moved: Sequence[str]) -> None:
        self.renderer.replanned(plan, moved)

    def finished(self, result: ProjectResult) -> None:
        if result.outcome in FAILED:
            _fail(result.message)
        self.renderer.finished(result)


def _asks_no_question(fmt: str, *, asks: bool, command: str) -> None:
    """A format that writes one document (json, markdown) leaves no room for a prompt on stdout."""
    if asks and not REGISTRY[fmt].streams:
        from reconciler.errors import RefusedError

        raise RefusedError(
            f"{command} --format {fmt} asks no question (the prompt would be mixed into the document); "
            f"review the plan, then run {command} with --auto-approve"
        )


def _reported(report: ApplyReport, render: Callable[[ApplyReport], None], console: _ApplyConsole) -> int:
    """Say what became of every project; then exit as the report says (re-raising an interruption
    for the error boundary: 130 / 143)."""
    console.writes_done()
    if report.interrupted is not None:
        what = "Terminated (SIGTERM)" if report.interrupted == "SIGTERM" else "Interrupted"
        sys.stderr.write(f"\n{what} during apply; what became of each project is listed below.\n")
    if report.status == "nothing_to_apply" and report.failed:
        sys.stderr.write("Nothing was applied.\n")
    render(report.redacted(_REDACTOR))
    if report.interrupted is not None:
        raise Terminated() if report.interrupted == "SIGTERM" else KeyboardInterrupt()
    return EXIT_OK if report.ok else EXIT_ERROR


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
@_format_option(asks=True)
def apply(
    paths: tuple[str, ...],
    api: _Api,
    rotate: tuple[str, ...],
    rotate_all: bool,
    secrets_dir: tuple[str, ...],
    auto_approve: bool,
    allow_delete: bool,
    force: bool,
    only: tuple[int, ...],
    journal_dir: str,
    fmt: str,
) -> int:
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
      cekura-reconciler apply --auto-approve --format json projects/ > apply-report.json
    """

    from reconciler import operations
    from reconciler.errors import RefusedError
    from reconciler.saved_kind import looks_like_saved_plan

    saved_plans = [p for p in paths if looks_like_saved_plan(p)]
    if saved_plans and (len(paths) > 1 or only or rotate or rotate_all):
        raise RefusedError(
            f"{saved_plans[0]} is a saved plan: it must be apply's only argument, without --project, "
            "--rotate or --rotate-all (the plan already says what to send; make a new plan to change it)"
        )
    # A saved plan is not asked about again: the review was the approval.
    asks = not auto_approve and not saved_plans
    _asks_no_question(fmt, asks=asks, command="apply")
    renderer = _renderer(fmt)
    options = operations.ApplyOptions(
        journal_dir=journal_dir,
        base_url=api.base_url,
        allow_delete=allow_delete,
        force=force,
        replan=auto_approve and not saved_plans,
        parallelism=api.parallelism,
    )
    # Files are checked before the API key is read: a bad file is reported as such.
    projects = [] if saved_plans else _load_for(paths, only, "text")
    with api.client() as client:
        if saved_plans:
            run = operations.load_saved_plan(
                paths[0], client, base_url=api.base_url, parallelism=api.parallelism, secrets_dirs=secrets_dir
            )
        else:
            plan_options = operations.PlanOptions(
                rotate=rotate, rotate_all=rotate_all, parallelism=api.parallelism, secrets_dirs=secrets_dir
            )
            run = operations.plan(
                client, projects, options=plan_options, progress=_ProgressLine("Reading projects")
            )
        renderer.preview(run, given=_given(force, allow_delete))
        console = _ApplyConsole(renderer, ask=asks, journal_dir=journal_dir)
        report = operations.apply(client, run, options=options, listener=console)
    return _reported(report, renderer.apply, console)


# -- restore --------------------------------------------------------------------------------------


@main.command()
@click.argument("entry", type=click.Path(exists=True, dir_okay=False))
@_api_options
@click.option("--auto-approve", is_flag=True, help="Restore without asking for confirmation.")
@click.option("--allow-delete", is_flag=True, help="Allow a restore that sets is_deleted: true.")
@click.option("--force", is_flag=True, help="Allow a restore that removes most of the live rubric rules.")
@_journal_option
@_format_option(asks=True)
def restore(
    entry: str,
    api: _Api,
    auto_approve: bool,
    allow_delete: bool,
    force: bool,
    journal_dir: str,
    fmt: str,
) -> int:
    """Put back the values a journal entry saved before an apply's PATCH.

    Plans the restore against the live project (only fields that differ are sent; in the rubric only
    the metrics that apply changed, so rules added since by others stay), asks for confirmation, then
    applies it like apply does, with the same guards (and journals it too, so a restore can be
    undone). Secrets cannot be restored: their old values were never readable.

    \b
    Example:
      cekura-reconciler restore .cekura-journal/20261128T101500123456Z-project-123.json
      cekura-reconciler restore --auto-approve --format json .cekura-journal/ENTRY.json
    """

    from reconciler import operations

    _asks_no_question(fmt, asks=not auto_approve, command="restore")
    renderer = _renderer(fmt)
    record = operations.read_restore_entry(entry, base_url=api.base_url)
    options = operations.ApplyOptions(
        journal_dir=journal_dir,
        base_url=api.base_url,
        allow_delete=allow_delete,
        force=force,
        replan=auto_approve,
    )
    with api.client() as client:
        planned = operations.plan_restore(record, client)
        renderer.preview(planned.run, given=_given(force, allow_delete))
        if planned.secrets_not_restored:
            sys.stderr.write(
                f"Note: secrets {', '.join(planned.secrets_not_restored)} were also sent by that apply; "
                "their previous values were never readable and are not restored.\n"
            )
        console = _ApplyConsole(renderer, ask=not auto_approve, journal_dir=journal_dir)
        report = operations.restore(client, planned, options=options, listener=console)
    return _reported(report.apply, lambda shown: renderer.restore(replace(report, apply=shown)), console)


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
@_connection_options
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
) -> int:
    """Write a project file from a live project: every writable setting, the rubric, secret references.

    Configured secrets become {env: CEKURA_<ID>_<NAME>} references to fill in (their values cannot
    be read). The exported file plans to no changes against the project it came from. With --all,
    one file per project the key can see, into a directory: onboarding a whole organisation.

    \b
    Example:
      cekura-reconciler export 123 -o projects/support.yaml
      cekura-reconciler export --all -o projects/
    """

    from pathlib import Path

    from reconciler import operations

    if all_projects or only:
        directory = operations.export_directory(output)
        api = _Api(base_url, api_key_file, timeout, parallelism=parallelism, retry_budget=retry_budget)
        with api.client() as client:
            selection = operations.select_exports(client, directory, only, label=output)
            if selection.skipped_deleted:
                skipped = ", ".join(map(str, selection.skipped_deleted))
                sys.stderr.write(
                    f"Note: skipping soft-deleted project(s) {skipped}; name one with --project to "
                    "export it.\n"
                )
            report = operations.export_selected(
                client,
                selection,
                base_url=base_url,
                parallelism=parallelism,
                progress=_ProgressLine("Exporting projects"),
            )
        written = len(report.written)
        sys.stderr.write(f"Wrote {written} project file{'s' if written != 1 else ''} to {output}.\n")
        for failure in report.failures:
            _fail(f"{failure.file}: {failure.message}")
        return EXIT_ERROR if report.failures else EXIT_OK
    if project_id is None:
        raise ReconcilerError("give a PROJECT_ID, or --all -o DIR for every project")
    from reconciler.atomic import write_atomic

    destination = None if output == "-" else output
    if destination and Path(destination).is_file():
        raise ReconcilerError(f"{destination} already exists; refusing to overwrite it (remove it first)")
    with _Api(base_url, api_key_file, timeout, retry_budget=retry_budget).client() as client:
        text = operations.export(client, project_id, base_url=base_url)
    if not destination:
        click.echo(text, nl=False)
        return EXIT_OK
    write_atomic(destination, text, 0o666)  # a project file: as readable as any the user writes
    sys.stderr.write(f"Wrote project {project_id} to {destination}.\n")
    return EXIT_OK


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
    api: _Api,
    check: bool,
    only: tuple[int, ...],
) -> int:
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

    from reconciler import operations
    from reconciler.files import load_projects
    from reconciler.pull import render_pull_text, write_pull

    projects = operations.select_projects(load_projects(paths), only)
    with api.client() as client:
        run = operations.pull(
            client, projects, parallelism=api.parallelism, progress=_ProgressLine("Reading projects")
        )
    written = [] if check else write_pull(run.result)  # a failed write says which files were written
    render_pull_text(run.result, sys.stdout, check=check)
    for note in run.result.notes:
        sys.stderr.write(f"Note: {note}\n")
    for file in written:
        sys.stderr.write(f"Wrote {file}.\n")
    _report_failures(run.failures)
    if run.failures:
        return EXIT_ERROR
    return EXIT_CHANGES if check and run.result.has_changes else EXIT_OK


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
def emulator(port: int, seed: str | None, api_key: str, latency_ms: float) -> int:
    """Run a local emulator of the Cekura API on 127.0.0.1, for demos and tests.

    It keeps state, records every request, and answers like the real API (401 for a wrong key, DRF
    errors, write-only secrets). Stop it with Ctrl-C.

    \b
    Example:
      cekura-reconciler emulator --port 8787 &
      CEKURA_API_KEY=demo cekura-reconciler plan --base-url http://127.0.0.1:8787 examples/project.yaml
    """

    from reconciler.emulator import run_forever

    try:
        run_forever(port=port, seed_file=seed, api_key=api_key, latency_ms=latency_ms, out=sys.stdout)
    except OSError as exc:
        raise ReconcilerError(f"cannot listen on 127.0.0.1:{port}: {exc.strerror}") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise ReconcilerError(f"--seed {seed}: {exc}") from None
    return EXIT_OK
