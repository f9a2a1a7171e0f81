"""Soak: minutes of mixed load against two ``serve`` processes on one store, with deployments under way.

In a temporary directory: train two versions on the built-in corpus, put version 1 in staging and
production, start two ``sentiment-mlops serve --env production`` processes on loopback sharing one
prediction store (SQLite by default, or --store-url), then for --minutes run at once:

- --clients threads sending single ``/predict`` requests and, one in ten, a ``/predict/batch`` of 10 texts,
  alternating between the servers and noting every prediction id they were answered;
- a feedback client labelling one answered prediction a second with the feedback token;
- a deployer moving production every --deploy-seconds with the real CLI: ``promote 2 --to staging``,
  ``promote --to production``, ``rollback --env production``, ``rollback --env staging``, in turn (both
  servers follow the alias);
- a drift checker asking ``/api/drift`` (the dashboard's report) every 15 s;
- an RSS sampler reading each server's resident memory (with its child processes) every 5 s.

Before the clock starts, a warm-up moves production to version 2 and back (both servers follow each move):
a server keeps the versions it swapped out loaded for an instant rollback (``RETAINED_MODELS``), so its
steady state holds both versions, and the first move costs a one-time step of RSS (~50 MiB for the default
model) that is a bounded cache, not growth.

Then SIGTERM both servers (they drain their logs) and compare the ids answered with the ids in the store.
Prints requests, 5xx (must be 0), rows served vs logged (must be equal), each server's RSS growth from the
end of the first minute to the end (<= 10%), and p99 latency per minute. Exit 1 when a bar is missed.

    python benchmarks/soak.py [--minutes 10] [--clients 4] [--deploy-seconds 45] [--store-url URL]

Not run in CI; ``make bench`` does not run it.
"""

from __future__ import annotations

import argparse
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict, deque
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil

from sentiment_mlops.data.loading import load_dataset
from serving import CLI, bench_env, free_port, stop, wait_ready

ADMIN_TOKEN = "soak-admin-token-0123456789"
FEEDBACK_TOKEN = "soak-feedback-token-0123456789"
LABELS = ("negative", "neutral", "positive")
WARM_UP_SECONDS = 60.0


@dataclass
class Tally:
    """What the clients saw; shared by every thread under one lock."""

    started: float = field(default_factory=time.monotonic)
    lock: threading.Lock = field(default_factory=threading.Lock)
    statuses: Counter[str] = field(default_factory=Counter)
    server_errors: list[str] = field(default_factory=list)
    served_ids: set[str] = field(default_factory=set)
    latencies: dict[int, list[float]] = field(default_factory=lambda: defaultdict(list))  # minute -> seconds
    deployments: list[str] = field(default_factory=list)
    # (when, id) of answered predictions: feedback labels one answered over a second ago, as a user would
    # (a row still in the other server's log queue is a 404 for a few hundred milliseconds).
    answered: deque[tuple[float, str]] = field(default_factory=lambda: deque(maxlen=5000))

    def record(self, what: str, response: httpx.Response | None, elapsed: float, ids: list[str] = ()) -> None:  # type: ignore[assignment]
        status = response.status_code if response is not None else 0
        with self.lock:
            self.statuses[f"{what} {status}"] += 1
            if status >= 500 or status == 0:
                self.server_errors.append(f"{what} {status} {response.text[:200] if response is not None else ''}")
            self.served_ids.update(ids)
            now = time.monotonic()
            self.answered.extend((now, i) for i in ids[:1])
            if what.startswith("/predict"):
                self.latencies[int((time.monotonic() - self.started) // 60)].append(elapsed)


def predict_client(bases: list[str], texts: list[str], tally: Tally, stop_at: float, seed: int) -> None:
    rng = random.Random(seed)
    clients = [httpx.Client(base_url=base, timeout=30) for base in bases]
    i = 0
    try:
        while time.monotonic() < stop_at:
            client = clients[i % len(clients)]
            i += 1
            batch = rng.random() < 0.1
            started = time.perf_counter()
            try:
                if batch:
                    response = client.post("/predict/batch", json={"texts": rng.sample(texts, 10)})
                    ids = [p["id"] for p in response.json()["predictions"]] if response.status_code == 200 else []
                else:
                    response = client.post("/predict", json={"text": rng.choice(texts)})
                    ids = [response.json()["id"]] if response.status_code == 200 else []
            except httpx.TransportError:
                response, ids = None, []
            tally.record("/predict/batch" if batch else "/predict", response, time.perf_counter() - started, ids)
    finally:
        for client in clients:
            client.close()


def feedback_client(bases: list[str], tally: Tally, stop_at: float) -> None:
    rng = random.Random(7)
    with httpx.Client(timeout=30, headers={"Authorization": f"Bearer {FEEDBACK_TOKEN}"}) as client:
        while time.monotonic() < stop_at:
            time.sleep(1.0)
            with tally.lock:
                settled = [i for t, i in tally.answered if t < time.monotonic() - 1.0]
            candidates = [rng.choice(settled)] if settled else []
            if not candidates:
                continue
            started = time.perf_counter()
            try:
                response = client.post(f"{rng.choice(bases)}/feedback", json={"id": candidates[0],
                                                                            "label": rng.choice(LABELS)})
            except httpx.TransportError:
                response = None
            tally.record("/feedback", response, time.perf_counter() - started)


def drift_checker(bases: list[str], tally: Tally, stop_at: float) -> None:
    with httpx.Client(timeout=120) as client:
        i = 0
        while time.monotonic() < stop_at:
            started = time.perf_counter()
            try:
                response = client.get(f"{bases[i % len(bases)]}/api/drift?window=500&history=4")
            except httpx.TransportError:
                response = None
            tally.record("/api/drift", response, time.perf_counter() - started)
            i += 1
            time.sleep(15.0)


DEPLOY_STEPS = [("promote", "2", "--to", "staging"), ("promote", "--to", "production"),
                ("rollback", "--env", "production"), ("rollback", "--env", "staging")]


def warm_up(workdir: Path, env: dict[str, str], bases: list[str]) -> None:
    """Production to version 2 and back, waiting each time until both servers serve it."""
    for steps, version in ((DEPLOY_STEPS[:2], "2"), (DEPLOY_STEPS[2:], "1")):
        for command in steps:
            subprocess.run([*CLI, *command], cwd=workdir, env=env, check=True, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while any(httpx.get(f"{base}/health", timeout=10).json().get("model_version") != version for base in bases):
            if time.monotonic() > deadline:
                raise SystemExit(f"warm-up: the servers did not move to version {version} within 120 s")
            time.sleep(0.5)
        print(f"warm-up: both servers serve version {version}", flush=True)


def deployer(workdir: Path, env: dict[str, str], tally: Tally, stop_at: float, every: float) -> None:
    step = 0
    while time.monotonic() + every < stop_at:
        time.sleep(every)
        command = DEPLOY_STEPS[step % len(DEPLOY_STEPS)]
        step += 1
        done = subprocess.run([*CLI, *command], cwd=workdir, env=env, capture_output=True, text=True, check=False)
        last = (done.stdout.strip().splitlines() or [""])[-1] if done.returncode == 0 else done.stderr.strip()
        with tally.lock:
            tally.deployments.append(f"at {time.monotonic() - tally.started:4.0f} s {' '.join(command)}: "
                                     f"exit {done.returncode}: {last[:120]}")


def rss_kib(pid: int) -> int:
    """Resident memory of ``pid`` and its children (the prediction log's store writer process, the dashboard's
    drift worker), in KiB."""
    total = 0
    for process in [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]:
        try:
            total += process.memory_info().rss // 1024
        except psutil.NoSuchProcess:
            continue
    return total


def rss_sampler(pids: list[int], samples: dict[int, list[tuple[float, int]]], stop_at: float, started: float) -> None:
    while time.monotonic() < stop_at:
        for pid in pids:
            samples[pid].append((time.monotonic() - started, rss_kib(pid)))
        time.sleep(5.0)


def stored_ids(store_url: str) -> set[str]:
    from sqlalchemy import select

    from sentiment_mlops.store import PredictionStore
    from sentiment_mlops.store.schema import predictions

    with PredictionStore(store_url) as store, store.engine.connect() as connection:
        return {str(row[0]) for row in connection.execute(select(predictions.c.id))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--deploy-seconds", type=float, default=45.0)
    parser.add_argument("--store-url", default=None, help="an empty store (default: SQLite in the work dir)")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="soak-"))
    store_url = args.store_url or f"sqlite:///{workdir}/logs/predictions.db"
    env = bench_env(workdir, **{
        "SENTIMENT_MLOPS_STORE_URL": store_url, "SENTIMENT_MLOPS_ADMIN_TOKEN": ADMIN_TOKEN,
        "SENTIMENT_MLOPS_FEEDBACK_TOKEN": FEEDBACK_TOKEN, "SENTIMENT_MLOPS_POLL_SECONDS": "2",
        # The soak moves production back and forth: the two versions pass the gate whichever way,
        # and the gate's latency rule does not depend on how busy the shared machine is.
        "SENTIMENT_MLOPS_GATE_MAX_MACRO_F1_DROP": "1", "SENTIMENT_MLOPS_GATE_MAX_P99_LATENCY_MS": "1000",
        "SENTIMENT_MLOPS_GATE_LATENCY_SAMPLES": "20", "COLUMNS": "200"})
    print(f"work dir {workdir}; store {store_url.split('?')[0]}; {args.minutes:g} min, {args.clients} predict "
          f"clients, a deployment every {args.deploy_seconds:g} s", flush=True)
    for seed in ("1", "2"):
        subprocess.run([*CLI, "train", "--seed", seed], cwd=workdir, env=env, check=True, stdout=subprocess.DEVNULL)
    for command in (("promote", "1", "--to", "staging"), ("promote", "--to", "production")):
        subprocess.run([*CLI, *command], cwd=workdir, env=env, check=True, stdout=subprocess.DEVNULL)
    texts = load_dataset().texts
    servers: list[subprocess.Popen[bytes]] = []
    bases: list[str] = []
    try:
        for _ in range(2):
            port = free_port()
            servers.append(subprocess.Popen([*CLI, "serve", "--env", "production", "--port", str(port)], cwd=workdir,
                                            env=env, stdout=open(workdir / f"serve-{port}.log", "wb"),
                                            stderr=subprocess.STDOUT))
            bases.append(f"http://127.0.0.1:{port}")
            wait_ready(f"{bases[-1]}/predict", servers[-1], {"text": "warm up"})
        warm_up(workdir, env, bases)
        tally = Tally()
        stop_at = tally.started + args.minutes * 60
        rss: dict[int, list[tuple[float, int]]] = defaultdict(list)
        threads = [threading.Thread(target=predict_client, args=(bases, texts, tally, stop_at, i))
                   for i in range(args.clients)]
        threads += [threading.Thread(target=feedback_client, args=(bases, tally, stop_at)),
                    threading.Thread(target=drift_checker, args=(bases, tally, stop_at)),
                    threading.Thread(target=deployer, args=(workdir, env, tally, stop_at, args.deploy_seconds)),
                    threading.Thread(target=rss_sampler, args=([s.pid for s in servers], rss, stop_at,
                                                               tally.started))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        for server in servers:
            stop(server)
    logged = stored_ids(store_url)
    missing = tally.served_ids - logged
    requests = sum(tally.statuses.values())
    print(f"\nrequests: {requests:,} ({', '.join(f'{k}: {v:,}' for k, v in sorted(tally.statuses.items()))})")
    print(f"5xx or failed connections: {len(tally.server_errors)} (must be 0)")
    for error in tally.server_errors[:5]:
        print(f"  {error}")
    print(f"rows served: {len(tally.served_ids):,}; logged: {len(tally.served_ids & logged):,}; "
          f"missing: {len(missing):,} (must be 0)")
    print("deployments:")
    for line in tally.deployments:
        print(f"  {line}")
    growth_ok = True
    for number, server in enumerate(servers, 1):
        samples = rss[server.pid]
        after_warm_up = next((kib for t, kib in samples if t >= WARM_UP_SECONDS), samples[0][1])
        first, last, peak = samples[0][1], samples[-1][1], max(kib for _, kib in samples)
        growth = 100 * (last / after_warm_up - 1)
        growth_ok &= growth <= 10
        print(f"server {number} RSS: {first / 1024:.0f} MiB at start, {after_warm_up / 1024:.0f} MiB after "
              f"{WARM_UP_SECONDS:.0f} s, {last / 1024:.0f} MiB at the end (peak {peak / 1024:.0f}): "
              f"{growth:+.1f}% after warm-up (bar <= 10%)")
        by_minute = {int(t // 60): kib for t, kib in samples}  # the last sample of each minute
        print("  RSS at the end of each minute (MiB): "
              + ", ".join(f"{kib / 1024:.0f}" for _, kib in sorted(by_minute.items())))
    print("p99 /predict and /predict/batch latency per minute:")
    for minute, latencies in sorted(tally.latencies.items()):
        ordered = sorted(latencies)
        print(f"  minute {minute + 1:>3}: {len(ordered):>7,} requests, p50 {ordered[len(ordered) // 2] * 1e3:7.1f} ms, "
              f"p99 {ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1e3:7.1f} ms")
    ok = not tally.server_errors and not missing and growth_ok
    print(f"\n{'PASS' if ok else 'FAIL'}")
    if ok:
        shutil.rmtree(workdir, ignore_errors=True)
    else:
        print(f"kept {workdir} (server logs: serve-*.log)")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
