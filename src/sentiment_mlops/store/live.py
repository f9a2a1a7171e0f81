"""SQL aggregates over the prediction log for the dashboard's Live page: volume, labels, confidence, latency, accuracy.

Everything is grouped in the database (one row per time bucket and series), so a page load reads a few
hundred rows whatever the size of the log. Latency percentiles are the one exception: portable SQL has
no percentile, so they come from the newest ``LATENCY_SAMPLE`` latencies of the window.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import BigInteger, Integer, case, cast, extract, func, select
from sqlalchemy.engine import Engine
from sqlalchemy.sql import ColumnElement

from sentiment_mlops.store.database import Database
from sentiment_mlops.store.predictions import prediction_filters
from sentiment_mlops.store.schema import feedback, predictions

BUCKETS = {"minute": 60, "hour": 3600, "day": 86400}
MAX_BUCKETS = 2000
CONFIDENCE_BINS = 20
ESTIMATE_BINS = 25  # a calibration map is applied to each bin's mean confidence: rows stay few, the error tiny
LATENCY_SAMPLE = 20_000

Calibrate = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class LiveQuery:
    """Which slice of the log a Live view covers."""

    since: datetime
    bucket_seconds: int
    environment: str | None = None
    version: str | None = None


def choose_bucket(hours: float) -> str:
    """The finest bucket that keeps a window of ``hours`` under a readable number of points."""
    if hours <= 6:
        return "minute"
    return "hour" if hours <= 24 * 14 else "day"


def bucket_count(hours: float, bucket: str) -> int:
    return int(np.ceil(hours * 3600 / BUCKETS[bucket]))


def fitting_bucket(hours: float, finest: str) -> str:
    """``finest``, or the first coarser bucket that keeps a window of ``hours`` within ``MAX_BUCKETS`` points.

    >>> fitting_bucket(6, "minute"), fitting_bucket(720, "minute"), fitting_bucket(24 * 90, "hour")
    ('minute', 'hour', 'day')
    """
    names = list(BUCKETS)  # finest first
    for name in names[names.index(finest):]:
        if bucket_count(hours, name) <= MAX_BUCKETS:
            return name
    return names[-1]


def _epoch(engine: Engine, column: Any) -> ColumnElement[int]:
    if engine.dialect.name == "sqlite":  # stored as naive UTC text
        return cast(func.strftime("%s", column), Integer)
    # floor: a cast to an integer rounds on PostgreSQL, which would move x:59.7 into the next minute.
    return cast(func.floor(extract("epoch", column)), BigInteger)


def _bucket(engine: Engine, query: LiveQuery) -> ColumnElement[int]:
    # ``//``: SQLAlchemy 2 renders ``/`` as true division even between integers.
    return (_epoch(engine, predictions.c.created_at) // query.bucket_seconds) * query.bucket_seconds


def _filters(query: LiveQuery) -> list[ColumnElement[bool]]:
    return prediction_filters(query.environment, query.version, query.since)


def _time(epoch: int | float) -> str:
    return datetime.fromtimestamp(int(epoch), tz=UTC).isoformat()


def _volume_and_labels(engine: Engine, query: LiveQuery) -> dict[str, Any]:
    """Volume per version, labels and latency per bucket, from one scan grouped by (bucket, version, label)."""
    bucket = _bucket(engine, query).label("bucket")
    latency = predictions.c.latency_ms
    stmt = (select(bucket, predictions.c.model_version, predictions.c.sentiment, func.count().label("n"),
                   func.sum(predictions.c.confidence).label("conf"), func.count(latency).label("timed"),
                   func.sum(latency).label("latency"), func.max(latency).label("slowest"))
            .where(*_filters(query))
            .group_by(bucket, predictions.c.model_version, predictions.c.sentiment)
            .order_by(bucket, predictions.c.model_version, predictions.c.sentiment))
    volume: dict[tuple[int, str], list[float]] = {}
    labels: dict[tuple[int, str], int] = {}
    timings: dict[int, list[float]] = {}
    with engine.connect() as conn:
        for r in conn.execute(stmt):
            cell = volume.setdefault((r.bucket, r.model_version), [0, 0.0])
            cell[0] += r.n
            cell[1] += float(r.conf)
            labels[(r.bucket, r.sentiment)] = labels.get((r.bucket, r.sentiment), 0) + r.n
            if r.timed:
                timed = timings.setdefault(r.bucket, [0, 0.0, float("-inf")])
                timed[0] += r.timed
                timed[1] += float(r.latency)
                timed[2] = max(timed[2], float(r.slowest))
    return {
        "volume": [{"t": _time(b), "model_version": v, "count": int(n), "mean_confidence": total / n}
                   for (b, v), (n, total) in sorted(volume.items())],
        "labels": [{"t": _time(b), "sentiment": label, "count": n} for (b, label), n in sorted(labels.items())],
        "latency_over_time": [{"t": _time(b), "mean_ms": total / n, "max_ms": slowest}
                              for b, (n, total, slowest) in sorted(timings.items())],
    }


def _confidence_histogram(engine: Engine, query: LiveQuery) -> list[dict[str, Any]]:
    binned = _confidence_bin(engine, CONFIDENCE_BINS).label("bin")
    stmt = select(binned, func.count().label("n")).where(*_filters(query)).group_by(binned).order_by(binned)
    with engine.connect() as conn:
        return [{"bin_start": r.bin / CONFIDENCE_BINS, "bin_end": (r.bin + 1) / CONFIDENCE_BINS, "count": r.n}
                for r in conn.execute(stmt)]


def _latency_percentiles(engine: Engine, query: LiveQuery) -> dict[str, Any]:
    stmt = (select(predictions.c.latency_ms).where(*_filters(query), predictions.c.latency_ms.is_not(None))
            .order_by(predictions.c.created_at.desc()).limit(LATENCY_SAMPLE))
    with engine.connect() as conn:
        values = np.array([row[0] for row in conn.execute(stmt)], dtype=float)
    if values.size == 0:
        return {"sample_size": 0, "p50_ms": None, "p95_ms": None, "p99_ms": None}
    p50, p95, p99 = np.percentile(values, [50, 95, 99])
    return {"sample_size": int(values.size), "p50_ms": float(p50), "p95_ms": float(p95), "p99_ms": float(p99)}


def _confidence_bin(engine: Engine, bins: int) -> ColumnElement[int]:
    """The histogram bin of a confidence; min() keeps a confidence of exactly 1.0 in the last bin."""
    if engine.dialect.name == "sqlite":  # CAST truncates, and confidences are never negative
        return func.min(cast(predictions.c.confidence * bins, Integer), bins - 1)
    return func.least(cast(func.floor(predictions.c.confidence * bins), Integer), bins - 1)


def _estimate(bins: list[tuple[int, float]], calibrate: Calibrate | None) -> float | None:
    """Expected accuracy from (count, summed confidence) per fine bin: the mean of the calibrated confidences."""
    counts = np.array([n for n, _ in bins], dtype=float)
    if counts.sum() == 0:
        return None
    means = np.array([total / n for n, total in bins], dtype=float)
    mapped = calibrate(means) if calibrate is not None else means
    return float((mapped * counts).sum() / counts.sum())


Cell = tuple[int, str, str]  # (time bucket, environment, version)


def _accuracy(engine: Engine, query: LiveQuery, calibrations: Mapping[str, Calibrate]) -> dict[str, Any]:
    """Live accuracy from feedback beside the label-free estimate (CBPE: mean calibrated confidence).

    Confidences are read as a fine histogram per bucket and version, so a version's calibration map
    (monotone, applied to each bin's mean) costs no row-level read.
    """
    bucket = _bucket(engine, query).label("bucket")
    fine = _confidence_bin(engine, ESTIMATE_BINS).label("bin")
    version = predictions.c.model_version
    correct = func.sum(case((feedback.c.label == predictions.c.sentiment, 1), else_=0)).label("correct")
    labelled = (select(bucket, predictions.c.environment, version, func.count().label("n"), correct)
                .select_from(predictions.join(feedback, feedback.c.prediction_id == predictions.c.id))
                .where(*_filters(query)).group_by(bucket, predictions.c.environment, version))
    confidences = (select(bucket, predictions.c.environment, version, fine, func.count().label("n"),
                          func.sum(predictions.c.confidence).label("total"),
                          func.max(predictions.c.created_at).label("last_seen"))
                   .where(*_filters(query)).group_by(bucket, predictions.c.environment, version, fine))
    cells: dict[Cell, dict[str, Any]] = {}
    with engine.connect() as conn:
        for r in conn.execute(confidences):
            cell = cells.setdefault((r.bucket, r.environment, r.model_version),
                                    {"bins": [], "labelled": 0, "correct": 0, "last_seen": r.last_seen})
            cell["bins"].append((r.n, float(r.total)))
            cell["last_seen"] = max(cell["last_seen"], r.last_seen)
        for r in conn.execute(labelled):
            found = cells.get((r.bucket, r.environment, r.model_version))
            if found is not None:
                found["labelled"], found["correct"] = r.n, int(r.correct or 0)
    return {"accuracy_over_time": _over_time(cells, calibrations), "versions": _per_version(cells, calibrations)}


def _row(version: str, bins: list[tuple[int, float]], labelled: int, correct: int,
         calibrations: Mapping[str, Calibrate]) -> dict[str, Any]:
    return {"model_version": version, "predictions": sum(n for n, _ in bins), "feedback": labelled,
            "live_accuracy": correct / labelled if labelled else None,
            "estimated_accuracy": _estimate(bins, calibrations.get(version))}


def _merge(cells: dict[Cell, dict[str, Any]], key: Callable[[Cell], tuple[Any, str]]) -> dict[tuple[Any, str], Any]:
    """Sum the (bucket, environment, version) cells into ``key(cell)`` groups."""
    merged: dict[tuple[Any, str], dict[str, Any]] = {}
    for cell_key, cell in cells.items():
        into = merged.setdefault(key(cell_key), {"bins": [], "labelled": 0, "correct": 0,
                                                  "last_seen": cell["last_seen"]})
        into["bins"] += cell["bins"]
        into["labelled"] += cell["labelled"]
        into["correct"] += cell["correct"]
        into["last_seen"] = max(into["last_seen"], cell["last_seen"])
    return merged


def _over_time(cells: dict[Cell, dict[str, Any]], calibrations: Mapping[str, Calibrate]) -> list[dict[str, Any]]:
    merged = _merge(cells, lambda cell: (cell[0], cell[2]))
    return [{"t": _time(bucket), **_row(version, m["bins"], m["labelled"], m["correct"], calibrations)}
            for (bucket, version), m in sorted(merged.items())]


def _per_version(cells: dict[Cell, dict[str, Any]], calibrations: Mapping[str, Calibrate]) -> list[dict[str, Any]]:
    merged = _merge(cells, lambda cell: (cell[1], cell[2]))
    return [{"environment": environment, **_row(version, m["bins"], m["labelled"], m["correct"], calibrations),
             "last_seen": m["last_seen"].isoformat()}
            for (environment, version), m in sorted(merged.items())]


def live_summary(engine: Engine, query: LiveQuery, calibrations: Mapping[str, Calibrate] | None = None
                 ) -> dict[str, Any]:
    """Everything the Live page draws for one environment / version / window.

    ``calibrations`` maps a model version to its confidence calibration (see ``monitoring.performance``);
    versions without one are estimated from their raw confidences.
    """
    result: dict[str, Any] = {"since": query.since.isoformat(), "bucket_seconds": query.bucket_seconds,
                              "environment": query.environment, "version": query.version}
    result.update(_volume_and_labels(engine, query))
    result["confidence_histogram"] = _confidence_histogram(engine, query)
    result["latency"] = _latency_percentiles(engine, query)
    result.update(_accuracy(engine, query, calibrations or {}))
    result["total_predictions"] = sum(row["predictions"] for row in result["versions"])
    result["total_feedback"] = sum(row["feedback"] for row in result["versions"])
    return result


def traffic_slices(engine: Engine) -> list[dict[str, Any]]:
    """The (environment, version) pairs that ever answered, newest first: the Live page's selectors."""
    stmt = (select(predictions.c.environment, predictions.c.model_version, func.count().label("n"),
                   func.max(predictions.c.created_at).label("last_seen"))
            .group_by(predictions.c.environment, predictions.c.model_version)
            .order_by(func.max(predictions.c.created_at).desc()).limit(200))
    with engine.connect() as conn:
        return [{"environment": r.environment, "model_version": r.model_version, "predictions": r.n,
                 "last_seen": r.last_seen.isoformat() if isinstance(r.last_seen, datetime) else str(r.last_seen)}
                for r in conn.execute(stmt)]


def window_start(hours: float, *, now: datetime | None = None) -> datetime:
    return (now or datetime.now(UTC)) - timedelta(hours=hours)


class LiveAggregates(Database):
    """The Live page's reads, answered by the database (grouped per time bucket and series)."""

    def live_summary(self, query: LiveQuery, calibrations: Mapping[str, Calibrate] | None = None
                     ) -> dict[str, Any]:
        """See ``live_summary``."""
        return live_summary(self.engine, query, calibrations)

    def traffic_slices(self) -> list[dict[str, Any]]:
        """See ``traffic_slices``."""
        return traffic_slices(self.engine)
