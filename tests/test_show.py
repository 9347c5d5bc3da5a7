"""`show PLANFILE` prints a saved plan offline; a stale saved plan says what moved, per project;
`localhost` and `127.0.0.1` are the same server for a saved plan."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from conftest import API_KEY, ROOT, Cli

from reconciler.emulator import RunningEmulator
from reconciler.renderers.markdown import comment_marker

SECRET = "vapi-SHOW-plan-secret-5d1e"


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def two_projects(tmp_path: Path) -> list[Path]:
    return [
        write(
            tmp_path,
            "a.yaml",
            "version: 1\nproject: 123\nsettings:\n  is_deleted: true\nrubric:\n  prune: true\n  rules: []\n",
        ),
        write(
            tmp_path,
            "b.yaml",
            "version: 1\nproject: 124\nsettings:\n  sample_rate: 0.75\n  outbound_timeout: 200\n"
            "secrets:\n  vapi_api_key: {env: VAPI_API_KEY}\n"
            "rubric:\n  rules:\n    - metric_id: 61207\n"
            "      conditions: {operator: and, conditions: [{field: score, op: gte, value: 4}]}\n",
        ),
    ]


def saved(cli: Cli, tmp_path: Path, files: list[Path]) -> Path:
    out = tmp_path / "reviewed.plan"
    made = cli("plan", "--out", str(out), *map(str, files), env={"VAPI_API_KEY": SECRET})
    assert made.code == 0, made.err
    return out


def offline(cli: Cli, *args: str) -> tuple[int, str, str]:
    """The CLI with no API key and a base URL where nothing listens: `show` must not need either."""
    env = {k: v for k, v in cli.env.items() if k != "CEKURA_API_KEY"}
    env["CEKURA_BASE_URL"] = "http://127.0.0.1:9"
    proc = subprocess.run(
        [sys.executable, "-m", "reconciler", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return proc.returncode, proc.stdout, proc.stderr


def test_show_prints_a_saved_plan_offline_in_each_format(
    cli: Cli, emulator: RunningEmulator, tmp_path: Path
) -> None:
    out = saved(cli, tmp_path, two_projects(tmp_path))
    emulator.state.clear_requests()

    code, text, err = offline(cli, "show", str(out))
    assert code == 0, err
    assert "is_deleted: false -> true" in text
    assert "sample_rate: 0.5 -> 0.75" in text
    assert "apply refuses it without --allow-delete" in text
    assert "apply refuses it without --force" in text
    assert f"made against {emulator.base_url}" in text

    code, md, err = offline(cli, "show", "--format", "markdown", str(out))
    assert code == 0, err
    assert md.startswith(comment_marker("plan") + "\n")
    assert "`--allow-delete`" in md and "`--force`" in md
    assert "`vapi_api_key`" in md

    code, raw, err = offline(cli, "show", "--format", "json", str(out))
    assert code == 0, err
    document = json.loads(raw)
    assert [p["project_id"] for p in document["projects"]] == [123, 124]
    assert document["projects"][0]["requires_flags"] == ["--allow-delete", "--force"]
    assert document["saved_plan"]["base_url"] == emulator.base_url

    for shown in (text, md, raw):
        assert SECRET not in shown and API_KEY not in shown
    assert emulator.state.requests == []  # offline: nothing was asked of the API


def test_show_refuses_an_edited_plan_and_a_project_file(cli: Cli, tmp_path: Path) -> None:
    out = saved(cli, tmp_path, two_projects(tmp_path)[1:])
    out.write_text(out.read_text().replace("0.75", "0.95"))
    code, _, err = offline(cli, "show", str(out))
    assert code == 1 and "checksum does not match" in err
    code, _, err = offline(cli, "show", str(two_projects(tmp_path)[1]))
    assert code == 1 and "not a saved plan" in err
    assert "Traceback" not in err


def test_a_stale_plan_names_what_moved_per_project_and_how_to_plan_again(
    cli: Cli, emulator: RunningEmulator, tmp_path: Path
) -> None:
    files = two_projects(tmp_path)
    out = saved(cli, tmp_path, files)
    emulator.state.set_project_fields(124, outbound_timeout=150)
    rules = emulator.state.project(123)["rubric_config"]["rules"]
    emulator.state.set_project_fields(123, rubric_config={"evaluation_logic": "and", "rules": rules[1:]})
    result = cli("apply", "--allow-delete", "--force", str(out), env={"VAPI_API_KEY": SECRET})
    assert result.code == 1
    assert "stale plan" in result.err
    assert "project 124: outbound_timeout" in result.err
    assert "project 123: rubric rules of metric 115164 (Appointment Booked) removed" in result.err
    assert "plan --out" in result.err  # how to plan again
    assert emulator.state.patches() == []


def test_localhost_and_127_0_0_1_are_the_same_server_for_a_saved_plan(
    cli: Cli, emulator: RunningEmulator, tmp_path: Path
) -> None:
    out = saved(cli, tmp_path, two_projects(tmp_path)[1:])
    other = emulator.base_url.replace("127.0.0.1", "localhost") + "/"
    result = cli("apply", "--base-url", other, str(out), env={"VAPI_API_KEY": SECRET})
    assert result.code == 0, result.err
    assert len(emulator.state.patches()) == 1


def test_a_saved_plan_for_another_port_is_still_refused(
    cli: Cli, emulator: RunningEmulator, tmp_path: Path
) -> None:
    out = saved(cli, tmp_path, two_projects(tmp_path)[1:])
    port = int(emulator.base_url.rsplit(":", 1)[1])
    other = f"http://localhost:{port + 1 if port < 65535 else port - 1}"
    result = cli("apply", "--base-url", other, str(out), env={"VAPI_API_KEY": SECRET})
    assert result.code == 1 and "was made against" in result.err
    assert emulator.state.patches() == []


def test_same_server() -> None:
    from reconciler.client import same_server

    assert same_server("http://localhost:8787", "http://127.0.0.1:8787/")
    assert same_server("http://[::1]:8787", "http://LOCALHOST:8787")
    assert same_server("https://api.cekura.ai", "https://API.cekura.ai:443/")
    assert not same_server("http://127.0.0.1:8787", "http://127.0.0.1:8788")
    assert not same_server("http://127.0.0.1:8787", "https://127.0.0.1:8787")
    assert not same_server("https://api.cekura.ai", "https://api.cekura.ai/v2")
    assert not same_server("https://api.cekura.ai", "https://staging.cekura.ai")


def test_show_help_has_an_example(cli: Cli) -> None:
    result = cli("show", "--help")
    assert result.code == 0 and "Example:" in result.out and "show reviewed.plan" in result.out
