"""Prediction-log writes: batches of 500 (the serving writer) against one transaction per prediction.

The baseline is what logging inside each request would do: one INSERT and one commit per prediction.
Both write the same rows into emptied tables, alternating, best of --rounds; then the reads that
monitoring and /health make are timed over the table.

    python benchmarks/store.py [--rows 5000] [--rounds 3] [--read-rows 100000] [--url postgresql://postgres@127.0.0.1:5432/test]

Without --url it runs on SQLite in a temporary directory. A PostgreSQL URL gets a throwaway schema.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

from sqlalchemy import create_engine, text

from sentiment_mlops.store import PredictionStore
from sentiment_mlops.store.engine import engine_url
from sentiment_mlops.store.schema import prediction_totals, predictions

BATCH = 500
LABELS = ("negative", "neutral", "positive")


def make_rows(count: int, start: datetime) -> list[dict]:
    return [
        {"id": uuid.uuid4().hex, "created_at": start + timedelta(milliseconds=i),
         "environment": ("staging", "production")[i % 2], "model_version": str(1 + i % 3),
         "text": f"the service was fine, review number {i}", "text_sha256": f"{i:064x}", "text_length": 38,
         "sentiment": LABELS[i % 3], "confidence": 0.5 + (i % 50) / 100,
         "probabilities": {"negative": 0.2, "neutral": 0.3, "positive": 0.5}, "latency_ms": 1.2, "route": "/predict"}
        for i in range(count)
    ]


def timed(action: Callable[[], object]) -> float:
    began = time.perf_counter()
    action()
    return time.perf_counter() - began


def store_insert(store: PredictionStore, rows: list[dict]) -> None:
    for offset in range(0, len(rows), BATCH):
        store.insert_predictions(rows[offset:offset + BATCH])


def row_at_a_time(store: PredictionStore, rows: list[dict]) -> None:
    for row in rows:
        store.insert_predictions([row])


def run(url: str, count: int, rounds: int, read_rows: int) -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    with PredictionStore(url) as store:
        best = {"single": float("inf"), "batch": float("inf")}
        for _ in range(rounds):  # alternate, each into emptied tables, and keep each one's best run
            for name, insert in (("single", row_at_a_time), ("batch", store_insert)):
                with store._engine.begin() as connection:
                    connection.execute(predictions.delete())
                    connection.execute(prediction_totals.delete())
                rows = make_rows(count, start)
                best[name] = min(best[name], timed(lambda insert=insert, rows=rows: insert(store, rows)))
        print(f"insert {count:,} predictions into {store.display_url} (best of {rounds})")
        for name, label in (("single", "one transaction per prediction (baseline)"),
                            ("batch", f"insert_predictions, batches of {BATCH}")):
            seconds = best[name]
            print(f"  {label:<40} {count / seconds:9,.0f} rows/s  {seconds * 1e6 / count:6.1f} µs/row")
        print(f"  ratio {best['single'] / best['batch']:.1f}x")
        store_insert(store, make_rows(read_rows - count, start + timedelta(days=1)))
        print(f"reads over {store.count_predictions():,} rows")
        for name, action in [
            ("summary()", lambda: store.summary()),
            ("summary('production')", lambda: store.summary("production")),
            ("recent_predictions(environment='production', limit=1000)",
             lambda: store.recent_predictions(environment="production")),
            ("iter_predictions() (all rows)", lambda: sum(1 for _ in store.iter_predictions())),
        ]:
            print(f"  {name:<58} {timed(action) * 1000:8.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5_000, help="predictions written by each method")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--read-rows", type=int, default=100_000, help="table size for the read timings")
    parser.add_argument("--url", help="a PostgreSQL URL; SQLite in a temporary directory when omitted")
    args = parser.parse_args()
    read_rows = max(args.read_rows, args.rows)
    if not args.url:
        with tempfile.TemporaryDirectory() as directory:
            run(f"sqlite:///{directory}/predictions.db", args.rows, args.rounds, read_rows)
        return
    schema = f"sm_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(engine_url(args.url), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        separator = "&" if "?" in args.url else "?"
        run(f"{args.url}{separator}options={quote(f'-csearch_path={schema}')}", args.rows, args.rounds, read_rows)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


if __name__ == "__main__":
    main()
