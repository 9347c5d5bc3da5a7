"""The command line: parse options, wire the stages, pick a renderer, map errors to exit codes.

Nothing else in the package knows about click or exit codes. Heavy modules (httpx, deepdiff,
jsonschema) are imported inside the commands that need them, so ``--help`` and ``validate`` start
fast. Exit codes: 0 ok / no changes, 1 error, 2 changes present (with --detailed-exitcode).
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, TextIO, TypeVar

import click

from reconciler import __version__

if TYPE_CHECKING:
    from reconciler.client import CekuraClient
    from reconciler.model import DesiredProject
    from reconciler.reconcile import PlannedProject

EXIT_OK, EXIT_ERROR, EXIT_CHANGES = 0, 1, 2
T = TypeVar("T")


def _fail(message: str, *, err: TextIO | None = None) -> None:
    stream = err or sys.stderr
    for line in str(message).splitlines() or [""]:
        stream.write(f"Error: {line}\n")


def _run(body: Callable[[], int]) -> None:
    """Run a command body; every error on purpose becomes exit 1 with its message, never a traceback."""
    from reconciler.errors import InputError, ReconcilerError

    try:
        code = body()
    except InputError as exc:
        for problem in exc.problems:
            sys.stderr.write(f"{problem}\n")
        count = len(exc.problems)
        sys.stderr.write(f"{count} problem{'s' if count != 1 else ''} found; nothing was changed.\n")
        code = EXIT_ERROR
    except ReconcilerError as exc:
        _fail(str(exc))
        code = EXIT_ERROR
    except KeyboardInterrupt:
        sys.stderr.write("Interrupted.\n")
        code = 130
    sys.exit(code)


def _use_color(stream: TextIO) -> bool:
    return "NO_COLOR" not in os.environ and stream.isatty()


def _setup_logging(verbose: int) -> None:
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
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
    _setup_logging(verbose)


# -- validate -------------------------------------------------------------------------------------


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
def validate(paths: tuple[str, ...]) -> None:
    """Check project files offline against the schema and the format's rules.

    Needs no credentials and no network (it is what a pre-commit hook runs). Every problem of every
    file is reported as FILE:LINE:COL: message. Directories are scanned for *.yaml and *.yml.

    \b
    Example:
      cekura-reconciler validate examples/project.yaml
    """

    def body() -> int:
        from reconciler.reconcile import load_projects

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
            "--rotate",
            "rotate",
            multiple=True,
            metavar="NAME",
            help="Send this secret even though it is already configured (repeatable).",
        ),
        click.option("--rotate-all", is_flag=True, help="Send every secret the file references."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _client(base_url: str, api_key_file: str | None, timeout: float) -> CekuraClient:
    from reconciler.client import CekuraClient
    from reconciler.credentials import read_api_key

    return CekuraClient(base_url, read_api_key(api_key_file), timeout=timeout)


def _in_parallel(func: Callable[[Any], T], items: Sequence[Any], parallelism: int) -> list[T]:
    if len(items) <= 1 or parallelism == 1:
        return [func(item) for item in items]
    with ThreadPoolExecutor(max_workers=min(parallelism, len(items))) as pool:
        return list(pool.map(func, items))


def _plan_all(
    client: CekuraClient,
    projects: Sequence[DesiredProject],
    *,
    rotate: tuple[str, ...],
    rotate_all: bool,
    parallelism: int,
) -> tuple[list[PlannedProject], list[str]]:
    """Plan every project; one project's failure does not stop the others."""
    from reconciler.errors import InputError, ReconcilerError
    from reconciler.reconcile import plan_project

    def one(desired: DesiredProject) -> PlannedProject | str:
        names = tuple(desired.secrets) if rotate_all else rotate
        unknown = [n for n in names if n not in desired.secrets]
        if unknown:
            return f"{desired.file}: --rotate {', '.join(unknown)}: the file references no such secret"
        try:
            return plan_project(client, desired, rotate=names)
        except InputError as exc:
            return "\n".join(str(p) for p in exc.problems)
        except ReconcilerError as exc:
            return f"{desired.file}: {exc}" if not str(exc).startswith(desired.file) else str(exc)

    results = _in_parallel(one, projects, parallelism)
    planned = [r for r in results if not isinstance(r, str)]
    errors = [r for r in results if isinstance(r, str)]
    return planned, errors


# -- plan -----------------------------------------------------------------------------------------


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@_api_options
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="text for people and CI logs, json for machines (a versioned document).",
)
@click.option(
    "--detailed-exitcode",
    is_flag=True,
    help="Exit 0 when there are no changes, 2 when there are, 1 on error.",
)
def plan(
    paths: tuple[str, ...],
    base_url: str,
    api_key_file: str | None,
    timeout: float,
    parallelism: int,
    rotate: tuple[str, ...],
    rotate_all: bool,
    fmt: str,
    detailed_exitcode: bool,
) -> None:
    """Show what apply would change in the live projects, without changing anything.

    Reads each project (and its metrics when the file manages the rubric), compares the fields the
    file names and prints the changes and the one PATCH each project needs.

    \b
    Example:
      cekura-reconciler plan examples/project.yaml
      cekura-reconciler plan --format json --detailed-exitcode projects/
    """

    def body() -> int:
        from reconciler.changes import Plan
        from reconciler.reconcile import load_projects
        from reconciler.render import render_json, render_text

        projects = load_projects(paths)
        with _client(base_url, api_key_file, timeout) as client:
            planned, errors = _plan_all(
                client, projects, rotate=rotate, rotate_all=rotate_all, parallelism=parallelism
            )
        result = Plan(tuple(p.plan for p in planned))
        if fmt == "json":
            render_json(result, sys.stdout)
        else:
            render_text(result, sys.stdout, color=_use_color(sys.stdout))
        for error in errors:
            _fail(error)
        if errors:
            return EXIT_ERROR
        return EXIT_CHANGES if detailed_exitcode and result.has_changes else EXIT_OK

    _run(body)


# -- apply ----------------------------------------------------------------------------------------


def _confirm(projects: int) -> bool:
    if not sys.stdin.isatty():
        from reconciler.errors import RefusedError

        raise RefusedError(
            "stdin is not a terminal, so apply cannot ask for confirmation; nothing was changed. "
            "Review the plan, then run apply with --auto-approve"
        )
    click.echo(f"\nDo you want to apply these changes to {projects} project{'s' if projects != 1 else ''}?")
    answer: str = click.prompt("  Only 'yes' will be accepted to approve", default="", show_default=False)
    return answer.strip() == "yes"


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@_api_options
@click.option("--auto-approve", is_flag=True, help="Apply without asking for confirmation (for pipelines).")
@click.option("--allow-delete", is_flag=True, help="Allow a plan that sets is_deleted: true.")
@click.option("--force", is_flag=True, help="Allow a plan that removes most of the live rubric rules.")
def apply(
    paths: tuple[str, ...],
    base_url: str,
    api_key_file: str | None,
    timeout: float,
    parallelism: int,
    rotate: tuple[str, ...],
    rotate_all: bool,
    auto_approve: bool,
    allow_delete: bool,
    force: bool,
) -> None:
    """Plan, ask for confirmation, then send ONE PATCH per changed project and verify it.

    Fields the file does not name are never sent. After each PATCH the project is read back; a
    project that does not match the file is an error. Without a terminal, --auto-approve is needed.

    \b
    Example:
      cekura-reconciler apply examples/project.yaml
      cekura-reconciler apply --auto-approve projects/
    """

    def body() -> int:
        from reconciler.apply import apply_plan, check_guards
        from reconciler.changes import Plan
        from reconciler.errors import ReconcilerError
        from reconciler.reconcile import load_projects
        from reconciler.render import render_text

        projects = load_projects(paths)
        with _client(base_url, api_key_file, timeout) as client:
            planned, errors = _plan_all(
                client, projects, rotate=rotate, rotate_all=rotate_all, parallelism=parallelism
            )
            render_text(Plan(tuple(p.plan for p in planned)), sys.stdout, color=_use_color(sys.stdout))
            ready = []
            for item in planned:
                if not item.plan.has_changes:
                    continue
                try:
                    check_guards(item.plan, allow_delete=allow_delete, force=force)
                    ready.append(item)
                except ReconcilerError as exc:
                    errors.append(str(exc))
            for error in errors:
                _fail(error)
            if not ready:
                if errors:
                    sys.stderr.write("Nothing was applied.\n")
                    return EXIT_ERROR
                click.echo("\nNothing to apply.")
                return EXIT_OK
            if errors and not auto_approve:
                sys.stderr.write("Some projects failed to plan; the others can still be applied.\n")
            if not auto_approve and not _confirm(len(ready)):
                click.echo("Apply cancelled; nothing was changed.")
                return EXIT_ERROR
            click.echo("")
            failed = 0
            for item in ready:
                try:
                    outcome = apply_plan(item.plan, client, secret_values=item.secret_values)
                except ReconcilerError as exc:
                    failed += 1
                    _fail(str(exc))
                    continue
                detail = f" {outcome.detail}" if outcome.detail else ""
                click.echo(
                    f"Project {outcome.project_id}: applied {len(item.plan.patch)} field"
                    f"{'s' if len(item.plan.patch) != 1 else ''} in one PATCH; verified.{detail}"
                )
        changed = len(ready) - failed
        click.echo(
            f"\nApply complete: {changed} changed, {failed + len(errors)} failed, "
            f"{len(planned) - len(ready)} unchanged."
        )
        return EXIT_ERROR if failed or errors else EXIT_OK

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
    from reconciler.emulator import run_forever

    run_forever(port=port, seed_file=seed, api_key=api_key, latency_ms=latency_ms, out=sys.stdout)
