"""False alarms of the drift report by window size, on random splits of the built-in corpus (no drift).

Each round splits the corpus at random 60/20/20: the default model trains on the first part, its reference
profile is built on the second (as ``train`` does with its held-out split), and drift-free windows of each
size are drawn from the third, disjoint within a round. Prints, per window size, the share of windows where
the report raised drift (the family-wise rate, 1% by design) and where each check did (α/k each).

    python benchmarks/drift_false_alarms.py [--rounds 10] [--sizes 300,1000,3000,6000]
"""

from __future__ import annotations

import argparse
import time
from collections import Counter

import numpy as np

from sentiment_mlops.data import load_dataset
from sentiment_mlops.monitoring.drift import CHECKS, FAMILY_ALPHA, Reference, drift_report
from sentiment_mlops.training.pipeline import build_pipeline
from sentiment_mlops.training.profile import reference_profile

MAX_WINDOWS_PER_SIZE = 5  # per round


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--sizes", default="300,1000,3000,6000")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    dataset = load_dataset()
    texts = np.array(dataset.texts, dtype=object)
    labels = np.array(dataset.labels)
    rng = np.random.default_rng(2026)
    windows: Counter[int] = Counter()
    alarms: Counter[int] = Counter()
    by_check: dict[int, Counter[str]] = {size: Counter() for size in sizes}
    started = time.perf_counter()
    for round_number in range(args.rounds):
        order = rng.permutation(len(texts))
        cut1, cut2 = int(0.6 * len(texts)), int(0.8 * len(texts))
        train, profile_rows, pool = order[:cut1], order[cut1:cut2], order[cut2:]
        pipeline = build_pipeline("mnb").fit(list(texts[train]), list(labels[train]))
        reference = Reference.from_profile(reference_profile(pipeline, list(texts[profile_rows])))
        classes = [str(c) for c in pipeline.classes_]
        for size in sizes:
            for k in range(min(len(pool) // size, MAX_WINDOWS_PER_SIZE)):
                window = list(texts[pool[k * size:(k + 1) * size]])
                probabilities = pipeline.predict_proba(window)
                report = drift_report(reference, window, [classes[i] for i in probabilities.argmax(axis=1)],
                                      probabilities.max(axis=1), model_version=str(round_number))
                windows[size] += 1
                alarms[size] += report.drift_detected
                by_check[size].update(report.drifted_checks)
        print(f"round {round_number + 1}/{args.rounds} done ({time.perf_counter() - started:.0f} s)", flush=True)
    print(f"\nreference {len(profile_rows):,} held-out texts; family-wise alpha {FAMILY_ALPHA}, "
          f"{FAMILY_ALPHA / len(CHECKS):.5f} per check")
    print(f"{'window':>8} {'windows':>8} {'report alarms':>14}  alarms by check")
    for size in sizes:
        checks = ", ".join(f"{name} {n}" for name, n in by_check[size].most_common()) or "-"
        rate = alarms[size] / max(windows[size], 1)
        print(f"{size:>8,} {windows[size]:>8} {alarms[size]:>6} ({rate:>5.1%})  {checks}")


if __name__ == "__main__":
    main()
