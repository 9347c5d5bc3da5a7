"""`extends`: staging and production share one reviewed base file and override what differs."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

from conftest import Cli

from reconciler.emulator import RunningEmulator

BASE = """
version: 1
settings:
  sample_rate: 0.4
  outbound_timeout: 180
  notify_no_calls: true
secrets:
  retell_api_key: {file: keys/retell}
rubric:
  rules:
    - metric: customer_satisfaction
      conditions: {operator: and, conditions: [{field: score, op: gte, value: 4}]}
    - metric: appointment_booked
      conditions: {operator: and, conditions: [{field: score, op: eq, value: true}]}
"""


def tree(tmp_path: Path) -> Path:
    (tmp_path / "shared" / "keys").mkdir(parents=True)
    (tmp_path / "shared" / "keys" / "retell").write_text("retell-from-base-dir\n")
    (tmp_path / "shared" / "base.yaml").write_text(textwrap.dedent(BASE).lstrip())
    (tmp_path / "staging.yaml").write_text(
        "version: 1\nproject: 124\nextends: shared/base.yaml\nsettings:\n  sample_rate: 0.9\n"
    )
    (tmp_path / "production.yaml").write_text(
        "version: 1\nproject: 125\nextends: shared/base.yaml\n"
        "rubric:\n  rules:\n    - metric: customer_satisfaction\n"
        "      conditions: {operator: and, conditions: [{field: score, op: gte, value: 3}]}\n"
    )
    return tmp_path


def test_children_inherit_and_override(cli: Cli, emulator: RunningEmulator, tmp_path: Path) -> None:
    root = tree(tmp_path)
    validated = cli("validate", str(root))
    assert validated.code == 0, validated.err
    assert f"{root / 'shared' / 'base.yaml'}: valid (base file)" in validated.out

    result = cli("plan", "--format", "json", str(root))
    assert result.code == 0, result.err
    projects = {p["project_id"]: p for p in json.loads(result.out)["projects"]}
    assert set(projects) == {124, 125}  # the base is validated, not planned
    staging, production = projects[124]["patch"], projects[125]["patch"]
    assert staging["sample_rate"] == 0.9  # overridden
    assert staging["outbound_timeout"] == 180  # inherited
    assert production["sample_rate"] == 0.4
    # Rubric: production overrides one metric's rule and inherits the other; ids resolve per project.
    rules = {r["metric_id"]: r for r in production["rubric_config"]["rules"]}
    values = sorted(str(r["conditions"]["conditions"][0]["value"]) for r in rules.values())
    assert values == ["3", "True"]

    assert cli("apply", "--auto-approve", str(root)).code == 0
    assert emulator.state.project(124)["outbound_timeout"] == 180
    assert cli("plan", "--detailed-exitcode", str(root)).code == 0


def test_base_secret_file_is_relative_to_the_base(
    cli: Cli, emulator: RunningEmulator, tmp_path: Path
) -> None:
    root = tree(tmp_path)
    result = cli("apply", "--auto-approve", "--rotate", "retell_api_key", str(root / "staging.yaml"))
    assert result.code == 0, result.err
    assert emulator.state.stored_secret(124, "retell_api_key") == "retell-from-base-dir"


def test_errors_inside_a_base_name_the_base_file(cli: Cli, emulator: RunningEmulator, tmp_path: Path) -> None:
    root = tree(tmp_path)
    base = root / "shared" / "base.yaml"
    base.write_text(base.read_text().replace("outbound_timeout: 180", "outbound_timeout: fast"))
    result = cli("plan", str(root / "staging.yaml"))
    assert result.code == 1
    assert f"{base}:4:21: " in result.err
    assert emulator.state.requests == []


def test_missing_base_and_cycles(cli: Cli, emulator: RunningEmulator, tmp_path: Path) -> None:
    lonely = tmp_path / "lonely.yaml"
    lonely.write_text("version: 1\nproject: 124\nextends: nowhere.yaml\n")
    missing = cli("validate", str(lonely))
    assert missing.code == 1
    assert f"{lonely}:3:10: extends: base file {tmp_path / 'nowhere.yaml'} does not exist" in missing.err

    (tmp_path / "a.yaml").write_text("version: 1\nextends: b.yaml\n")
    (tmp_path / "b.yaml").write_text("version: 1\nextends: a.yaml\n")
    cycle = cli("validate", str(tmp_path / "a.yaml"))
    assert cycle.code == 1
    assert "makes a cycle" in cycle.err
    assert "a.yaml -> " in cycle.err and "b.yaml" in cycle.err
    assert "Traceback" not in cycle.all


def test_chain_of_bases(cli: Cli, emulator: RunningEmulator, tmp_path: Path) -> None:
    (tmp_path / "org.yaml").write_text("version: 1\nsettings:\n  sample_rate: 0.2\n  outbound_timeout: 100\n")
    (tmp_path / "team.yaml").write_text("version: 1\nextends: org.yaml\nsettings:\n  outbound_timeout: 200\n")
    (tmp_path / "p.yaml").write_text("version: 1\nproject: 124\nextends: team.yaml\n")
    result = cli("plan", "--format", "json", str(tmp_path / "p.yaml"))
    assert result.code == 0, result.err
    patch = json.loads(result.out)["projects"][0]["patch"]
    assert patch == {"sample_rate": 0.2, "outbound_timeout": 200}


def test_child_rule_by_name_overrides_base_rule_by_id(
    cli: Cli, emulator: RunningEmulator, tmp_path: Path
) -> None:
    (tmp_path / "base.yaml").write_text(
        "version: 1\nrubric:\n  prune: true\n  rules:\n    - metric_id: 61207\n"
        "      conditions: {operator: and, conditions: [{field: score, op: gte, value: 3}]}\n"
    )
    child = tmp_path / "child.yaml"
    child.write_text(
        "version: 1\nproject: 124\nextends: base.yaml\nrubric:\n  rules:\n"
        "    - metric: customer_satisfaction\n"
        "      conditions: {operator: and, conditions: [{field: score, op: gte, value: 4}]}\n"
    )
    result = cli("plan", "--format", "json", str(child))
    assert result.code == 0, result.err
    rules = json.loads(result.out)["projects"][0]["patch"]["rubric_config"]["rules"]
    assert [r["conditions"]["conditions"][0]["value"] for r in rules] == [4]  # the child's rule only

    # `absent` by name beside a rule by id for the same metric: refused once names are resolved.
    child.write_text(
        "version: 1\nproject: 124\nextends: base.yaml\nrubric:\n  rules:\n"
        "    - {metric: customer_satisfaction, absent: true}\n"
        "    - metric_id: 61207\n"
        "      conditions: {operator: and, conditions: [{field: score, op: gte, value: 4}]}\n"
    )
    refused = cli("plan", str(child))
    assert refused.code == 1
    assert f"{child}:6:7: `absent: true` removes every rule of metric 61207" in refused.err


def test_prune_is_inherited_unless_the_child_sets_it(
    cli: Cli, emulator: RunningEmulator, tmp_path: Path
) -> None:
    (tmp_path / "base.yaml").write_text("version: 1\nrubric:\n  prune: true\n  rules: []\n")
    child = tmp_path / "child.yaml"
    rule = (
        "    - metric_id: 61316\n"
        "      conditions: {operator: and, conditions: [{field: score, op: eq, value: 5}]}\n"
    )
    child.write_text("version: 1\nproject: 125\nextends: base.yaml\nrubric:\n  rules:\n" + rule)
    pruned = json.loads(cli("plan", "--format", "json", str(child)).out)["projects"][0]
    assert [r["metric_id"] for r in pruned["patch"]["rubric_config"]["rules"]] == [61316]
    child.write_text(
        "version: 1\nproject: 125\nextends: base.yaml\nrubric:\n  prune: false\n  rules:\n" + rule
    )
    merged = cli("plan", "--format", "json", "--detailed-exitcode", str(child))
    assert merged.code == 0, merged.out  # the live rules stay: nothing to change


def test_base_secret_file_resolves_from_any_working_directory(
    cli: Cli, emulator: RunningEmulator, tmp_path: Path
) -> None:
    import subprocess
    import sys

    root = tree(tmp_path)
    (root / "teams").mkdir()
    (root / "teams" / "child.yaml").write_text("version: 1\nproject: 124\nextends: ../shared/base.yaml\n")
    # A relative path on the command line, run from the tree's root rather than the child's folder.
    command = ["apply", "--auto-approve", "--rotate", "retell_api_key", "teams/child.yaml"]
    proc = subprocess.run(
        [sys.executable, "-m", "reconciler", *command],
        cwd=root,
        env=cli.env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert emulator.state.stored_secret(124, "retell_api_key") == "retell-from-base-dir"


def test_checks_run_on_the_merged_settings(cli: Cli, emulator: RunningEmulator, tmp_path: Path) -> None:
    (tmp_path / "base.yaml").write_text("version: 1\nsettings:\n  max_call_duration: 600\n")
    child = tmp_path / "child.yaml"
    child.write_text("version: 1\nproject: 124\nextends: base.yaml\nsettings:\n  min_call_duration: 900\n")
    result = cli("validate", str(child))
    assert result.code == 1
    assert f"{child}:3:10: with base.yaml, settings.min_call_duration (900) is greater than" in result.err


METRICS_BASE = """
version: 1
metrics:
  prune: false
  definitions:
    - slug: refund_offered
      name: Refund offered
      eval_type: binary
      prompt: Did the agent offer a refund?
    - slug: followed_script_7002
      description: From the base.
"""


def test_metrics_merge_by_slug_with_the_childs_fields_over_the_bases(
    cli: Cli, emulator: RunningEmulator, tmp_path: Path
) -> None:
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "base.yaml").write_text(textwrap.dedent(METRICS_BASE).lstrip())
    child = tmp_path / "p123.yaml"
    child.write_text(
        "version: 1\nproject: 123\nextends: shared/base.yaml\nmetrics:\n  definitions:\n"
        "    - slug: refund_offered\n      description: Child's description.\n"
        "    - slug: greets\n      name: Greets\n"
    )
    result = cli("plan", "--format", "json", str(child))
    assert result.code == 0, result.all
    [project] = json.loads(result.out)["projects"]
    changes = {c["slug"]: c for c in project["changes"] if c["kind"] == "metric"}
    # The base's fields with the child's over them; the base's other definition kept; the child's added.
    assert changes["refund_offered"]["action"] == "create"
    assert changes["refund_offered"]["after"] == {
        "slug": "refund_offered",
        "name": "Refund offered",
        "eval_type": "binary",
        "prompt": "Did the agent offer a refund?",
        "description": "Child's description.",
    }
    assert changes["followed_script_7002"]["after"] == {"description": "From the base."}
    assert changes["greets"]["action"] == "create"
    assert cli("apply", "--auto-approve", str(child)).code == 0
    assert cli("plan", "--detailed-exitcode", str(child)).code == 0


def test_a_merged_definitions_problem_names_the_file_and_line_it_comes_from(
    cli: Cli, emulator: RunningEmulator, tmp_path: Path
) -> None:
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "base.yaml").write_text(textwrap.dedent(METRICS_BASE).lstrip())
    child = tmp_path / "p123.yaml"
    # Merged, "nameless" is the third definition; in the child it is the first, on line 6.
    child.write_text(
        "version: 1\nproject: 123\nextends: shared/base.yaml\nmetrics:\n  definitions:\n"
        "    - slug: nameless\n      description: No name, not live.\n"
        "    - slug: refund_offered\n      description: Child's description.\n"
    )
    result = cli("plan", str(child))
    assert result.code == 1, result.all
    assert f"{child}:6:7: metric nameless does not exist in project 123" in result.err, result.err
