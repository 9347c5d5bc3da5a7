"""Run the shell steps of the CI recipes in examples/ci/ here, the way the forges run them.

No forge is reachable from the tests, so this is a small stand-in for the parts of GitHub Actions and
GitLab CI the recipes use: the `run:` / `script:` steps are taken from the YAML with pyyaml, with
the environment the recipe sets (its `${{ ... }}` expressions evaluated against the values a test
gives), and run with the shell the forge would use: for GitHub, `bash --noprofile --norc -eo
pipefail {0}` for `shell: bash` and `bash -e {0}` when no shell is set (GitHub's default on Linux);
for GitLab, one bash script with errexit and pipefail, as its runner runs a job's scripts.

Forge actions (`uses:`) are not run, except that the artifact actions copy files between jobs
(what they do on the forge) and `actions/checkout` copies the test's repository into the job's
workspace. The install step cannot reach a git host here: its form is returned to the test instead
(see test_install_lines.py), and `cekura-reconciler` is put on PATH from this checkout. A step that
calls `gh` gets a fake one on PATH that records its arguments and the bodies it would post.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
CI = ROOT / "examples" / "ci"

FAKE_GH = """#!{python}
import json, os, sys
args = sys.argv[1:]
record = {{"args": args}}
for index, arg in enumerate(args[:-1]):
    if arg == "-F" and args[index + 1].startswith("body=@"):
        with open(args[index + 1][len("body=@"):], encoding="utf-8") as handle:
            record["body"] = handle.read()
with open(os.environ["FAKE_GH_LOG"], "a", encoding="utf-8") as log:
    log.write(json.dumps(record) + "\\n")
# Listing earlier comments or issues: there are none.
"""


def tool_bin(directory: Path) -> Path:
    """A bin directory with `cekura-reconciler` (this checkout), `python`/`python3` and a fake `gh`."""
    directory.mkdir(parents=True, exist_ok=True)
    shim = directory / "cekura-reconciler"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m reconciler "$@"\n', encoding="utf-8")
    gh = directory / "gh"
    gh.write_text(FAKE_GH.format(python=sys.executable), encoding="utf-8")
    for path in (shim, gh):
        path.chmod(0o755)
    for name in ("python", "python3"):
        link = directory / name
        if not link.exists():
            link.symlink_to(sys.executable)
    return directory


def is_install(script: str) -> bool:
    return "pip install" in script


# -- GitHub Actions ------------------------------------------------------------------------------

_TOKEN = re.compile(r"\s*('(?:[^']|'')*'|&&|\|\||==|!=|!|\(|\)|[A-Za-z_][\w.\-]*(?:\(\))?|\d+)")


def evaluate(expression: str, context: dict[str, Any]) -> Any:
    """A GitHub expression of the forms the recipes use: context paths, 'strings', ==, !=, &&, ||,
    !, parentheses and always()/success()/failure()/cancelled()."""
    out: list[str] = []
    position = 0
    text = expression.strip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if not match:
            raise ValueError(f"cannot evaluate {expression!r} at {text[position:]!r}")
        token = match.group(1)
        position = match.end()
        if token.startswith("'"):
            out.append(repr(token[1:-1].replace("''", "'")))
        elif token in ("&&", "||", "!"):
            out.append({"&&": " and ", "||": " or ", "!": " not "}[token])
        elif token in ("==", "!=", "(", ")"):
            out.append(f" {token} ")
        elif token.isdigit():
            out.append(repr(token))
        elif token.endswith("()"):
            out.append(repr(bool(context["functions"][token[:-2]])))
        elif token in ("true", "false"):
            out.append(repr(token == "true"))
        else:
            value: Any = context
            for part in token.split("."):
                value = value.get(part, "") if isinstance(value, dict) else ""
            out.append(repr(value if isinstance(value, bool) else str(value)))
    # Only the tokens above reach eval: quoted strings, booleans and operators.
    return eval("".join(out), {"__builtins__": {}}, {})


def substitute(text: str, context: dict[str, Any]) -> str:
    return re.sub(r"\$\{\{(.*?)\}\}", lambda m: str(evaluate(m.group(1), context)), text)


@dataclass
class StepResult:
    name: str
    outcome: str  # success / failure / skipped
    output: str = ""
    command: str = ""


@dataclass
class JobResult:
    steps: list[StepResult] = field(default_factory=list)
    outputs: dict[str, str] = field(default_factory=dict)
    summary: str = ""
    skipped: bool = False

    @property
    def failed(self) -> bool:
        return any(s.outcome == "failure" and not s.name.startswith("(continue)") for s in self.steps)

    def step(self, name: str) -> StepResult:
        [found] = [s for s in self.steps if s.name.removeprefix("(continue) ") == name]
        return found

    @property
    def log(self) -> str:
        return "".join(s.output for s in self.steps)


class GitHubWorkflow:
    """One workflow file, run job by job in the test's directories."""

    def __init__(self, name: str, *, repo: Path, work: Path, env: dict[str, str], context: dict[str, Any]):
        self.path = CI / "github" / name
        self.workflow: dict[str, Any] = yaml.safe_load(self.path.read_text(encoding="utf-8"))
        self.repo, self.work, self.env = repo, work, env
        self.context = context
        self.artifacts = work / "artifacts"
        self.bin = tool_bin(work / "bin")
        self.needs: dict[str, Any] = {}
        self.installs: list[str] = []

    def shell(self, step: dict[str, Any], job: dict[str, Any]) -> list[str]:
        shell = (
            step.get("shell")
            or job.get("defaults", {}).get("run", {}).get("shell")
            or self.workflow.get("defaults", {}).get("run", {}).get("shell")
        )
        if shell is None:  # GitHub's default on ubuntu runners
            return ["bash", "-e"]
        if shell == "bash":
            return ["bash", "--noprofile", "--norc", "-eo", "pipefail"]
        raise AssertionError(f"{self.path.name}: unexpected shell {shell!r}")

    def run_job(self, name: str, *, workspace: Path | None = None) -> JobResult:
        job = self.workflow["jobs"][name]
        workspace = workspace or self.work / f"ws-{name}"
        workspace.mkdir(parents=True, exist_ok=True)
        steps_ctx: dict[str, Any] = {}
        context = {**self.context, "steps": steps_ctx, "needs": self.needs, "env": {}}
        context["functions"] = {"always": True, "success": True, "failure": False, "cancelled": False}
        result = JobResult()
        if "if" in job and not evaluate(job["if"], context):
            result.skipped = True
            self.needs[name] = {"result": "skipped", "outputs": {}}
            return result
        summary = self.work / f"summary-{name}.md"
        summary.write_text("", encoding="utf-8")
        failed = False
        for index, step in enumerate(job["steps"]):
            label = step.get("name") or step.get("uses") or f"step {index}"
            context["functions"] = {
                "always": True,
                "success": not failed,
                "failure": failed,
                "cancelled": False,
            }
            condition = step.get("if", "success()")
            if not evaluate(condition, context):
                result.steps.append(StepResult(label, "skipped"))
                if "id" in step:
                    steps_ctx[step["id"]] = {"outcome": "skipped", "conclusion": "skipped", "outputs": {}}
                continue
            if "uses" in step:
                outcome = self._action(step, workspace, context)
                outputs: dict[str, str] = {}
                output = ""
                command = ""
            else:
                outcome, outputs, output, command = self._run(step, job, workspace, context, summary)
            continue_on_error = bool(step.get("continue-on-error"))
            if outcome == "failure" and not continue_on_error:
                failed = True
            shown = f"(continue) {label}" if continue_on_error else label
            result.steps.append(StepResult(shown, outcome, output, command))
            if "id" in step:
                conclusion = "success" if continue_on_error else outcome
                steps_ctx[step["id"]] = {"outcome": outcome, "conclusion": conclusion, "outputs": outputs}
        result.outputs = {k: str(substitute(v, context)) for k, v in job.get("outputs", {}).items()}
        result.summary = summary.read_text(encoding="utf-8")
        self.needs[name] = {"result": "failure" if failed else "success", "outputs": result.outputs}
        return result

    def _action(self, step: dict[str, Any], workspace: Path, context: dict[str, Any]) -> str:
        action = step["uses"].split("@", 1)[0]
        options = step.get("with", {}) or {}
        if action == "actions/checkout":
            shutil.copytree(self.repo, workspace, dirs_exist_ok=True)
        elif action == "actions/upload-artifact":
            store = self.artifacts / substitute(str(options["name"]), context)
            for line in str(options["path"]).split():
                source = workspace / line
                target = store / line
                if source.is_dir():
                    shutil.copytree(source, target, dirs_exist_ok=True)
                elif source.is_file():
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(source, target)
                elif options.get("if-no-files-found", "warn") == "error":
                    return "failure"
        elif action == "actions/download-artifact":
            store = self.artifacts / substitute(str(options["name"]), context)
            if not store.is_dir():
                return "failure"
            shutil.copytree(store, workspace / str(options.get("path", ".")), dirs_exist_ok=True)
        elif action != "actions/setup-python":
            raise AssertionError(f"{self.path.name}: no stand-in for action {action}")
        return "success"

    def _run(
        self,
        step: dict[str, Any],
        job: dict[str, Any],
        workspace: Path,
        context: dict[str, Any],
        summary: Path,
    ) -> tuple[str, dict[str, str], str, str]:
        script = step["run"]
        if is_install(script):
            self.installs.append(script)
            return "success", {}, "", script
        output_file = self.work / "github_output"
        output_file.write_text("", encoding="utf-8")
        env = {
            "PATH": f"{self.bin}:/usr/local/bin:/usr/bin:/bin",
            "HOME": str(self.work),
            "PYTHONPATH": str(ROOT),
            "LANG": "C.UTF-8",
            "GITHUB_OUTPUT": str(output_file),
            "GITHUB_STEP_SUMMARY": str(summary),
            "GITHUB_REPOSITORY": "acme/cekura-projects",
            "GITHUB_SERVER_URL": "https://github.example",
            "GITHUB_RUN_ID": "4242",
            "GITHUB_WORKSPACE": str(workspace),
            "FAKE_GH_LOG": str(self.work / "gh.log"),
        }
        for scope in (self.workflow.get("env", {}), job.get("env", {}), step.get("env", {})):
            for key, value in (scope or {}).items():
                env[key] = substitute(str(value), context)
        env.update(self.env)
        command = [*self.shell(step, job), "-c", script]
        proc = subprocess.run(
            command,
            cwd=workspace,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        outputs = dict(
            line.split("=", 1) for line in output_file.read_text(encoding="utf-8").splitlines() if "=" in line
        )
        return ("success" if proc.returncode == 0 else "failure"), outputs, proc.stdout + proc.stderr, script

    def gh_calls(self) -> list[dict[str, Any]]:
        log = self.work / "gh.log"
        if not log.exists():
            return []
        return [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]


# -- GitLab CI -------------------------------------------------------------------------------------


@dataclass
class GitLabJobResult:
    code: int
    output: str
    installs: list[str]


class GitLabPipeline:
    def __init__(self, *, repo: Path, work: Path, env: dict[str, str]):
        self.path = CI / "gitlab" / ".gitlab-ci.yml"
        self.config: dict[str, Any] = yaml.safe_load(self.path.read_text(encoding="utf-8"))
        self.repo, self.work, self.env = repo, work, env
        self.bin = tool_bin(work / "bin")
        self.artifacts = work / "artifacts"

    def job(self, name: str) -> dict[str, Any]:
        job = dict(self.config[name])
        parents = job.pop("extends", [])
        for parent in [parents] if isinstance(parents, str) else parents:
            job = {**self.config[parent], **job}
        return job

    def run_job(self, name: str, *, workspace: Path | None = None) -> GitLabJobResult:
        job = self.job(name)
        workspace = workspace or self.work / f"ws-{name}"
        shutil.copytree(self.repo, workspace, dirs_exist_ok=True)
        for need in job.get("needs", []):
            need_name = need["job"] if isinstance(need, dict) else need
            if not isinstance(need, dict) or need.get("artifacts", True):
                store = self.artifacts / need_name
                if store.is_dir():
                    shutil.copytree(store, workspace, dirs_exist_ok=True)
        installs, lines = [], []
        helper = self.work / "cekura_post.py"
        for item in [*job.get("before_script", []), *job["script"]]:
            if is_install(item):
                installs.append(item)
                continue
            lines.append(item.replace("/tmp/cekura_post.py", str(helper)))
        env = {
            "PATH": f"{self.bin}:/usr/local/bin:/usr/bin:/bin",
            "HOME": str(self.work),
            "PYTHONPATH": str(ROOT),
            "LANG": "C.UTF-8",
            "CI_PROJECT_DIR": str(workspace),
            "CI_JOB_URL": "https://gitlab.example/acme/cekura-projects/-/jobs/7",
            "CI_API_V4_URL": "https://gitlab.example/api/v4",
            "CI_PROJECT_ID": "99",
            "CI_MERGE_REQUEST_IID": "5",
        }
        for scope in (self.config.get("variables", {}), job.get("variables", {})):
            for key, value in (scope or {}).items():
                env[key] = str(value).replace("$CI_PROJECT_DIR", str(workspace))
        env.update(self.env)
        proc = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", "\n".join(lines)],
            cwd=workspace,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        artifacts = job.get("artifacts", {})
        if proc.returncode == 0 or artifacts.get("when") == "always":
            store = self.artifacts / name
            for path in artifacts.get("paths", []):
                source = workspace / path
                if source.is_dir():
                    shutil.copytree(source, store / path, dirs_exist_ok=True)
                elif source.is_file():
                    store.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(source, store / path)
        return GitLabJobResult(proc.returncode, proc.stdout + proc.stderr, installs)


def write_repo(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def env_for(base_url: str, **extra: str) -> dict[str, str]:
    """What the test adds to every step's environment: the emulator as the API, and NO_COLOR. (On
    GitHub the key comes from the `secrets` context, through the env the step itself sets.)"""
    return {"CEKURA_BASE_URL": base_url, "NO_COLOR": "1", **extra}


__all__ = ["GitHubWorkflow", "GitLabPipeline", "env_for", "evaluate", "write_repo"]
