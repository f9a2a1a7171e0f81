"""The dashboard in a real browser: two trained versions, the real service (``create_service``) for production
(version 1 with a version-2 canary at 20%) and staging (version 2) on loopback, three hours of earlier
traffic in the store plus live requests and feedback over HTTP, every page opened in Debian's chromium,
charts drawn with data, no console errors, no request off the host.

Screenshots go to ``$SENTIMENT_MLOPS_SCREENSHOTS_DIR`` (CI keeps them as artifacts) or the test's tmp dir.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

from support.browser import CHROMIUM, CHROMIUM_ARGS, PAGE_TIMEOUT_MS, ServerThread
from support.dashboard import ADMIN_TOKEN, make_settings, seed_store, traffic, train_two_versions

PAGES = ("experiments", "models", "live", "drift", "alerts")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not Path(CHROMIUM).exists(),
                       reason=f"{CHROMIUM} not found; install it with: apt-get install -y chromium"),
]


@pytest.fixture(scope="module")
def screenshots_dir(tmp_path_factory) -> Path:
    configured = os.environ.get("SENTIMENT_MLOPS_SCREENSHOTS_DIR")
    path = Path(configured) if configured else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


def _send_traffic(base: str, texts: list[str], labels: list[str], *, batch: int) -> int:
    """Score ``texts`` through the service in batches and label the first half through POST /feedback."""
    import httpx

    labelled = 0
    with httpx.Client(base_url=base, timeout=30) as http:
        for start in range(0, len(texts), batch):
            response = http.post("/predict/batch", json={"texts": texts[start:start + batch]})
            response.raise_for_status()
            ids = [item["id"] for item in response.json()["predictions"]]
            if start < len(texts) // 2:
                chunk = labels[start:start + batch]
                items = [{"id": pid, "label": label} for pid, label in zip(ids, chunk, strict=True)]
                http.post("/feedback", json={"items": items},
                          headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}).raise_for_status()
                labelled += len(items)
    return labelled


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[ServerThread]:
    """The production service (whose dashboard the browser opens) and a staging service, one store."""
    from sentiment_mlops.service import create_service
    from sentiment_mlops.store import PredictionStore

    root = tmp_path_factory.mktemp("dashboard-e2e")
    trained = train_two_versions(tmp_path_factory, root / "registry")
    settings = make_settings(root, trained)
    live = traffic()
    with PredictionStore(settings.store_url) as store:
        seed_store(store, trained)
        production = create_service(settings, environment="production", store=store, poll=False)
        staging = create_service(settings, environment="staging", store=store, poll=False)
        with ServerThread(production) as running, ServerThread(staging) as staging_server:
            _send_traffic(running.url, live.familiar[-300:], live.familiar_labels[-300:], batch=10)
            _send_traffic(staging_server.url, live.shifted[-100:], live.shifted_labels[-100:], batch=25)
            yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    opened = context.new_page()
    opened.set_default_timeout(PAGE_TIMEOUT_MS)
    opened.console_errors = []
    opened.requests = []
    opened.on("console", lambda msg: opened.console_errors.append(msg.text) if msg.type == "error" else None)
    opened.on("pageerror", lambda error: opened.console_errors.append(str(error)))
    opened.on("request", lambda request: opened.requests.append(request.url))
    yield opened
    context.close()


def _open(page: Any, server: ServerThread, name: str) -> None:
    page.goto(f"{server.url}/dashboard/{name}")
    page.wait_for_function("document.body.dataset.ready !== undefined")
    assert page.evaluate("document.body.dataset.ready") == "true", page.inner_text("#error")


def _drawn_traces(page: Any) -> dict[str, int]:
    """Plotly charts on the page (by element id) with how many traces carry data points."""
    return page.evaluate("""() => Object.fromEntries([...document.querySelectorAll('.js-plotly-plot')].map(
        (el) => [el.id, (el.data || []).filter((t) => (t.x || t.y || t.z || []).length > 0).length]))""")


def _assert_clean(page: Any) -> None:
    assert page.console_errors == []
    off_host = [url for url in page.requests
                if urlparse(url).scheme not in ("data", "blob") and urlparse(url).hostname != "127.0.0.1"]
    assert off_host == []


@pytest.mark.parametrize("name, charts", [
    ("experiments", {"chart-metrics-time", "chart-compare"}),
    ("models", {"chart-timeline"}),
    ("live", {"chart-volume", "chart-labels", "chart-confidence", "chart-latency", "chart-accuracy"}),
    ("drift", {"chart-drift-0", "chart-drift-1", "chart-drift-2"}),
    ("alerts", {"chart-alerts"}),
])
def test_every_page_draws_its_charts_with_data(page, server, screenshots_dir, name, charts):
    _open(page, server, name)
    traces = _drawn_traces(page)
    assert charts <= set(traces), traces
    assert all(traces[chart] > 0 for chart in charts), traces
    assert page.locator("nav a.active").inner_text() == name.capitalize()
    page.screenshot(path=str(screenshots_dir / f"dashboard-{name}.png"), full_page=True)
    _assert_clean(page)


def test_experiments_compares_the_two_selected_versions(page, server):
    _open(page, server, "experiments")
    bars = page.evaluate("document.getElementById('chart-compare').data.length")
    assert bars == 2
    header = page.locator("#compare-table th").all_inner_texts()
    assert any(h.startswith("v1") for h in header) and any(h.startswith("v2") for h in header)
    _assert_clean(page)


def test_live_shows_raw_texts_only_after_the_admin_token_is_entered(page, server):
    _open(page, server, "live")
    assert "text" not in page.locator("#recent-table th").all_inner_texts()
    page.fill("#admin-token", ADMIN_TOKEN)
    page.click("#token-form button")
    page.wait_for_function("[...document.querySelectorAll('#recent-table th')].some((th) => th.textContent === 'text')")
    assert page.locator("#recent-table td.text").count() == 25
    _assert_clean(page)


def test_the_dashboard_root_leads_to_experiments_and_plotly_is_served_locally(page, server):
    page.goto(f"{server.url}/dashboard")
    assert page.url.endswith("/dashboard/experiments")
    scripts = page.evaluate("[...document.scripts].map((s) => s.src)")
    assert any("/dashboard/static/plotly-" in src for src in scripts)
    assert all(urlparse(src).hostname == "127.0.0.1" for src in scripts)


def test_drift_flags_the_shifted_staging_traffic_only(page, server):
    _open(page, server, "drift")
    cards = page.locator("#environments .card")
    assert cards.count() == 3
    verdicts = {cards.nth(i).locator("h2").inner_text() + " " + cards.nth(i).locator(".env-head .muted").inner_text():
                cards.nth(i).locator(".env-head .badge").inner_text() for i in range(3)}
    assert verdicts["staging version v2"] == "drift detected"
    assert verdicts["production version v1"] == "no drift"
    _assert_clean(page)
