"""Out-of-core training: ``train --engine dask`` on N rows (default 5,000,000) in bounded memory.

In one temporary directory and one run: the in-memory default (``train`` on the built-in corpus) as the
baseline; ``train --engine dask`` on the same corpus written to Parquet (its macro-F1 must stay within
0.02 of the baseline's); then ``train --engine dask`` on the corpus resampled to N rows, written as
Parquet files of 250,000 rows, with the resident memory of the whole process tree (client, MLflow tracker
process, scheduler, workers) sampled every 0.2 s. Prints the macro-F1s, the wall times and the peak RSS
against the 2 GB budget.

    python benchmarks/train_out_of_core.py [--rows 5000000] [--workers 2]
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil
import pyarrow as pa
import pyarrow.parquet as pq

from batch_scoring import run_with_peak_rss
from sentiment_mlops.data import load_dataset

CLI = str(Path(sys.executable).with_name("sentiment-mlops"))
MACRO_F1 = re.compile(r"macro-F1 (?P<value>\d\.\d+)")
RSS_BUDGET_GB = 2.0
F1_TOLERANCE = 0.02
FILE_ROWS = 250_000


def run_train(args: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float, float, str]:
    """Wall seconds, macro-F1, peak RSS (GB) of the whole process tree, and the output of one ``train``."""
    started = time.perf_counter()
    child, out, err, peak = run_with_peak_rss([CLI, "train", "--no-register", *args], cwd, {**env, "COLUMNS": "200"})
    wall = time.perf_counter() - started
    if child.returncode != 0:
        raise SystemExit(f"train {' '.join(args)} failed: {err.strip() or child.returncode}")
    found = MACRO_F1.search(out)
    if found is None:
        raise SystemExit(f"no macro-F1 in the output of train {' '.join(args)}:\n{out}")
    return wall, float(found["value"]), peak / 1e9, out


def write_resampled(directory: Path, texts: list[str], labels: list[str], rows: int, seed: int = 0) -> int:
    """``rows`` rows drawn with replacement from the corpus, as Parquet files of ``FILE_ROWS`` rows."""
    directory.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    pool_texts, pool_labels = np.array(texts, dtype=object), np.array(labels, dtype=object)
    files = 0
    for start in range(0, rows, FILE_ROWS):
        picked = rng.integers(0, len(pool_texts), min(FILE_ROWS, rows - start))
        table = pa.table({"text": pool_texts[picked], "sentiment": pool_labels[picked]})
        pq.write_table(table, directory / f"part-{files:05d}.parquet", row_group_size=50_000)
        files += 1
    return files


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5_000_000, help="rows of the resampled corpus")
    parser.add_argument("--workers", type=int, default=2, help="LocalCluster workers")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-train-ooc-"))
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{work / 'mlflow.db'}"}
    dask = ["--engine", "dask", "--workers", str(args.workers)]
    print(f"machine: {os.cpu_count()} CPUs, {psutil.virtual_memory().total / 1e9:.0f} GB; work directory {work}")

    wall, baseline_f1, rss, _ = run_train(["--models-dir", str(work / "in-memory")], work, env)
    print(f"in memory, built-in corpus:          macro-F1 {baseline_f1:.4f}  {wall:6.1f} s  peak RSS {rss:.2f} GB")

    dataset = load_dataset("builtin")
    corpus = work / "corpus.parquet"
    pq.write_table(pa.table({"text": dataset.texts, "sentiment": dataset.labels}), corpus)
    wall, corpus_f1, rss, _ = run_train([*dask, "--data", str(corpus), "--models-dir", str(work / "ooc-corpus")],
                                        work, env)
    gap = corpus_f1 - baseline_f1
    print(f"dask, built-in corpus (Parquet):     macro-F1 {corpus_f1:.4f}  {wall:6.1f} s  peak RSS {rss:.2f} GB  "
          f"{gap:+.4f} vs in memory (budget within ±{F1_TOLERANCE}: {'met' if abs(gap) <= F1_TOLERANCE else 'MISSED'})")

    started = time.perf_counter()
    files = write_resampled(work / "resampled", dataset.texts, dataset.labels, args.rows)
    print(f"wrote {args.rows:,} resampled rows as {files} Parquet files in {time.perf_counter() - started:.1f} s")
    wall, big_f1, rss, out = run_train([*dask, "--data", str(work / "resampled" / "*.parquet"),
                                        "--models-dir", str(work / "ooc-resampled")], work, env)
    steps = " ".join(f"{m[1]} {m[2]} s" for m in re.finditer(r"^\s{2}([a-z][a-z ]*?)\s+(\d+\.\d+) s$", out, re.M))
    print(f"dask, {args.rows:,} resampled rows:  macro-F1 {big_f1:.4f}  {wall:6.1f} s "
          f"({args.rows / wall:,.0f} rows/s end to end)  peak RSS {rss:.2f} GB of the whole tree "
          f"(budget <= {RSS_BUDGET_GB} GB: {'met' if rss <= RSS_BUDGET_GB else 'MISSED'})")
    print(f"  steps: {steps}")
    print(f"  (the in-memory baseline on the same machine: macro-F1 {baseline_f1:.4f}; the resampled rows repeat "
          "the corpus's texts, and every copy of a text falls in the same split)")
    print(f"work directory (remove when done): {work}")


if __name__ == "__main__":
    main()
