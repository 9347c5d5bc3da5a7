"""End to end for metric definitions (``metrics:``), the CLI against the emulator over loopback.

Project 123 of the emulator's seed has six project metrics (slugs like ``customer_satisfaction_5512``)
and a rubric naming 115164, 5512 and 8821 (reconciler/emulator_seed.py).
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

from conftest import Cli

from reconciler.emulator import Fault, RunningEmulator

METRICS = "/test_framework/v2/metrics/"


def project_file(tmp_path: Path, body: str, *, project: int = 123) -> Path:
    path = tmp_path / f"p{project}.yaml"
    path.write_text(f"version: 1\nproject: {project}\n" + textwrap.dedent(body).lstrip())
    return path


def writes(emulator: RunningEmulator) -> list[tuple[str, str]]:
    return [(r.method, r.path) for r in emulator.state.requests if r.method != "GET"]


def metric(emulator: RunningEmulator, slug: str) -> dict[str, Any]:
    [found] = [m for m in emulator.state.metrics if m.get("slug") == slug]
    return found


NEW_METRIC_AND_RULE = """
metrics:
  definitions:
    - slug: refund_offered
      name: Refund offered
      eval_type: binary
      prompt: |
        Did the agent offer a refund when the caller asked for one?
        Answer TRUE or FALSE.
rubric:
  rules:
    - metric: refund_offered
      conditions: {operator: and, conditions: [{field: score, op: eq, value: true}]}
"""


def test_a_new_metric_and_a_rule_naming_it_in_one_apply(
    cli: Cli, emulator: RunningEmulator, tmp_path: Path
) -> None:
    path = project_file(tmp_path, NEW_METRIC_AND_RULE)
    emulator.state.clear_requests()
    plan = cli("plan", str(path))
    assert plan.code == 0, plan.all
    # One metrics list read for the plan: the rubric reuses the metrics kind's list.
    assert len(emulator.state.requests_to("GET", METRICS)) == 1
    assert "+ metric refund_offered (Refund offered) (new): will be created" in plan.out
    assert "+ metric (new) Refund offered (binary): score == true" in plan.out
    emulator.state.clear_requests()
    result = cli("apply", "--auto-approve", str(path))
    assert result.code == 0, result.all
    created = metric(emulator, "refund_offered")
    assert created["project"] == 123 and str(created["prompt"]).startswith("Did the agent offer")
    # The POST before the project PATCH, which names the id the POST answered; both verified.
    sent = writes(emulator)
    assert sent == [("POST", METRICS), ("PATCH", "/user/v1/projects/123/")], sent
    patch = emulator.state.patches()[0].json
    assert {r["metric_id"] for r in patch["rubric_config"]["rules"]} == {115164, 5512, 8821, created["id"]}
    gets = [r.path for r in emulator.state.requests if r.method == "GET"]
    last_write = max(i for i, r in enumerate(emulator.state.requests) if r.method != "GET")
    after = [r for r in emulator.state.requests[last_write + 1 :] if r.method == "GET"]
    assert any(r.path == "/user/v1/projects/123/" for r in after), gets  # the project verified
    assert any(r.path == METRICS for r in after), gets  # the metric verified
    # Idempotent: a second plan is clean, and a second apply writes nothing.
    again = cli("plan", "--detailed-exitcode", str(path))
    assert again.code == 0, again.all
    emulator.state.clear_requests()
    assert cli("apply", "--auto-approve", str(path)).code == 0
    assert writes(emulator) == []


def test_a_description_change_is_one_minimal_metric_patch_and_no_project_patch(
    cli: Cli, emulator: RunningEmulator, tmp_path: Path
) -> None:
    before = {m["id"]: json.dumps(m, sort_keys=True) for m in emulator.state.metrics}
    path = project_file(
        tmp_path,
        """
        metrics:
          definitions:
            - slug: followed_script_7002
              description: Did the agent follow the approved script, word for word?
        """,
    )
    plan = cli("plan", str(path))
    assert "~ metric followed_script_7002 (Followed Script), id 7002:" in plan.out, plan.all
    assert 'description: "Whether the agent followed the support script." -> "Did the agent' in plan.out
    assert "no project PATCH" in plan.out
    emulator.state.clear_requests()
    assert cli("apply", "--auto-approve", str(path)).code == 0
    assert writes(emulator) == [("PATCH", f"{METRICS}7002/")]
    [patch] = emulator.state.patches()
    assert patch.json == {"description": "Did the agent follow the approved script, word for word?"}
    # Unnamed metrics untouched.
    after = {m["id"]: json.dumps(m, sort_keys=True) for m in emulator.state.metrics}
    assert {k: v for k, v in after.items() if k != 7002} == {k: v for k, v in before.items() if k != 7002}
    assert cli("plan", "--detailed-exitcode", str(path)).code == 0


def test_a_prompt_change_is_shown_as_a_line_diff(cli: Cli, emulator: RunningEmulator, tmp_path: Path) -> None:
    emulator.state.add_metric(
        id=9500, project=123, slug="greets", name="Greets", prompt="Line one.\nLine two.\nLine three.\n"
    )
    path = project_file(
        tmp_path,
        """
        metrics:
          definitions:
            - slug: greets
              prompt: |
                Line one.
                Line 2, changed.
                Line three.
        """,
    )
    text = cli("plan", str(path))
    assert "-       -Line two." in text.out and "+       +Line 2, changed." in text.out, text.out
    markdown = cli("plan", "--format", "markdown", str(path))
    assert "```diff\n@@" in markdown.out and "\n-Line two.\n+Line 2, changed.\n" in markdown.out, markdown.out


def test_prune_deletes_unnamed_metrics_only_behind_its_guard(
    cli: Cli, emulator: RunningEmulator, tmp_path: Path
) -> None:
    # Rules name 115164, 5512, 8821: they are defined; 7001, 7002, 7003 (no rule) go: 3 of 6.
    emulator.state.add_metric(id=9600, project=123, slug="extra_one", name="Extra one")
    path = project_file(
        tmp_path,
        """
        metrics:
          prune: true
          definitions:
            - {slug: customer_satisfaction_5512}
            - {slug: appointment_booked_115164}
            - {slug: call_resolution_8821}
        """,
    )
    plan = cli("plan", str(path))
    assert "- metric extra_one (Extra one), id 9600: will be deleted" in plan.out, plan.all
    assert "This plan deletes 4 of the project's 7 metrics; apply refuses it without --force." in plan.out
    emulator.state.clear_requests()
    refused = cli("apply", "--auto-approve", str(path))
    assert refused.code == 1 and "--force" in refused.err, refused.all
    assert writes(emulator) == []
    done = cli("apply", "--auto-approve", "--force", str(path))
    assert done.code == 0, done.all
    assert {m["id"] for m in emulator.state.metrics if m.get("project") == 123} == {5512, 115164, 8821}
    assert all(method == "DELETE" for method, _ in writes(emulator))
    assert cli("plan", "--detailed-exitcode", str(path)).code == 0


def test_prune_never_deletes_a_metric_a_rule_still_names(
    cli: Cli, emulator: RunningEmulator, tmp_path: Path
) -> None:
    path = project_file(
        tmp_path,
        """
        metrics:
          prune: true
          definitions:
            - {slug: customer_satisfaction_5512}
            - {slug: appointment_booked_115164}
        """,
    )
    emulator.state.clear_requests()
    result = cli("apply", "--auto-approve", "--force", str(path))
    assert result.code == 1, result.all
    assert "p123.yaml:4:10: prune would delete metric 8821 (call_resolution_8821)" in result.err, result.err
    assert writes(emulator) == []


def test_bad_definitions_are_caught_offline_with_their_line(cli: Cli, tmp_path: Path) -> None:
    path = project_file(
        tmp_path,
        """
        metrics:
          definitions:
            - slug: outcome
              name: Outcome
              eval_type: enum
            - slug: coded
              name: Coded
              type: custom_code
            - slug: triggered
              name: Triggered
              evaluation_trigger: custom
            - slug: outcome
              name: Outcome again
            - slug: Bad-Slug
              name: Bad
            - slug: scored
              name: Scored
              eval_type: numeric
        rubric:
          rules:
            - metric: scored
              conditions: {operator: and, conditions: [{field: enum, op: eq, value: x}]}
        """,
    )
    result = cli("validate", str(path))
    assert result.code == 1, result.all
    err = result.err
    assert f"{path}:7:18: metrics.definitions[0] (outcome): an enum metric needs `enum_values`" in err, err
    assert f"{path}:10:13: metrics.definitions[1] (coded): a custom_code metric needs `custom_code`" in err
    assert f"{path}:13:27: metrics.definitions[2] (triggered): a custom trigger needs" in err
    assert f'{path}:14:13: metrics.definitions[3] (outcome): slug "outcome" is already defined' in err
    assert f"{path}:16:13: metrics.definitions[4].slug: must be a snake_case slug" in err
    assert f"{path}:24:48: rubric.rules[0]: metric scored (defined in this file, eval_type numeric)" in err
    assert "Traceback" not in err


def test_a_deprecated_type_is_refused_on_create(cli: Cli, emulator: RunningEmulator, tmp_path: Path) -> None:
    path = project_file(
        tmp_path,
        """
        metrics:
          definitions:
            - slug: old_style
              name: Old style
              type: basic
        """,
    )
    emulator.state.clear_requests()
    result = cli("apply", "--auto-approve", str(path))
    assert result.code == 1
    assert f"{path}:7:13: type basic is deprecated" in result.err, result.err
    assert writes(emulator) == []


def test_a_failed_project_patch_after_a_create_is_reported_write_by_write_and_a_rerun_converges(
    cli: Cli, emulator: RunningEmulator, tmp_path: Path
) -> None:
    path = project_file(tmp_path, NEW_METRIC_AND_RULE)
    emulator.state.add_fault(Fault("status", method="PATCH", path="/user/v1/projects/123/", status=400))
    result = cli("apply", "--auto-approve", str(path))
    assert result.code == 1, result.all
    assert "update project 123 FAILED" in result.err, result.err
    assert "done: create metric refund_offered: created (id " in result.err
    created = metric(emulator, "refund_offered")
    again = cli("apply", "--auto-approve", str(path))
    assert again.code == 0, again.all
    assert [m["slug"] for m in emulator.state.metrics].count("refund_offered") == 1
    rules = emulator.state.project(123)["rubric_config"]["rules"]
    assert created["id"] in {r["metric_id"] for r in rules}
    assert cli("plan", "--detailed-exitcode", str(path)).code == 0


# -- saved plans ---------------------------------------------------------------------------------

SAVED = """
metrics:
  definitions:
    - slug: refund_offered
      name: Refund offered
      prompt: |
        Did the agent offer a refund?
        Answer TRUE or FALSE.
    - slug: followed_script_7002
      description: The reviewed description.
rubric:
  rules:
    - metric: refund_offered
      conditions: {operator: and, conditions: [{field: score, op: eq, value: true}]}
"""


def test_a_saved_plan_of_metrics_applies_exactly_the_reviewed_writes(
    cli: Cli, emulator: RunningEmulator, tmp_path: Path
) -> None:
    path = project_file(tmp_path, SAVED)
    saved = tmp_path / "reviewed.plan"
    planned = cli("plan", "--out", str(saved), str(path))
    assert planned.code == 0, planned.all
    # The reviewed file may change after the plan: the saved plan is what is applied.
    path.write_text("version: 1\nproject: 123\n")
    emulator.state.clear_requests()
    result = cli("apply", str(saved))
    assert result.code == 0, result.all
    assert writes(emulator) == [
        ("POST", METRICS),
        ("PATCH", f"{METRICS}7002/"),
        ("PATCH", "/user/v1/projects/123/"),
    ]
    created = metric(emulator, "refund_offered")
    assert created["prompt"] == "Did the agent offer a refund?\nAnswer TRUE or FALSE.\n"
    assert metric(emulator, "followed_script_7002")["description"] == "The reviewed description."
    rules = emulator.state.project(123)["rubric_config"]["rules"]
    assert created["id"] in {r["metric_id"] for r in rules}
    # Applied again: already applied, nothing sent.
    emulator.state.clear_requests()
    again = cli("apply", str(saved))
    assert again.code == 0, again.all
    assert "already matches this plan" in again.out
    assert writes(emulator) == []


def test_a_saved_plan_is_stale_when_a_metric_it_writes_moved(
    cli: Cli, emulator: RunningEmulator, tmp_path: Path
) -> None:
    path = project_file(tmp_path, SAVED)
    saved = tmp_path / "reviewed.plan"
    assert cli("plan", "--out", str(saved), str(path)).code == 0
    emulator.state.set_metric_fields(7002, description="A colleague's description.")
    emulator.state.clear_requests()
    result = cli("apply", str(saved))
    assert result.code == 1, result.all
    assert "stale plan" in result.err
    assert "project 123: metric followed_script_7002: description" in result.err, result.err
    assert writes(emulator) == []


def test_a_saved_plan_with_an_edited_metric_write_is_refused(
    cli: Cli, emulator: RunningEmulator, tmp_path: Path
) -> None:
    from test_e2e_saved import resealed

    path = project_file(tmp_path, SAVED)
    saved = tmp_path / "reviewed.plan"
    assert cli("plan", "--out", str(saved), str(path)).code == 0

    original = saved.read_text()

    def smuggle(document: dict[str, Any]) -> None:  # a field its definition does not write
        [project] = document["projects"]
        [change] = [c for c in project["metric_changes"] if c["slug"] == "followed_script_7002"]
        change["after"]["prompt"] = "Smuggled in."

    def misstate(document: dict[str, Any]) -> None:  # a before value the project does not have
        [project] = document["projects"]
        [change] = [c for c in project["metric_changes"] if c["slug"] == "followed_script_7002"]
        change["before"]["description"] = "Something harmless."

    for edit, message in (
        (smuggle, "its change of metric followed_script_7002 is not one its definition makes"),
        (misstate, "the metric changes it shows are not what the project needs now"),
    ):
        saved.write_text(original)
        resealed(saved, edit)
        emulator.state.clear_requests()
        result = cli("apply", str(saved))
        assert result.code == 1, result.all
        assert message in result.err, result.err
        assert writes(emulator) == []


# -- the journal and restore ---------------------------------------------------------------------


def test_metric_writes_are_journaled_and_restore_puts_them_back(
    cli: Cli, emulator: RunningEmulator, tmp_path: Path
) -> None:
    journal = tmp_path / "journal"
    emulator.state.add_metric(id=9600, project=123, slug="extra_one", name="Extra one", prompt="Keep me.")
    before = dict(metric(emulator, "followed_script_7002"))
    path = project_file(
        tmp_path,
        """
        metrics:
          prune: true
          definitions:
            - {slug: customer_satisfaction_5512}
            - {slug: appointment_booked_115164}
            - {slug: call_resolution_8821}
            - {slug: topic_7003}
            - {slug: response_latency_7001}
            - slug: followed_script_7002
              description: A new description.
              prompt: A new prompt.
            - {slug: brand_new, name: Brand new}
        """,
    )
    applied = cli("apply", "--auto-approve", "--journal-dir", str(journal), str(path))
    assert applied.code == 0, applied.all
    [entry] = sorted(journal.glob("*.json"))
    record = json.loads(entry.read_text())
    by_slug = {m["slug"]: m for m in record["metrics"]}
    assert by_slug["followed_script_7002"]["before"] == {
        "description": before["description"],
        "prompt": before["prompt"],
    }
    assert by_slug["extra_one"]["action"] == "delete"
    assert by_slug["extra_one"]["before"]["prompt"] == "Keep me."
    assert by_slug["brand_new"]["action"] == "create"
    assert not any(m.get("slug") == "extra_one" for m in emulator.state.metrics)

    emulator.state.clear_requests()
    restored = cli("restore", "--auto-approve", "--journal-dir", str(journal), str(entry))
    assert restored.code == 0, restored.all
    assert "metric brand_new was created by that apply; restore does not delete it" in restored.out
    after = metric(emulator, "followed_script_7002")
    assert (after["description"], after["prompt"]) == (before["description"], before["prompt"])
    again = metric(emulator, "extra_one")  # deleted by prune: made again (a new id)
    assert (again["name"], again["prompt"], again["project"]) == ("Extra one", "Keep me.", 123)
    assert sorted(writes(emulator)) == [("PATCH", f"{METRICS}7002/"), ("POST", METRICS)]
    # Restored: the same entry restores nothing more.
    emulator.state.clear_requests()
    twice = cli("restore", "--auto-approve", "--journal-dir", str(journal), str(entry))
    assert twice.code == 0, twice.all
    assert writes(emulator) == []


# -- the impact preview --------------------------------------------------------------------------


def test_impact_skips_a_rule_on_a_metric_with_no_results_yet_and_says_so(
    cli: Cli, emulator: RunningEmulator, tmp_path: Path
) -> None:
    path = project_file(tmp_path, NEW_METRIC_AND_RULE)
    text = cli("plan", "--impact", "--since", "31d", str(path))
    assert text.code == 0, text.all
    assert "  skipped: no results yet: metric (new) Refund offered (its rules decide no call)" in text.out, (
        text.out
    )
    as_json = cli("plan", "--impact", "--since", "31d", "--format", "json", str(path))
    [report] = json.loads(as_json.out)["impact"]
    assert report["skipped_no_results"] == [-1]
    assert report["pass_to_fail"]["count"] == 0
    markdown = cli("plan", "--impact", "--since", "31d", "--format", "markdown", str(path))
    assert "metric (new) Refund offered: skipped: no results yet" in markdown.out, markdown.out


# -- the emulator: agents on a metric PATCH ------------------------------------------------------


def test_a_metrics_agents_change_is_one_patch_the_emulator_applies(
    cli: Cli, emulator: RunningEmulator, tmp_path: Path
) -> None:
    [first, second] = [a for a in emulator.state.agents if a.get("project") == 123][:2]
    path = project_file(
        tmp_path,
        f"""
        metrics:
          definitions:
            - slug: followed_script_7002
              agents: [{json.dumps(first["agent_name"])}, {second["id"]}]
        """,
    )
    emulator.state.clear_requests()
    result = cli("apply", "--auto-approve", str(path))
    assert result.code == 0, result.all
    [patch] = emulator.state.patches()
    assert patch.path == f"{METRICS}7002/" and sorted(patch.json["agents"]) == sorted(
        [first["id"], second["id"]]
    )
    assert sorted(metric(emulator, "followed_script_7002")["agents"]) == sorted([first["id"], second["id"]])
    assert cli("plan", "--detailed-exitcode", str(path)).code == 0


def test_the_emulator_refuses_an_agent_of_another_project_on_a_metric_patch(
    emulator: RunningEmulator,
) -> None:
    import httpx
    from conftest import API_KEY

    other = next(a for a in emulator.state.agents if a.get("project") == 124)
    answer = httpx.patch(
        f"{emulator.base_url}{METRICS}7002/",
        json={"agents": [other["id"]]},
        headers={"X-CEKURA-API-KEY": API_KEY},
        timeout=10,
    )
    assert answer.status_code == 400, answer.text
    assert "agents" in answer.json()
    assert metric(emulator, "followed_script_7002")["agents"] == []
