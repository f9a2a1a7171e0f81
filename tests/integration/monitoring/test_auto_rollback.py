"""Automatic rollback, for real: a worse version (trained on shuffled labels) promoted with --force into a
real MLflow SQLite registry, real feedback from the corpus's true labels in a real store; the monitor rolls
production back, the history records auto-rollback with the evidence, and an alert is stored and sent."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from sentiment_mlops.config import Settings
from sentiment_mlops.deployment.actions import promote
from sentiment_mlops.registry.client import ModelRegistry
from sentiment_mlops.registry.loading import load_local
from sentiment_mlops.service import build_watch_loop
from sentiment_mlops.store import PredictionStore
from support.alerts import prediction_rows, registered_fixture  # noqa: F401
from support.webhooks import webhook_receiver

LABELLED = 200


@pytest.fixture
def deployment(registered, tmp_path, monkeypatch):
    """Production on the good version (with feedback), then the bad one promoted over it with --force."""
    monkeypatch.chdir(tmp_path)
    registry = ModelRegistry(registered.tracking_uri, "SentimentAnalysisModel")
    store = PredictionStore(f"sqlite:///{tmp_path}/logs/predictions.db")
    good = load_local(registered.root / "models-good").pipeline
    texts, labels = registered.scoring_texts, registered.scoring_labels
    for target in ("staging", "production"):
        promote(registry, store, version=registered.good if target == "staging" else None, to=target, force=True,
                reason="test setup: the good version")
    earlier = datetime.now(timezone.utc) - timedelta(minutes=5)
    rows = prediction_rows(good, texts[:LABELLED], environment="production", version=registered.good,
                           created_at=earlier)
    for prediction_id, label in zip(store.insert_predictions(rows), labels[:LABELLED], strict=True):
        store.add_feedback(prediction_id, label)
    yield registry, store, registered
    store.close()


def promote_bad(registry, store, registered):
    for target in ("staging", "production"):
        promote(registry, store, version=registered.bad if target == "staging" else None, to=target, force=True,
                reason="deliberately worse version for the auto-rollback test")


def serve_and_label(store, registered, count=LABELLED):
    bad = load_local(registered.root / "models-bad").pipeline
    texts, labels = registered.scoring_texts, registered.scoring_labels
    rows = prediction_rows(bad, texts[LABELLED:LABELLED + count], environment="production", version=registered.bad)
    for prediction_id, label in zip(store.insert_predictions(rows), labels[LABELLED:LABELLED + count], strict=True):
        store.add_feedback(prediction_id, label)


def settings_for(registered, store, **overrides) -> Settings:
    return Settings(tracking_uri=registered.tracking_uri, store_url=str(store.url.render_as_string(False)),
                    **overrides)


def test_a_worse_version_is_rolled_back_with_evidence_history_and_alert(deployment):
    registry, store, registered = deployment
    promote_bad(registry, store, registered)
    serve_and_label(store, registered)
    with webhook_receiver() as receiver:
        settings = settings_for(registered, store, alert_webhook=receiver.url, bake_minutes=30)
        loop = build_watch_loop(settings, store, env="production", auto_rollback=True, registry=registry)
        iteration = loop.run_once()
        assert receiver.wait_for(1)
        loop.stop()
    decision = iteration.rollback
    assert decision is not None and decision.rollback
    assert any("below the floor" in r for r in decision.reasons)
    assert any(f"under version {registered.good}'s" in r for r in decision.reasons)
    assert decision.evidence["accuracy"] < decision.evidence["previous_accuracy"] - 0.05
    assert decision.evidence["labelled"] == LABELLED and decision.evidence["previous_labelled"] == LABELLED

    assert registry.alias_version("production").version == registered.good
    last = store.deployment_events("production")[-1]
    assert (last["action"], last["from_version"], last["to_version"]) == ("auto-rollback", registered.bad,
                                                                          registered.good)
    assert last["actor"] == "sentiment-mlops-monitor"
    assert last["report"]["evidence"]["accuracy"] == pytest.approx(decision.evidence["accuracy"])
    assert last["reason"] == (f"version {registered.bad} within its bake window: live accuracy "
                              f"{decision.evidence['accuracy']:.1%} < floor 55.0%; "
                              f"{(decision.evidence['previous_accuracy'] - decision.evidence['accuracy']) * 100:.1f} "
                              f"points under version {registered.good}")

    alert = store.open_alert("auto_rollback", "production")
    assert alert is not None and alert["severity"] == "critical"
    assert f"from version {registered.bad} to {registered.good}" in alert["message"]
    sent = [r for r in receiver.received if r["rule"] == "auto_rollback"]
    assert sent and sent[0]["status"] == "firing" and sent[0]["text"].startswith("[FIRING:CRITICAL] auto_rollback")

    # the next pass sees no bake window (the latest event is the rollback): nothing more happens. (Without the
    # webhook: the receiver has gone, and the pass's alerts would retry it for seconds with backoff.)
    loop = build_watch_loop(settings_for(registered, store, bake_minutes=30), store, env="production",
                            auto_rollback=True, registry=registry)
    try:
        again = loop.run_once()
    finally:
        loop.stop()
    assert again.rollback is None and again.rollback_result is None
    assert [e["action"] for e in store.deployment_events("production")].count("auto-rollback") == 1
    assert again.snapshot.model_version == registered.good


def test_a_server_error_rate_over_one_percent_rolls_back(deployment):
    from sentiment_mlops.monitoring.traffic import RequestRateTracker
    from sentiment_mlops.serving.metrics import ServingMetrics

    registry, store, registered = deployment
    promote_bad(registry, store, registered)
    metrics = ServingMetrics()  # the serving app's own Prometheus registry
    for i in range(200):
        metrics.observe_request("/predict", "POST", 500 if i % 50 == 0 else 200, 0.002)  # 2% errors
    for _ in range(500):
        metrics.observe_request("/health", "GET", 200, 0.001)  # probes do not dilute the rate
    loop = build_watch_loop(settings_for(registered, store), store, env="production", auto_rollback=True,
                            registry=registry)
    loop.traffic = RequestRateTracker(lambda: metrics.render()[0].decode())
    iteration = loop.run_once()
    loop.stop()
    assert iteration.rollback.rollback
    assert iteration.rollback.reasons == ("error rate 2.00% (4/200 requests) since version "
                                          f"{registered.bad} was promoted exceeds 1.00%",)
    assert registry.alias_version("production").version == registered.good


@pytest.mark.parametrize(("labelled", "bake_minutes"), [(10, 30.0), (LABELLED, 0.0)])
def test_no_rollback_without_enough_evidence_or_after_the_bake_window(deployment, labelled, bake_minutes):
    registry, store, registered = deployment
    promote_bad(registry, store, registered)
    serve_and_label(store, registered, count=labelled)
    loop = build_watch_loop(settings_for(registered, store, bake_minutes=bake_minutes), store, env="production",
                            auto_rollback=True, registry=registry)
    iteration = loop.run_once()
    loop.stop()
    assert iteration.rollback_result is None
    assert registry.alias_version("production").version == registered.bad
    assert "auto-rollback" not in [e["action"] for e in store.deployment_events("production")]
    if bake_minutes:
        assert iteration.rollback is not None and not iteration.rollback.rollback  # 10 labels: not enough
    else:
        assert iteration.rollback is None  # the bake window is closed


def test_the_cli_watch_rolls_back_and_prints_it(deployment, monkeypatch, capsys):
    from sentiment_mlops import cli

    registry, store, registered = deployment
    promote_bad(registry, store, registered)
    serve_and_label(store, registered)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", registered.tracking_uri)
    monkeypatch.setenv("SENTIMENT_MLOPS_STORE_URL", store.url.render_as_string(False))
    monkeypatch.delenv("SENTIMENT_MLOPS_ALERT_WEBHOOK", raising=False)
    cli.main(["monitor", "--env", "production", "--watch", "--interval", "0.1", "--iterations", "1",
              "--auto-rollback"])
    out = capsys.readouterr().out
    assert "checking production once" in out and "auto-rollback within 30 min of a promotion" in out
    assert f"production v{registered.bad}" in out
    assert "auto-rollback:" in out and f"production: {registered.bad} → {registered.good} (auto-rollback)" in out
    assert "[FIRING:CRITICAL] auto_rollback (production)" in out
    assert registry.alias_version("production").version == registered.good
