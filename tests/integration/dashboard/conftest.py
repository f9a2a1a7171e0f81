"""Two versions trained on slices of the built-in corpus in a tmp MLflow store, a prediction store seeded
with traffic, feedback, deployment events and alerts, and a minimal app wired the way ``create_app`` is."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from support.dashboard import ADMIN_TOKEN, Trained, build_app, make_settings, seed_store, train_two_versions


@pytest.fixture(scope="session")
def trained(tmp_path_factory) -> Trained:
    """Version 1 (mnb) and version 2 (complement_nb) of SentimentAnalysisModel, each with its run."""
    return train_two_versions(tmp_path_factory, tmp_path_factory.mktemp("dashboard-mlflow") / "registry")


@pytest.fixture
def admin_token() -> str:
    return ADMIN_TOKEN


@pytest.fixture(scope="session")
def seeded_env(tmp_path_factory, trained) -> tuple[Any, Any, dict[str, Any]]:
    """Settings, an open store and what was seeded: shared, because every dashboard route only reads."""
    from sentiment_mlops.store import PredictionStore

    root = tmp_path_factory.mktemp("dashboard-store")
    settings = make_settings(root, trained)
    store = PredictionStore(settings.store_url)
    return settings, store, seed_store(store, trained)


@pytest.fixture(scope="session")
def seeded(seeded_env) -> dict[str, Any]:
    return seeded_env[2]


@pytest.fixture(scope="session")
def client(seeded_env) -> Iterator[Any]:
    from fastapi.testclient import TestClient

    settings, store, _ = seeded_env
    with TestClient(build_app(settings, store)) as test_client:
        yield test_client
    store.close()


@pytest.fixture
def empty_client(tmp_path, monkeypatch) -> Iterator[Any]:
    """No runs, no versions, no traffic."""
    from fastapi.testclient import TestClient

    from sentiment_mlops.store import PredictionStore

    monkeypatch.chdir(tmp_path)
    settings = make_settings(tmp_path, None)
    with PredictionStore(settings.store_url) as store, TestClient(build_app(settings, store)) as test_client:
        yield test_client
