"""Trained models (local artifacts and a two-version MLflow registry), stores and in-process apps."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from support import POSTGRES_ENV
from support.registries import build_once, copy_registry
from support.serving import ADMIN_TOKEN, build_local_models, build_two_versions


@pytest.fixture(scope="session")
def local_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``models/`` trained on a 3,000-row slice (no MLflow), built once per run; tests only read it."""
    return build_once(tmp_path_factory, "serving-local", build_local_models).root / "models"


@pytest.fixture
def registry_store(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> dict[str, Any]:
    """A private copy of a tmp MLflow sqlite store with two registered versions (different alpha, different
    slices): tests move aliases and damage artifacts freely."""
    built = copy_registry(build_once(tmp_path_factory, "serving-registry", build_two_versions), tmp_path / "registry")
    return {"root": built.root, "tracking_uri": built.tracking_uri, "versions": built.info["versions"]}


def make_settings(tmp_path: Path, **overrides: Any) -> Any:
    """Settings for an app in this process. The prediction log inserts from its writer thread
    (``log_writer_process=False``, as SENTIMENT_MLOPS_LOG_WRITER_PROCESS=false does): the store writer process
    ``serve`` runs by default costs each app a Python start and its imports, and each test waits for them at
    shutdown. The tests that read the logged rows back pass ``log_writer_process=True`` (``logged_client``), so
    the rows they check went through that process as a server's do; tests/integration/store/test_child_writer.py
    and the real ``serve`` processes (test_live_server.py, tests/faults/) cover the process itself."""
    from sentiment_mlops.config import Settings

    values: dict[str, Any] = {"store_url": f"sqlite:///{tmp_path / 'logs' / 'predictions.db'}",
                              "tracking_uri": f"sqlite:///{tmp_path / 'mlflow.db'}",
                              "models_dir": tmp_path / "models", "log_writer_process": False}
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


def _local_client(settings: Any) -> Iterator[Any]:
    from fastapi.testclient import TestClient

    from sentiment_mlops.serving.app import create_app

    with TestClient(create_app(settings, environment="local")) as client:
        yield client


@pytest.fixture
def local_client(settings_factory: Any, local_models: Path) -> Iterator[Any]:
    """A TestClient on ``create_app(environment="local")`` serving the session's local model."""
    yield from _local_client(settings_factory(models_dir=local_models, admin_token=ADMIN_TOKEN))


@pytest.fixture
def logged_client(settings_factory: Any, local_models: Path) -> Iterator[Any]:
    """``local_client`` whose prediction log inserts through the store writer process, as ``serve``'s does: for
    the tests that read the logged rows back (``make_settings``)."""
    yield from _local_client(settings_factory(models_dir=local_models, admin_token=ADMIN_TOKEN,
                                              log_writer_process=True))
