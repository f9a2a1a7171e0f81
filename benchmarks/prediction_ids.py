"""Inserting into a grown prediction store: time-ordered prediction ids against uniformly random ones.

A prediction's id is the table's primary key. Uniformly random ids (the former ``os.urandom(16).hex()``) land
each new row on a random page of that index; ids that start with the time (``store.rows.new_prediction_id``,
a UUIDv7's layout) land together at the newest end. In a temporary directory: a SQLite store filled with
``--store-rows`` predictions with random ids (a store that has been serving), copied afresh for every run; then
``--batches`` batches of 500 served rows inserted as the store writer inserts them (``finish_rows`` +
``insert_predictions``), with random ids and with time-ordered ids, alternately, ``--rounds`` times. Prints the
CPU time per row (the store writer process's cost) and the wall time, medians, and the ratio.

    python benchmarks/prediction_ids.py [--store-rows 500000] [--batches 40] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from sentiment_mlops.serving.prediction_log import prediction_row
from sentiment_mlops.store import PredictionStore
from sentiment_mlops.store.rows import finish_rows, new_prediction_id
from serving import TEXTS
from shadow import copy_database, prefill

BATCH = 500


def random_id() -> str:
    """The former prediction id: 32 uniformly random hex digits."""
    return os.urandom(16).hex()


def insert_batches(path: Path, batches: int, make_id: Callable[[], str]) -> tuple[float, float]:
    """CPU and wall seconds per row to insert ``batches`` batches of served rows into the store at ``path``."""
    store = PredictionStore(f"sqlite:///{path}")
    cpu = wall = 0.0
    try:
        for batch in range(batches):
            rows = [prediction_row(prediction_id=make_id(), text=f"{TEXTS[i % len(TEXTS)]} {batch}-{i}",
                                   log_text=True, environment="production", model_version="2", sentiment="neutral",
                                   confidence=0.5, probabilities={"negative": 0.2, "neutral": 0.5, "positive": 0.3},
                                   latency_ms=0.5, route="/predict") for i in range(BATCH)]
            started_cpu, started_wall = time.process_time(), time.perf_counter()
            store.insert_predictions(finish_rows(rows))
            cpu += time.process_time() - started_cpu
            wall += time.perf_counter() - started_wall
    finally:
        store.close()
    rows = batches * BATCH
    return cpu / rows, wall / rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store-rows", type=int, default=500_000, help="predictions in the store before each run")
    parser.add_argument("--batches", type=int, default=40, help="batches of 500 rows inserted by each run")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-ids-") as tmp:
        work = Path(tmp)
        filled = work / "filled.db"
        prefill(filled, args.store_rows, make_id=random_id)
        results: dict[str, list[tuple[float, float]]] = {"random": [], "time-ordered": []}
        for _ in range(args.rounds):
            for name, make_id in (("random", random_id), ("time-ordered", new_prediction_id)):
                store = work / f"run-{name}.db"
                for leftover in ("", "-wal", "-shm"):
                    store.with_name(store.name + leftover).unlink(missing_ok=True)
                copy_database(filled, store)
                cpu, wall = insert_batches(store, args.batches, make_id)
                results[name].append((cpu, wall))
                print(f"{name:<13} ids: {cpu * 1e6:6.1f} us CPU per row, {wall * 1e6:6.1f} us wall per row", flush=True)
    medians = {name: (statistics.median(c for c, _ in runs), statistics.median(w for _, w in runs))
               for name, runs in results.items()}
    (random_cpu, random_wall), (ordered_cpu, ordered_wall) = medians["random"], medians["time-ordered"]
    print(f"\nmedians of {args.rounds}, {args.batches * BATCH:,} rows into a store of {args.store_rows:,}: random ids "
          f"{random_cpu * 1e6:.1f} us CPU / {random_wall * 1e6:.1f} us wall per row, time-ordered "
          f"{ordered_cpu * 1e6:.1f} / {ordered_wall * 1e6:.1f}: {random_cpu / ordered_cpu:.2f}x less CPU, "
          f"{random_wall / ordered_wall:.2f}x less wall time")


if __name__ == "__main__":
    main()
