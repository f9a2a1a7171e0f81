"""The Live page's data (``/api/live``) over a large prediction log: SQL aggregates against reading the rows.

The baseline is the obvious implementation: fetch the window's predictions and feedback with the store's
public reads (``recent_predictions``, ``feedback_pairs``) and group them in Python. Both answer the same
question (volume per bucket and version, labels per bucket, confidence histogram, latency, live and
estimated accuracy per version) over the same rows, best of --rounds.

    python benchmarks/dashboard.py [--rows 100000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from sentiment_mlops.store import PredictionStore
from sentiment_mlops.store.engine import create_store_engine
from sentiment_mlops.store.live import LiveQuery, live_summary

LABELS = ("negative", "neutral", "positive")


def fill(store: PredictionStore, rows: int, now: datetime) -> None:
    for start in range(0, rows, 10_000):
        batch = [{"id": uuid.uuid4().hex, "created_at": now - timedelta(seconds=86_000 * (rows - i) / rows),
                  "environment": ("staging", "production")[i % 2], "model_version": str(1 + i % 2),
                  "text": f"review number {i}", "sentiment": LABELS[i % 3], "confidence": 0.4 + (i % 60) / 100,
                  "probabilities": {"negative": 0.2, "neutral": 0.3, "positive": 0.5}, "latency_ms": 1 + i % 7,
                  "route": "/predict"} for i in range(start, min(rows, start + 10_000))]
        ids = store.insert_predictions(batch)
        for prediction_id, row in list(zip(ids, batch, strict=True))[::20]:  # 5% labelled
            store.add_feedback(prediction_id, row["sentiment"])


def in_python(store: PredictionStore, since: datetime) -> dict[str, Any]:
    rows = store.recent_predictions(limit=None, since=since)
    pairs = store.feedback_pairs(since=since)
    volume: Counter[tuple[int, str]] = Counter()
    labels: Counter[tuple[int, str]] = Counter()
    confidence: dict[str, list[float]] = defaultdict(list)
    for row in rows:
        bucket = int(row["created_at"].timestamp()) // 3600
        volume[(bucket, row["model_version"])] += 1
        labels[(bucket, row["sentiment"])] += 1
        confidence[row["model_version"]].append(row["confidence"])
    latency = np.percentile([row["latency_ms"] for row in rows], [50, 95, 99])
    histogram = np.histogram([row["confidence"] for row in rows], bins=20, range=(0, 1))[0]
    accuracy = Counter((p["model_version"], p["predicted"] == p["label"]) for p in pairs)
    return {"volume": volume, "labels": labels, "latency": latency, "histogram": histogram, "accuracy": accuracy,
            "estimated": {v: float(np.mean(c)) for v, c in confidence.items()}}


def best(fn: Callable[[], Any], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    now = datetime.now(UTC)
    since = now - timedelta(hours=24)
    with tempfile.TemporaryDirectory() as tmp, PredictionStore(f"sqlite:///{tmp}/predictions.db") as store:
        fill(store, args.rows, now)
        engine = create_store_engine(store.url)
        query = LiveQuery(since=since, bucket_seconds=3600)
        summary = live_summary(engine, query)
        if summary["total_predictions"] != args.rows:
            raise SystemExit(f"the SQL summary counted {summary['total_predictions']} of {args.rows} rows")
        sql = best(lambda: live_summary(engine, query), args.rounds)
        python = best(lambda: in_python(store, since), args.rounds)
        engine.dispose()
    print(f"/api/live over {args.rows:,} predictions (24 h, hourly buckets, SQLite), best of {args.rounds}:")
    print(f"  SQL aggregates (dashboard)     {sql * 1000:8.1f} ms")
    print(f"  rows read + grouped in Python  {python * 1000:8.1f} ms")
    print(f"  ratio                          {python / sql:8.1f}x faster")


if __name__ == "__main__":
    main()
