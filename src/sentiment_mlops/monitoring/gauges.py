"""The server's own monitor loop exports what it measures as Prometheus gauges beside the serving metrics.

Drift, live accuracy and the label-free estimate are computed by the monitor, not by request handlers, so
``deploy/prometheus/alerts.yml`` can only alert on them if the loop publishes them. Only the leader worker
sets them (children are created on first use); ``livemax`` drops a worker that died.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Gauge

from sentiment_mlops.monitoring.alerts import MonitorSnapshot

GAUGE_NAMES = (
    "sentiment_monitor_drift_detected",
    "sentiment_monitor_live_accuracy",
    "sentiment_monitor_labelled_predictions",
    "sentiment_monitor_estimated_accuracy",
    "sentiment_monitor_reference_accuracy",
    "sentiment_monitor_last_run_timestamp_seconds",
)


class MonitorGauges:
    """Gauges labelled by environment, updated from each snapshot (a value that cannot be measured is left
    unset, so a Prometheus rule over it does not fire on missing data)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        def gauge(name: str, doc: str) -> Gauge:
            return Gauge(name, doc, ["environment"], registry=registry, multiprocess_mode="livemax")

        self.drift = gauge(GAUGE_NAMES[0], "1 when the latest drift report of the served version found drift.")
        self.live_accuracy = gauge(GAUGE_NAMES[1], "Accuracy on the latest labelled predictions (POST /feedback).")
        self.labelled = gauge(GAUGE_NAMES[2], "How many labelled predictions the live accuracy is computed on.")
        self.estimated = gauge(GAUGE_NAMES[3], "Label-free accuracy estimate (calibrated mean confidence).")
        self.reference = gauge(GAUGE_NAMES[4], "The same estimate on the version's held-out split.")
        self.last_run = gauge(GAUGE_NAMES[5], "When the monitor loop last evaluated the alert rules.")

    def update(self, snapshot: MonitorSnapshot) -> None:
        env = snapshot.environment
        values: dict[Any, float | None] = {
            self.drift: None if snapshot.drift is None else float(bool(snapshot.drift.get("drift_detected"))),
            self.live_accuracy: snapshot.live_accuracy,
            self.labelled: float(snapshot.labelled),
            self.estimated: snapshot.estimated_accuracy,
            self.reference: snapshot.reference_accuracy,
            self.last_run: snapshot.taken_at.timestamp(),
        }
        for gauge, value in values.items():
            if value is not None:
                gauge.labels(env).set(value)
