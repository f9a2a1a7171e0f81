"""Serving registry versions: follow the alias on reload, canary share, and a failed load keeps the old model."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from support.serving import ADMIN_TOKEN

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.fixture
def registry(registry_store: dict[str, Any]) -> Iterator[Any]:
    """The two-version registry with every alias and the canary tag cleared after the test."""
    from sentiment_mlops.registry import ModelRegistry

    reg = ModelRegistry(registry_store["tracking_uri"], "SentimentAnalysisModel")
    yield reg
    for alias in ("staging", "production", "canary"):
        if reg.alias_version(alias) is not None:
            reg.delete_alias(alias)
    reg.client.delete_registered_model_tag(reg.model_name, "canary_percent")


@pytest.fixture
def registry_client(settings_factory: Any, registry_store: dict[str, Any]) -> Any:
    from fastapi.testclient import TestClient

    from sentiment_mlops.serving.app import create_app

    def make(environment: str) -> TestClient:
        settings = settings_factory(tracking_uri=registry_store["tracking_uri"], admin_token=ADMIN_TOKEN)
        return TestClient(create_app(settings, environment=environment, poll=False))

    return make


@contextmanager
def _stored_model(registry: Any, root: Path, version: str) -> Iterator[tuple[Path, Path]]:
    """``(model.skops, a copy of it)`` of a registered version, put back as it was afterwards."""
    model_id = registry.version(version).source.rsplit("/", 1)[-1]
    (skops,) = root.glob(f"mlruns/*/models/{model_id}/artifacts/model.skops")
    backup = skops.with_suffix(".bak")
    shutil.copyfile(skops, backup)
    try:
        yield skops, backup
    finally:
        shutil.copyfile(backup, skops)
        backup.unlink()


def test_reload_swaps_to_the_version_the_alias_moved_to(registry: Any, registry_client: Any,
                                                        registry_store: dict[str, Any]) -> None:
    first, second = registry_store["versions"]
    registry.set_alias("staging", first)
    with registry_client("staging") as client:
        assert client.post("/predict", json={"text": "nice crew"}).json()["model_version"] == first
        registry.set_alias("staging", second)
        # The alias moved but nobody asked yet (no poller in this app): the old version still answers.
        assert client.post("/predict", json={"text": "nice crew"}).json()["model_version"] == first
        reload = client.post("/admin/reload", headers=AUTH).json()
        assert reload["changed"] is True and reload["model_version"] == second
        assert client.post("/predict", json={"text": "nice crew"}).json()["model_version"] == second
        batch = client.post("/predict/batch", json={"texts": ["a", "b"]}).json()
        assert {p["model_version"] for p in batch["predictions"]} == {second}
        assert client.post("/admin/reload", headers=AUTH).json()["changed"] is False


def test_canary_share_answers_with_the_canary_version(registry: Any, registry_client: Any,
                                                      registry_store: dict[str, Any]) -> None:
    first, second = registry_store["versions"]
    registry.set_alias("production", first)
    registry.set_alias("canary", second)
    registry.client.set_registered_model_tag(registry.model_name, "canary_percent", "100")
    with registry_client("production") as client:
        health = client.get("/health").json()
        assert health["model_version"] == first and health["canary_version"] == second
        assert health["canary_percent"] == 100.0
        assert client.post("/predict", json={"text": "meh"}).json()["model_version"] == second
        registry.client.set_registered_model_tag(registry.model_name, "canary_percent", "0")
        assert client.post("/admin/reload", headers=AUTH).json()["canary_version"] is None
        assert client.post("/predict", json={"text": "meh"}).json()["model_version"] == first


def test_a_failed_load_keeps_the_old_model_degrades_and_alerts(registry: Any, registry_client: Any,
                                                               registry_store: dict[str, Any],
                                                               settings_factory: Any) -> None:
    from sentiment_mlops.store import PredictionStore

    first, second = registry_store["versions"]
    registry.set_alias("staging", first)
    with _stored_model(registry, registry_store["root"], second) as (skops, backup):
        skops.write_bytes(skops.read_bytes() + b"tampered")
        with registry_client("staging") as client:
            registry.set_alias("staging", second)
            reload = client.post("/admin/reload", headers=AUTH).json()
            assert reload["changed"] is False and reload["model_version"] == first
            assert reload["status"] == "degraded" and "sha256" in reload["reason"]
            health = client.get("/health").json()
            assert health["status"] == "degraded" and health["model_version"] == first
            assert client.post("/predict", json={"text": "still up"}).json()["model_version"] == first
            with PredictionStore(settings_factory().store_url) as store:
                alert = store.open_alert("model_load_failed", "staging")
            assert alert is not None and alert["status"] == "firing" and alert["model_version"] == second
            shutil.copyfile(backup, skops)  # repaired: the next reload loads it and resolves the alert
            assert client.post("/admin/reload", headers=AUTH).json()["model_version"] == second
            assert client.get("/health").json()["status"] == "ok"
            with PredictionStore(settings_factory().store_url) as store:
                assert store.open_alert("model_load_failed", "staging") is None


def test_deleted_alias_keeps_serving_and_says_why(registry: Any, registry_client: Any,
                                                  registry_store: dict[str, Any]) -> None:
    first, _ = registry_store["versions"]
    registry.set_alias("staging", first)
    with registry_client("staging") as client:
        registry.delete_alias("staging")
        reload = client.post("/admin/reload", headers=AUTH).json()
        assert reload["model_version"] == first and reload["status"] == "degraded"
        assert "promote VERSION --to staging" in reload["reason"]
        assert client.post("/predict", json={"text": "x y"}).status_code == 200


def test_serve_with_a_missing_alias_exits_1_with_one_line(registry: Any, registry_store: dict[str, Any],
                                                          settings_factory: Any, monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    from sentiment_mlops import cli

    monkeypatch.setenv("MLFLOW_TRACKING_URI", registry_store["tracking_uri"])
    with pytest.raises(SystemExit) as exited:
        cli.main(["serve", "--env", "production", "--port", "0"])
    assert exited.value.code == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "no version has alias 'production'" in err


def test_bootstrap_points_empty_staging_at_the_newest_version(registry: Any, registry_store: dict[str, Any],
                                                              settings_factory: Any) -> None:
    from sentiment_mlops.deployment.actions import bootstrap_staging
    from sentiment_mlops.store import PredictionStore

    with PredictionStore(settings_factory().store_url) as store:
        result = bootstrap_staging(registry, store)
        assert result is not None and result.to_version == registry_store["versions"][-1]
        assert bootstrap_staging(registry, store) is None  # already set: left alone
        events = store.deployment_events("staging")
    assert registry.alias_version("staging").version == registry_store["versions"][-1]
    assert [(e["action"], e["to_version"]) for e in events] == [("promote", registry_store["versions"][-1])]


def test_the_poller_picks_up_a_retrained_local_model(settings_factory: Any, local_models: Path,
                                                     tmp_path: Path) -> None:
    import time

    from fastapi.testclient import TestClient

    from sentiment_mlops.serving.app import create_app
    from support.serving import corpus_slice, train_local

    models = tmp_path / "models"
    shutil.copytree(local_models, models)
    settings = settings_factory(models_dir=models, poll_seconds=0.2)
    text = {"text": "the crew was kind but the seat was broken"}
    with TestClient(create_app(settings, environment="local")) as client:
        before = client.post("/predict", json=text).json()["probabilities"]
        train_local(models, corpus_slice(rows=1500, seed=5), alpha=3.0)
        deadline = time.monotonic() + 30
        after = before
        while after == before and time.monotonic() < deadline:
            time.sleep(0.2)
            after = client.post("/predict", json=text).json()["probabilities"]
    assert after != before, "the retrained model was never swapped in"


def test_rolling_back_to_a_recent_version_reuses_it_without_a_download(registry: Any, registry_client: Any,
                                                                       registry_store: dict[str, Any]) -> None:
    first, second = registry_store["versions"]
    registry.set_alias("staging", first)
    with _stored_model(registry, registry_store["root"], first) as (skops, _):
        with registry_client("staging") as client:
            registry.set_alias("staging", second)
            assert client.post("/admin/reload", headers=AUTH).json()["model_version"] == second
            # Version 1's stored model is now unreadable: only the copy the server kept can serve it.
            skops.write_bytes(b"gone")
            registry.set_alias("staging", first)
            reload = client.post("/admin/reload", headers=AUTH).json()
            assert reload["changed"] is True and reload["model_version"] == first and reload["status"] == "ok"
            assert client.post("/predict", json={"text": "nice crew"}).json()["model_version"] == first
