"""Measure one environment now: the numbers the alert rules and the auto-rollback look at.

Thin reads of the store (the last ``window`` predictions of the served version, its feedback, the recent
latencies and the newest prediction), the drift report over that window, the label-free estimate, and the
request counters. The rules themselves are pure (``monitoring.alerts``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

import numpy as np

from sentiment_mlops.errors import SentimentMLOpsError
from sentiment_mlops.monitoring.alerts import MonitorSnapshot
from sentiment_mlops.monitoring.drift.online import WINDOW_COLUMNS
from sentiment_mlops.monitoring.performance import (
    accuracy_and_macro_f1,
    as_utc,
    estimated_accuracy,
    profile_calibration,
    reference_estimate,
)
from sentiment_mlops.monitoring.traffic import RequestRateTracker

if TYPE_CHECKING:
    from sentiment_mlops.store import PredictionStore

logger = logging.getLogger(__name__)

DEFAULT_WINDOW = 1000
# Latency and error rate describe the service now, not over its life: the last 15 minutes.
RATE_LOOKBACK = timedelta(minutes=15)
LATENCY_SAMPLE_LIMIT = 20_000
# Live accuracy over the most recent labels only, so that a recovered model stops alerting.
ACCURACY_LABELS = 500

DriftReporter = Callable[[Sequence[Mapping[str, Any]], Mapping[str, Any]], dict[str, Any] | None]
"""(logged predictions of one version, newest first; its reference profile) -> drift report or None."""


@dataclass(frozen=True)
class ServedModelInfo:
    """Which version an environment serves and its reference profile, or why it could not be loaded."""

    environment: str
    version: str | None
    profile: dict[str, Any] | None = None
    load_error: str | None = None


def p95(values: Sequence[float]) -> float | None:
    """The 95th percentile (linear interpolation), None for no values."""
    return float(np.percentile(np.asarray(values, dtype=float), 95)) if len(values) else None


def build_snapshot(store: PredictionStore, served: ServedModelInfo, *, window: int = DEFAULT_WINDOW,
                   drift_reporter: DriftReporter | None = None, traffic: RequestRateTracker | None = None,
                   now: datetime | None = None, lookback: timedelta = RATE_LOOKBACK) -> MonitorSnapshot:
    """Everything the rules need for ``served.environment``, measured now."""
    now = now or datetime.now(timezone.utc)
    environment, version = served.environment, served.version
    newest = store.recent_predictions(environment=environment, limit=1, columns=("created_at",))
    last_at = as_utc(newest[0]["created_at"]) if newest else None
    recent = store.recent_predictions(environment=environment, since=now - lookback, limit=LATENCY_SAMPLE_LIMIT,
                                      columns=("latency_ms",))
    latencies = [float(r["latency_ms"]) for r in recent if r.get("latency_ms") is not None]
    requests = errors = None
    if traffic is not None:
        counts = traffic.since(now - lookback)
        if counts is not None:
            requests, errors = counts
    fields: dict[str, Any] = {}
    if version is not None:
        fields = _version_fields(store, environment, version, served.profile, window, drift_reporter)
    return MonitorSnapshot(
        environment=environment, model_version=version, taken_at=now, requests=requests, errors=errors,
        p95_latency_ms=p95(latencies), latency_samples=len(latencies), last_prediction_at=last_at,
        model_load_error=served.load_error, **fields,
    )


def _version_fields(store: PredictionStore, environment: str, version: str, profile: Mapping[str, Any] | None,
                    window: int,
                    drift_reporter: DriftReporter | None) -> dict[str, Any]:
    # Only what the estimate and the drift report read: decoding probability maps would double the read.
    rows = store.recent_predictions(environment=environment, model_version=version, limit=window,
                                    columns=(*WINDOW_COLUMNS, "model_version"))
    pairs = store.feedback_pairs(environment=environment, model_version=version, limit=ACCURACY_LABELS)
    fields: dict[str, Any] = {"labelled": len(pairs), "estimate_predictions": len(rows)}
    if pairs:
        fields["live_accuracy"], fields["live_macro_f1"] = accuracy_and_macro_f1(
            [p["predicted"] for p in pairs], [p["label"] for p in pairs])
    if profile is not None:
        fields["estimated_accuracy"] = estimated_accuracy([float(r["confidence"]) for r in rows],
                                                          profile_calibration(profile))
        fields["reference_accuracy"] = reference_estimate(profile)
        if drift_reporter is not None and rows:
            try:
                fields["drift"] = drift_reporter(rows, profile)
            except (SentimentMLOpsError, ValueError) as exc:  # too few rows, texts not logged, ...
                logger.info("no drift report for %s version %s: %s", environment, version, exc)
    return fields
