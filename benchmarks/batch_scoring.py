"""Batch scoring: ``sentiment-mlops score`` (local engine, then Dask with 2 workers) against the peers.

Trains the default model on the built-in corpus (registered as version 1 in a temporary store, artifacts in
a temporary ``models/``), resamples the corpus to N texts in a Parquet file, and runs ``score`` as a
subprocess for each engine, sampling the resident memory of its whole process tree (client, scheduler,
workers) every 0.2 s. Two peers on the same version, both printed:

- the peer the budget is against (issue 13): ``mlflow models predict -m models:/SentimentAnalysisModel/1``
  on --peer-texts texts (a JSON ``inputs`` file), end to end as a user runs it, against ``score``'s end-to-end
  rate (startup, reading and writing included on both sides);
- a stricter reference: what MLflow's sklearn pyfunc flavour runs for this model, ``Pipeline.predict_proba``,
  timed in this process on chunks of the same texts, against ``score``'s scoring rate.

    python benchmarks/batch_scoring.py [--sizes 1000000,5000000] [--peer-texts 200000]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import psutil
import pyarrow as pa
import pyarrow.parquet as pq

from sentiment_mlops.data import load_dataset
from sentiment_mlops.registry.loading import load_local

CLI = str(Path(sys.executable).with_name("sentiment-mlops"))
PEER_RATIO = 10.0
DASK_RATIO = 1.6
RSS_BUDGET_GB = 1.5


def tree_rss(process: psutil.Process) -> int:
    total = 0
    try:
        members = [process, *process.children(recursive=True)]
    except psutil.Error:  # the process has just exited
        return 0
    for member in members:
        try:
            total += member.memory_info().rss
        except psutil.Error:
            pass
    return total


def run_with_peak_rss(command: list[str], cwd: Path,
                      env: dict[str, str]) -> tuple[subprocess.Popen[str], str, str, int]:
    """Run ``command`` to the end: the finished process, its stdout and stderr, and the peak RSS in bytes of
    its whole process tree (sampled every 0.2 s)."""
    child = subprocess.Popen(command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    peak = 0
    watched = psutil.Process(child.pid)
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, tree_rss(watched))
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = child.communicate()
    done.set()
    sampler.join()
    return child, out, err, peak


def run_score(args: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float, float]:
    """Wall seconds, the texts/s ``score`` reports (scoring only), and the peak RSS in GB of the tree."""
    started = time.perf_counter()
    child, out, err, peak = run_with_peak_rss([CLI, "score", *args], cwd, {**env, "COLUMNS": "200"})
    wall = time.perf_counter() - started
    if child.returncode != 0:
        raise SystemExit(f"score failed: {err.strip().splitlines()[-1] if err.strip() else child.returncode}")
    rate = re.search(r"([\d,]+) texts/s", out)
    return wall, float(rate.group(1).replace(",", "")) if rate else float("nan"), peak / 1e9


def mlflow_predict_rate(sample: list[str], work: Path, env: dict[str, str]) -> float:
    """Texts/s of ``mlflow models predict`` on version 1 (local env manager), wall clock from start to exit."""
    source, out = work / "peer-input.json", work / "peer-output.json"
    source.write_text(json.dumps({"inputs": sample}))
    command = [str(Path(sys.executable).with_name("mlflow")), "models", "predict", "-m",
               "models:/SentimentAnalysisModel/1", "-i", str(source), "-t", "json", "-o", str(out),
               "--env-manager", "local"]
    started = time.perf_counter()
    done = subprocess.run(command, cwd=work, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"mlflow models predict failed: {done.stderr.strip().splitlines()[-1]}")
    answered = len(json.loads(out.read_text())["predictions"])
    if answered != len(sample):
        raise SystemExit(f"mlflow models predict answered {answered} of {len(sample)} texts")
    return len(sample) / wall


def write_input(path: Path, texts: list[str], size: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    pool = np.array(texts, dtype=object)
    with pq.ParquetWriter(path, pa.schema([("id", pa.int64()), ("text", pa.string())])) as writer:
        for start in range(0, size, 500_000):
            count = min(500_000, size - start)
            ids = np.arange(start, start + count)
            writer.write_table(pa.table({"id": ids, "text": pool[rng.integers(0, len(pool), count)]}),
                               row_group_size=100_000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000000", help="comma-separated input sizes (texts)")
    parser.add_argument("--peer-texts", type=int, default=200_000, help="texts the peer is timed on")
    parser.add_argument("--skip-dask", action="store_true")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-batch-"))
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{work / 'mlflow.db'}"}
    subprocess.run([CLI, "train", "--models-dir", str(work / "models")], cwd=work, env=env,
                   check=True, stdout=subprocess.DEVNULL)
    texts = load_dataset("builtin").texts
    pipeline = load_local(work / "models").pipeline
    sample = [texts[i] for i in np.random.default_rng(1).integers(0, len(texts), args.peer_texts)]
    started = time.perf_counter()
    for start in range(0, len(sample), 50_000):
        pipeline.predict_proba(sample[start:start + 50_000])
    peer = len(sample) / (time.perf_counter() - started)
    cli_peer = mlflow_predict_rate(sample, work, env)
    print(f"machine: {os.cpu_count()} CPUs; model: default mnb on the built-in corpus; on {len(sample):,} texts:\n"
          f"  peer: mlflow models predict (end to end): {cli_peer:,.0f} texts/s\n"
          f"  reference: Pipeline.predict_proba in this process (what pyfunc runs): {peer:,.0f} texts/s")
    for size in (int(s) for s in args.sizes.split(",")):
        source = work / f"input-{size}.parquet"
        write_input(source, texts, size)
        base = ["--data", str(source), "--models-dir", str(work / "models")]
        # The work directory's tracking store: score checks the models' seal against the version it registered.
        wall, local_rate, local_rss = run_score([*base, "--out", str(work / f"local-{size}.parquet")], work, env)
        print(f"{size:>10,} texts  local engine: {local_rate:9,.0f} texts/s scoring ({size / wall:9,.0f} end to end, "
              f"{wall:6.1f} s)  end to end {size / wall / cli_peer:5.1f}x mlflow models predict (budget >= "
              f"{PEER_RATIO:.0f}x), scoring {local_rate / peer:4.1f}x predict_proba  "
              f"peak RSS {local_rss:.2f} GB (budget <= {RSS_BUDGET_GB} GB)")
        if args.skip_dask:
            continue
        wall, dask_rate, dask_rss = run_score([*base, "--out", str(work / f"dask-{size}.parquet"), "--engine", "dask",
                                               "--workers", "2"], work, env)
        print(f"{size:>10,} texts  dask, 2 workers: {dask_rate:9,.0f} texts/s scoring ({size / wall:9,.0f} end to "
              f"end, {wall:6.1f} s)  end to end {size / wall / cli_peer:5.1f}x mlflow models predict, scoring "
              f"{dask_rate / local_rate:4.2f}x local "
              f"(budget >= {DASK_RATIO}x)  peak RSS {dask_rss:.2f} GB (whole tree)")
    print(f"work directory (remove when done): {work}")


if __name__ == "__main__":
    main()
