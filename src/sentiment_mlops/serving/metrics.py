"""Prometheus metrics of one server process (prometheus-client).

Each app gets its own ``CollectorRegistry`` so several apps can live in one process (tests). With
``PROMETHEUS_MULTIPROC_DIR`` set (``serve --workers N`` sets it), every worker writes its samples to that
folder and ``/metrics`` aggregates all workers with ``MultiProcessCollector``.
"""

from __future__ import annotations

import os
from collections import Counter as Tally
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
CONFIDENCE_BUCKETS = (0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 1.0)


def multiprocess_enabled() -> bool:
    return bool(os.environ.get(MULTIPROC_ENV))


class ServingMetrics:
    """Every metric the service exports."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter("sentiment_http_requests_total", "HTTP requests by route, method and status.",
                                ["route", "method", "status"], registry=r)
        self.latency = Histogram("sentiment_http_request_duration_seconds", "HTTP request latency by route.",
                                 ["route"], buckets=LATENCY_BUCKETS, registry=r)
        self.predictions = Counter("sentiment_predictions_total", "Predictions by label and model version.",
                                   ["sentiment", "model_version"], registry=r)
        self.confidence = Histogram("sentiment_prediction_confidence", "Confidence of the predicted label.",
                                    buckets=CONFIDENCE_BUCKETS, registry=r)
        # An info-style gauge (value 1 for what is served, 0 for what was): prometheus-client's Info type
        # does not work in multiprocess mode.
        self.model_info = Gauge("sentiment_model_info", "The model version a server answers with.",
                                ["environment", "model_version", "role"], registry=r, multiprocess_mode="livemax")
        self.queue_depth = Gauge("sentiment_prediction_log_queue_depth", "Predictions waiting to be written.",
                                 registry=r, multiprocess_mode="livesum")
        self.backpressure_waits = Counter("sentiment_prediction_log_backpressure_waits_total",
                                          "Requests that waited because the prediction log queue was full.",
                                          registry=r)
        self.log_journaled = Gauge("sentiment_prediction_log_journaled_rows",
                                   "Predictions in the local journal, waiting for the store.",
                                   registry=r, multiprocess_mode="livesum")
        self.log_failing = Gauge("sentiment_prediction_log_store_failing",
                                 "1 while writes to the prediction store fail (rows go to the journal).",
                                 registry=r, multiprocess_mode="livemax")
        self.log_written_counter = Counter("sentiment_prediction_log_written_total",
                                   "Predictions written to the store (directly or replayed from the journal).",
                                   registry=r)
        self.log_dropped_counter = Counter("sentiment_prediction_log_dropped_total",
                                   "Predictions lost because the journal was full or refused the write.",
                                   registry=r)
        self.model_reloads = Counter("sentiment_model_reloads_total", "Model swaps and failed loads.",
                                     ["outcome"], registry=r)
        self._request_children: dict[tuple[str, str, int], Any] = {}
        self._latency_children: dict[str, Any] = {}
        self._prediction_children: dict[tuple[str, str], Any] = {}

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        key = (route, method, status)
        child = self._request_children.get(key)
        if child is None:
            child = self._request_children[key] = self.requests.labels(route, method, str(status))
        child.inc()
        latency = self._latency_children.get(route)
        if latency is None:
            latency = self._latency_children[route] = self.latency.labels(route)
        latency.observe(seconds)

    def observe_predictions(self, model_version: str, labels: list[str], confidences: list[float]) -> None:
        for label, count in Tally(labels).items():
            key = (label, model_version)
            child = self._prediction_children.get(key)
            if child is None:
                child = self._prediction_children[key] = self.predictions.labels(label, model_version)
            child.inc(count)
        observe = self.confidence.observe
        for confidence in confidences:
            observe(confidence)

    # The prediction log writer's LogObserver (serving.prediction_log).

    def log_written(self, rows: int) -> None:
        self.log_written_counter.inc(rows)

    def log_dropped(self, rows: int) -> None:
        self.log_dropped_counter.inc(rows)

    def log_levels(self, *, queued: int, journaled: int, failing: bool) -> None:
        self.queue_depth.set(queued)
        self.log_journaled.set(journaled)
        self.log_failing.set(1 if failing else 0)

    def set_model(self, environment: str, previous: dict[str, str | None], current: dict[str, str | None]) -> None:
        """Mark what is served now (1) and what no longer is (0); keys are roles: primary, canary."""
        for role, version in previous.items():
            if version is not None and current.get(role) != version:
                self.model_info.labels(environment, version, role).set(0)
        for role, version in current.items():
            if version is not None:
                self.model_info.labels(environment, version, role).set(1)

    def render(self) -> tuple[bytes, str]:
        """The Prometheus text exposition of this process, or of all workers in multiprocess mode."""
        if multiprocess_enabled():
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            return generate_latest(registry), CONTENT_TYPE_LATEST
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
