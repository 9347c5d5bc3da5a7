"""Every install line in examples/, docs/, the README and the pre-commit manifest can work as written.

cekura-reconciler is published on no package index, so `pip install cekura-reconciler==X` dies at
install; a tag that does not exist kills the pre-commit hook at checkout. What can work: the local
checkout (`pip install -e .`), a wheel built in the same job, or `git+URL@COMMIT` / `rev: COMMIT`
with a full 40-hex commit of this repository, whose CLI has every command and option the recipe
pinned to it runs. The URL's host is the user's to fill in (where they host or mirror the tool);
the commit is checked against this repository's history.
"""

from __future__ import annotations

import re
import shlex
import subprocess
from functools import cache
from pathlib import Path

import pytest
import yaml
from test_ci_examples import invocations

ROOT = Path(__file__).resolve().parent.parent
COMMIT = re.compile(r"[0-9a-f]{40}")
OUR_NAMES = re.compile(r"^cekura[-_]reconciler(?:\[[^\]]*\])?(?:\s*(?:[=<>!~]=?|@).*)?$", re.I)


def documents() -> list[Path]:
    found = [ROOT / "README.md", ROOT / ".pre-commit-hooks.yaml", *sorted((ROOT / "docs").glob("*.md"))]
    found += sorted(
        p for p in (ROOT / "examples").rglob("*") if p.is_file() and p.suffix in {".yml", ".yaml", ".md"}
    )
    return found


def variables(path: Path) -> dict[str, str]:
    """The env / variables a YAML recipe sets (top level and per job), for ${VAR} in its lines."""
    if path.suffix not in {".yml", ".yaml"} or path.name == ".pre-commit-hooks.yaml":
        return {}
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    found: dict[str, str] = {}
    scopes = [data.get("env"), data.get("variables")]
    scopes += [job.get("env") for job in (data.get("jobs") or {}).values() if isinstance(job, dict)]
    for scope in scopes:
        if isinstance(scope, dict):
            found.update({str(k): str(v) for k, v in scope.items()})
    return found


def expand(text: str, values: dict[str, str]) -> str:
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: values.get(m[1] or m[2], m[0]), text)


def pip_requirements(line: str) -> list[str]:
    """The requirement arguments of a `pip install ...` in a line of shell, YAML or markdown."""
    rest = line.split("pip install", 1)[1]
    rest = re.split(r"\s(?:&&|\|\||;|#|\d?>)|`", rest)[0]
    try:
        words = shlex.split(rest)
    except ValueError:
        words = rest.split()
    requirements, skip = [], False
    for word in words:
        if skip:
            skip = False
            continue
        if word in ("-r", "-c", "--index-url", "-i", "--extra-index-url", "-f", "--find-links"):
            skip = True
            continue
        if word == "-e" or (word.startswith("-") and word != "-"):
            continue
        requirements.append(word)
    return requirements


@cache
def in_git_history(ref: str) -> bool | None:
    """Whether this repository has ``ref`` as a commit (None: not a full git checkout here)."""
    if not (ROOT / ".git").exists():
        return None
    shallow = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--is-shallow-repository"],
        capture_output=True,
        text=True,
        check=False,
    )
    found = subprocess.run(
        ["git", "-C", str(ROOT), "cat-file", "-e", f"{ref}^{{commit}}"], capture_output=True, check=False
    )
    if found.returncode != 0 and shallow.stdout.strip() == "true":
        return None
    return found.returncode == 0


def check_ref(ref: str) -> str | None:
    """None when ``ref`` (a pip @REF or a pre-commit rev) can work; else what is wrong."""
    if not COMMIT.fullmatch(ref):
        known = in_git_history(f"refs/tags/{ref}")
        if known is False or known is None:
            return f"{ref!r} is not a full 40-hex commit (and no tag {ref!r} exists here)"
        return None
    if in_git_history(ref) is False:
        return f"commit {ref} is not in this repository's history"
    return None


def check_requirement(requirement: str, document: str) -> str | None:
    """None when a `pip install` argument can work; else what is wrong."""
    requirement = requirement.strip("'\"")
    if requirement.startswith(".") or requirement.startswith("/"):
        if requirement.endswith(".whl") and not re.search(r"pip wheel|python -m build|hatch build", document):
            return f"{requirement}: a wheel that no step of this file builds"
        return None  # the local checkout
    if requirement.endswith(".whl"):
        if not re.search(r"pip wheel|python -m build|hatch build", document):
            return f"{requirement}: a wheel that no step of this file builds"
        return None
    url = requirement.split(" @ ", 1)[-1]
    if url.startswith("git+"):
        path = url.split("#", 1)[0]
        if "@" not in path.split("://", 1)[-1].split("/", 1)[-1]:
            return f"{requirement}: a git URL without a pinned commit"
        return check_ref(path.rsplit("@", 1)[1])
    if OUR_NAMES.match(requirement):
        return f"{requirement}: cekura-reconciler is published on no package index"
    return None


def install_problems(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8")
    values = variables(path)
    problems = []
    for number, line in enumerate(text.splitlines(), 1):
        if "pip install" in line:
            for requirement in pip_requirements(expand(line, values)):
                problem = check_requirement(requirement, text)
                if problem:
                    problems.append(f"{path.relative_to(ROOT)}:{number}: {problem}")
        rev = re.match(r"^[\s#]*rev:\s*(\S+)", line)
        if rev:
            problem = check_ref(rev.group(1).strip("'\""))
            if problem:
                problems.append(f"{path.relative_to(ROOT)}:{number}: rev {problem}")
    return problems


@pytest.mark.parametrize("path", documents(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_install_line_can_work(path: Path) -> None:
    assert install_problems(path) == []


def test_the_recipes_install_from_a_pinned_commit() -> None:
    for path in sorted((ROOT / "examples" / "ci").rglob("*.yml")):
        text = path.read_text(encoding="utf-8")
        lines = [expand(line, variables(path)) for line in text.splitlines() if "pip install" in line]
        assert lines, path
        for line in lines:
            [requirement] = pip_requirements(line)
            assert requirement.startswith("git+") and COMMIT.fullmatch(requirement.rsplit("@", 1)[1]), line


def test_the_pre_commit_snippets_pin_a_commit() -> None:
    for path in (ROOT / "README.md", ROOT / ".pre-commit-hooks.yaml"):
        revs = re.findall(r"^[\s#]*rev:\s*(\S+)", path.read_text(encoding="utf-8"), re.M)
        assert revs and all(COMMIT.fullmatch(rev) for rev in revs), (path, revs)


@pytest.mark.parametrize(
    "path", sorted((ROOT / "examples" / "ci").rglob("*.yml")), ids=lambda p: str(p.relative_to(ROOT))
)
def test_the_pinned_commit_has_every_command_and_option_the_recipe_runs(path: Path) -> None:
    commit = variables(path).get("CEKURA_RECONCILER_COMMIT", "")
    assert COMMIT.fullmatch(commit), path
    if in_git_history(commit) is None:
        pytest.skip("not a full git checkout: the pinned commit cannot be read here")
    cli = subprocess.run(
        ["git", "-C", str(ROOT), "show", f"{commit}:reconciler/cli.py"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for command, arguments in invocations(path.read_text(encoding="utf-8")):
        assert f"def {command}(" in cli, f"{path.name}: {commit[:12]} has no `{command}` command"
        for index, argument in enumerate(arguments):
            if argument.startswith("--"):
                option = argument.split("=", 1)[0]
                assert f'"{option}"' in cli, f"{path.name}: {commit[:12]} has no {command} {option}"
                if option == "--format":
                    assert f'"{arguments[index + 1]}"' in cli, f"{path.name}: {commit[:12]}: {argument}"


@pytest.mark.parametrize(
    ("line", "wrong"),
    [
        ('run: python -m pip install --quiet "cekura-reconciler==0.1.0"', "no package index"),
        ("pip install cekura-reconciler", "no package index"),
        ('pip install "git+https://github.com/x/cekura-reconciler@v0.1.0"', "not a full 40-hex commit"),
        ('pip install "git+https://github.com/x/cekura-reconciler"', "without a pinned commit"),
        (f"pip install git+https://h/x/cekura-reconciler@{'0' * 40}", "not in this repository's history"),
        ("pip install dist/cekura_reconciler-0.1.0-py3-none-any.whl", "no step of this file builds"),
    ],
)
def test_lines_that_cannot_work_are_caught(line: str, wrong: str, tmp_path: Path) -> None:
    if "history" in wrong and in_git_history("HEAD") is None:
        pytest.skip("not a full git checkout")
    problems = [check_requirement(r, line) for r in pip_requirements(line)]
    assert any(p and wrong in p for p in problems), problems


def test_lines_that_can_work_pass() -> None:
    head = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True
    ).stdout
    good = [
        "pip install -e .",
        "python -m pip install --quiet -e '.[dev]'",
        "pip install check-jsonschema",
        "python -m build --wheel && pip install dist/cekura_reconciler-0.1.0-py3-none-any.whl",
    ]
    if head.strip():
        good.append(f'pip install "cekura-reconciler @ git+https://h/x/cekura-reconciler@{head.strip()}"')
    for line in good:
        assert [check_requirement(r, line) for r in pip_requirements(line)] == [None] * len(
            pip_requirements(line)
        )
