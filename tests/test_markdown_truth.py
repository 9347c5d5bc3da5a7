"""The pull-request comment tells what the text plan tells: deletions and the flags apply will need,
stale rules, the secrets that will be sent (names only), and a validation failure's FILE:LINE:COL
problems, not "see the job log".

Golden file tests/data/golden/plan-guards.md; rewrite with CEKURA_UPDATE_GOLDEN=1 after an intended
change and review the diff.
"""

from __future__ import annotations

import os
from pathlib import Path

from conftest import API_KEY, Cli
from markdown_it import MarkdownIt

from reconciler.changes import FieldChange, Plan, ProjectPlan, RuleChange
from reconciler.emulator import RunningEmulator
from reconciler.model import SecretRef
from reconciler.renderers.markdown import comment_marker, render_markdown

GOLDEN = Path(__file__).parent / "data" / "golden"
SECRET = "vapi-MARKDOWN-truth-secret-71c0"


def rule(metric_id: int, value: int) -> dict[str, object]:
    condition = {"field": "score", "op": "gte", "value": value}
    return {"metric_id": metric_id, "conditions": {"operator": "and", "conditions": [condition]}}


def guarded_plan() -> Plan:
    deleted = ProjectPlan(
        123,
        "projects/support.yaml",
        field_changes=(
            FieldChange("is_deleted", False, True),
            FieldChange("vapi_api_key", None, SecretRef("env", "VAPI_API_KEY"), sensitive=True, action="set"),
        ),
        rule_changes=tuple(
            RuleChange(m, "remove", (rule(m, 4),), (), metric_name=f"Metric {m}", eval_type="numeric")
            for m in (11, 12, 13)
        ),
        patch={
            "is_deleted": True,
            "vapi_api_key": SecretRef("env", "VAPI_API_KEY"),
            "rubric_config": {"evaluation_logic": "and", "rules": [rule(14, 3)]},
        },
        rules_kept=1,
        metrics_kept=1,
        rules_live=4,
    )
    stale = ProjectPlan(
        124,
        "projects/sales.yaml",
        field_changes=(
            FieldChange("webhook_secret", None, SecretRef("file", "hook"), sensitive=True, action="rotate"),
        ),
        patch={"webhook_secret": SecretRef("file", "hook")},
        warnings=(
            "the live rubric of project 124 has rules for metric(s) 999, which the project no longer "
            "has; the API rejects any rubric change while they remain. Remove them by adding to "
            "rubric.rules: {metric_id: 999, absent: true} (or set prune: true)",
        ),
    )
    return Plan((deleted, stale))


def test_golden_comment_with_guards_secrets_and_stale_rules() -> None:
    output = render_markdown(guarded_plan())
    path = GOLDEN / "plan-guards.md"
    if os.environ.get("CEKURA_UPDATE_GOLDEN") == "1":
        path.write_text(output, encoding="utf-8")
    assert output == path.read_text(encoding="utf-8")
    assert "This plan **DELETES project 123**" in output
    assert "without `--allow-delete`" in output and "without `--force`" in output
    assert (
        "**Apply refuses this plan without** `--allow-delete` (project 123) and `--force` (project 123)."
        in (output)
    )
    assert "Secrets sent (values never shown): `vapi_api_key` (set)." in output
    assert "Secrets sent (values never shown): `webhook_secret` (rotated)." in output
    assert "metric\\(s\\) 999" in output or "metric(s) 999" in output
    assert "VAPI_API_KEY" not in output and "hook" not in output.replace("webhook", "")
    # The banners are block quotes (GitHub and GitLab draw them as alerts).
    html = MarkdownIt("commonmark").enable("table").render(output)
    assert html.count("<blockquote>") == 3


def test_drift_has_no_apply_guards() -> None:
    output = render_markdown(guarded_plan(), kind="drift")
    assert "--allow-delete" not in output and "Secrets sent" not in output


def test_plan_comment_of_a_deletion_names_allow_delete(
    cli: Cli, emulator: RunningEmulator, tmp_path: Path
) -> None:
    path = tmp_path / "gone.yaml"
    path.write_text(
        "version: 1\nproject: 123\nsettings:\n  is_deleted: true\n"
        "secrets:\n  vapi_api_key: {env: VAPI_API_KEY}\n"
        "rubric:\n  prune: true\n  rules: []\n"
    )
    emulator.state.set_project_fields(123, vapi_api_key="")
    result = cli("plan", "--format", "markdown", str(path), env={"VAPI_API_KEY": SECRET})
    assert result.code == 0, result.err
    assert "DELETES project 123" in result.out and "`--allow-delete`" in result.out
    assert "removes 3 of the 3 live rubric rules" in result.out and "`--force`" in result.out
    assert SECRET not in result.all and API_KEY not in result.all


def test_plan_comment_shows_stale_rules(cli: Cli, emulator: RunningEmulator, tmp_path: Path) -> None:
    live = emulator.state.project(125)["rubric_config"]
    stale_rule = rule(999999, 3)
    emulator.state.set_project_fields(125, rubric_config={**live, "rules": [*live["rules"], stale_rule]})
    path = tmp_path / "keep.yaml"
    path.write_text(
        "version: 1\nproject: 125\nsettings:\n  sample_rate: 0.3\nrubric:\n  rules:\n    - metric_id: 61316\n"
        "      conditions: {operator: and, conditions: [{field: score, op: eq, value: 5}]}\n"
    )
    text = cli("plan", str(path))
    markdown = cli("plan", "--format", "markdown", str(path))
    assert text.code == markdown.code == 0, markdown.err
    assert "999999" in text.out
    assert "999999" in markdown.out and "absent: true" in markdown.out


def test_a_validation_failure_is_in_the_comment_with_its_position(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "typo.yaml"
    path.write_text("version: 1\nproject: 123\nsettings:\n  sample_rat: 0.5\n")
    result = cli("plan", "--format", "markdown", "--detailed-exitcode", str(path))
    assert result.code == 1
    assert result.out.startswith(comment_marker("plan") + "\n")
    assert f"`{path}`:4:3: unknown key" in result.out
    assert "sample\\_rate" in result.out  # the "did you mean", escaped
    assert f"{path}:4:3: unknown key" in result.err  # still on stderr, for the log


def test_drift_markdown_of_an_invalid_file_says_so_too(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "typo.yaml"
    path.write_text("version: 1\nproject: 123\nsettings:\n  sample_rat: 0.5\n")
    result = cli("drift", "--format", "markdown", str(path))
    assert result.code == 1
    assert result.out.startswith(comment_marker("drift") + "\n")
    assert f"`{path}`:4:3:" in result.out
