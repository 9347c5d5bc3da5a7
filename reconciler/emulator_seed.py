"""The data the Cekura API emulator starts from: the default seed, field defaults, generated call logs.

The default seed is a small but realistic organisation (three projects, metrics of every eval_type,
agents, a rubric) that ``make demo`` and the end-to-end tests run against, so it must stay
deterministic: no wall clock and no unseeded randomness here. It is written in the current forms of
the API (the 2026-08-20 spec): the four eval_types ``binary``, ``continuous_qualitative``,
``numeric`` and ``enum``, binary rubric rules with ``value: true/false``, and every answer shaped as
the spec's response schemas say (``tests/test_contract.py`` holds the emulator to them). This
module is plain data and pure functions: it must never do I/O, never import the network stack, and
never hold a real credential (the secrets below are obviously fake demo values).

``SECRET_FIELDS`` and the eval-type families below are the server's own copies on purpose, not
imports of ``reconciler.model`` / ``reconciler.conditions``: see the emulator's module docstring.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

REFERENCE_NOW = "2026-11-28T12:00:00Z"

# Write-only on the API: accepted by PATCH, stored, answered only as "<name>_configured".
SECRET_FIELDS = (
    "webhook_secret",
    "vapi_api_key",
    "retell_api_key",
    "syntflow_api_key",
    "elevenlabs_api_key",
    "livekit_api_key",
    "pipecat_api_key",
)

# The current eval_types are binary, continuous_qualitative, numeric and enum; the legacy names a
# server may still hold are understood as the spec maps them (seeded metrics use only current ones).
BINARY_EVAL_TYPES = frozenset(
    {"binary", "binary_qualitative", "binary_workflow_adherence", "evaluate_expected_outcome"}
)
SCORE_EVAL_TYPES = frozenset({"continuous_qualitative", "numeric"})
ENUM_EVAL_TYPES = frozenset({"enum", "observability_topics", "observability_dropoff"})

_ORG_CREATED = "2025-02-03T14:22:10.418305Z"
_USERS = (
    (7, "Dana Whitfield", "dana.whitfield@acme-health.example", "admin"),
    (11, "Ravi Menon", "ravi.menon@acme-health.example", "member"),
    (19, "Sofia Alvarez", "sofia.alvarez@acme-health.example", "view_only"),
)


def _member(membership_id: int, user: tuple[int, str, str, str], created: str) -> dict[str, Any]:
    user_id, name, email, role = user
    return {
        "id": membership_id,
        "user": {"name": name, "email": email, "id": user_id},
        "role": role,
        "is_email_notify_enabled": role != "view_only",
        "created_at": created,
        "updated_at": created,
    }


def _organization() -> dict[str, Any]:
    return {
        "name": "Acme Health",
        "id": 42,
        "members": [_member(900 + i, user, _ORG_CREATED) for i, user in enumerate(_USERS)],
        "created_at": _ORG_CREATED,
        "updated_at": "2026-06-17T09:41:27.052118Z",
    }


def project_defaults() -> dict[str, Any]:
    """Every field a GET of a project returns, in the API's order, with the API's defaults.

    A seed project is laid over this, so a hand-written seed of ``{"id": 1, "name": "x"}`` still
    answers with the full shape. Secrets are absent: they are kept apart and shown as ``*_configured``,
    which the spec types as a string (``"true"``/``"false"``). An unset ``webhook_url`` is ``""``: the
    spec's Project has it as a non-null string.
    """
    return {
        "id": 0,
        "name": "Default Project",
        "members": [],
        "organization": {
            "name": "Default Organization",
            "id": 1,
            "members": [],
            "created_at": _ORG_CREATED,
            "updated_at": _ORG_CREATED,
        },
        "outbound_timeout": 300,
        "max_call_duration": 600,
        "min_call_duration": 0,
        "sample_rate": 1.0,
        "max_messages_chat_runs_limit": 100,
        "webhook_url": "",
        "webhook_secret_configured": "false",
        "evaluate_relevant_metrics_enabled": False,
        "end_call_enabled": True,
        "generate_scenario_auto_assign_numbers_enabled": False,
        "enable_client_side_testing": False,
        "use_provider_transcript": False,
        "should_show_powered_by": True,
        "notify_results_completion": False,
        "notify_daily_report": False,
        "notify_daily_report_no_calls": False,
        "daily_report_ai_summary_enabled": False,
        "notify_cron_failure": False,
        "notify_cron_success": False,
        "notify_no_calls": False,
        "no_calls_notify_time_period": None,
        "notify_daily_report_webhook": False,
        "notify_pre_run_webhook": False,
        "daily_report_dashboard_ids": [],
        "notify_result_webhook_failed": False,
        "notify_result_webhook_success": False,
        "notify_result_webhook_error": False,
        "notify_cronjob_webhook_failed": False,
        "notify_cronjob_webhook_success": False,
        "notify_cronjob_webhook_error": False,
        "notify_call_log_webhook_failed": False,
        "notify_call_log_webhook_success": False,
        "notify_frequent_calls_for_number": False,
        "frequent_calls_threshold": -1,
        "frequent_calls_time_period": -1,
        "frequent_calls_cooldown": -1,
        "forward_vapi_webhook": False,
        "forward_retell_webhook": False,
        "is_send_emails_enabled": True,
        "rubric_config": {},
        "timezone": "UTC",
        "vapi_api_key_configured": "false",
        "vapi_public_key_configured": "false",
        "retell_api_key_configured": "false",
        "syntflow_api_key_configured": "false",
        "elevenlabs_api_key_configured": "false",
        "livekit_api_key_configured": "false",
        "pipecat_api_key_configured": "false",
        "is_deleted": False,
        "created_at": _ORG_CREATED,
        "updated_at": _ORG_CREATED,
    }


def metric_defaults() -> dict[str, Any]:
    """The MetricList fields the emulator answers with (a realistic subset of the schema; fields the
    spec types other than the API plainly sends, such as ``agent_names``, are left out)."""
    return {
        "id": 0,
        "slug": None,
        "project": None,
        "agents": [],
        "name": "",
        "description": "",
        "function_name": None,
        "type": "llm_judge",
        "eval_type": "binary",
        "enum_values": [],
        "audio_enabled": False,
        "observability_enabled": True,
        "simulation_enabled": True,
        "sampling_enabled": True,
        "prompt": "",
        "display_order": 1,
        "evaluation_trigger": "always",
        "trigger_type": "llm_judge",
        "evaluation_trigger_prompt": "",
        "configuration": {},
        "kb_file_ids": [],
        "knowledge_base_files": [],
        "metric_cost": 0.01,
        "alert_type": "disabled",
        "add_to_new_agents": False,
        "alert_filters": None,
        "slack_workspace": None,
        "slack_channel_id": None,
    }


def agent_defaults() -> dict[str, Any]:
    """The AIAgent fields the emulator answers with (a realistic subset of the schema; not
    ``knowledge_base_files``, which the spec types as a string)."""
    return {
        "id": 0,
        "project": 0,
        "agent_name": "",
        "contact_number": "",
        "inbound": True,
        "description": "",
        "language": "en",
        "assistant_id": None,
        "chat_assistant_id": "",
        "websocket_url": None,
        "llm_model": "gpt-4o",
        "llm_temperature": 0.0,
        "llm_max_tokens": 4096,
        "outbound_auto_call": False,
        "sip_endpoint": None,
        "transcript_provider": "vapi",
        "assistant_provider": "vapi",
        "vapi_api_key_configured": "false",
        "retell_api_key_configured": "false",
        "auto_fetch_calls_enabled": True,
        "webhook_url": "",
        "webhook_secret_configured": "false",
        "created_at": _ORG_CREATED,
        "updated_at": _ORG_CREATED,
    }


def _metric(
    metric_id: int,
    name: str,
    eval_type: str,
    *,
    project: int | None,
    slug: str | None = None,
    agents: tuple[int, ...] = (),
    enum_values: tuple[str, ...] = (),
    description: str,
    order: int,
) -> dict[str, Any]:
    snake = name.lower().replace(" ", "_").replace("-", "_")
    return {
        "id": metric_id,
        "slug": slug or f"{snake}_{metric_id}",
        "project": project,
        "agents": list(agents),
        "name": name,
        "description": description,
        "eval_type": eval_type,
        "enum_values": list(enum_values),
        "prompt": f"{description} Answer from the transcript only.",
        "display_order": order,
    }


_RESOLUTION = ("resolved", "partially_resolved", "unresolved")
_TOPICS = ("billing", "appointment", "prescription_refill", "insurance", "other")
_DROPOFF = ("greeting", "identity_verification", "scheduling", "payment", "no_dropoff")


def _metrics() -> list[dict[str, Any]]:
    support = [
        _metric(
            5512,
            "Customer Satisfaction",
            "continuous_qualitative",
            project=123,
            order=1,
            description="How satisfied the caller sounded by the end of the call, 0 to 5.",
        ),
        _metric(
            115164,
            "Appointment Booked",
            "binary",
            project=123,
            order=2,
            description="Whether the agent booked the appointment the caller asked for.",
        ),
        _metric(
            8821,
            "Call Resolution",
            "enum",
            project=123,
            enum_values=_RESOLUTION,
            order=3,
            description="Whether the caller's issue was resolved.",
        ),
        _metric(
            7001,
            "Response Latency",
            "numeric",
            project=123,
            order=4,
            description="Median seconds between the caller finishing and the agent answering.",
        ),
        _metric(
            7002,
            "Followed Script",
            "binary",
            project=123,
            order=5,
            description="Whether the agent followed the support script.",
        ),
        _metric(
            7003,
            "Topic",
            "enum",
            project=123,
            enum_values=_TOPICS,
            order=6,
            description="What the call was about.",
        ),
        _metric(
            9101,
            "Greeting Compliance",
            "binary",
            project=None,
            agents=(301,),
            order=7,
            description="Whether the main line agent used the approved greeting.",
        ),
    ]
    # Staging and production are copies of one another: same names and slugs, their own ids, so one
    # rubric file can name metrics by slug (or by name, shared with project 123) in every project.
    copies: list[dict[str, Any]] = []
    for project, base in ((124, 61207), (125, 61315)):
        copies += [
            _metric(
                base,
                "Customer Satisfaction",
                "continuous_qualitative",
                project=project,
                order=1,
                slug="customer_satisfaction",
                description="How satisfied the prospect sounded, 0 to 5.",
            ),
            _metric(
                base + 1,
                "Appointment Booked",
                "binary",
                project=project,
                order=2,
                slug="appointment_booked",
                description="Whether a demo meeting was booked.",
            ),
            _metric(
                base + 2,
                "Call Resolution",
                "enum",
                project=project,
                enum_values=_RESOLUTION,
                order=3,
                slug="call_resolution",
                description="Whether the prospect's questions were answered.",
            ),
        ]
    copies.append(
        _metric(
            61210,
            "Expected Outcome",
            "binary",
            project=124,
            order=4,
            description="Whether the call reached the scenario's expected outcome.",
        )
    )
    copies += [
        _metric(
            61318,
            "Drop-off Point",
            "enum",
            project=125,
            enum_values=_DROPOFF,
            order=4,
            description="Where in the conversation the prospect disengaged.",
        ),
        _metric(
            61319,
            "Qualified Lead",
            "binary",
            project=125,
            order=5,
            description="Whether the prospect meets the qualification criteria.",
        ),
    ]
    return support + copies


_SUPPORT_AGENTS = (
    "Support Line - Main",
    "Support Line - Spanish",
    "Billing Desk",
    "Pharmacy Refills",
    "After Hours",
    "Appointment Scheduler",
    "Insurance Verification",
    "Lab Results",
    "Nurse Triage",
    "Referrals",
    "Patient Portal Help",
    "Overflow Queue",
)


def _agent(agent_id: int, project: int, name: str, *, number: str, provider: str) -> dict[str, Any]:
    return {
        "id": agent_id,
        "project": project,
        "agent_name": name,
        "contact_number": number,
        "inbound": not name.startswith("Sales"),
        "description": f"{name} voice agent.",
        "language": "es" if "Spanish" in name else "en",
        "assistant_id": f"asst_{agent_id:04d}a1b2c3d4",
        "transcript_provider": provider,
        "assistant_provider": provider,
        "vapi_api_key_configured": "true" if provider == "vapi" else "false",
        "retell_api_key_configured": "true" if provider == "retell" else "false",
    }


def _agents() -> list[dict[str, Any]]:
    agents = [
        _agent(301 + i, 123, name, number=f"+1617555{1000 + i:04d}", provider="vapi")
        for i, name in enumerate(_SUPPORT_AGENTS)
    ]
    agents += [
        _agent(401, 124, "Sales Outbound - Staging A", number="+14155550101", provider="retell"),
        _agent(402, 124, "Sales Outbound - Staging B", number="+14155550102", provider="retell"),
        _agent(501, 125, "Sales Outbound - Primary", number="+14155550201", provider="retell"),
        _agent(502, 125, "Sales Outbound - Backup", number="+14155550202", provider="retell"),
    ]
    return agents


def _rule(metric_id: int, field: str, op: str, value: Any) -> dict[str, Any]:
    return {
        "metric_id": metric_id,
        "conditions": {"operator": "and", "conditions": [{"op": op, "field": field, "value": value}]},
    }


def _projects() -> list[dict[str, Any]]:
    org = _organization()
    members = [_member(1200 + i, user, "2025-02-03T14:30:00.000000Z") for i, user in enumerate(_USERS)]
    support = {
        "id": 123,
        "name": "Support line QA",
        "members": members,
        "organization": org,
        "outbound_timeout": 300,
        "max_call_duration": 600,
        "min_call_duration": 15,
        "sample_rate": 1.0,
        "max_messages_chat_runs_limit": 100,
        "webhook_url": "https://hooks.acme-health.example/cekura/results",
        "evaluate_relevant_metrics_enabled": True,
        "end_call_enabled": True,
        "generate_scenario_auto_assign_numbers_enabled": False,
        "enable_client_side_testing": False,
        "use_provider_transcript": False,
        "should_show_powered_by": True,
        "notify_results_completion": True,
        "notify_daily_report": True,
        "notify_daily_report_no_calls": False,
        "daily_report_ai_summary_enabled": False,
        "notify_cron_failure": True,
        "notify_cron_success": False,
        "notify_no_calls": True,
        "no_calls_notify_time_period": {
            "time_zone": "America/New_York",
            "time_periods": [
                {"start_time": "09:00", "end_time": "17:00", "time_frame": 30},
                {"start_time": "18:00", "end_time": "23:59", "time_frame": 60},
            ],
            "exception_numbers": ["+15551234567", "+14155552671"],
            "agents": [305, 312],
        },
        "notify_daily_report_webhook": False,
        "notify_pre_run_webhook": False,
        "daily_report_dashboard_ids": [17, 23],
        "notify_result_webhook_failed": True,
        "notify_result_webhook_success": False,
        "notify_result_webhook_error": True,
        "notify_cronjob_webhook_failed": True,
        "notify_cronjob_webhook_success": False,
        "notify_cronjob_webhook_error": True,
        "notify_call_log_webhook_failed": False,
        "notify_call_log_webhook_success": False,
        "notify_frequent_calls_for_number": True,
        "frequent_calls_threshold": 5,
        "frequent_calls_time_period": 60,
        "frequent_calls_cooldown": 240,
        "forward_vapi_webhook": True,
        "forward_retell_webhook": False,
        "is_send_emails_enabled": True,
        "rubric_config": {
            "evaluation_logic": "and",
            "rules": [
                _rule(115164, "score", "eq", True),
                _rule(5512, "score", "gte", 4),
                _rule(8821, "enum", "in", ["resolved", "partially_resolved"]),
            ],
        },
        "timezone": "America/New_York",
        "vapi_api_key": "vapi-demo-not-a-real-key-123",
        "is_deleted": False,
        "created_at": "2025-02-03T14:30:00.000000Z",
        "updated_at": "2026-11-20T16:05:41.731250Z",
    }
    staging = copy.deepcopy(support)
    staging.update(
        {
            "id": 124,
            "name": "Sales outbound (staging)",
            "outbound_timeout": 120,
            "max_call_duration": 900,
            "min_call_duration": 0,
            "sample_rate": 0.5,
            "webhook_url": "https://staging.sales.acme-health.example/hooks/cekura",
            "notify_results_completion": False,
            "notify_daily_report": False,
            "notify_no_calls": False,
            "no_calls_notify_time_period": None,
            "daily_report_dashboard_ids": [],
            "notify_frequent_calls_for_number": False,
            "frequent_calls_threshold": -1,
            "frequent_calls_time_period": -1,
            "frequent_calls_cooldown": -1,
            "forward_vapi_webhook": False,
            "forward_retell_webhook": True,
            "use_provider_transcript": True,
            "rubric_config": {},
            "retell_api_key": "retell-demo-not-a-real-key-124",
            "created_at": "2025-09-14T10:02:11.500000Z",
            "updated_at": "2026-11-25T08:12:09.004417Z",
        }
    )
    del staging["vapi_api_key"]
    production = copy.deepcopy(staging)
    production.update(
        {
            "id": 125,
            "name": "Sales outbound (production)",
            "sample_rate": 0.25,
            "webhook_url": "https://sales.acme-health.example/hooks/cekura",
            "notify_results_completion": True,
            "notify_daily_report": True,
            "daily_report_ai_summary_enabled": True,
            "notify_pre_run_webhook": True,
            "daily_report_dashboard_ids": [31],
            "rubric_config": {
                "evaluation_logic": "and",
                "rules": [_rule(61316, "score", "eq", True), _rule(61315, "score", "gte", 3.5)],
            },
            "retell_api_key": "retell-demo-not-a-real-key-125",
            "webhook_secret": "whsec-demo-not-a-real-secret-125",
            "created_at": "2025-09-14T10:05:47.250000Z",
            "updated_at": "2026-11-26T19:44:30.118902Z",
        }
    )
    return [support, staging, production]


def default_seed() -> dict[str, Any]:
    """A fresh copy of the built-in seed (call logs are generated from it, not listed)."""
    return {"now": REFERENCE_NOW, "projects": _projects(), "metrics": _metrics(), "agents": _agents()}


# -- generated call logs --------------------------------------------------------------------------


def _metric_result(rng: random.Random, metric: dict[str, Any]) -> dict[str, Any]:
    """A call log's ``metrics[]`` entry as the spec's CallLogListSerializerMetrics has it: ``score``
    a number, ``enum`` and ``value`` strings, every one present ("" or 0 where the type has none)."""
    eval_type = metric.get("eval_type")
    enum_values = metric.get("enum_values")
    result: dict[str, Any] = {
        "id": metric["id"],
        "name": metric.get("name", ""),
        "type": eval_type,
        "score": 0,
        "enum": "",
        "value": "",
    }
    if eval_type in ENUM_EVAL_TYPES and isinstance(enum_values, list) and enum_values:
        # Skewed toward the first value, as real outcomes are: most calls resolve.
        weights = [len(enum_values) - i for i in range(len(enum_values))]
        choice = str(rng.choices(enum_values, weights=weights)[0])
        result["enum"] = result["value"] = choice
    elif eval_type in BINARY_EVAL_TYPES:
        result["score"] = 5 if rng.random() < 0.78 else 0
    elif eval_type == "numeric":
        result["score"] = round(rng.uniform(0.4, 4.0), 2)
    elif eval_type == "continuous_qualitative":
        result["score"] = rng.choices([1, 2, 3, 4, 5], weights=[5, 10, 20, 35, 30])[0]
    else:
        result["score"] = round(rng.uniform(0.0, 5.0), 1)
    return result


def irrelevant(result: dict[str, Any]) -> bool:
    """A metric result the product marked irrelevant: its trigger did not fire
    (``extra.trigger_failed``), so the metric did not really run on the call."""
    extra = result.get("extra")
    return isinstance(extra, dict) and extra.get("trigger_failed") is True


def _has_value(field: Any, actual: Any) -> bool:
    if actual is None or (isinstance(actual, str) and not actual):
        return False
    return field != "enum" or isinstance(actual, str)


def condition_holds(condition: Any, result: dict[str, Any]) -> bool | None:
    """One rubric condition against one metric result, as the product decides it; None when the
    result has no value in the tested field (the condition is skipped)."""
    if not isinstance(condition, dict):
        return False
    field, op, value = condition.get("field"), condition.get("op"), condition.get("value")
    actual = result.get(field) if isinstance(field, str) else None
    if not _has_value(field, actual):
        return None
    if isinstance(value, bool):
        value = 5 if value else 0
    if isinstance(actual, bool):
        actual = 5 if actual else 0
    if op == "eq":
        return bool(actual == value)
    if op == "neq":
        return bool(actual != value)
    if op == "in":
        return isinstance(value, list) and actual in value
    if not isinstance(actual, int | float) or not isinstance(value, int | float):
        return False
    comparisons = {"gt": actual > value, "gte": actual >= value, "lt": actual < value, "lte": actual <= value}
    return comparisons.get(str(op), False)


def _combine(logic: Any, verdicts: list[bool | None]) -> bool | None:
    """``and``/``or`` over the verdicts that are not skipped (None); None when all are skipped."""
    decided = [v for v in verdicts if v is not None]
    if not decided:
        return None
    return any(decided) if logic == "or" else all(decided)


def rubric_passes(rubric: Any, results: dict[int, dict[str, Any]]) -> bool | None:
    """None when there is no rubric. Rules whose metric has no result on the call, or a result marked
    irrelevant or without a value, are skipped; when every rule is skipped the call passes.
    ``evaluation_logic`` (and a rule's ``operator``) ``"or"`` is evaluated as written."""
    rules = rubric.get("rules") if isinstance(rubric, dict) else None
    if not isinstance(rules, list) or not rules:
        return None
    verdicts: list[bool | None] = []
    for rule in rules:
        metric_id = rule.get("metric_id") if isinstance(rule, dict) else None
        result = results.get(metric_id) if isinstance(metric_id, int) else None
        conditions = rule.get("conditions") if isinstance(rule, dict) else None
        inner = conditions.get("conditions") if isinstance(conditions, dict) else None
        if result is None or irrelevant(result) or not isinstance(inner, list):
            continue
        operator = conditions.get("operator", "and") if isinstance(conditions, dict) else "and"
        verdicts.append(_combine(operator, [condition_holds(c, result) for c in inner]))
    verdict = _combine(rubric.get("evaluation_logic", "and"), verdicts)
    return True if verdict is None else verdict


def generate_call_logs(
    project: dict[str, Any],
    metrics: list[dict[str, Any]],
    agents: list[dict[str, Any]],
    *,
    now: datetime,
    count: int = 300,
    days: int = 30,
) -> list[dict[str, Any]]:
    """``count`` calls of one project over the ``days`` before ``now``, newest first.

    Seeded by the project id, so every run (and every process) sees the same calls. ``metrics`` are
    the metrics that may produce a result in this project; an agent-scoped one only does so on
    calls of its agents. Roughly one result in twelve is missing, as when a metric did not apply,
    and one in fifteen of the others is marked irrelevant (``extra.trigger_failed``: the metric's
    trigger did not fire), with a value that the rubric must not count.
    """
    calls = list(iter_generated_calls(project, metrics, agents, now=now, count=count, days=days))
    calls.sort(key=lambda call: (call["timestamp"], call["id"]), reverse=True)
    return calls


def iter_generated_calls(
    project: dict[str, Any],
    metrics: list[dict[str, Any]],
    agents: list[dict[str, Any]],
    *,
    now: datetime,
    count: int = 300,
    days: int = 30,
) -> Iterator[dict[str, Any]]:
    """The calls of :func:`generate_call_logs`, one at a time and not yet sorted: the emulator
    serializes each as it comes, so it never holds them all as objects."""
    project_id = int(project["id"])
    rng = random.Random(project_id)
    callers = [f"+1{rng.randint(201, 989)}{rng.randint(2000000, 9999999)}" for _ in range(120)]
    for index in range(count):
        agent = rng.choice(agents) if agents else None
        agent_id = agent["id"] if agent else None
        results: dict[int, dict[str, Any]] = {}
        for metric in metrics:
            scoped_to = metric.get("agents") or []
            if metric.get("project") != project_id and agent_id not in scoped_to:
                continue
            result = _metric_result(rng, metric)
            if rng.random() >= 1 / 12:
                if rng.random() < 1 / 15:
                    result["extra"] = {"trigger_failed": True}
                results[metric["id"]] = result
        passed = rubric_passes(project.get("rubric_config"), results)
        success = passed if passed is not None else rng.random() < 0.85
        seconds = rng.randint(20, 900)
        topic = next((r["enum"] for r in results.values() if r["name"] == "Topic" and r["enum"]), "")
        when = now - timedelta(seconds=rng.randint(0, days * 86400 - 1))
        yield (
            {
                "id": project_id * 100_000 + index + 1,
                "call_id": f"call_{rng.getrandbits(64):016x}",
                "timestamp": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "agent": agent_id,
                "agent_name": agent.get("agent_name", "") if agent else "",
                "success": success,
                "is_reviewed": False,
                "status": "success" if success else "failure",
                "customer_number": rng.choice(callers),
                "duration": f"{seconds // 60:02d}:{seconds % 60:02d}",
                "call_ended_reason": rng.choice(
                    ["customer-ended-call", "assistant-ended-call", "silence-timed-out"]
                ),
                "topic": topic,
                "metrics": list(results.values()),
            }
        )
