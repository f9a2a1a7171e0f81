"""``sentiment_mlops.service``: the API of ``serving`` with the dashboard and the monitor loop put together."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient


def test_the_service_has_the_dashboard_and_the_bare_api_does_not(settings_factory: Any, local_models: Path) -> None:
    from sentiment_mlops.service import create_service
    from sentiment_mlops.serving.app import create_app

    settings = settings_factory(models_dir=local_models)
    with TestClient(create_service(settings, environment="local")) as client:
        assert client.get("/dashboard/drift").status_code == 200
        assert client.get("/api/alerts").json()["firing"] == 0
        assert client.post("/predict", json={"text": "lost my bag again"}).status_code == 200
    with TestClient(create_app(settings, environment="local")) as client:
        assert client.get("/dashboard/drift").status_code == 404
        assert client.post("/predict", json={"text": "lost my bag again"}).status_code == 200


def test_the_service_worker_factory_reads_the_environment(local_models: Path, monkeypatch: pytest.MonkeyPatch,
                                                          tmp_path: Path) -> None:
    from sentiment_mlops.service import worker_app

    monkeypatch.setenv("SENTIMENT_MLOPS_MODELS_DIR", str(local_models))
    monkeypatch.setenv("SENTIMENT_MLOPS_STORE_URL", f"sqlite:///{tmp_path / 'p.db'}")
    monkeypatch.setenv("SENTIMENT_MLOPS_SERVE_ENVIRONMENT", "local")
    with TestClient(worker_app()) as client:
        assert client.get("/health").json()["environment"] == "local"
        assert client.get("/dashboard/live").status_code == 200


def test_the_monitor_loop_runs_in_the_service_only(settings_factory: Any, local_models: Path,
                                                    monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    import tempfile

    from sentiment_mlops.service import create_service
    from sentiment_mlops.serving.app import create_app

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # the leader lock file lives in this test's directory
    settings = settings_factory(models_dir=local_models, monitor_in_server=True, monitor_interval_seconds=60)
    with TestClient(create_service(settings, environment="local")) as client:
        deadline = time.monotonic() + 10  # the loop's first round runs on its own thread
        while 'sentiment_monitor_last_run_timestamp_seconds{environment="local"}' not in client.get("/metrics").text:
            assert time.monotonic() < deadline, "the service's monitor loop never ran"
            time.sleep(0.05)
    with caplog.at_level(logging.WARNING), TestClient(create_app(settings, environment="local")) as client:
        assert "sentiment_monitor_last_run_timestamp_seconds{" not in client.get("/metrics").text
    assert "built without the monitor loop" in caplog.text
