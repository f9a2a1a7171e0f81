"""/docs (Swagger UI) and /redoc (ReDoc) render in Debian's chromium with every request outside the server
refused: their scripts, styles and icon come from the installed ``fastapi-offline`` package."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from support.browser import CHROMIUM, CHROMIUM_ARGS, PAGE_TIMEOUT_MS, ServerThread

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(),
                       reason=f"{CHROMIUM} not found; install it with: apt-get install -y chromium"),
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    from sentiment_mlops.config import Settings
    from sentiment_mlops.serving.app import create_app

    root = tmp_path_factory.mktemp("docs-offline")
    settings = Settings(store_url=f"sqlite:///{root / 'logs.db'}", models_dir=root / "models")
    with ServerThread(create_app(settings, environment="local", poll=False)) as running:
        yield running


@pytest.mark.parametrize(("path", "rendered"), [
    ("/docs", ".swagger-ui .opblock-summary-path[data-path='/predict']"),
    ("/redoc", "h1:has-text(\"sentiment-mlops\")"),
])
def test_docs_render_without_network(server: ServerThread, path: str, rendered: str) -> None:
    from playwright.sync_api import sync_playwright

    outside: list[str] = []
    failed: list[str] = []

    def route(request_route: Any) -> None:
        url = request_route.request.url
        if url.startswith(server.url):
            request_route.continue_()
        else:
            outside.append(url)
            request_route.abort()

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.route("**/*", route)
            page.on("requestfailed", lambda request: failed.append(request.url))
            page.goto(server.url + path, timeout=PAGE_TIMEOUT_MS)
            page.wait_for_selector(rendered, timeout=PAGE_TIMEOUT_MS)
        finally:
            browser.close()
    assert outside == [] and failed == []
