"""Two versions trained on slices of the built-in corpus in a tmp MLflow store, a prediction store seeded
with traffic, feedback, deployment events and alerts, and a minimal app wired the way ``create_app`` is."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from fixtures_dashboard import ADMIN_TOKEN, Trained, build_app, make_settings, seed_store, train_two_versions  # noqa: E402


@pytest.fixture(scope="session")
def trained(tmp_path_factory) -> Trained:
    """Version 1 (mnb) and version 2 (complement_nb) of SentimentAnalysisModel, each with its run."""
    return train_two_versions(tmp_path_factory.mktemp("dashboard-mlflow"))


@pytest.fixture
def admin_token() -> str:
    return ADMIN_TOKEN


@pytest.fixture
def store(tmp_path) -> Iterator[Any]:
    from sentiment_mlops.monitoring.store import PredictionStore

    with PredictionStore(f"sqlite:///{tmp_path}/logs/predictions.db") as opened:
        yield opened


@pytest.fixture
def seeded(store, trained) -> dict[str, Any]:
    return seed_store(store, trained)


@pytest.fixture
def client(tmp_path, monkeypatch, trained, store, seeded) -> Iterator[Any]:
    from fastapi.testclient import TestClient

    monkeypatch.chdir(tmp_path)
    with TestClient(build_app(make_settings(tmp_path, trained), store)) as test_client:
        yield test_client


@pytest.fixture
def empty_client(tmp_path, monkeypatch, store) -> Iterator[Any]:
    """No runs, no versions, no traffic."""
    from fastapi.testclient import TestClient

    monkeypatch.chdir(tmp_path)
    with TestClient(build_app(make_settings(tmp_path, None), store)) as test_client:
        yield test_client
