"""How close is the label-free accuracy estimate to the real accuracy, in distribution and on a shifted topic?

For each left-out topic of the built-in corpus (airline tweets; Coachella, the drift tests' topic): train the
default model on 60% of the other topics' rows, measure ECE and fit the confidence map on 20% (the held-out
split, as ``train`` does), then score windows of 500 texts drawn from the remaining 20% (same distribution)
and from the left-out topic (shifted). Each window's estimate (calibrated mean confidence) is compared with
its real accuracy; the baseline is the raw mean confidence (CBPE without calibration).

    python benchmarks/estimate_accuracy.py [--windows 20] [--size 500]
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from sentiment_mlops.calibration import expected_calibration_error, fit_confidence_calibration  # noqa: E402

TOPICS = {
    "airline": re.compile(r"@(united|usairways|americanair|southwestair|jetblue|virginamerica|delta)\b", re.I),
    "coachella": re.compile(r"coachella", re.I),
}
SEED = 0


def run_topic(name: str, pattern: re.Pattern[str], texts: np.ndarray, labels: np.ndarray, *, windows: int,
              size: int) -> dict[str, float]:
    from sklearn.model_selection import train_test_split

    from sentiment_mlops.training.pipeline import build_pipeline

    shifted = np.array([bool(pattern.search(t)) for t in texts])
    kept = np.flatnonzero(~shifted)
    train_idx, rest = train_test_split(kept, test_size=0.4, random_state=SEED, stratify=labels[kept])
    held_idx, same_idx = train_test_split(rest, test_size=0.5, random_state=SEED, stratify=labels[rest])
    pipeline = build_pipeline().fit(list(texts[train_idx]), list(labels[train_idx]))

    def score(index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        probabilities = pipeline.predict_proba(list(texts[index]))
        return probabilities.max(axis=1), pipeline.classes_[probabilities.argmax(axis=1)] == labels[index]

    held_conf, held_hit = score(held_idx)
    calibration = fit_confidence_calibration(held_conf, held_hit, threshold=0.0)  # always fit, to compare
    rng = np.random.default_rng(SEED)
    result: dict[str, float] = {"ece": expected_calibration_error(held_conf, held_hit),
                                "ece_calibrated": float(calibration.ece_calibrated or 0.0),
                                "heldout_accuracy": float(held_hit.mean())}
    for kind, pool in (("same", same_idx), ("shifted", np.flatnonzero(shifted))):
        conf, hit = score(pool)
        actual, raw, calibrated = [], [], []
        for _ in range(windows):
            pick = rng.choice(len(pool), size, replace=False)
            actual.append(hit[pick].mean())
            raw.append(conf[pick].mean())
            calibrated.append(calibration.apply(conf[pick]).mean())
        a, r, c = (np.asarray(v) for v in (actual, raw, calibrated))
        result.update({f"{kind}_actual": a.mean(), f"{kind}_raw": r.mean(), f"{kind}_calibrated": c.mean(),
                       f"{kind}_raw_mae": np.abs(r - a).mean(), f"{kind}_calibrated_mae": np.abs(c - a).mean()})
    print(f"\nleft-out topic: {name}  (train {len(train_idx):,} / held-out {len(held_idx):,} / "
          f"same-distribution pool {len(same_idx):,} / shifted pool {int(shifted.sum()):,})")
    print(f"  held-out accuracy {result['heldout_accuracy']:.3f}, ECE {result['ece']:.4f} "
          f"-> {result['ece_calibrated']:.4f} after the isotonic map (cross-fitted)")
    print(f"  {'windows of ' + str(size):<22}{'actual':>8}{'raw est':>9}{'cal est':>9}{'raw |err|':>11}"
          f"{'cal |err|':>11}{'ratio':>7}")
    for kind in ("same", "shifted"):
        ratio = result[f"{kind}_calibrated_mae"] / max(result[f"{kind}_raw_mae"], 1e-12)
        print(f"  {kind + f' ({windows})':<22}{result[f'{kind}_actual']:>8.3f}{result[f'{kind}_raw']:>9.3f}"
              f"{result[f'{kind}_calibrated']:>9.3f}{result[f'{kind}_raw_mae']:>11.3f}"
              f"{result[f'{kind}_calibrated_mae']:>11.3f}{ratio:>7.2f}")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--windows", type=int, default=20)
    parser.add_argument("--size", type=int, default=500)
    args = parser.parse_args()
    from sentiment_mlops.data import load_dataset

    dataset = load_dataset()
    texts, labels = np.array(dataset.texts, dtype=object), np.array(dataset.labels)
    print("label-free accuracy estimate vs real accuracy (ratio: calibrated |err| / raw |err|, lower is better)")
    for name, pattern in TOPICS.items():
        run_topic(name, pattern, texts, labels, windows=args.windows, size=args.size)


if __name__ == "__main__":
    main()
