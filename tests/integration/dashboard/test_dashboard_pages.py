"""The dashboard's pages, static files and empty states, through the app."""

from __future__ import annotations

import re

import pytest

PAGES = ("experiments", "models", "live", "drift", "alerts")


@pytest.mark.parametrize("page", PAGES)
def test_each_page_renders_the_nav_and_loads_only_local_scripts(client, page):
    response = client.get(f"/dashboard/{page}")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    assert f'data-page="{page}"' in html
    for title in ("Experiments", "Models", "Live", "Drift", "Alerts"):
        assert f">{title}</a>" in html
    sources = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert sources and all(s.startswith("/") or s.startswith("data:") for s in sources), sources
    for source in (s for s in sources if s.startswith("/dashboard/static/")):
        asset = client.get(source)
        assert asset.status_code == 200, source
        assert "max-age=31536000" in asset.headers["cache-control"]


def test_plotly_is_the_installed_packages_bundle(client):
    from importlib.metadata import version

    html = client.get("/dashboard/live").text
    path = re.search(r'src="(/dashboard/static/plotly-[^"]+)"', html).group(1)
    assert version("plotly") in path
    body = client.get(path)
    assert body.headers["content-type"].startswith("text/javascript")
    assert len(body.content) > 1_000_000 and b"plotly" in body.content[:2000].lower()
    assert client.get("/dashboard/static/plotly-0.0.1.min.js").status_code == 404


def test_unknown_pages_and_assets_are_404(client):
    assert client.get("/dashboard/settings").status_code == 404
    assert client.get("/dashboard/static/abc/dashboard.js").status_code == 404
    assert client.get("/dashboard/static/abc/../../secret").status_code == 404


def test_the_dashboard_root_redirects_to_experiments(client):
    response = client.get("/dashboard", follow_redirects=False)
    assert response.status_code == 307
    assert response.headers["location"] == "/dashboard/experiments"


def test_empty_registry_and_store_give_empty_answers_not_errors(empty_client, tmp_path):
    assert empty_client.get("/api/experiments").json()["runs"] == []
    versions = empty_client.get("/api/versions").json()
    assert versions["versions"] == [] and versions["aliases"] == {} and versions["canary_percent"] is None
    assert empty_client.get("/api/deployments").json() == {"events": []}
    live = empty_client.get("/api/live").json()
    assert live["total_predictions"] == 0 and live["volume"] == [] and live["latency"]["p95_ms"] is None
    assert empty_client.get("/api/drift").json()["environments"] == []
    staging = empty_client.get("/api/drift?environment=staging").json()["environments"]
    assert staging == [{"environment": "staging", "status": "no_traffic", "message": "no predictions yet"}]
    assert empty_client.get("/api/alerts").json() == {"alerts": [], "firing": 0, "resolved": 0}
    assert empty_client.get("/api/predictions/recent").json()["predictions"] == []
    assert empty_client.get("/api/runs?versions=1").status_code == 404
    assert empty_client.get("/api/runs?ids=" + "a" * 32).status_code == 404
    for page in PAGES:
        assert empty_client.get(f"/dashboard/{page}").status_code == 200
    assert not (tmp_path / "empty-mlflow.db").exists()  # reading nothing must not create a tracking store


def test_an_existing_but_empty_tracking_store_lists_nothing(tmp_path, monkeypatch):
    from fastapi.testclient import TestClient

    from sentiment_mlops.registry.client import ModelRegistry
    from sentiment_mlops.store import PredictionStore
    from support.dashboard import build_app, make_settings

    monkeypatch.chdir(tmp_path)
    settings = make_settings(tmp_path, None)
    ModelRegistry(settings.tracking_uri, settings.registered_model_name).versions()  # creates the database
    assert (tmp_path / "empty-mlflow.db").exists()
    with PredictionStore(settings.store_url) as store, TestClient(build_app(settings, store)) as client:
        assert client.get("/api/experiments").json()["runs"] == []
        assert client.get("/api/versions").json()["versions"] == []
        assert client.get("/api/runs?ids=" + "a" * 32).status_code == 404


def test_versions_without_a_readable_profile_are_reported_unavailable(tmp_path, monkeypatch):
    from fastapi.testclient import TestClient

    from sentiment_mlops.store import PredictionStore
    from support.dashboard import build_app, make_settings

    monkeypatch.chdir(tmp_path)
    settings = make_settings(tmp_path, None)
    rows = [{"environment": environment, "model_version": version, "text": f"text number {i}",
             "sentiment": "neutral", "confidence": 0.5, "probabilities": {"neutral": 0.5}}
            for environment, version in (("production", "7"), ("local", "local")) for i in range(60)]
    with PredictionStore(settings.store_url) as store, TestClient(build_app(settings, store)) as client:
        store.insert_predictions(rows)
        entries = client.get("/api/drift?window=50").json()["environments"]
    by_environment = {e["environment"]: e for e in entries}
    assert by_environment["production"]["status"] == "unavailable"
    assert "7" in by_environment["production"]["message"]
    assert by_environment["local"]["status"] == "unavailable"
    assert "sentiment-mlops train" in by_environment["local"]["message"]
