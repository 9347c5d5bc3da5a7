"""Holes found by an adversarial review of "Nothing lost, nothing leaked" and "Speak the Cekura API as
it is today": each test failed on the code it was written against."""

from __future__ import annotations

import httpx
import pytest

from reconciler.client import CekuraClient
from reconciler.errors import MalformedResponse

KEY = "review-key-7d1e0b5a93"
BASE = "https://api.example.test"


@pytest.mark.parametrize(
    "link",
    [
        "http:http://evil.example:8080/steal?page=2",  # a scheme, no host: the "path" is a URL
        "https:https://evil.example/steal?page=2",
        "https://api.example.test//evil.example/steal?page=2",  # a path that reads as a host
        "http:evil.example/steal?page=2",  # a scheme and a relative path
    ],
)
def test_a_next_link_whose_path_is_a_url_never_takes_the_key_elsewhere(link: str) -> None:
    """``next`` is followed by its path on the base URL; a link whose "path" is itself a URL (or
    does not start with a single /) must not become a request to that URL with the key on it."""
    seen: list[httpx.URL] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url)
        if request.url.host != "api.example.test":
            return httpx.Response(200, json={"next": None, "results": [{"id": 666}]})
        return httpx.Response(200, json={"next": link, "results": [{"id": 1}]})

    client = CekuraClient(BASE, KEY, transport=httpx.MockTransport(handler), sleep=lambda s: None)
    with pytest.raises(MalformedResponse, match="next page link") as caught:
        client.list_agents(1)
    assert KEY not in str(caught.value)
    assert [u.host for u in seen] == ["api.example.test"]


def test_a_next_link_refused_as_no_path_shows_no_key() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"next": f"http:http://evil.example/?k={KEY}", "results": []})

    client = CekuraClient(BASE, KEY, transport=httpx.MockTransport(handler), sleep=lambda s: None)
    with pytest.raises(MalformedResponse, match="names no path") as caught:
        client.list_agents(1)
    assert KEY not in str(caught.value)
