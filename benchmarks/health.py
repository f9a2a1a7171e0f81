"""``GET /health`` over a large prediction log: the running totals against the aggregate it used to run.

Fills the store with --rows predictions (1,000,000 by default), then times ``GET /health`` through the
app (in-process, no model loaded: the store read is what it does) and, in the same run, the old query
behind it (``GROUP BY sentiment`` over the whole predictions table for the environment).

    python benchmarks/health.py [--rows 1000000] [--calls 200] [--url postgresql://postgres@127.0.0.1:5432/test]

Without --url it runs on SQLite in a temporary directory. A PostgreSQL URL gets a throwaway schema.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

from sqlalchemy import create_engine, func, select, text

from sentiment_mlops.config import Settings
from sentiment_mlops.store import PredictionStore
from sentiment_mlops.store.engine import engine_url
from sentiment_mlops.store.schema import predictions

LABELS = ("negative", "neutral", "positive")
FILL_BATCH = 5000


def fill(store: PredictionStore, count: int) -> float:
    start = datetime.now(UTC) - timedelta(days=60)
    began = time.perf_counter()
    for offset in range(0, count, FILL_BATCH):
        store.insert_predictions([
            {"created_at": start + timedelta(milliseconds=i), "environment": "local", "model_version": str(1 + i % 3),
             "text": None, "text_sha256": "0" * 64, "text_length": 20, "sentiment": LABELS[i % 3],
             "confidence": 0.4 + (i % 60) / 100, "probabilities": {}, "latency_ms": 1.0, "route": "/predict"}
            for i in range(offset, min(offset + FILL_BATCH, count))])
    return time.perf_counter() - began


def old_query(store: PredictionStore) -> None:
    query = (select(predictions.c.sentiment, func.count(), func.sum(predictions.c.confidence))
             .where(predictions.c.environment == "local").group_by(predictions.c.sentiment))
    with store.engine.connect() as connection:
        connection.execute(query).all()


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return f"median {statistics.median(ordered) * 1000:7.2f} ms  p99 {p99 * 1000:7.2f} ms  (n={len(ordered)})"


def run(url: str, rows: int, calls: int) -> None:
    from fastapi.testclient import TestClient

    from sentiment_mlops.serving.app import create_app

    with PredictionStore(url) as store:
        seconds = fill(store, rows)
        print(f"filled {store.display_url} with {rows:,} predictions in {seconds:.1f} s")
        app = create_app(Settings(store_url=url, models_dir="/nonexistent", log_predictions=False),
                         environment="local", store=store, poll=False)
        health: list[float] = []
        with TestClient(app) as client:
            body = client.get("/health").json()
            assert body["monitoring"]["total_predictions"] == rows, body
            for _ in range(calls):
                began = time.perf_counter()
                client.get("/health")
                health.append(time.perf_counter() - began)
        old: list[float] = []
        for _ in range(max(3, calls // 40)):
            began = time.perf_counter()
            old_query(store)
            old.append(time.perf_counter() - began)
    print(f"GET /health (running totals)           {percentiles(health)}")
    print(f"old query behind /health (GROUP BY)    {percentiles(old)}")
    print(f"ratio of medians {statistics.median(old) / statistics.median(health):.0f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--url", help="a PostgreSQL URL; SQLite in a temporary directory when omitted")
    args = parser.parse_args()
    if not args.url:
        with tempfile.TemporaryDirectory() as directory:
            run(f"sqlite:///{directory}/predictions.db", args.rows, args.calls)
        return
    schema = f"sm_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(engine_url(args.url), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        separator = "&" if "?" in args.url else "?"
        run(f"{args.url}{separator}options={quote(f'-csearch_path={schema}')}", args.rows, args.calls)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


if __name__ == "__main__":
    main()
