"""examples/ci: the pipelines parse, and every cekura-reconciler command they run exists as written.

Each `cekura-reconciler SUBCOMMAND --option ...` found in the examples (YAML files and the README)
is checked against the real CLI's `--help`: the subcommand exists, every option it uses is one of
that subcommand's options, and a choice option (`--format`) names one of its choices.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from reconciler.renderers.markdown import MarkdownKind, comment_marker

ROOT = Path(__file__).resolve().parent.parent
CI = ROOT / "examples" / "ci"
EXPECTED = {
    "github/cekura-plan.yml",
    "github/cekura-apply.yml",
    "github/cekura-drift.yml",
    "gitlab/.gitlab-ci.yml",
}

# An invocation starts a shell command: at the start of a line (after a YAML "- " or "run:"), or
# after a shell separator, "$(" or a backtick (a command quoted in a comment or the README).
INVOCATION = re.compile(
    r"(?:^[ \t]*(?:-[ \t]+)?(?:run:[ \t]*)?|[|&;(`][ \t]*|\$\([ \t]*)"
    r"cekura-reconciler[ \t]+(?P<command>[a-z][a-z-]*)(?P<rest>[^\n]*)",
    re.M,
)
# Where the command's own arguments end.
COMMAND_END = re.compile(r"\s(?:\d?>|\|\||\||&&|;|#)|[`)]|\$\(|\s*$")


def example_files() -> list[Path]:
    # pathlib's rglob("*") includes dot files such as .gitlab-ci.yml.
    return sorted(p for p in CI.rglob("*") if p.is_file() and p.suffix in {".yml", ".yaml"})


def documents() -> list[Path]:
    return [*example_files(), *sorted(CI.rglob("*.md"))]


def invocations(text: str) -> list[tuple[str, list[str]]]:
    """(subcommand, arguments) of every cekura-reconciler command in ``text``."""
    joined = re.sub(r"\\\n[ \t]*", " ", text)  # shell line continuations
    found: list[tuple[str, list[str]]] = []
    for match in INVOCATION.finditer(joined):
        rest = match["rest"]
        end = COMMAND_END.search(rest)
        arguments = rest[: end.start()] if end else rest
        found.append((match["command"], shlex.split(arguments, posix=True)))
    return found


@cache
def help_text(command: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "reconciler", command, "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, f"`cekura-reconciler {command}` is not a command: {result.stderr}"
    return result.stdout


def choices(help_output: str, option: str) -> list[str] | None:
    """The choices click lists for ``option`` (``--format [text|json|markdown]``), if any."""
    match = re.search(rf"{re.escape(option)} \[([^\]]+)\]", help_output)
    return match.group(1).split("|") if match else None


def test_the_examples_are_there() -> None:
    present = {str(p.relative_to(CI)) for p in example_files()}
    assert present >= EXPECTED, f"missing: {EXPECTED - present}"
    assert (CI / "README.md").is_file()


@pytest.mark.parametrize("path", example_files(), ids=lambda p: str(p.relative_to(CI)))
def test_yaml_parses(path: Path) -> None:
    loaded: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict) and loaded


@pytest.mark.parametrize("path", documents(), ids=lambda p: str(p.relative_to(CI)))
def test_every_invocation_uses_real_subcommands_and_options(path: Path) -> None:
    found = invocations(path.read_text(encoding="utf-8"))
    if path.suffix in {".yml", ".yaml"}:
        assert found, f"no cekura-reconciler command found in {path.name}"
    for command, arguments in found:
        usage = help_text(command)
        for index, argument in enumerate(arguments):
            if not argument.startswith("-") or argument == "-":
                continue
            option = argument.split("=", 1)[0]
            assert re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", usage), (
                f"{path.name}: `cekura-reconciler {command}` has no option {option}"
            )
            allowed = choices(usage, option)
            if allowed is not None:
                value = argument.split("=", 1)[1] if "=" in argument else arguments[index + 1]
                assert value in allowed, f"{path.name}: {option} {value} is not one of {allowed}"


def test_the_pipelines_run_the_documented_commands() -> None:
    def commands(name: str) -> list[tuple[str, list[str]]]:
        return invocations((CI / name).read_text(encoding="utf-8"))

    plans = [args for command, args in commands("github/cekura-plan.yml") if command == "plan"]
    assert plans and all({"--detailed-exitcode", "--out", "markdown"} <= set(args) for args in plans)
    # The apply job sends the saved plan the reviewers approved: never --auto-approve over files.
    applies = [args for command, args in commands("github/cekura-apply.yml") if command == "apply"]
    assert applies and all(args[-1] == "plan.out" and "--auto-approve" not in args for args in applies)
    shows = [args for command, args in commands("github/cekura-apply.yml") if command == "show"]
    assert ["--format", "markdown", "plan.out"] in shows
    drifts = [args for command, args in commands("github/cekura-drift.yml") if command == "drift"]
    assert drifts and all("markdown" in args for args in drifts)
    gitlab = {command for command, _ in commands("gitlab/.gitlab-ci.yml")}
    assert {"plan", "show", "apply", "drift"} <= gitlab


def test_comment_markers_match_the_renderer() -> None:
    """The pipelines find their earlier comment by the first line the markdown renderer writes."""
    expected: list[tuple[str, MarkdownKind]] = [
        ("github/cekura-plan.yml", "plan"),
        ("github/cekura-drift.yml", "drift"),
        ("gitlab/.gitlab-ci.yml", "plan"),
        ("gitlab/.gitlab-ci.yml", "drift"),
    ]
    for name, kind in expected:
        assert comment_marker(kind) in (CI / name).read_text(encoding="utf-8"), name


def test_detailed_exit_code_two_is_not_treated_as_failure() -> None:
    """Each plan/drift run captures its exit code instead of letting 2 fail the step."""
    for path in example_files():
        text = re.sub(r"\\\n[ \t]*", " ", path.read_text(encoding="utf-8"))
        for match in INVOCATION.finditer(text):
            if match["command"] in {"plan", "drift"}:
                assert "|| code=$?" in match["rest"], f"{path.name}: exit code not captured: {match[0]}"


def test_invocation_parser() -> None:
    text = (
        "run: |\n"
        "  cekura-reconciler plan --format markdown \\\n"
        "    --out plan.out projects/ > plan.md || code=$?\n"
        "# prose that mentions cekura-reconciler and more\n"
        "- pip install cekura-reconciler==0.1.0\n"
        "# undo with `cekura-reconciler restore cekura-journal/ENTRY.json`\n"
        "  cekura-reconciler apply plan.out 2>&1 | tee apply.log\n"
    )
    assert invocations(text) == [
        ("plan", ["--format", "markdown", "--out", "plan.out", "projects/"]),
        ("restore", ["cekura-journal/ENTRY.json"]),
        ("apply", ["plan.out"]),
    ]


def test_the_drift_recipes_propose_the_fix_as_a_pull_request() -> None:
    """Drift is either reverted by the next apply or adopted by merging what `pull` wrote."""
    workflow = (CI / "github" / "cekura-drift.yml").read_text(encoding="utf-8")
    loaded: Any = yaml.safe_load(workflow)
    assert loaded["permissions"] == {"contents": "write", "issues": "write", "pull-requests": "write"}
    steps = loaded["jobs"]["drift"]["steps"]
    [adopt] = [s for s in steps if "cekura-reconciler pull" in s.get("run", "")]
    assert adopt["if"] == "steps.drift.outputs.exitcode == '2'"
    assert "CEKURA_API_KEY" in adopt["env"]
    for needed in ("git push --force origin", "gh pr list --head", "gh pr edit", "gh pr create"):
        assert needed in adopt["run"], needed
    gitlab = (CI / "gitlab" / ".gitlab-ci.yml").read_text(encoding="utf-8")
    job = yaml.safe_load(gitlab)["cekura-drift"]
    script = "\n".join(job["script"])
    assert [c for c, _ in invocations(script)] == ["drift", "pull"]
    assert "merge_request.create" in script and "HEAD:cekura/adopt-ui-edits" in script
    assert script.rstrip().endswith('exit "$code"')
