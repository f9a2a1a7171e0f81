"""What replaying logged traffic adds to ``promote``: ``--replay 2000`` against ``--replay 0``, same registry and store.

In a temporary directory: train two versions on the built-in corpus (different seeds), put the first in
staging and production, log 2,000 corpus texts as production predictions (a quarter with feedback), then
promote the second to production with the replay and without it, alternately (each promotion undone by a
rollback before the next), and compare the medians.

    python benchmarks/replay.py [--rounds 3] [--texts 2000]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from serving import CLI, bench_env

BUDGET_SECONDS = 3.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--texts", type=int, default=2000)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench-replay-"))
    env = bench_env(workdir, SENTIMENT_MLOPS_STORE_URL=f"sqlite:///{workdir}/logs/predictions.db")
    os.environ.update({k: v for k, v in env.items() if k.startswith(("MLFLOW_", "SENTIMENT_MLOPS_"))})
    print(f"work dir {workdir}; training two versions …", flush=True)
    for seed in ("1", "2"):
        subprocess.run([*CLI, "train", "--seed", seed, "--models-dir", f"models-{seed}"], cwd=workdir, env=env,
                       check=True, stdout=subprocess.DEVNULL)

    from sentiment_mlops.config import Settings
    from sentiment_mlops.data import load_dataset
    from sentiment_mlops.deployment import replay as traffic
    from sentiment_mlops.deployment.actions import promote, rollback
    from sentiment_mlops.deployment.gate import rules_from_settings
    from sentiment_mlops.deployment.policy import GateRules
    from sentiment_mlops.registry import ModelRegistry
    from sentiment_mlops.store import PredictionStore

    settings = Settings()
    registry = ModelRegistry.from_settings(settings)
    # The two seeds' versions are equally good within noise: the benchmark is about time, not the verdict.
    rules = GateRules(**{**rules_from_settings(settings).__dict__, "max_macro_f1_drop": 1.0})
    replay_rules = traffic.rules_from_settings(settings)
    corpus = load_dataset("builtin")
    with PredictionStore(settings.store_url) as store:
        promote(registry, store, version="1", to="staging", rules=rules)
        promote(registry, store, version="1", to="production", rules=rules)
        promote(registry, store, version="2", to="staging", rules=rules)
        step = max(len(corpus.texts) // args.texts, 1)
        texts = corpus.texts[::step][:args.texts]
        ids = store.insert_predictions([
            {"environment": "production", "model_version": "1", "text": text, "sentiment": "neutral",
             "confidence": 0.5, "probabilities": {"negative": 0.25, "neutral": 0.5, "positive": 0.25}}
            for text in texts])
        for prediction_id, label in list(zip(ids, corpus.labels[::step], strict=False))[: len(ids) // 4]:
            store.add_feedback(prediction_id, label)
        print(f"{len(ids):,} texts logged in production, {len(ids) // 4:,} with feedback\n", flush=True)

        seconds: dict[int, list[float]] = {args.texts: [], 0: []}
        replay_alone: list[float] = []
        for _ in range(args.rounds):
            for size in (args.texts, 0):
                started = time.perf_counter()
                result = promote(registry, store, version="2", to="production", rules=rules, replay_size=size,
                                 replay_rules=replay_rules)
                took = time.perf_counter() - started
                seconds[size].append(took)
                replayed = result.report.replay if result.report else None
                comparison = (replayed or {}).get("comparison") or {}
                if replayed:
                    replay_alone.append(float(replayed["seconds"]))
                print(f"promote --replay {size:<5} {took:6.2f} s  "
                      + (f"(replayed {comparison.get('n', 0):,} texts in {replayed['seconds']:.2f} s, agreement "
                         f"{comparison.get('agreement')}, labelled n={comparison.get('labelled')})"
                         if replayed else "(no replay)"), flush=True)
                rollback(registry, store, environment="production", reason="benchmark")
    with_replay, without = statistics.median(seconds[args.texts]), statistics.median(seconds[0])
    print(f"\nmedian of {args.rounds}: --replay {args.texts} {with_replay:.2f} s, --replay 0 {without:.2f} s")
    print(f"ratio {with_replay / without:.2f}x; the replay adds {with_replay - without:.2f} s "
          f"(budget <= {BUDGET_SECONDS:.0f} s)")
    print(f"the replay itself (read {args.texts:,} rows with feedback, score them with both versions, compare): "
          f"median {statistics.median(replay_alone):.2f} s, max {max(replay_alone):.2f} s")
    shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
