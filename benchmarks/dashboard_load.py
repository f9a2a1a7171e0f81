"""``/predict`` latency while dashboards poll the expensive dashboard endpoints, against none polling.

In a temporary directory: train and register a version on the built-in corpus, start one real
``sentiment-mlops serve --env staging`` process on loopback, log --rows predictions of corpus texts through
``/predict/batch`` (so drift and the live charts have data), then load ``/predict`` with single texts from
--concurrency keep-alive connections for --seconds, twice in the same run: with no dashboard client, and with
--clients dashboard clients each polling the expensive endpoints (``/api/drift`` at two window sizes,
``/api/live``, ``/api/experiments``, ``/api/versions``, ``/api/predictions/recent``) one after another, every
--poll-seconds, starting cold (nothing cached). Prints both p95s and their ratio; the budget is < 2x (issue 10).

    python benchmarks/dashboard_load.py [--seconds 35] [--clients 8] [--poll-seconds 1] [--rows 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import subprocess
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import httpx

from sentiment_mlops.data.loading import load_dataset
from serving import CLI, _connection, bench_env, free_port, stop, wait_ready

DASHBOARD_PATHS = ["/api/drift?window=500", "/api/drift?window=2000", "/api/live?hours=24",
                   "/api/experiments", "/api/versions", "/api/predictions/recent?limit=50"]


def p95_ms(latencies: list[float]) -> float:
    ordered = sorted(latencies)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))] * 1e3


def predict_load(base: str, texts: list[str], seconds: float, concurrency: int) -> tuple[list[float], list[int]]:
    """Back-to-back single-text POST /predict on ``concurrency`` keep-alive connections; latencies in seconds."""
    url = httpx.URL(f"{base}/predict")
    host, port = url.host, url.port or 80
    requests = []
    for text in texts:
        body = json.dumps({"text": text}).encode()
        requests.append((f"POST /predict HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
                         f"Content-Length: {len(body)}\r\n\r\n").encode() + body)
    latencies: list[float] = []
    errors: list[int] = []

    async def run() -> None:
        until = time.perf_counter() + seconds
        await asyncio.gather(*(_connection(host, port, requests[i::concurrency] or requests, until, latencies, errors)
                               for i in range(concurrency)))

    asyncio.run(run())
    return latencies, errors


class Dashboards:
    """``clients`` threads, each requesting the dashboard paths in turn every ``poll_seconds``."""

    def __init__(self, base: str, clients: int, poll_seconds: float) -> None:
        self.base, self.clients, self.poll_seconds = base, clients, poll_seconds
        self.statuses: Counter[int] = Counter()
        self.latencies: list[float] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._poll, args=(i,), daemon=True) for i in range(clients)]

    def _poll(self, offset: int) -> None:
        with httpx.Client(base_url=self.base, timeout=60) as client:
            i = offset
            while not self._stop.is_set():
                started = time.perf_counter()
                status = client.get(DASHBOARD_PATHS[i % len(DASHBOARD_PATHS)]).status_code
                elapsed = time.perf_counter() - started
                with self._lock:
                    self.statuses[status] += 1
                    self.latencies.append(elapsed)
                i += 1
                self._stop.wait(max(0.0, self.poll_seconds - elapsed))

    def __enter__(self) -> Dashboards:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # Longer than the drift report's cache (30 s): every report is computed at least twice under load.
    parser.add_argument("--seconds", type=float, default=35.0)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--poll-seconds", type=float, default=1.0)
    parser.add_argument("--rows", type=int, default=20_000)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench-dashboard-load-"))
    env = bench_env(workdir, SENTIMENT_MLOPS_STORE_URL=f"sqlite:///{workdir}/logs/predictions.db")
    print(f"work dir {workdir}; /predict from {args.concurrency} keep-alive connections for {args.seconds:.0f} s; "
          f"{args.clients} dashboard clients polling every {args.poll_seconds:g} s; 1 worker, loopback")
    subprocess.run([*CLI, "train"], cwd=workdir, env=env, check=True, stdout=subprocess.DEVNULL)
    subprocess.run([*CLI, "promote", "--to", "staging"], cwd=workdir, env=env, check=True, stdout=subprocess.DEVNULL)
    texts = load_dataset().texts
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    process = subprocess.Popen([*CLI, "serve", "--env", "staging", "--port", str(port)], cwd=workdir, env=env,
                               stdout=open(workdir / "serve.log", "wb"), stderr=subprocess.STDOUT)
    try:
        wait_ready(f"{base}/predict", process, {"text": "warm up"})
        with httpx.Client(base_url=base, timeout=60) as client:
            for start in range(0, args.rows, 1000):
                batch = [texts[i % len(texts)] for i in range(start, min(args.rows, start + 1000))]
                client.post("/predict/batch", json={"texts": batch}).raise_for_status()
            time.sleep(1.0)  # the writer flushes every 0.2 s
        sample = texts[:2000]
        quiet, quiet_errors = predict_load(base, sample, args.seconds, args.concurrency)
        with Dashboards(base, args.clients, args.poll_seconds) as dashboards:
            busy, busy_errors = predict_load(base, sample, args.seconds, args.concurrency)
    finally:
        stop(process)
    quiet_p95, busy_p95 = p95_ms(quiet), p95_ms(busy)
    print(f"\n{'':<28}{'requests':>10}{'req/s':>10}{'p50 ms':>10}{'p95 ms':>10}{'errors':>8}")
    for name, latencies, errors in (("no dashboard clients", quiet, quiet_errors),
                                    (f"{args.clients} dashboard clients", busy, busy_errors)):
        ordered = sorted(latencies)
        print(f"{name:<28}{len(ordered):>10}{len(ordered) / args.seconds:>10.0f}"
              f"{ordered[len(ordered) // 2] * 1e3:>10.2f}{p95_ms(ordered):>10.2f}{len(errors):>8}")
    polled = sorted(dashboards.latencies)
    print(f"\ndashboard requests: {len(polled)} ({dict(sorted(dashboards.statuses.items()))}), "
          f"p50 {polled[len(polled) // 2] * 1e3:.0f} ms, max {polled[-1] * 1e3:.0f} ms")
    print(f"/predict p95 ratio with/without dashboards: {busy_p95 / quiet_p95:.2f}x (budget < 2x)")
    shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
