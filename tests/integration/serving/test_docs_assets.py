"""/docs and /redoc reference only this server: their assets are served from the installed package."""

from __future__ import annotations

import re
from typing import Any

import pytest


@pytest.fixture
def client(settings_factory: Any) -> Any:
    from fastapi.testclient import TestClient

    from sentiment_mlops.serving.app import create_app

    with TestClient(create_app(settings_factory(), environment="local", poll=False)) as opened:
        yield opened


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_pages_load_only_local_assets(client: Any, page: str) -> None:
    html = client.get(page).text
    urls = re.findall(r"""(?:src|href)=["']([^"']+)["']|url: ?["']([^"']+)["']""", html)
    urls = [u for pair in urls for u in pair if u]
    assert urls and all(u.startswith("/") and not u.startswith("//") for u in urls), urls
    for url in urls:
        response = client.get(url)
        assert response.status_code == 200 and len(response.content) > 100, url
    assert "fonts.googleapis" not in html and "cdn." not in html


def test_the_redoc_bundle_reaches_no_cdn_and_unknown_assets_are_404(client: Any) -> None:
    bundle = client.get("/docs/assets/redoc.standalone.js")
    assert bundle.headers["content-type"].startswith("text/javascript") and b"cdn.redoc.ly" not in bundle.content
    missing = client.get("/docs/assets/../../etc/passwd")
    assert missing.status_code == 404
    assert client.get("/docs/assets/nope.js").json()["detail"].startswith("no docs asset named 'nope.js'")
