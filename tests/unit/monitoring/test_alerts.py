"""Each alert rule fires past its threshold, is ok within it, and stays unknown without enough data."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from sentiment_mlops.config import Settings
from sentiment_mlops.monitoring.alerts import (
    MIN_ESTIMATE_PREDICTIONS,
    MIN_LABELLED,
    MIN_REQUESTS,
    RULES,
    MonitorSnapshot,
    evaluate_rules,
)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)


@pytest.fixture
def settings(monkeypatch):
    for name in ("ACCURACY_FLOOR", "ERROR_RATE_THRESHOLD", "P95_LATENCY_MS", "NO_TRAFFIC_MINUTES"):
        monkeypatch.delenv(f"SENTIMENT_MLOPS_{name}", raising=False)
    return Settings(accuracy_floor=0.6, error_rate_threshold=0.02, p95_latency_ms=40, no_traffic_minutes=10,
                    estimated_accuracy_drop=0.05)


def healthy() -> MonitorSnapshot:
    return MonitorSnapshot(
        environment="production", model_version="3", taken_at=NOW,
        drift={"drift_detected": False, "current_size": 500, "checks": [{"name": "confidence", "drift": False}]},
        live_accuracy=0.7, live_macro_f1=0.65, labelled=MIN_LABELLED, estimated_accuracy=0.69,
        estimate_predictions=MIN_ESTIMATE_PREDICTIONS, reference_accuracy=0.71, requests=1000, errors=5,
        p95_latency_ms=12.0, latency_samples=500, last_prediction_at=NOW - timedelta(minutes=1),
    )


def outcome(snapshot, settings, rule):
    return {o.rule: o for o in evaluate_rules(snapshot, settings)}[rule]


def test_a_healthy_snapshot_fires_nothing(settings):
    outcomes = evaluate_rules(healthy(), settings)
    assert [o.rule for o in outcomes] == list(RULES)
    assert [o.status for o in outcomes] == ["ok"] * len(RULES)


@pytest.mark.parametrize(("rule", "change", "value", "threshold"), [
    ("drift", {"drift": {"drift_detected": True, "current_size": 500,
                         "checks": [{"name": "vocabulary", "drift": True}, {"name": "confidence", "drift": False}]}},
     1.0, 0.0),
    ("live_accuracy", {"live_accuracy": 0.55}, 0.55, 0.6),
    ("estimated_accuracy_drop", {"estimated_accuracy": 0.60}, pytest.approx(0.11), 0.05),
    ("error_rate", {"errors": 25}, 0.025, 0.02),
    ("p95_latency", {"p95_latency_ms": 41.0}, 41.0, 40),
    ("no_traffic", {"last_prediction_at": NOW - timedelta(minutes=11)}, pytest.approx(11.0), 10),
    ("model_load_failed", {"model_load_error": "sha256 mismatch for model.skops"}, None, None),
])
def test_each_rule_fires_past_its_threshold(settings, rule, change, value, threshold):
    fired = outcome(replace(healthy(), **change), settings, rule)
    assert fired.status == "firing" and fired.firing
    assert fired.value == value and fired.threshold == threshold
    assert "production" in fired.message
    others = [o for o in evaluate_rules(replace(healthy(), **change), settings) if o.rule != rule]
    assert not any(o.firing for o in others)  # one condition, one alert


def test_messages_say_what_was_seen(settings):
    snapshot = replace(healthy(), errors=25, live_accuracy=0.55)
    assert "2.50% (25 of 1000 requests)" in outcome(snapshot, settings, "error_rate").message
    assert "55.0% on 30 labelled predictions, below the floor of 60.0%" in \
        outcome(snapshot, settings, "live_accuracy").message
    assert "vocabulary" in outcome(replace(healthy(), drift={"drift_detected": True, "current_size": 9, "checks": [
        {"name": "vocabulary", "drift": True}]}), settings, "drift").message


def test_thresholds_are_exclusive(settings):
    at_limit = replace(healthy(), errors=20, p95_latency_ms=40.0, live_accuracy=0.6,
                       last_prediction_at=NOW - timedelta(minutes=10))
    assert not any(o.firing for o in evaluate_rules(at_limit, settings))


@pytest.mark.parametrize(("rule", "change"), [
    ("drift", {"drift": None}),
    ("live_accuracy", {"labelled": MIN_LABELLED - 1}),
    ("live_accuracy", {"live_accuracy": None, "labelled": 0}),
    ("estimated_accuracy_drop", {"estimate_predictions": MIN_ESTIMATE_PREDICTIONS - 1}),
    ("estimated_accuracy_drop", {"reference_accuracy": None}),
    ("error_rate", {"requests": MIN_REQUESTS - 1, "errors": MIN_REQUESTS - 1}),
    ("error_rate", {"requests": None, "errors": None}),
    ("p95_latency", {"latency_samples": MIN_REQUESTS - 1}),
    ("no_traffic", {"model_version": None}),
])
def test_too_little_data_is_unknown_not_ok(settings, rule, change):
    assert outcome(replace(healthy(), **change), settings, rule).status == "unknown"


def test_no_prediction_ever_is_no_traffic(settings):
    silent = replace(healthy(), last_prediction_at=None)
    assert outcome(silent, settings, "no_traffic").firing


def test_snapshot_to_dict_is_json_ready():
    import json

    data = healthy().to_dict()
    assert data["error_rate"] == 0.005 and data["taken_at"] == NOW.isoformat()
    json.dumps(data)
