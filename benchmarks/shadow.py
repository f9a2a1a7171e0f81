"""What a shadow at 100% costs production: throughput and p99 with the shadow off and on, same run.

In a temporary directory: train two versions on the built-in corpus, put the first in production, then
serve production (one worker, loopback, every prediction logged) with no shadow and with the second
version shadowing 100% of requests, alternately (off, on, off, on, ...; a fresh server each, the same load
generator as benchmarks/serving.py: wrk when it is installed, else its asyncio client), and compare the
medians. The shadow's own rows are counted from the
server's /metrics to show it did score every request (and its drops, if any). Every run starts from the same
copy of the prediction store, which holds ``--store-rows`` earlier predictions. On a machine shared with
other work the req/s of single runs swing by tens of percent; the server's CPU time per request (user +
system, from psutil, of the server and its children: the store writer process scores the shadow) is
printed beside them as the steadier measure of what the shadow costs.

    python benchmarks/shadow.py [--rounds 2] [--seconds 10] [--concurrency 8] [--generator auto|wrk|python]
                                [--store-rows 500000]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import httpx
import psutil

from serving import CLI, TEXTS, LoadResult, bench_env, free_port, python_load, stop, wait_ready, wrk_load

BUDGET_PERCENT = 5.0


def start_production(workdir: Path, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    process = subprocess.Popen([*CLI, "serve", "--env", "production", "--port", str(port)], cwd=workdir, env=env,
                               stdout=open(workdir / f"serve-{port}.log", "wb"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/predict"
    wait_ready(url, process, {"text": "warm up"})
    return process, url


def shadow_counts(base: str) -> tuple[float, float, float]:
    """(texts the shadow scored, texts it dropped, requests still queued) from the server's /metrics."""
    scored = dropped = queued = 0.0
    for line in httpx.get(f"{base}/metrics", timeout=10).text.splitlines():
        if line.startswith("sentiment_shadow_predictions_total{"):
            scored += float(line.split()[-1])
        elif line.startswith("sentiment_shadow_dropped_total{"):
            dropped += float(line.split()[-1])
        elif line.startswith("sentiment_shadow_queue_depth "):
            queued = float(line.split()[-1])
    return scored, dropped, queued


def prefill(store_path: Path, rows: int, make_id: Callable[[], str] | None = None) -> None:
    """``rows`` production predictions of the benchmark's texts in the store, as a server logs them (ids from
    ``make_id``, the server's by default)."""
    from rich.progress import track

    from sentiment_mlops.serving.prediction_log import prediction_row
    from sentiment_mlops.store import PredictionStore
    from sentiment_mlops.store.rows import finish_rows, new_prediction_id

    make_id = make_id or new_prediction_id
    store = PredictionStore(f"sqlite:///{store_path}")
    try:
        for start in track(range(0, rows, 5000), description=f"{rows:,} predictions in the store"):
            store.insert_predictions(finish_rows([
                prediction_row(prediction_id=make_id(), text=TEXTS[i % len(TEXTS)], log_text=True,
                               environment="production", model_version="1", sentiment="neutral", confidence=0.5,
                               probabilities={"negative": 0.2, "neutral": 0.5, "positive": 0.3}, latency_ms=0.5,
                               route="/predict") for i in range(start, min(start + 5000, rows))]))
    finally:
        store.close()


def copy_database(source: Path, target: Path) -> None:
    """A consistent copy of a SQLite database (its WAL included), with SQLite's backup API."""
    with closing(sqlite3.connect(source)) as origin, closing(sqlite3.connect(target)) as copy:
        origin.backup(copy)


def cpu_seconds(process: psutil.Process) -> tuple[float, float]:
    """CPU seconds (user + system) of the server process itself and of its children (the store writer)."""
    own = process.cpu_times()
    children = 0.0
    for p in process.children(recursive=True):
        times = p.cpu_times()
        children += times.user + times.system
    return own.user + own.system, children


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--generator", choices=["auto", "wrk", "python"], default="auto")
    parser.add_argument("--store-rows", type=int, default=500_000,
                        help="production predictions in the store before each run (default 500,000)")
    args = parser.parse_args()
    use_wrk = args.generator == "wrk" or (args.generator == "auto" and shutil.which("wrk") is not None)
    workdir = Path(tempfile.mkdtemp(prefix="bench-shadow-"))
    env = bench_env(workdir, SENTIMENT_MLOPS_STORE_URL=f"sqlite:///{workdir}/logs/predictions.db")
    generator = "wrk" if use_wrk else "python asyncio keep-alive"
    print(f"work dir {workdir}; {generator} load, c={args.concurrency}, {args.seconds:.0f} s per run, "
          "1 worker, loopback, every prediction logged", flush=True)
    for seed in ("1", "2"):
        subprocess.run([*CLI, "train", "--seed", seed, "--models-dir", f"models-{seed}"], cwd=workdir, env=env,
                       check=True, stdout=subprocess.DEVNULL)
    for args_ in (["promote", "1", "--to", "staging"], ["promote", "--to", "production"],
                  ["promote", "2", "--to", "staging", "--force", "--reason", "benchmark"]):
        subprocess.run([*CLI, *args_, "--replay", "0"], cwd=workdir, env=env, check=True, stdout=subprocess.DEVNULL)

    # Every run starts from this copy of the store, holding --store-rows earlier predictions: the runs
    # alternate, and a store that grew by the earlier runs' rows (twice as many with a shadow) would make each
    # insert dearer than the last.
    store = workdir / "logs" / "predictions.db"
    prefill(store, args.store_rows)
    pristine = workdir / "predictions-before-runs.db"
    copy_database(store, pristine)
    bodies = [json.dumps({"text": t}).encode() for t in TEXTS]
    runs: dict[bool, list[LoadResult]] = {False: [], True: []}
    cpu_ms: dict[bool, list[float]] = {False: [], True: []}
    own_ms: dict[bool, list[float]] = {False: [], True: []}
    for _ in range(args.rounds):
        for shadow_on in (False, True):
            for leftover in ("", "-wal", "-shm"):  # the last run's store (every process has closed it)
                store.with_name(store.name + leftover).unlink(missing_ok=True)
            copy_database(pristine, store)
            if shadow_on:
                subprocess.run([*CLI, "promote", "2", "--to", "production", "--shadow", "100", "--replay", "0"],
                               cwd=workdir, env=env, check=True, stdout=subprocess.DEVNULL)
            process, url = start_production(workdir, env)
            try:
                watched = psutil.Process(process.pid)
                before = cpu_seconds(watched)
                result = (wrk_load(url, bodies, args.seconds, args.concurrency, workdir) if use_wrk
                          else python_load(url, bodies, args.seconds, args.concurrency))
                base = url.rsplit("/", 1)[0]
                last = None
                for _ in range(50):  # let the shadow finish what is queued (here or in the store writer) first
                    scored, dropped, queued = shadow_counts(base)
                    if not queued and (scored, dropped) == last:
                        break
                    last = (scored, dropped)
                    time.sleep(0.3)
                after = cpu_seconds(watched)
                own, children = ((a - b) * 1e3 / max(result.requests, 1) for a, b in zip(after, before, strict=True))
                per_request = own + children
            finally:
                stop(process)
            if shadow_on:
                subprocess.run([*CLI, "rollback", "--env", "shadow"], cwd=workdir, env=env, check=True,
                               stdout=subprocess.DEVNULL)
            runs[shadow_on].append(result)
            cpu_ms[shadow_on].append(per_request)
            own_ms[shadow_on].append(own)
            print(f"shadow {'on ' if shadow_on else 'off'} {result.rps:>8.0f} req/s  p50 {result.p50_ms:.2f} ms  "
                  f"p99 {result.p99_ms:.2f} ms  server CPU {per_request:.3f} ms/request ({own:.3f} its own)  "
                  f"errors {result.errors}  "
                  f"shadow scored {scored:,.0f} of {result.requests:,}, dropped {dropped:,.0f}", flush=True)
    on_rps, off_rps = (statistics.median(r.rps for r in runs[k]) for k in (True, False))
    on_p99, off_p99 = (statistics.median(r.p99_ms for r in runs[k]) for k in (True, False))
    print(f"\nmedian of {args.rounds}: shadow off {off_rps:.0f} req/s p99 {off_p99:.2f} ms; "
          f"shadow 100% {on_rps:.0f} req/s p99 {on_p99:.2f} ms")
    print(f"throughput ratio on/off {on_rps / off_rps:.3f}: the shadow costs {100 * (1 - on_rps / off_rps):.1f}% "
          f"(budget <= {BUDGET_PERCENT:.0f}%)")
    print(f"p99 ratio on/off {on_p99 / off_p99:.3f}: {100 * (on_p99 / off_p99 - 1):+.1f}% "
          f"(budget <= +{BUDGET_PERCENT:.0f}%)")
    on_cpu, off_cpu = (statistics.median(cpu_ms[k]) for k in (True, False))
    print(f"server CPU per request on/off {on_cpu:.3f} / {off_cpu:.3f} ms: {100 * (on_cpu / off_cpu - 1):+.1f}% "
          "(what a CPU-bound server would lose in throughput)")
    on_own, off_own = (statistics.median(own_ms[k]) for k in (True, False))
    print(f"the server process alone (its event loop's core) on/off {on_own:.3f} / {off_own:.3f} ms: "
          f"{100 * (on_own / off_own - 1):+.1f}%")
    shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
