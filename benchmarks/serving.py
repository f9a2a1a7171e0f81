"""Serving throughput: this server vs ``mlflow models serve`` on the same registered version.

In a temporary directory: train and register a version on the built-in corpus, start both servers with
one worker on loopback, and load each with the same generator (wrk when installed, else a bounded
asyncio keep-alive client) at the same concurrency for the same time, single-text requests, every
prediction logged. Then ours again with logging off (the cost of logging), and the server-side time of a
batch of 1,000 texts (from the /metrics latency histogram).

    python benchmarks/serving.py [--seconds 10] [--concurrency 8] [--generator auto|wrk|python]
    python benchmarks/serving.py --logging-rounds 3   # only the cost of logging: on/off alternated 3 times
    python benchmarks/serving.py --workers-rounds 3   # only serve --workers 2 against 1 worker, alternated

On a shared machine the load drifts over minutes, so ``--logging-rounds N`` alternates logging on and off
(on, off, on, off, ...) with one server each and compares the medians.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil

BIN = Path(sys.executable).parent
TEXTS = ["the flight was delayed three hours and nobody told us anything",
         "thanks for the upgrade, lovely crew!", "is the lounge open at 6am?",
         "lost my bag again, worst airline ever", "great service on the way home"]
STARTUP_SECONDS = 180
WORKERS_RATIO = 1.7
WARMUP_SECONDS = 5.0
# The CLI through its ``main`` (not the console script, whose entry point the installed venv decides).
CLI = [sys.executable, "-c", "import sys; from sentiment_mlops.cli import main; main(sys.argv[1:])"]


@dataclass
class LoadResult:
    requests: int
    errors: int
    seconds: float
    p50_ms: float
    p99_ms: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def bench_env(workdir: Path, **settings: str) -> dict[str, str]:
    """This environment without the user's ``SENTIMENT_MLOPS_*`` settings, with MLflow tracking in ``workdir``
    (telemetry off) and the given ``SENTIMENT_MLOPS_*`` settings (e.g. ``SENTIMENT_MLOPS_STORE_URL=...``)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENTIMENT_MLOPS_")}
    env.update({"MLFLOW_TRACKING_URI": f"sqlite:///{workdir}/mlflow.db", "MLFLOW_DISABLE_TELEMETRY": "true",
                **settings})
    return env


def wait_ready(url: str, process: subprocess.Popen[bytes], probe: dict[str, object]) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server exited with {process.returncode}; see its log")
        try:
            if httpx.post(url, json=probe, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    raise SystemExit(f"{url} did not answer within {STARTUP_SECONDS} s")


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# --- the load generators -------------------------------------------------------------------------------

async def _connection(host: str, port: int, requests: list[bytes], until: float, latencies: list[float],
                      errors: list[int]) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    i = 0
    try:
        while time.perf_counter() < until:
            started = time.perf_counter()
            writer.write(requests[i % len(requests)])
            i += 1
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))  # type: ignore[union-attr]
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
            if status != 200:
                errors.append(status)
    finally:
        writer.close()


def python_load(url: str, body_for: list[bytes], seconds: float, concurrency: int) -> LoadResult:
    """Keep-alive connections sending back-to-back POSTs for ``seconds`` (bounded by time and connections)."""
    parsed = httpx.URL(url)
    host, port = parsed.host, parsed.port or 80
    requests = [(f"POST {parsed.raw_path.decode()} HTTP/1.1\r\nHost: {host}:{port}\r\n"
                 f"Content-Type: application/json\r\nContent-Length: {len(b)}\r\n\r\n").encode() + b
                for b in body_for]
    latencies: list[float] = []
    errors: list[int] = []

    async def run() -> float:
        started = time.perf_counter()
        until = started + seconds
        await asyncio.gather(*(_connection(host, port, requests, until, latencies, errors)
                               for _ in range(concurrency)))
        return time.perf_counter() - started

    elapsed = asyncio.run(run())
    latencies.sort()
    return LoadResult(len(latencies), len(errors), elapsed, latencies[len(latencies) // 2] * 1e3,
                      latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1e3)


WRK_SCRIPT = """
local bodies = {%s}
local i = 0
request = function()
  i = i + 1
  return wrk.format("POST", nil, {["Content-Type"] = "application/json"}, bodies[(i %% #bodies) + 1])
end
done = function(summary, latency, requests)
  io.write(string.format("RESULT %%d %%d %%f %%f %%f\\n", summary.requests,
    summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write
    + summary.errors.timeout, summary.duration / 1e6, latency:percentile(50) / 1e3, latency:percentile(99) / 1e3))
end
"""


def wrk_load(url: str, bodies: list[bytes], seconds: float, concurrency: int, workdir: Path) -> LoadResult:
    script = workdir / "post.lua"
    quoted = ", ".join("[[" + b.decode() + "]]" for b in bodies)
    script.write_text(WRK_SCRIPT % quoted)
    out = subprocess.run(["wrk", "-t", "2", "-c", str(concurrency), "-d", f"{seconds:.0f}s", "-s", str(script),
                          "--latency", url], capture_output=True, text=True, timeout=seconds + 60, check=True)
    match = re.search(r"RESULT (\d+) (\d+) ([\d.]+) ([\d.]+) ([\d.]+)", out.stdout)
    if match is None:
        raise SystemExit(f"could not read wrk's output:\n{out.stdout}\n{out.stderr}")
    n, errors, duration, p50, p99 = match.groups()
    return LoadResult(int(n), int(errors), float(duration), float(p50), float(p99))


# --- the servers ---------------------------------------------------------------------------------------

def start_ours(workdir: Path, env: dict[str, str], log_predictions: bool,
               workers: int = 1) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    server_env = {**env, "SENTIMENT_MLOPS_LOG_PREDICTIONS": str(log_predictions).lower(),
                  "SENTIMENT_MLOPS_STORE_URL": f"sqlite:///{workdir}/logs/predictions-{port}.db"}
    process = subprocess.Popen([*CLI, "serve", "--env", "staging", "--port", str(port), "--workers", str(workers)],
                               cwd=workdir, env=server_env, stdout=open(workdir / f"ours-{port}.log", "wb"),
                               stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/predict"
    wait_ready(url, process, {"text": "warm up"})
    return process, url


def start_mlflow(workdir: Path, env: dict[str, str], version: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    # mlflow starts `uvicorn` from PATH: the one of this environment.
    mlflow_env = {**env, "MLFLOW_ALLOW_PICKLE_DESERIALIZATION": "true",
                  "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}"}
    model_uri = f"models:/SentimentAnalysisModel/{version}"
    command = [str(BIN / "mlflow"), "models", "serve", "-m", model_uri, "--env-manager", "local", "-w", "1",
               "-h", "127.0.0.1", "-p", str(port)]
    process = subprocess.Popen(command,
                               cwd=workdir, env=mlflow_env, stdout=open(workdir / "mlflow.log", "wb"),
                               stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/invocations"
    wait_ready(url, process, {"inputs": ["warm up"]})
    return process, url


def batch_server_ms(base: str, batches: int = 20) -> float:
    """Mean server-side time of a 1,000-text batch, from the server's own latency histogram."""
    texts = [f"{TEXTS[i % len(TEXTS)]} #{i}" for i in range(1000)]
    with httpx.Client(timeout=30) as client:
        for _ in range(batches):
            client.post(f"{base}/predict/batch", json={"texts": texts}).raise_for_status()
        metrics = client.get(f"{base}/metrics").text
    total = count = 0.0
    for line in metrics.splitlines():
        if line.startswith('sentiment_http_request_duration_seconds_sum{route="/predict/batch"}'):
            total = float(line.split()[-1])
        if line.startswith('sentiment_http_request_duration_seconds_count{route="/predict/batch"}'):
            count = float(line.split()[-1])
    return total / count * 1e3 if count else float("nan")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time so far of process ``pid`` and its children (the prediction log's writer process),
    all their threads (Linux ``/proc``)."""
    total = 0.0
    for process in [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]:
        try:
            fields = Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:  # exited meanwhile
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def compare_logging(workdir: Path, env: dict[str, str], rounds: int, load: Callable[[str], LoadResult]) -> None:
    """Logging on and off alternated ``rounds`` times; prints each run and the medians.

    Besides req/s, the server's own CPU time per request (all its threads, from /proc): on a shared machine
    req/s follows the neighbours' load, while CPU per request is what logging adds to each request, and a
    CPU-bound server's throughput is its inverse.
    """
    runs: dict[bool, list[LoadResult]] = {True: [], False: []}
    cpu: dict[bool, list[float]] = {True: [], False: []}
    for _ in range(rounds):
        for logging_on in (True, False):
            process, url = start_ours(workdir, env, log_predictions=logging_on)
            try:
                before = cpu_seconds(process.pid)
                result = load(url)
                cpu_ms = (cpu_seconds(process.pid) - before) * 1e3 / max(result.requests, 1)
            finally:
                stop(process)
            runs[logging_on].append(result)
            cpu[logging_on].append(cpu_ms)
            print(f"logging {'on ' if logging_on else 'off'}  {result.rps:>8.0f} req/s  p50 {result.p50_ms:.2f} ms  "
                  f"p99 {result.p99_ms:.2f} ms  errors {result.errors}  server CPU {cpu_ms:.3f} ms/request",
                  flush=True)
    on = statistics.median(r.rps for r in runs[True])
    off = statistics.median(r.rps for r in runs[False])
    cpu_on, cpu_off = statistics.median(cpu[True]), statistics.median(cpu[False])
    print(f"\nmedian of {rounds}: logging on {on:.0f} req/s, off {off:.0f} req/s")
    print(f"logging cost: {100 * (1 - on / off):.1f}% of throughput (budget <= 10%)")
    print(f"server CPU per request: logging on {cpu_on:.3f} ms, off {cpu_off:.3f} ms: logging costs "
          f"{100 * (1 - cpu_off / cpu_on):.1f}% of CPU-bound throughput (budget <= 10%)")


def generator_cpu_seconds(use_wrk: bool) -> float:
    """CPU time so far of the load generator: wrk's (a finished child of this process) or this process's own."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN if use_wrk else resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def compare_workers(workdir: Path, env: dict[str, str], rounds: int, load: Callable[[str], LoadResult],
                    use_wrk: bool) -> None:
    """``serve --workers 2`` and one worker alternated ``rounds`` times (logging on); prints the medians' ratio.

    With each run, the CPU per request of the server (its workers and their store writer processes, from /proc)
    and of the load generator on the same cores, and the ceiling they set: the machine's CPUs over their sum.
    """
    runs: dict[int, list[LoadResult]] = {1: [], 2: []}
    ceilings: dict[int, list[float]] = {1: [], 2: []}
    for _ in range(rounds):
        for workers in (1, 2):
            process, url = start_ours(workdir, env, log_predictions=True, workers=workers)
            try:
                # Unmeasured: until every worker has loaded its model and answered, a worker still starting
                # competes for the cores with the one already serving.
                python_load(url, [json.dumps({"text": TEXTS[0]}).encode()], WARMUP_SECONDS, 8)
                server_before, generator_before = cpu_seconds(process.pid), generator_cpu_seconds(use_wrk)
                result = load(url)
                server_ms = (cpu_seconds(process.pid) - server_before) * 1e3 / max(result.requests, 1)
                generator_ms = (generator_cpu_seconds(use_wrk) - generator_before) * 1e3 / max(result.requests, 1)
            finally:
                stop(process)
            runs[workers].append(result)
            ceiling = (os.cpu_count() or 1) * 1e3 / (server_ms + generator_ms)
            ceilings[workers].append(ceiling)
            print(f"{workers} worker{'s' if workers > 1 else ' '}  {result.rps:>8.0f} req/s  "
                  f"p50 {result.p50_ms:.2f} ms  p99 {result.p99_ms:.2f} ms  errors {result.errors}  CPU per request: "
                  f"server {server_ms:.3f} ms, load generator {generator_ms:.3f} ms (all CPUs at that cost: "
                  f"{ceiling:,.0f} req/s)", flush=True)
    one = statistics.median(r.rps for r in runs[1])
    two = statistics.median(r.rps for r in runs[2])
    print(f"\nmedian of {rounds}: 1 worker {one:.0f} req/s, 2 workers {two:.0f} req/s")
    print(f"serve --workers 2 / 1 worker: {two / one:.2f}x (budget >= {WORKERS_RATIO}x on {os.cpu_count()} CPUs; the "
          "load generator runs on the same machine)")
    print(f"2 workers' ceiling (the CPUs over server + load generator CPU per request, median): "
          f"{statistics.median(ceilings[2]):,.0f} req/s = {statistics.median(ceilings[2]) / one:.2f}x one worker")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--generator", choices=["auto", "wrk", "python"], default="auto")
    parser.add_argument("--logging-rounds", type=int, default=0,
                        help="only measure logging on vs off, alternating them this many times")
    parser.add_argument("--workers-rounds", type=int, default=0,
                        help="only measure serve --workers 2 vs 1 worker, alternating them this many times")
    args = parser.parse_args()
    use_wrk = args.generator == "wrk" or (args.generator == "auto" and shutil.which("wrk") is not None)
    workdir = Path(tempfile.mkdtemp(prefix="bench-serving-"))
    env = bench_env(workdir)
    print(f"work dir {workdir}; generator: {'wrk' if use_wrk else 'python asyncio keep-alive'}, "
          f"c={args.concurrency}, {args.seconds:.0f} s per run, 1 worker each, loopback")
    subprocess.run([*CLI, "train"], cwd=workdir, env=env, check=True,
                   stdout=subprocess.DEVNULL)
    from sentiment_mlops.deployment.actions import bootstrap_staging
    from sentiment_mlops.registry import ModelRegistry
    from sentiment_mlops.store import PredictionStore

    registry = ModelRegistry(env["MLFLOW_TRACKING_URI"], "SentimentAnalysisModel")
    with PredictionStore(f"sqlite:///{workdir}/logs/predictions.db") as store:
        bootstrap_staging(registry, store)
    version = registry.alias_version("staging").version  # type: ignore[union-attr]

    def load(url: str, bodies: list[bytes]) -> LoadResult:
        if use_wrk:
            return wrk_load(url, bodies, args.seconds, args.concurrency, workdir)
        return python_load(url, bodies, args.seconds, args.concurrency)

    ours_bodies = [json.dumps({"text": t}).encode() for t in TEXTS]
    if args.logging_rounds:
        compare_logging(workdir, env, args.logging_rounds, lambda url: load(url, ours_bodies))
        shutil.rmtree(workdir, ignore_errors=True)
        return
    if args.workers_rounds:
        compare_workers(workdir, env, args.workers_rounds, lambda url: load(url, ours_bodies), use_wrk)
        shutil.rmtree(workdir, ignore_errors=True)
        return
    mlflow_bodies = [json.dumps({"inputs": [t]}).encode() for t in TEXTS]
    results: dict[str, LoadResult] = {}
    process, url = start_ours(workdir, env, log_predictions=True)
    try:
        results["ours (logging on)"] = load(url, ours_bodies)
        batch_ms = batch_server_ms(url.rsplit("/", 1)[0])
    finally:
        stop(process)
    process, url = start_mlflow(workdir, env, version)
    try:
        results["mlflow models serve"] = load(url, mlflow_bodies)
    finally:
        stop(process)
    process, url = start_ours(workdir, env, log_predictions=False)
    try:
        results["ours (logging off)"] = load(url, ours_bodies)
    finally:
        stop(process)
    print(f"\nversion {version} of SentimentAnalysisModel, single-text requests")
    print(f"{'server':<22}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'errors':>8}")
    for name, r in results.items():
        print(f"{name:<22}{r.rps:>10.0f}{r.p50_ms:>10.2f}{r.p99_ms:>10.2f}{r.errors:>8}")
    ours, base, off = results["ours (logging on)"], results["mlflow models serve"], results["ours (logging off)"]
    print(f"\nthroughput ratio ours/mlflow: {ours.rps / base.rps:.2f}x (budget >= 3x)")
    print(f"p99 ratio mlflow/ours:        {base.p99_ms / ours.p99_ms:.2f}x (budget >= 3x)")
    print(f"logging cost:                 {100 * (1 - ours.rps / off.rps):.1f}% of throughput (budget <= 10%)")
    print(f"batch of 1,000 texts:         {batch_ms:.1f} ms server time (budget <= 15 ms)")
    shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
