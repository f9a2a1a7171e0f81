"""Domain adaptation from production feedback, measured per topic of the built-in corpus.

For each topic (tests/support/corpus_topics.py), in a fresh directory with its own MLflow and prediction store:

1. ``sentiment-mlops train --data base.csv``: every corpus row outside the topic; promote it to staging and
   production (the baseline, "before");
2. a real ``sentiment-mlops serve --env production`` answers ``--feedback`` of the topic's texts through
   ``/predict/batch``, and their labels go back through ``/feedback`` with the feedback token;
3. ``sentiment-mlops train --with-feedback --data base.csv --env production``, then ``promote --to staging`` and
   ``promote --to production`` through the gate ("after");
4. both versions score the rest of the topic (every topic text not sent as feedback) and the base held-out split.

Prints one row per topic: topic macro-F1 before / after, base held-out macro-F1 before / after, the gate's
verdict, and whether the issue's bar (topic +0.10, base -0.01 at most) is met.

    python benchmarks/loop.py [--topics claritin,apple] [--feedback 1000] [--feedback-weight 1]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from sentiment_mlops.data import load_dataset  # noqa: E402
from sentiment_mlops.registry import load_local  # noqa: E402
from support.corpus_topics import TOPICS  # noqa: E402
from support.feedback import macro_f1, predict_and_label, topic_split, write_csv  # noqa: E402
from support.processes import child_env, run_cli, serve  # noqa: E402

FEEDBACK_TOKEN = "benchmark-feedback-token-0123456789"
MIN_TOPIC_GAIN = 0.10
MAX_BASE_DROP = 0.01


def _cli(*args: str, env: dict[str, str], cwd: Path) -> str:
    done = run_cli(*args, env=env, cwd=cwd, timeout=900)
    if done.returncode != 0 and not (args[0] == "promote" and done.returncode == 1):
        raise SystemExit(f"sentiment-mlops {' '.join(args)} failed ({done.returncode}): {done.stderr.strip()}")
    return done.stdout + done.stderr


def one_topic(topic: str, corpus: object, *, feedback: int, weight: float, workdir: Path) -> dict[str, object]:
    split = topic_split(corpus, topic, base_rows=None, feedback_rows=feedback, rest_rows=None)
    write_csv(workdir / "base.csv", split.base)
    env = child_env(MLFLOW_TRACKING_URI=f"sqlite:///{workdir}/mlflow.db",
                    SENTIMENT_MLOPS_STORE_URL=f"sqlite:///{workdir}/logs/predictions.db",
                    SENTIMENT_MLOPS_FEEDBACK_TOKEN=FEEDBACK_TOKEN, COLUMNS="200")
    started = time.perf_counter()
    _cli("train", "--data", "base.csv", env=env, cwd=workdir)
    _cli("promote", "1", "--to", "staging", env=env, cwd=workdir)
    _cli("promote", "--to", "production", env=env, cwd=workdir)
    with serve("production", env=env, cwd=workdir) as url:
        predict_and_label(url, split.feedback, FEEDBACK_TOKEN)
    _cli("train", "--with-feedback", "--data", "base.csv", "--env", "production", "--feedback-weight", f"{weight:g}",
         "--models-dir", "models-feedback", env=env, cwd=workdir)
    staged = _cli("promote", "--to", "staging", env=env, cwd=workdir)
    promoted = _cli("promote", "--to", "production", env=env, cwd=workdir)
    gate = "pass" if "production: 1 → 2" in promoted else ("refused (staging)" if "staging: 1 → 2" not in staged
                                                           else "refused")
    before = load_local(workdir / "models").pipeline
    after = load_local(workdir / "models-feedback").pipeline
    with (workdir / "models" / "heldout.jsonl").open(encoding="utf-8") as handle:
        base_heldout = [(row["text"], row["label"]) for row in map(json.loads, handle)]
    metrics = json.loads((workdir / "models-feedback" / "metrics.json").read_text())
    return {"topic": topic, "feedback_used": metrics["feedback"]["rows"], "rest": len(split.rest),
            "topic_before": macro_f1(before, split.rest), "topic_after": macro_f1(after, split.rest),
            "base_before": macro_f1(before, base_heldout), "base_after": macro_f1(after, base_heldout),
            "gate": gate, "seconds": time.perf_counter() - started}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--topics", default=",".join(TOPICS), help="comma-separated topics (default: all six)")
    parser.add_argument("--feedback", type=int, default=1000, help="topic texts sent and labelled per topic")
    parser.add_argument("--feedback-weight", type=float, default=1.0)
    args = parser.parse_args()
    corpus = load_dataset("builtin")
    rows = []
    print(f"{'topic':<16} {'feedback':>8} {'scored':>6}  {'topic F1 before → after':>24}  "
          f"{'base F1 before → after':>23}  gate      bar  time", flush=True)
    for topic in args.topics.split(","):
        with tempfile.TemporaryDirectory(prefix=f"loop-bench-{topic.replace(' ', '-')}-") as tmp:
            row = one_topic(topic, corpus, feedback=args.feedback, weight=args.feedback_weight, workdir=Path(tmp))
        gain = row["topic_after"] - row["topic_before"]  # type: ignore[operator]
        drop = row["base_before"] - row["base_after"]  # type: ignore[operator]
        met = "yes" if gain >= MIN_TOPIC_GAIN and drop <= MAX_BASE_DROP else "no"
        print(f"{topic:<16} {row['feedback_used']:>8,} {row['rest']:>6,}  "
              f"{row['topic_before']:.3f} → {row['topic_after']:.3f} ({gain:+.3f})  "
              f"{row['base_before']:.3f} → {row['base_after']:.3f} ({-drop:+.3f})  {row['gate']:<8}  {met:<3}  "
              f"{row['seconds']:.0f} s", flush=True)
        rows.append(row)
    met_count = sum(1 for r in rows if r["topic_after"] - r["topic_before"] >= MIN_TOPIC_GAIN  # type: ignore[operator]
                    and r["base_before"] - r["base_after"] <= MAX_BASE_DROP)  # type: ignore[operator]
    print(f"bar (topic macro-F1 +{MIN_TOPIC_GAIN:.2f}, base held-out -{MAX_BASE_DROP:.2f} at most) met on "
          f"{met_count} of {len(rows)} topics; feedback weight {args.feedback_weight:g}")


if __name__ == "__main__":
    main()
