"""The official Cekura SDK (``cekura`` on PyPI, a dev dependency only) against the emulator.

If the emulator answers the SDK the way the real API does, the SDK lists and reads projects on it
unchanged. The SDK calls paths without the trailing slash (``/user/v1/projects``), takes the base URL
as ``base_url=`` (or ``CEKURA_API_URL``) and the key as ``api_key=``.
"""

from __future__ import annotations

from typing import Any

import pytest
from conftest import API_KEY

from reconciler.emulator import ApiKey, RunningEmulator

cekura: Any = pytest.importorskip("cekura")


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """The SDK's httpx client honours proxy variables; the emulator is on loopback."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("CEKURA_API_URL", raising=False)


def test_the_official_sdk_lists_and_reads_projects(emulator: RunningEmulator) -> None:
    with cekura.Cekura(api_key=API_KEY, base_url=emulator.base_url, timeout=10) as client:
        projects = client.projects.list()
        assert [p["id"] for p in projects] == [123, 124, 125]
        project = client.projects.get(123)
    assert project == emulator.state.project(123)
    assert project["name"] == "Support line QA"
    assert project["rubric_config"]["evaluation_logic"] == "and"
    requests = emulator.state.requests
    assert [(r.method, r.path) for r in requests] == [
        ("GET", "/user/v1/projects"),
        ("GET", "/user/v1/projects/123"),
    ]
    assert {r.headers["x-cekura-api-key"] for r in requests} == {API_KEY}


def test_the_official_sdk_sees_what_a_project_key_may_see(emulator: RunningEmulator) -> None:
    emulator.state.keys["sdk-project-key"] = ApiKey(project=124)
    with cekura.Cekura(api_key="sdk-project-key", base_url=emulator.base_url, timeout=10) as client:
        assert [p["id"] for p in client.projects.list()] == [124]
        assert client.projects.get(124)["id"] == 124
        with pytest.raises(cekura.AuthenticationError):
            client.projects.get(123)
