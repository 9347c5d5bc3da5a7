"""The markdown renderer: golden comments, and a real markdown parser to check the tables render.

Golden files are a contract (a pipeline updates its earlier comment by the marker on the first
line). To rewrite them after an intended change, run with CEKURA_UPDATE_GOLDEN=1 and review the diff.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from markdown_it import MarkdownIt
from markdown_it.token import Token

from reconciler.changes import FieldChange, Plan, ProjectPlan, RuleChange
from reconciler.impact import PASS, ImpactReport, Verdict
from reconciler.model import SecretRef
from reconciler.operations import Failure
from reconciler.renderers.markdown import (
    DETAILS_THRESHOLD,
    MarkdownKind,
    comment_marker,
    format_rule,
    render_impact_markdown,
    render_markdown,
)

GOLDEN = Path(__file__).parent / "data" / "golden"
SECRET_VALUE = "sk-live-9f8e7d6c5b4a3210SECRET"


def rule(metric_id: int, field: str, op: str, value: Any) -> dict[str, Any]:
    return {
        "metric_id": metric_id,
        "conditions": {"operator": "and", "conditions": [{"field": field, "op": op, "value": value}]},
    }


def project(
    project_id: int,
    file: str,
    fields: tuple[FieldChange, ...] = (),
    rules: tuple[RuleChange, ...] = (),
    **kwargs: Any,
) -> ProjectPlan:
    """A ProjectPlan whose patch names the top-level fields its changes touch (as diff makes it)."""
    patch: dict[str, Any] = {}
    for change in fields:
        name = change.path.split(".", 1)[0]
        patch[name] = SecretRef("env", name.upper()) if change.sensitive else change.after
    if rules:
        patch["rubric_config"] = {"evaluation_logic": "and", "rules": [r for c in rules for r in c.after]}
    patch.update(kwargs.pop("patch", {}))
    return ProjectPlan(project_id, file, field_changes=fields, rule_changes=rules, patch=patch, **kwargs)


def main_project() -> ProjectPlan:
    return project(
        123,
        "examples/project.yaml",
        fields=(
            FieldChange("name", "Support line QA", "Support | line `QA`"),
            FieldChange("sample_rate", 0.25, 0.5),
            FieldChange("webhook_url", None, "https://hooks.example.com/cekura/support", before_missing=True),
            FieldChange("daily_report_dashboard_ids", [7], [7, 12]),
            FieldChange("no_calls_notify_time_period.agents", [301], [301, 302]),
            FieldChange(
                "no_calls_notify_time_period.time_periods",
                [{"start_time": "09:00", "end_time": "17:00", "time_frame": 30}],
                [{"start_time": "08:00", "end_time": "17:00", "time_frame": 30}],
            ),
            FieldChange("no_calls_notify_time_period.legacy", True, None, after_missing=True),
            FieldChange("vapi_api_key", None, SecretRef("env", "VAPI_API_KEY"), sensitive=True, action="set"),
            FieldChange(
                "webhook_secret", None, SecretRef("file", "secrets/hook"), sensitive=True, action="rotate"
            ),
        ),
        rules=(
            RuleChange(
                5512,
                "change",
                (rule(5512, "score", "gte", 3),),
                (rule(5512, "score", "gte", 4),),
                metric_name="Customer Satisfaction",
                eval_type="continuous_qualitative",
            ),
            RuleChange(
                8821,
                "add",
                (),
                (rule(8821, "enum", "in", ["resolved", "partially_resolved"]),),
                metric_name="Call Resolution",
                eval_type="enum",
            ),
            RuleChange(
                7001,
                "remove",
                (rule(7001, "score", "eq", 5), rule(7001, "score", "neq", 0)),
                (),
                metric_name="Followed Script",
                eval_type="binary_qualitative",
            ),
            RuleChange(9001, "add", (), (rule(9001, "score", "eq", True),)),
        ),
        rules_kept=3,
        metrics_kept=2,
        warnings=("examples/project.yaml:40:7: metric 9001 has no eval_type this tool knows",),
    )


def golden_plan() -> Plan:
    return Plan(
        (
            main_project(),
            project(124, "projects/billing.yaml", warnings=("metric 77 (Tone <b>|</b>) is unknown",)),
            project(125, "projects/sales.yaml"),
        )
    )


FAILURES = (
    Failure(
        "projects/broken.yaml",
        "projects/broken.yaml:4:3: unknown setting `sample_rat`; did you mean `sample_rate`?\n"
        "projects/broken.yaml:9:1: rubric.rules[0]: metric *Tone* not found",
    ),
    Failure("projects/gone.yaml", "project 999 not found (HTTP 404)"),
)


def large_plan() -> Plan:
    over = (
        *(FieldChange(f"setting_{i:02d}", i, i + 1) for i in range(DETAILS_THRESHOLD - 1)),
        FieldChange("timezone", "UTC", "Europe/Berlin"),
    )
    rules = (
        RuleChange(
            11, "add", (), (rule(11, "score", "gt", 2.5),), metric_name="Politeness", eval_type="numeric"
        ),
        RuleChange(12, "remove", (rule(12, "enum", "in", ["needs review", "true"]),), (), eval_type="enum"),
    )
    at_limit = tuple(FieldChange(f"setting_{i:02d}", "a", "b") for i in range(DETAILS_THRESHOLD))
    return Plan(
        (
            project(130, "projects/big.yaml", fields=over, rules=rules, rules_kept=1, metrics_kept=1),
            project(131, "projects/at-limit.yaml", fields=at_limit),
        )
    )


def drift_plan() -> Plan:
    return Plan(
        (
            project(
                123,
                "examples/project.yaml",
                fields=(
                    FieldChange("sample_rate", 0.5, 1.0),
                    FieldChange("pipecat_api_key", None, None, sensitive=True, action="set"),
                ),
                rules=(
                    RuleChange(
                        5512,
                        "change",
                        (rule(5512, "score", "gte", 2),),
                        (rule(5512, "score", "gte", 4),),
                        metric_name="Customer Satisfaction",
                        eval_type="continuous_qualitative",
                    ),
                ),
            ),
            project(124, "projects/billing.yaml"),
        )
    )


CASES: dict[str, Callable[[], str]] = {
    "plan.md": lambda: render_markdown(golden_plan(), failures=FAILURES),
    "plan-large.md": lambda: render_markdown(large_plan(), title="Cekura plan (prod)"),
    "plan-nochanges.md": lambda: render_markdown(
        Plan((project(124, "projects/billing.yaml"), project(125, "projects/sales.yaml")))
    ),
    "drift.md": lambda: render_markdown(
        drift_plan(), kind="drift", failures=(Failure("projects/gone.yaml", "project 999 not found"),)
    ),
}


# -- a tiny reader of markdown-it's token stream ----------------------------------------------------

MD = MarkdownIt("commonmark").enable("table")


def inline_text(token: Token) -> str:
    return "".join(child.content for child in token.children or () if child.type in ("text", "code_inline"))


def tables(markdown: str) -> list[list[list[str]]]:
    """Every table as rows (header row first) of cell texts, as a browser would show them."""
    found: list[list[list[str]]] = []
    tokens = MD.parse(markdown)
    for index, token in enumerate(tokens):
        if token.type == "table_open":
            found.append([])
        elif token.type == "tr_open":
            found[-1].append([])
        elif token.type == "inline" and index and tokens[index - 1].type in ("th_open", "td_open"):
            found[-1][-1].append(inline_text(token))
    return found


# -- golden files -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden(name: str) -> None:
    output = CASES[name]()
    path = GOLDEN / name
    if os.environ.get("CEKURA_UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(output, encoding="utf-8")
    assert output == path.read_text(encoding="utf-8")


def test_output_is_deterministic_and_plain() -> None:
    for make in CASES.values():
        output = make()
        assert output == make()
        assert "\x1b" not in output
        assert output.endswith("\n") and not output.endswith("\n\n")


# -- structure as parsed --------------------------------------------------------------------------


def test_marker_is_the_first_line() -> None:
    plan = golden_plan()
    assert render_markdown(plan).splitlines()[0] == "<!-- cekura-reconciler:plan -->"
    assert render_markdown(plan, kind="drift").splitlines()[0] == "<!-- cekura-reconciler:drift -->"
    assert comment_marker("drift") == "<!-- cekura-reconciler:drift -->"
    first = MD.parse(render_markdown(plan))[0]
    assert first.type == "html_block" and first.content.strip() == comment_marker()


def test_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown markdown kind"):
        render_markdown(golden_plan(), kind="apply")  # type: ignore[arg-type]


def test_plan_tables_render_as_tables() -> None:
    output = render_markdown(golden_plan(), failures=FAILURES)
    assert any(t.type == "table_open" for t in MD.parse(output))
    fields, rubric = tables(output)
    assert fields[0] == ["Field", "Before", "After"]
    assert len(fields) == 1 + 9
    assert all(len(row) == 3 for row in fields)
    assert fields[1] == ["name", '"Support line QA"', '"Support | line `QA`"']
    assert fields[3] == ["webhook_url", "not set", '"https://hooks.example.com/cekura/support"']
    assert fields[5] == ["no_calls_notify_time_period.agents", "[301]", "[301, 302]"]
    assert fields[7] == ["no_calls_notify_time_period.legacy", "true", "removed"]
    assert fields[8] == ["vapi_api_key", "not configured", "(sensitive), will be set"]
    assert fields[9] == ["webhook_secret", "(sensitive)", "(sensitive), will be rotated"]
    assert rubric == [
        ["Metric", "Change", "Before", "After"],
        ["Customer Satisfaction (5512, continuous_qualitative)", "change", "score >= 3", "score >= 4"],
        ["Call Resolution (8821, enum)", "add", "—", "enum in [resolved, partially_resolved]"],
        ["Followed Script (7001, binary_qualitative)", "remove", "score == 5; score != 0", "—"],
        ["metric 9001", "add", "—", "score == true"],
    ]


def test_texts_are_escaped_not_interpreted() -> None:
    html = MD.render(render_markdown(golden_plan(), failures=FAILURES))
    # A metric name from the API with HTML and a pipe stays text.
    assert "Tone &lt;b&gt;|&lt;/b&gt;" in html and "<b>" not in html
    # Markdown in an error message stays text; a multi-line message keeps its lines.
    assert "metric *Tone* not found" in html and "<em>Tone</em>" not in html
    assert "did you mean <code>" not in html and "`sample_rate`?<br />" in html
    # A message that starts with its file does not repeat it.
    assert "<code>projects/broken.yaml</code>:4:3: unknown setting" in html


def test_no_changes_and_failures_sections() -> None:
    output = render_markdown(golden_plan(), failures=FAILURES)
    assert "\nNo changes: 124, 125\n" in output
    tokens = MD.parse(output)
    headings = [tokens[i + 1].content for i, t in enumerate(tokens) if t.type == "heading_open"]
    assert headings == ["Cekura plan", "Project 123 — examples/project.yaml", "Failed"]
    items = [t for t in tokens if t.type == "list_item_open"]
    assert len(items) == len(FAILURES)


def test_large_project_is_folded_and_still_a_table() -> None:
    output = render_markdown(large_plan())
    assert output.count("<details>") == 1 and output.count("</details>") == 1
    tokens = MD.parse(output)
    kinds = [t.type for t in tokens]
    details = next(i for i, t in enumerate(tokens) if t.type == "html_block" and "<details>" in t.content)
    closing = next(i for i, t in enumerate(tokens) if t.type == "html_block" and "</details>" in t.content)
    folded = kinds[details:closing]
    assert folded.count("table_open") == 2
    big_fields, big_rules, limit_fields = tables(output)
    assert len(big_fields) - 1 + len(big_rules) - 1 == DETAILS_THRESHOLD + 2
    assert big_rules[2] == ["metric 12 (enum)", "remove", 'enum in ["needs review", "true"]', "—"]
    # Exactly at the threshold: not folded.
    assert len(limit_fields) - 1 == DETAILS_THRESHOLD
    assert kinds.index("table_open", closing) > closing


# -- secrets and hostile values ---------------------------------------------------------------------


def test_sensitive_values_never_appear() -> None:
    changes = (
        FieldChange("vapi_api_key", SECRET_VALUE, SECRET_VALUE + "-new", sensitive=True, action="rotate"),
        FieldChange("webhook_secret", {"value": SECRET_VALUE}, [SECRET_VALUE], sensitive=True, action="set"),
        FieldChange("retell_api_key", SECRET_VALUE, SecretRef("env", "RETELL_KEY_VAR"), sensitive=True),
    )
    plan = Plan((project(1, "p.yaml", fields=changes),))
    kinds: tuple[MarkdownKind, ...] = ("plan", "drift")
    for kind in kinds:
        output = render_markdown(plan, kind=kind)
        assert SECRET_VALUE not in output
        assert "sk-live" not in output and "RETELL_KEY_VAR" not in output
        assert "(sensitive)" in output
        rows = tables(output)[0][1:]
        assert [row[0] for row in rows] == ["vapi_api_key", "webhook_secret", "retell_api_key"]


@pytest.mark.parametrize(
    "before, after",
    [
        ("a|b|c", "x | y"),
        ("|", "||"),
        ("back\\|slash", "\\\\|"),
        ("tick`|`tick", "``|"),
        (["a|b", {"k|": "v|"}], {"|": ["|"]}),
    ],
)
def test_pipes_do_not_break_the_table(before: Any, after: Any) -> None:
    output = render_markdown(Plan((project(1, "a|b.yaml", fields=(FieldChange("name", before, after),)),)))
    rows = tables(output)[0]
    assert [len(row) for row in rows] == [3, 3]
    assert rows[1] == ["name", json.dumps(before, ensure_ascii=False), json.dumps(after, ensure_ascii=False)]


def test_control_characters_are_neutralized() -> None:
    name = "\x1b[31mRed\x1b[0m"
    plan = Plan(
        (
            project(
                1,
                "x.yaml",
                fields=(FieldChange("name", name, "ok"),),
                rules=(RuleChange(5, "add", (), (rule(5, "score", "gte", 1),), metric_name=name),),
                warnings=(name,),
            ),
        )
    )
    output = render_markdown(plan, failures=(Failure("x.yaml", name),))
    assert "\x1b" not in output
    assert "\\u001b[31mRed" in output  # JSON values show the escape; text shows U+FFFD
    assert "\ufffd\\[31mRed" in output
    windows = render_markdown(Plan(()), failures=(Failure("w.yaml", "one\r\ntwo\rthree"),))
    assert windows.endswith("- `w.yaml`: one\\\n  two\\\n  three\n")


# -- condition formatting -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "conditions, expected",
    [
        ([{"field": "score", "op": "gte", "value": 4}], "score >= 4"),
        ([{"field": "score", "op": "eq", "value": True}], "score == true"),
        (
            [{"field": "enum", "op": "in", "value": ["resolved", "partially_resolved"]}],
            "enum in [resolved, partially_resolved]",
        ),
        (
            [{"field": "enum", "op": "in", "value": ["a b", "null", "4", 4]}],
            'enum in ["a b", "null", "4", 4]',
        ),
        (
            [{"field": "score", "op": "gt", "value": 1}, {"field": "score", "op": "lt", "value": 5}],
            "score > 1 and score < 5",
        ),
        ([{"field": "score", "op": "between", "value": [1, 2]}], "score between [1, 2]"),
        ([{"field": "score", "op": "eq"}], '{"field": "score", "op": "eq"}'),
        ([], "(no conditions)"),
    ],
)
def test_format_rule(conditions: list[Any], expected: str) -> None:
    assert (
        format_rule({"metric_id": 1, "conditions": {"operator": "and", "conditions": conditions}}) == expected
    )


def test_format_rule_of_unexpected_shape_is_json() -> None:
    assert format_rule({"metric_id": 1, "conditions": "score>4"}) == '{"conditions": "score>4"}'


def test_multi_line_texts_open_no_blocks() -> None:
    message = "first\n- item\n12. item\n===\n---"
    plan = Plan((project(1, "a.yaml", patch={"name": "x"}, warnings=(message,)),))
    tokens = MD.parse(render_markdown(plan, failures=(Failure("a.yaml", message),)))
    kinds = {t.type for t in tokens}
    assert "hr" not in kinds and "ordered_list_open" not in kinds
    assert [t.tag for t in tokens if t.type == "heading_open"] == ["h2", "h3", "h3"]
    assert sum(t.type == "list_item_open" for t in tokens) == 1  # the failure itself
    html = MD.render(render_markdown(plan, failures=(Failure("a.yaml", message),)))
    assert "first<br />\n- item<br />\n12. item<br />\n===<br />\n---</p>\n</blockquote>" in html
    assert "first<br />\n- item<br />\n12. item<br />\n===<br />\n---</li>" in html


def test_rubric_sent_whole_without_rule_changes() -> None:
    plan = Plan((project(1, "a.yaml", patch={"rubric_config": {}}, rules_kept=2, metrics_kept=1),))
    output = render_markdown(plan)
    assert "The rubric is sent whole" in output and "2 rules of 1 other metric kept." in output
    assert "table_open" not in {t.type for t in MD.parse(output)}


def test_failure_without_a_file() -> None:
    output = render_markdown(
        Plan(()), failures=(Failure("", "--project 9: no file given manages such a project"),)
    )
    assert MD.render(output).endswith("<li>--project 9: no file given manages such a project</li>\n</ul>\n")
    assert "No projects planned. 1 failure." in output


def test_summary_counts_changed_rules_as_rules_not_metrics() -> None:
    """One metric whose two rules change: that is 2 rules changed, not "rules of 2 metrics"."""
    change = RuleChange(
        5512,
        "change",
        (rule(5512, "score", "gte", 3),),
        (rule(5512, "score", "gte", 4), rule(5512, "score", "lte", 9)),
    )
    plan = Plan((project(1, "a.yaml", rules=(change,)),))
    output = render_markdown(plan)
    assert "1 of 1 project to change: 2 rules to change." in output
    assert "2 rules to change; one PATCH of 1 field." in output
    drift = render_markdown(plan, kind="drift")
    assert "1 of 1 project drifted: 2 rules changed." in drift
    assert "metric" not in output.split("### Project", 1)[0]


def test_impact_preview_escapes_like_the_plan_comment() -> None:
    """The impact tables go through the same escaping and code spans as the plan: a metric name is
    escaped text (``&`` as ``\\&``, not ``&amp;``) and a call id a verbatim code span (its backticks
    kept, not dropped)."""
    report = ImpactReport(123)
    report.record("call`1|x", PASS, Verdict(False, (5512,)))
    output = render_impact_markdown([report], {5512: "A & B ~ `x` | <b>y</b>"})
    assert r"| 5512 A \& B \~ \`x\` \| \<b\>y\</b\> | 1 | 0 |" in output.splitlines()
    assert "Example call log ids: pass → fail: ``call`1|x``." in output
    tokens = MD.parse(output)
    assert sum(t.type == "table_open" for t in tokens) == 2
    assert "html_inline" not in {t.type for token in tokens for t in token.children or []}


def test_summaries_count_metric_definitions() -> None:
    """A plan that only creates a metric says so, as the text plan does ("1 metric to create; no
    project PATCH"), instead of "no setting or rule changes; one PATCH of 0 fields"."""
    from reconciler.changes import MetricChange

    create = MetricChange("tone_check", "create", new_id=-1, name="Tone", after={"name": "Tone"})
    delete = MetricChange("old_one", "delete", metric_id=9, name="Old")
    only_metrics = ProjectPlan(
        124, "m.yaml", metric_changes=(create, delete), managed_kinds={"metrics": ("tone_check",)}
    )
    output = render_markdown(Plan((only_metrics,)))
    assert "1 of 1 project to change: 1 metric to create, 1 metric to delete." in output
    assert "1 metric to create, 1 metric to delete; no project PATCH." in output
    assert "one PATCH of 0 fields" not in output
