"""Two replicas behind HAProxy, started by deploy/local/up.sh (what `make cluster` runs), under load:
a promotion and a rollback converge on both replicas within the poll interval + 2 s, a replica stopped
under load loses no request once HAProxy has marked it down (within 2 s), and every prediction served
through the load balancer is in the PostgreSQL prediction store exactly once."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
from ship_env import ROOT, free_port

pytestmark = [pytest.mark.cluster]

POSTGRES_ENV = "SENTIMENT_MLOPS_TEST_POSTGRES_URL"
POLL_SECONDS = 1.0
CONVERGENCE_BUDGET = POLL_SECONDS + 2.0
MARK_DOWN_BUDGET = 2.0
BIN = Path(sys.executable).parent
CLI = str(BIN / "sentiment-mlops")


@dataclass
class Cluster:
    settings: dict[str, str]
    workdir: Path
    env: dict[str, str] = field(default_factory=dict)

    def url(self, key: str) -> str:
        return self.settings[key]

    def cli(self, *args: str) -> str:
        result = subprocess.run([CLI, *args], env=self.env, cwd=self.workdir, capture_output=True, text=True,
                                timeout=300)
        assert result.returncode == 0, f"{args}: {result.stdout[-1500:]} {result.stderr[-1500:]}"
        return result.stdout


def server_url(base: str) -> str:
    parts = urlsplit(base)
    return urlunsplit((parts.scheme, parts.netloc, "", "", ""))


@pytest.fixture
def cluster(tmp_path) -> Iterator[Cluster]:
    base = os.environ.get(POSTGRES_ENV)
    if not base:
        pytest.skip(f"{POSTGRES_ENV} is not set; set it to postgresql://postgres@127.0.0.1:5432/test")
    for needed in ("haproxy", "psql", "curl"):
        if shutil.which(needed) is None:
            pytest.skip(f"{needed} is not installed (apt-get install -y haproxy postgresql-client curl)")
    suffix = uuid.uuid4().hex[:8]
    mlflow_db, store_db = f"sm_cluster_mlflow_{suffix}", f"sm_cluster_store_{suffix}"
    workdir = tmp_path / "cluster"
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("SENTIMENT_MLOPS_", "MLFLOW_"))},
           "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "POSTGRES_URL": server_url(base),
           "MLFLOW_DB": mlflow_db, "STORE_DB": store_db, "WORKDIR": str(workdir),
           "POLL_SECONDS": str(POLL_SECONDS), "MLFLOW_PORT": str(free_port()), "REPLICA1_PORT": str(free_port()),
           "REPLICA2_PORT": str(free_port()), "LB_PORT": str(free_port()), "STATS_PORT": str(free_port()),
           "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true", "COLUMNS": "200"}
    log = (tmp_path / "up.log").open("w")
    up = subprocess.Popen([str(ROOT / "deploy" / "local" / "up.sh")], env=env, cwd=tmp_path, stdout=log,
                          stderr=subprocess.STDOUT, start_new_session=True)
    try:
        started = time.monotonic()
        while not (workdir / "cluster.env").exists():
            assert up.poll() is None, f"up.sh exited {up.returncode}: {(tmp_path / 'up.log').read_text()[-3000:]}"
            assert time.monotonic() - started < 600, "up.sh did not bring the cluster up in 10 minutes"
            time.sleep(0.5)
        print(f"cluster up in {time.monotonic() - started:.0f} s")
        settings = dict(line.split("=", 1) for line in (workdir / "cluster.env").read_text().splitlines() if line)
        cli_env = {**env, "MLFLOW_TRACKING_URI": settings["MLFLOW_TRACKING_URI"],
                   "SENTIMENT_MLOPS_STORE_URL": settings["SENTIMENT_MLOPS_STORE_URL"],
                   "SENTIMENT_MLOPS_GATE_MAX_MACRO_F1_DROP": "1.0"}
        yield Cluster(settings, workdir, cli_env)
    finally:
        if up.poll() is None:
            os.killpg(up.pid, signal.SIGTERM)  # up.sh stops what it started, each by its pid
            try:
                up.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(up.pid, signal.SIGKILL)
                up.wait(timeout=10)
        log.close()
        subprocess.run(["psql", f"{server_url(base)}/postgres", "-qc",
                        f'DROP DATABASE IF EXISTS "{mlflow_db}" WITH (FORCE)', "-c",
                        f'DROP DATABASE IF EXISTS "{store_db}" WITH (FORCE)'], capture_output=True, timeout=60)


@dataclass
class Load:
    """Requests through the load balancer from a few threads, bounded in count and time. Each thread pauses
    ``pause`` seconds between requests: a steady load that leaves the replicas CPU to poll their alias
    (unpaced, four threads saturate the two cores this runs on, shared with the tracking server and
    PostgreSQL)."""

    url: str
    threads: int = 4
    pause: float = 0.02
    max_requests: int = 200_000
    max_seconds: float = 400.0
    results: list[tuple[float, int, str, str]] = field(default_factory=list)  # (time, status, id, replica)
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _worker(self, number: int) -> None:
        deadline = time.monotonic() + self.max_seconds
        with httpx.Client(timeout=20) as client:
            sent = 0
            while not self._stop.is_set() and time.monotonic() < deadline and sent < self.max_requests // self.threads:
                sent += 1
                try:
                    response = client.post(f"{self.url}/predict", json={"text": f"flight {number}-{sent} was great"})
                    status, body = response.status_code, response.json() if response.status_code == 200 else {}
                    replica = response.headers.get("x-served-by", "")
                except httpx.HTTPError as exc:
                    status, body, replica = 0, {"error": str(exc)}, ""
                with self._lock:
                    self.results.append((time.monotonic(), status, body.get("id", ""), replica))
                time.sleep(self.pause)

    def __enter__(self) -> Load:
        self._threads = [threading.Thread(target=self._worker, args=(n,), daemon=True) for n in range(self.threads)]
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)


def versions(cluster: Cluster) -> tuple[str, str]:
    return tuple(httpx.get(f"{cluster.url(key)}/health", timeout=2).json().get("model_version")
                 for key in ("REPLICA1_URL", "REPLICA2_URL"))  # type: ignore[return-value]


def alias_version(cluster: Cluster, alias: str = "production") -> str | None:
    """The version the registry alias points at, read from the tracking server's REST API."""
    response = httpx.get(f"{cluster.url('MLFLOW_TRACKING_URI')}/api/2.0/mlflow/registered-models/alias",
                         params={"name": "SentimentAnalysisModel", "alias": alias}, timeout=5)
    return response.json()["model_version"]["version"] if response.status_code == 200 else None


class Convergence(threading.Thread):
    """Watches the production alias and both replicas (every 20 ms) while a command moves the alias:
    ``seconds`` is the time from the alias pointing at ``version`` to both replicas serving it."""

    def __init__(self, cluster: Cluster, version: str) -> None:
        super().__init__(daemon=True)
        self.cluster, self.version = cluster, version
        self.moved: float | None = None
        self.converged: float | None = None

    def run(self) -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.moved is None and alias_version(self.cluster) == self.version:
                self.moved = time.monotonic()
            if self.moved is not None and versions(self.cluster) == (self.version, self.version):
                self.converged = time.monotonic()
                return
            time.sleep(0.02)

    @property
    def seconds(self) -> float:
        self.join(timeout=130)
        assert self.moved is not None and self.converged is not None, \
            f"alias moved: {self.moved}, replicas on {versions(self.cluster)}, wanted {self.version}"
        return self.converged - self.moved


def replica_status(cluster: Cluster, name: str) -> str:
    rows = csv.DictReader(io.StringIO(httpx.get(f"{cluster.url('STATS_URL')};csv", timeout=2).text.lstrip("# ")))
    return next(row["status"] for row in rows if row["pxname"] == "replicas" and row["svname"] == name)


def test_replicas_behind_haproxy_converge_fail_over_and_log_every_prediction(cluster, tmp_path):
    assert versions(cluster) == ("1", "1")  # up.sh trained and promoted the first version
    assert "registered: SentimentAnalysisModel version 2" in cluster.cli("train", "--seed", "7")

    with Load(cluster.url("LB_URL")) as load:
        time.sleep(2)
        cluster.cli("promote", "2", "--to", "staging")
        watch = Convergence(cluster, "2")
        watch.start()
        cluster.cli("promote", "--to", "production")
        promoted = watch.seconds
        print(f"promotion converged on both replicas {promoted:.2f} s after the alias moved "
              f"(budget {CONVERGENCE_BUDGET:.1f} s)")

        time.sleep(1)
        watch = Convergence(cluster, "1")
        watch.start()
        cluster.cli("rollback", "--env", "production", "--reason", "cluster e2e")
        rolled_back = watch.seconds
        print(f"rollback converged on both replicas {rolled_back:.2f} s after the alias moved")

        time.sleep(1)
        stopped_at = time.monotonic()
        os.kill(int(cluster.url("REPLICA1_PID")), signal.SIGTERM)
        while replica_status(cluster, "replica1") != "DOWN":
            assert time.monotonic() - stopped_at < 10, "HAProxy never marked replica1 down"
            time.sleep(0.05)
        marked_down = time.monotonic()
        print(f"HAProxy marked replica1 down {marked_down - stopped_at:.2f} s after it was stopped")
        time.sleep(3)
    results = list(load.results)
    seconds = results[-1][0] - results[0][0]
    print(f"load: {len(results)} requests in {seconds:.0f} s ({len(results) / seconds:.0f} req/s) from "
          f"{load.threads} threads pausing {load.pause * 1000:.0f} ms between requests")

    failed = [r for r in results if r[1] != 200]
    failed_after_down = [r for r in failed if r[0] >= marked_down]
    served = [r for r in results if r[1] == 200]
    print(f"{len(results)} requests through HAProxy, {len(failed)} failed "
          f"({len(failed_after_down)} after the mark-down); by replica: "
          f"{ {name: sum(1 for r in served if r[3] == name) for name in ('replica1', 'replica2')} }")
    assert promoted <= CONVERGENCE_BUDGET and rolled_back <= CONVERGENCE_BUDGET
    assert marked_down - stopped_at <= MARK_DOWN_BUDGET
    assert not failed_after_down, failed_after_down[:5]
    assert {r[3] for r in served if r[0] < stopped_at} == {"replica1", "replica2"}
    assert {r[3] for r in served if r[0] > marked_down} == {"replica2"}

    export = tmp_path / "predictions.jsonl"
    cluster.cli("logs", "export", "--out", str(export))  # replica1 drained its log queue when it stopped
    deadline = time.monotonic() + 15
    while True:
        logged = [json.loads(line)["id"] for line in export.read_text().splitlines() if line]
        if set(r[2] for r in served) <= set(logged) or time.monotonic() > deadline:
            break
        time.sleep(1)  # replica2 writes its log in batches
        cluster.cli("logs", "export", "--out", str(export))
    counts: dict[str, int] = {}
    for prediction_id in logged:
        counts[prediction_id] = counts.get(prediction_id, 0) + 1
    missing = [r[2] for r in served if r[2] not in counts]
    twice = [i for i, n in counts.items() if n > 1]
    print(f"{len(served)} predictions served, {len(logged)} logged, {len(missing)} missing, {len(twice)} twice")
    assert not missing and not twice
    assert len(logged) == len(served)  # nothing logged that no client received (no double work on retries)
