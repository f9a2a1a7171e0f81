"""Benchmark: ``sentiment-mlops train`` end to end on the built-in corpus against the 10 s budget.

Runs the real command twice in a temporary directory (a fresh SQLite MLflow store, then the same store
again), prints each step's time, the wall time and macro-F1, and compares with the seed project's
configuration (TF-IDF with 100 features + MultinomialNB, trained and pickled, no MLflow) timed the same way
in the same run. Run: ``python benchmarks/train.py`` (``make bench``).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BUDGET_SECONDS = 10.0
STEP_LINE = re.compile(r"^\s{2}(?P<name>[a-z][a-z ]*?)\s+(?P<seconds>\d+\.\d+) s$")
MACRO_F1 = re.compile(r"macro-F1 (?P<value>\d\.\d+)")

# The seed project's model, on the same split as `train` (stratified 80/20, seed 42, duplicates dropped).
BASELINE = """
import pickle, sys
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics import f1_score
from sklearn.model_selection import train_test_split
from sklearn.naive_bayes import MultinomialNB
from sentiment_mlops.data import load_dataset

data = load_dataset("builtin")
x_train, x_test, y_train, y_test = train_test_split(data.texts, data.labels, test_size=0.2, random_state=42,
                                                    stratify=data.labels)
vectorizer = TfidfVectorizer(max_features=100, stop_words="english", ngram_range=(1, 2))
model = MultinomialNB().fit(vectorizer.fit_transform(x_train), y_train)
with open("sentiment_model.pkl", "wb") as f:
    pickle.dump(model, f)
with open("sentiment_model_vectorizer.pkl", "wb") as f:
    pickle.dump(vectorizer, f)
print(f"macro-F1 {f1_score(y_test, model.predict(vectorizer.transform(x_test)), average='macro'):.4f}")
"""


def _run(args: list[str], cwd: Path) -> tuple[float, str]:
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{cwd / 'mlflow.db'}", "COLUMNS": "200",
           "NO_COLOR": "1", "TERM": "dumb"}
    started = time.perf_counter()
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=600, check=False)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"{' '.join(args[:3])} failed ({done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return wall, done.stdout


def _steps(stdout: str) -> dict[str, float]:
    return {m["name"].strip(): float(m["seconds"]) for m in map(STEP_LINE.match, stdout.splitlines()) if m}


def _macro_f1(stdout: str) -> str:
    found = MACRO_F1.search(stdout)
    return found["value"] if found else "?"


def main() -> None:
    train_cmd = [sys.executable, "-m", "sentiment_mlops", "train"]  # what the console script runs
    with tempfile.TemporaryDirectory(prefix="bench-train-") as tmp:
        workdir = Path(tmp)
        base_dir = workdir / "baseline"
        base_dir.mkdir()
        base_wall, base_out = _run([sys.executable, "-c", BASELINE], base_dir)
        runs = [("fresh store", *_run(train_cmd, workdir)), ("existing store", *_run(train_cmd, workdir))]

    print(f"sentiment-mlops train, built-in corpus, {os.cpu_count()} CPUs; budget {BUDGET_SECONDS:.0f} s wall")
    names = list(dict.fromkeys(name for _, _, out in runs for name in _steps(out)))
    print(f"{'step':<12}" + "".join(f"{label:>16}" for label, _, _ in runs))
    for name in names:
        print(f"{name:<12}" + "".join(f"{_steps(out).get(name, 0.0):>14.2f} s" for _, _, out in runs))
    print(f"{'wall':<12}" + "".join(f"{wall:>14.2f} s" for _, wall, _ in runs))
    print(f"{'macro-F1':<12}" + "".join(f"{_macro_f1(out):>16}" for _, _, out in runs))
    print()
    print(f"baseline (seed config: TF-IDF 100 features + MultinomialNB, pickled, no MLflow): "
          f"{base_wall:.2f} s wall, macro-F1 {_macro_f1(base_out)}")
    for label, wall, _ in runs:
        verdict = "within" if wall <= BUDGET_SECONDS else "OVER"
        print(f"train ({label}): {wall:.2f} s = {wall / base_wall:.2f}x the baseline; {verdict} the "
              f"{BUDGET_SECONDS:.0f} s budget")


if __name__ == "__main__":
    main()
