"""The monitor loop pieces against real parts: the serving app's Prometheus registry, a real store with
logged predictions of a real model, leader locks (file and PostgreSQL advisory), and the server-side loop."""

from __future__ import annotations

import os
import threading
from datetime import datetime, timedelta, timezone

import httpx
import pytest

from sentiment_mlops.config import Settings
from sentiment_mlops.monitoring.performance import (
    estimated_accuracy,
    live_performance,
    profile_calibration,
)
from sentiment_mlops.monitoring.snapshot import ServedModelInfo, build_snapshot, p95
from sentiment_mlops.monitoring.traffic import RequestRateTracker, parse_request_totals
from sentiment_mlops.monitoring.watch import default_drift_reporter, start_server_monitor
from sentiment_mlops.serving.metrics import ServingMetrics
from sentiment_mlops.store.locks import FileLeaderLock, PostgresLeaderLock, leader_lock
from support.alerts import draw_rows, prediction_rows
from support.webhooks import webhook_receiver

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def model(corpus):
    """A model trained on a corpus slice, its held-out profile, and rows it never saw."""
    from sklearn.model_selection import train_test_split

    from sentiment_mlops.calibration import fit_confidence_calibration
    from sentiment_mlops.training.pipeline import build_pipeline
    from sentiment_mlops.training.profile import reference_profile

    texts, labels = draw_rows(corpus, 4000, seed=21)
    x_train, x_test, y_train, y_test = train_test_split(texts, labels, test_size=0.25, random_state=0,
                                                        stratify=labels)
    pipeline = build_pipeline().fit(x_train, y_train)
    probabilities = pipeline.predict_proba(x_test)
    profile = reference_profile(pipeline, x_test, probabilities=probabilities)
    correct = pipeline.classes_[probabilities.argmax(axis=1)] == y_test
    profile["calibration"] = fit_confidence_calibration(probabilities.max(axis=1), correct).to_dict()
    fresh, fresh_labels = draw_rows(corpus, 600, seed=22, exclude=None)
    return pipeline, profile, fresh, fresh_labels


def test_request_totals_from_the_serving_apps_registry():
    metrics = ServingMetrics()
    for status, count in ((200, 90), (422, 5), (500, 3), (503, 2)):
        for _ in range(count):
            metrics.observe_request("/predict", "POST", status, 0.001)
    metrics.observe_request("/metrics", "GET", 200, 0.001)
    metrics.observe_request("/health", "GET", 500, 0.001)
    totals = parse_request_totals(metrics.render()[0].decode(), taken_at=T0)
    assert (totals.requests, totals.errors) == (100, 5)  # 4xx are the client's fault; probes are ignored


def test_scrape_reads_a_real_metrics_endpoint():
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from sentiment_mlops.monitoring.traffic import scrape

    metrics = ServingMetrics()
    for status in (200, 200, 500):
        metrics.observe_request("/predict", "POST", status, 0.001)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the http.server API
            body, content_type = metrics.render()
            self.send_response(200 if self.path == "/metrics" else 404)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        tracker = RequestRateTracker(scrape(f"{base}/metrics"))
        assert (tracker.sample(T0).requests, tracker.samples[-1].errors) == (3, 1)
        with pytest.raises(httpx.HTTPStatusError, match="404"):
            scrape(f"{base}/nothing")()
    finally:
        server.shutdown()
        server.server_close()


def test_rate_tracker_answers_by_difference_and_survives_a_restart():
    metrics = ServingMetrics()
    tracker = RequestRateTracker(lambda: metrics.render()[0].decode())
    assert tracker.since(T0) is None
    for _ in range(50):
        metrics.observe_request("/predict", "POST", 200, 0.001)
    tracker.sample(T0)
    assert tracker.since(T0) == (50, 0)  # one sample: everything since the server started
    for _ in range(10):
        metrics.observe_request("/predict/batch", "POST", 500, 0.001)
    tracker.sample(T0 + timedelta(minutes=1))
    assert tracker.since(T0 + timedelta(seconds=30)) == (10, 10)
    assert tracker.since(T0 - timedelta(hours=1)) == (10, 10)  # from the earliest sample there is
    restarted = ServingMetrics()
    restarted.observe_request("/predict", "POST", 200, 0.001)
    tracker.read = lambda: restarted.render()[0].decode()
    tracker.sample(T0 + timedelta(minutes=2))  # counters went down: older samples are dropped
    assert tracker.since(T0) == (1, 0)


def test_snapshot_from_a_store_of_real_predictions_and_feedback(model, tmp_path):
    from sentiment_mlops.store import PredictionStore

    pipeline, profile, texts, labels = model
    now = datetime.now(timezone.utc)
    with PredictionStore(f"sqlite:///{tmp_path}/p.db") as store:
        rows = prediction_rows(pipeline, texts[:400], environment="production", version="7",
                               created_at=now - timedelta(minutes=2))
        for i, row in enumerate(rows):
            row["latency_ms"] = float(i % 100)  # 0..99 ms
        ids = store.insert_predictions(rows)
        for prediction_id, label in zip(ids[:100], labels[:100], strict=True):
            store.add_feedback(prediction_id, label)
        store.insert_predictions(prediction_rows(pipeline, texts[400:410], environment="staging", version="8"))
        snapshot = build_snapshot(store, ServedModelInfo("production", "7", profile), window=300,
                                  drift_reporter=default_drift_reporter(), now=now)
        live = live_performance(store, environment="production", model_version="7",
                                calibration=profile_calibration(profile))
    truth = (pipeline.predict(texts[:100]) == labels[:100]).mean()
    assert live.labelled == 100 and live.predictions == 400 and live.accuracy == pytest.approx(truth)
    assert live.estimated_accuracy == pytest.approx(estimated_accuracy(
        [r["confidence"] for r in rows], profile_calibration(profile)))
    assert snapshot.labelled == 100 and snapshot.live_accuracy == pytest.approx(truth)
    assert snapshot.estimate_predictions == 300 and 0.5 < snapshot.estimated_accuracy < 0.9
    assert abs(snapshot.reference_accuracy - snapshot.estimated_accuracy) < 0.05  # same distribution
    assert snapshot.p95_latency_ms == pytest.approx(p95([float(i % 100) for i in range(400)]))
    assert snapshot.last_prediction_at == now - timedelta(minutes=2)
    assert snapshot.drift["current_size"] == 300 and snapshot.drift["model_version"] == "7"
    assert snapshot.drift["drift_detected"] is False
    assert snapshot.requests is None  # no counters given: the error-rate rule stays unknown


def test_file_lock_admits_one_leader_and_hands_over(tmp_path):
    first, second = FileLeaderLock(tmp_path / "m.lock"), FileLeaderLock(tmp_path / "m.lock")
    assert first.try_acquire() and first.try_acquire()
    assert not second.try_acquire()
    first.release()
    assert second.try_acquire() and second.held
    second.release()
    lock = leader_lock("sqlite:///x.db", "production", lock_dir=tmp_path)
    assert isinstance(lock, FileLeaderLock) and lock.path.parent == tmp_path
    assert leader_lock("sqlite:///x.db", "staging", lock_dir=tmp_path).path != lock.path


@pytest.mark.postgres
def test_postgres_advisory_lock_admits_one_leader():
    url = os.environ.get("SENTIMENT_MLOPS_TEST_POSTGRES_URL")
    if not url:
        pytest.skip("SENTIMENT_MLOPS_TEST_POSTGRES_URL is not set; set it to postgresql://postgres@127.0.0.1:5432/test")
    environment = f"test-{os.getpid()}-{threading.get_ident()}"
    first, second = leader_lock(url, environment), leader_lock(url, environment)
    assert isinstance(first, PostgresLeaderLock)
    try:
        assert first.try_acquire() and first.try_acquire()
        assert not second.try_acquire()
        first.release()
        assert second.try_acquire()
    finally:
        first.release()
        second.release()


def test_server_monitor_runs_in_one_worker_only_and_alerts_through_the_webhook(model, tmp_path, monkeypatch):
    """Two app processes' worth of loops on one store: only the lock holder evaluates; its alerts arrive."""
    import tempfile

    from sentiment_mlops.store import PredictionStore

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # the lock file lives in this test's directory
    pipeline, profile, texts, _ = model
    store_url = f"sqlite:///{tmp_path}/p.db"
    metrics = ServingMetrics()
    for i in range(100):
        metrics.observe_request("/predict", "POST", 500 if i < 10 else 200, 0.002)
    workers = [ServingMetrics(), ServingMetrics()]  # each worker's app registry, where its gauges go
    with PredictionStore(store_url) as store, webhook_receiver() as receiver:
        store.insert_predictions(prediction_rows(pipeline, texts[:50], environment="production", version="7"))
        settings = Settings(store_url=store_url, monitor_in_server=True, monitor_interval_seconds=0.05,
                            alert_webhook=receiver.url)
        assert start_server_monitor(Settings(store_url=store_url), environment="production", store=store,
                                    current_model=lambda: ("7", profile), read_metrics=lambda: "") is None
        loops = [start_server_monitor(settings, environment="production", store=store,
                                      current_model=lambda: ("7", profile),
                                      read_metrics=lambda: metrics.render()[0].decode(),
                                      metrics_registry=registry)
                 for registry in (worker.registry for worker in workers)]
        try:
            assert receiver.wait_for(1)
            leaders = [loop for loop in loops if loop.is_leader]  # before a stop hands the lock over
        finally:
            # followers first: a stopped leader releases the lock, and a follower still running takes
            # it over on its next tick (as a surviving worker should) and would export gauges too
            for loop in sorted(loops, key=lambda loop: loop.is_leader):
                loop.stop()
        assert len(leaders) == 1
        firing = [r for r in receiver.received if r["rule"] == "error_rate"]
        assert firing and firing[0]["details"]["errors"] == 10 and firing[0]["environment"] == "production"
        assert [a["rule"] for a in store.alerts(status="firing")] == ["error_rate"]
        leader = workers[loops.index(leaders[0])].render()[0].decode()  # gauges beside the serving metrics
        follower = workers[1 - loops.index(leaders[0])].render()[0].decode()
        assert 'environment="production"' not in follower
        exported = leader
        assert 'sentiment_monitor_labelled_predictions{environment="production"} 0.0' in exported
        assert 'sentiment_monitor_reference_accuracy{environment="production"}' in exported
        assert 'sentiment_monitor_last_run_timestamp_seconds{environment="production"}' in exported


def test_server_monitor_guards_the_bake_window_with_the_rollback_it_is_given(tmp_path, monkeypatch, caplog):
    """The service passes service.build_auto_rollback; without one the loop only alerts, and says so."""
    import logging
    import tempfile

    from sentiment_mlops.monitoring.auto_rollback import AutoRollback
    from sentiment_mlops.store import PredictionStore

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    store_url = f"sqlite:///{tmp_path}/p.db"
    settings = Settings(store_url=store_url, monitor_in_server=True, monitor_auto_rollback=True,
                        monitor_interval_seconds=60)
    built = []

    def factory(given_settings, given_store, environment):
        built.append((given_settings, given_store, environment))
        return AutoRollback(given_store, lambda **_: None, environment=environment, bake_minutes=30,
                            accuracy_floor=0.5, error_rate_threshold=0.01)

    with PredictionStore(store_url) as store:
        loop = start_server_monitor(settings, environment="production", store=store, current_model=lambda: (None, None),
                                    read_metrics=lambda: "", auto_rollback=factory)
        loop.stop()
        assert built == [(settings, store, "production")]
        with caplog.at_level(logging.WARNING):
            start_server_monitor(settings, environment="production", store=store, current_model=lambda: (None, None),
                                 read_metrics=lambda: "").stop()
    assert "started without a rollback action" in caplog.text
