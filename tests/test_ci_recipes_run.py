"""The CI recipes, run: their shell steps, taken from the YAML, against the emulator (tests/ci_runner.py).

What a platform team adopting them relies on: the pull request's comment tells the whole truth (a
deletion names --allow-delete; an invalid file's FILE:LINE:COL problems are in it); the apply job
sends the saved plan that was reviewed, never a plan made again from the files; a failing or
refused apply fails its step and the job; a stale plan fails loudly and sends nothing.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from ci_runner import CI, GitHubWorkflow, GitLabPipeline, env_for, evaluate, write_repo
from conftest import API_KEY
from test_ci_examples import invocations

from reconciler.emulator import Fault, RunningEmulator
from reconciler.renderers.markdown import comment_marker

SECRET = "vapi-CI-recipe-secret-0b7e"
SAMPLE = "version: 1\nproject: 124\nsettings:\n  sample_rate: {rate}\n"
DELETION = (
    "version: 1\nproject: 123\nsettings:\n  is_deleted: true\nsecrets:\n  vapi_api_key: {env: VAPI_API_KEY}\n"
)


def context(**secrets: str) -> dict[str, Any]:
    return {
        "secrets": {"CEKURA_API_KEY": API_KEY, "VAPI_API_KEY": SECRET, **secrets},
        "github": {
            "token": "gh-test-token",
            "run_id": "4242",
            "repository": "acme/cekura-projects",
            "event": {"pull_request": {"number": 5, "head": {"repo": {"full_name": "acme/cekura-projects"}}}},
        },
    }


def github(name: str, tmp_path: Path, emulator: RunningEmulator, files: dict[str, str]) -> GitHubWorkflow:
    repo = write_repo(tmp_path / "repo", files)
    return GitHubWorkflow(
        name, repo=repo, work=tmp_path / "run", env=env_for(emulator.base_url), context=context()
    )


def patches(emulator: RunningEmulator) -> list[Any]:
    return [r.json for r in emulator.state.patches()]


# -- GitHub: the pull request's plan ------------------------------------------------------------


def test_github_pr_comment_of_a_deletion_names_allow_delete(
    tmp_path: Path, emulator: RunningEmulator
) -> None:
    emulator.state.set_project_fields(123, vapi_api_key="")
    workflow = github("cekura-plan.yml", tmp_path, emulator, {"projects/gone.yaml": DELETION})
    job = workflow.run_job("plan")
    assert not job.failed, job.log
    assert workflow.installs  # the install step is there (its form: test_install_lines.py)
    [post] = [call for call in workflow.gh_calls() if "body" in call]
    assert post["args"][:3] == ["api", "--method", "POST"]
    body = post["body"]
    assert body.startswith(comment_marker("plan") + "\n")
    assert "DELETES project 123" in body and "`--allow-delete`" in body
    assert "`vapi_api_key` (set)" in body
    assert "--allow-delete" in job.summary
    assert SECRET not in body + job.log + job.summary and API_KEY not in body + job.log
    assert patches(emulator) == []


def test_github_pr_comment_of_an_invalid_file_shows_its_problems(
    tmp_path: Path, emulator: RunningEmulator
) -> None:
    files = {"projects/bad.yaml": "version: 1\nproject: 124\nsettings:\n  sample_rat: 0.5\n"}
    workflow = github("cekura-plan.yml", tmp_path, emulator, files)
    job = workflow.run_job("plan")
    assert job.failed  # the last step fails the job on a plan error
    validate = job.step("Validate")
    assert validate.outcome == "failure"  # continue-on-error: the comment is still posted
    assert "::error file=projects/bad.yaml,line=4,col=3::unknown key `sample_rat`" in validate.output
    [post] = [call for call in workflow.gh_calls() if "body" in call]
    assert "`projects/bad.yaml`:4:3: unknown key" in post["body"]
    assert "job log" not in post["body"]
    assert job.step("Fail on a plan error").outcome == "failure"


# -- GitHub: plan job, approval, apply job --------------------------------------------------------


def test_github_apply_job_sends_the_saved_plan_not_the_files(
    tmp_path: Path, emulator: RunningEmulator
) -> None:
    workflow = github(
        "cekura-apply.yml", tmp_path, emulator, {"projects/sales.yaml": SAMPLE.format(rate=0.75)}
    )
    plan = workflow.run_job("plan")
    assert not plan.failed, plan.log
    assert plan.outputs == {"changes": "true"}
    # What the environment's reviewers read: the saved plan, in the run's summary.
    assert plan.summary.startswith(comment_marker("plan"))
    assert "| `sample_rate` | `0.5` | `0.75` |" in plan.summary
    assert patches(emulator) == []

    # The files change after the review (another merge): the apply job still sends what was approved.
    write_repo(workflow.repo, {"projects/sales.yaml": SAMPLE.format(rate=0.95)})
    apply = workflow.run_job("apply")
    assert not apply.failed, apply.log
    assert patches(emulator) == [{"sample_rate": 0.75}]
    assert "Apply complete: 1 changed, 0 failed, 0 unchanged." in apply.step("Apply the reviewed plan").output
    assert "Apply complete" in apply.summary


def test_github_a_failing_apply_fails_its_step_and_the_job(tmp_path: Path, emulator: RunningEmulator) -> None:
    workflow = github(
        "cekura-apply.yml", tmp_path, emulator, {"projects/sales.yaml": SAMPLE.format(rate=0.75)}
    )
    assert not workflow.run_job("plan").failed
    emulator.state.add_fault(Fault("status", method="PATCH", status=400, times=0))
    apply = workflow.run_job("apply")
    step = apply.step("Apply the reviewed plan")
    assert step.outcome == "failure", step.output  # `apply | tee` under pipefail
    assert apply.failed
    assert "Apply complete: 0 changed, 1 failed" in apply.summary  # the summary step still ran


def test_github_a_stale_plan_fails_loudly_and_sends_nothing(
    tmp_path: Path, emulator: RunningEmulator
) -> None:
    workflow = github(
        "cekura-apply.yml", tmp_path, emulator, {"projects/sales.yaml": SAMPLE.format(rate=0.75)}
    )
    assert not workflow.run_job("plan").failed
    emulator.state.set_project_fields(124, sample_rate=0.3)  # someone, while the approval waited
    apply = workflow.run_job("apply")
    output = apply.step("Apply the reviewed plan").output
    assert apply.failed
    assert "stale plan" in output and "project 124: sample_rate" in output
    assert "plan --out plan.out projects/sales.yaml" in output  # how to plan again
    assert patches(emulator) == []


def test_github_no_changes_no_apply_job(tmp_path: Path, emulator: RunningEmulator) -> None:
    workflow = github(
        "cekura-apply.yml", tmp_path, emulator, {"projects/sales.yaml": SAMPLE.format(rate=0.5)}
    )
    plan = workflow.run_job("plan")
    assert not plan.failed and plan.outputs == {"changes": "false"}
    assert workflow.run_job("apply").skipped
    assert patches(emulator) == []


# -- GitLab ---------------------------------------------------------------------------------------


def gitlab(tmp_path: Path, emulator: RunningEmulator, files: dict[str, str]) -> GitLabPipeline:
    repo = write_repo(tmp_path / "repo", files)
    env = env_for(emulator.base_url, CEKURA_API_KEY=API_KEY, VAPI_API_KEY=SECRET)
    return GitLabPipeline(repo=repo, work=tmp_path / "run", env=env)


def test_gitlab_mr_plan_note_of_a_deletion_names_allow_delete(
    tmp_path: Path, emulator: RunningEmulator
) -> None:
    emulator.state.set_project_fields(123, vapi_api_key="")
    pipeline = gitlab(tmp_path, emulator, {"projects/gone.yaml": DELETION})
    job = pipeline.run_job("cekura-plan")
    assert job.code == 0, job.output
    assert job.installs
    note = (pipeline.artifacts / "cekura-plan" / "plan.md").read_text(encoding="utf-8")
    assert note.startswith(comment_marker("plan")) and "`--allow-delete`" in note
    assert "GITLAB_API_TOKEN is not set: nothing posted" in job.output
    assert SECRET not in job.output + note
    assert patches(emulator) == []


def test_gitlab_mr_plan_of_an_invalid_file_fails_with_its_problems(
    tmp_path: Path, emulator: RunningEmulator
) -> None:
    files = {"projects/bad.yaml": "version: 1\nproject: 124\nsettings:\n  sample_rat: 0.5\n"}
    pipeline = gitlab(tmp_path, emulator, files)
    job = pipeline.run_job("cekura-plan")
    assert job.code != 0
    assert "projects/bad.yaml:4:3: unknown key" in job.output
    note = (pipeline.artifacts / "cekura-plan" / "plan.md").read_text(encoding="utf-8")
    assert "`projects/bad.yaml`:4:3: unknown key" in note


def test_gitlab_apply_job_sends_the_saved_plan_not_the_files(
    tmp_path: Path, emulator: RunningEmulator
) -> None:
    pipeline = gitlab(tmp_path, emulator, {"projects/sales.yaml": SAMPLE.format(rate=0.75)})
    plan = pipeline.run_job("cekura-plan-main")
    assert plan.code == 0, plan.output
    assert "sample_rate: 0.5 -> 0.75" in plan.output  # `show plan.out` in the log
    assert (
        "| `sample_rate` | `0.5` | `0.75` |"
        in (pipeline.artifacts / "cekura-plan-main" / "plan.md").read_text()
    )
    write_repo(pipeline.repo, {"projects/sales.yaml": SAMPLE.format(rate=0.95)})
    apply = pipeline.run_job("cekura-apply")
    assert apply.code == 0, apply.output
    assert patches(emulator) == [{"sample_rate": 0.75}]
    assert (pipeline.artifacts / "cekura-apply" / "apply.log").is_file()


def test_gitlab_a_failing_or_stale_apply_fails_the_job(tmp_path: Path, emulator: RunningEmulator) -> None:
    pipeline = gitlab(tmp_path, emulator, {"projects/sales.yaml": SAMPLE.format(rate=0.75)})
    assert pipeline.run_job("cekura-plan-main").code == 0
    emulator.state.add_fault(Fault("status", method="PATCH", status=400))
    failed = pipeline.run_job("cekura-apply")
    assert failed.code != 0 and "Apply complete: 0 changed, 1 failed" in failed.output
    emulator.state.set_project_fields(124, sample_rate=0.3)
    stale = pipeline.run_job("cekura-apply")
    assert stale.code != 0
    assert "stale plan" in stale.output and "project 124: sample_rate" in stale.output
    assert len(patches(emulator)) == 1  # the refused one (400); nothing for the stale plan


# -- structure --------------------------------------------------------------------------------------

PLAN_APPLY = ["github/cekura-plan.yml", "github/cekura-apply.yml"]


@pytest.mark.parametrize("name", PLAN_APPLY)
def test_every_github_step_runs_bash_with_pipefail(name: str) -> None:
    workflow = yaml.safe_load((CI / name).read_text(encoding="utf-8"))
    default = workflow.get("defaults", {}).get("run", {}).get("shell")
    for job in workflow["jobs"].values():
        job_default = job.get("defaults", {}).get("run", {}).get("shell", default)
        for step in job["steps"]:
            if "run" in step:
                assert step.get("shell", job_default) == "bash", (name, step.get("name"))


def test_apply_jobs_apply_only_the_saved_plan() -> None:
    for name in ("github/cekura-apply.yml", "gitlab/.gitlab-ci.yml"):
        applies = [args for command, args in invocations((CI / name).read_text()) if command == "apply"]
        assert applies, name
        for args in applies:
            positional = [
                a for i, a in enumerate(args) if not a.startswith("-") and args[i - 1] != "--journal-dir"
            ]
            assert positional == ["plan.out"], (name, args)
            assert "--auto-approve" not in args  # a saved plan asks nothing; the files are never re-planned
        assert "--out plan.out" in (CI / name).read_text()


@pytest.mark.parametrize(
    ("schema", "names"),
    [
        ("vendor.github-workflows", sorted(str(p) for p in (CI / "github").glob("*.yml"))),
        ("vendor.gitlab-ci", [str(CI / "gitlab" / ".gitlab-ci.yml")]),
    ],
)
def test_the_forges_schemas_accept_the_recipes(schema: str, names: list[str]) -> None:
    """check-jsonschema vendors the forges' own schemas, so this runs offline."""
    result = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", schema, *names],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_expression_stand_in() -> None:
    ctx = {
        "steps": {"plan": {"outputs": {"exitcode": "2"}, "outcome": "success"}},
        "functions": {"always": True},
    }
    assert evaluate("steps.plan.outputs.exitcode != '0' && steps.plan.outputs.exitcode != '2'", ctx) is False
    assert evaluate("always() && steps.plan.outcome == 'success'", ctx) is True
    assert evaluate("!(steps.missing.outputs.x == 'y')", ctx) is True
