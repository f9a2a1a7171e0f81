"""Trained models (local artifacts and a two-version MLflow registry), stores and in-process apps."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from serving_models import ADMIN_TOKEN, POSTGRES_ENV, corpus_slice, train_local, train_registered  # noqa: E402


@pytest.fixture(scope="session")
def local_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``models/`` trained on a 3,000-row slice (no MLflow)."""
    models_dir = tmp_path_factory.mktemp("serving-local") / "models"
    train_local(models_dir, corpus_slice())
    return models_dir


@pytest.fixture(scope="session")
def registry_store(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A tmp MLflow sqlite store with two registered versions (different alpha, different slices)."""
    root = tmp_path_factory.mktemp("serving-registry")
    tracking_uri = f"sqlite:///{root / 'mlflow.db'}"
    previous = os.getcwd()
    os.chdir(root)  # MLflow writes its artifacts (mlruns/) relative to the working directory
    try:
        first = train_registered(root / "models", corpus_slice(seed=1), tracking_uri)
        second = train_registered(root / "models", corpus_slice(seed=2), tracking_uri, alpha=0.5)
    finally:
        os.chdir(previous)
    return {"root": root, "tracking_uri": tracking_uri, "versions": [first.model_version, second.model_version]}



def make_settings(tmp_path: Path, **overrides: Any) -> Any:
    from sentiment_mlops.config import Settings

    values: dict[str, Any] = {"store_url": f"sqlite:///{tmp_path / 'logs' / 'predictions.db'}",
                              "tracking_uri": f"sqlite:///{tmp_path / 'mlflow.db'}",
                              "models_dir": tmp_path / "models"}
    values.update(overrides)
    values["MLFLOW_TRACKING_URI"] = values.pop("tracking_uri")  # the field reads that name
    return Settings(**values)


@pytest.fixture
def settings_factory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if (name.startswith("SENTIMENT_MLOPS_") and name != POSTGRES_ENV) or name == "MLFLOW_TRACKING_URI":
            monkeypatch.delenv(name)
    return lambda **overrides: make_settings(tmp_path, **overrides)


@pytest.fixture
def local_client(settings_factory: Any, local_models: Path) -> Iterator[Any]:
    """A TestClient on ``create_app(environment="local")`` serving the session's local model."""
    from fastapi.testclient import TestClient

    from sentiment_mlops.serving.app import create_app

    settings = settings_factory(models_dir=local_models, admin_token=ADMIN_TOKEN)
    with TestClient(create_app(settings, environment="local")) as client:
        yield client
