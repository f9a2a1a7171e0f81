"""Drift over 100,000 logged predictions: store read + checks, against a straightforward baseline.

Budget (DESIGN.md): <= 2 s for the report over 100k logged predictions on this 2-core machine.
The baseline is what one writes first: the same scipy tests and the same numbers of resampled windows,
but one dense ``scipy.spatial.distance.jensenshannon`` per window over term counts gathered text by text,
Fisher's exact test on every unseen word (Tarone's divisor found by a loop) for the new-terms check, the
same on every vocabulary term for the known-terms check, Hotelling's T² from ``np.cov`` for the text
features, and the window's texts tokenized with scikit-learn's ``CountVectorizer`` (plus its analyzer for
OOV and unseen words).
The budget applies end to end: reading the window from the store (only the columns the checks use)
plus the checks, as ``sentiment-mlops monitor --window 100000`` does.

    python benchmarks/drift.py [--rows 100000]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np

ROWS = 100_000
BUDGET_SECONDS = 2.0


def _setup(rows: int, directory: Path) -> tuple[dict, str]:
    """A model trained on the built-in corpus, its profile, and a SQLite store holding ``rows`` predictions."""
    from sklearn.model_selection import train_test_split

    from sentiment_mlops.data import load_dataset
    from sentiment_mlops.store import PredictionStore
    from sentiment_mlops.training.pipeline import build_pipeline
    from sentiment_mlops.training.profile import reference_profile

    dataset = load_dataset()
    x_train, x_test, y_train, _ = train_test_split(dataset.texts, dataset.labels, test_size=0.2, random_state=42,
                                                   stratify=dataset.labels)
    pipeline = build_pipeline("mnb").fit(x_train, y_train)
    profile = reference_profile(pipeline, x_test)
    rng = np.random.default_rng(0)
    texts = [dataset.texts[i] for i in rng.integers(0, len(dataset.texts), rows)]
    probabilities = pipeline.predict_proba(texts)
    classes = [str(c) for c in pipeline.classes_]
    url = f"sqlite:///{directory / 'predictions.db'}"
    with PredictionStore(url) as store:
        batch = 20_000
        for start in range(0, rows, batch):
            store.insert_predictions([
                {"environment": "production", "model_version": "1", "text": t, "sentiment": classes[int(p.argmax())],
                 "confidence": float(p.max()), "probabilities": dict(zip(classes, map(float, p), strict=True)),
                 "latency_ms": 1.0, "route": "/predict"}
                for t, p in zip(texts[start:start + batch], probabilities[start:start + batch], strict=True)
            ])
    return profile, url


def ours(profile: dict, url: str, rows: int) -> tuple[dict[str, float], object]:
    from sentiment_mlops.monitoring.drift import Reference, drift_report
    from sentiment_mlops.monitoring.drift.online import WINDOW_COLUMNS, window_from_columns
    from sentiment_mlops.store import PredictionStore

    timings: dict[str, float] = {}
    start = time.perf_counter()
    with PredictionStore(url) as store:
        logged = store.recent_columns(WINDOW_COLUMNS, environment="production", model_version="1", limit=rows)
    window = window_from_columns(logged)
    timings["store read"] = time.perf_counter() - start
    mark, cpu = time.perf_counter(), time.process_time()
    reference = Reference.from_profile(profile)
    report = drift_report(reference, window.texts, window.predicted, window.confidences, model_version="1")
    timings["checks"] = time.perf_counter() - mark
    timings["checks cpu"] = time.process_time() - cpu
    timings["total"] = time.perf_counter() - start
    return timings, report


def baseline(profile: dict, url: str, rows: int) -> tuple[dict[str, float], bool]:
    """Same tests, written the obvious way."""
    from scipy import stats
    from scipy.spatial.distance import jensenshannon
    from sklearn.feature_extraction.text import CountVectorizer

    from sentiment_mlops.store import PredictionStore

    timings: dict[str, float] = {}
    start = time.perf_counter()
    with PredictionStore(url) as store:
        logged = store.recent_predictions(environment="production", model_version="1", limit=rows)
    texts = [r["text"] for r in logged]
    timings["store read"] = time.perf_counter() - start
    mark, cpu = time.perf_counter(), time.process_time()
    per_text = profile["per_text"]
    labels = profile["labels"]
    alpha = 0.01 / 8
    vocabulary = {t: i for i, t in enumerate(profile["vocabulary"])}
    counter = CountVectorizer(vocabulary=vocabulary, lowercase=True, strip_accents="unicode")
    current_terms = counter.transform(texts)
    all_tokens = counter.build_analyzer()
    analyzed = [all_tokens(text) for text in texts]
    oov = np.array([1 - sum(tok in vocabulary for tok in toks) / len(toks) if toks else 0.0 for toks in analyzed])
    ref_counts = [per_text["predicted"].count(label) for label in labels]
    cur_counts = [sum(r["sentiment"] == label for r in logged) for label in labels]
    drifted = stats.chi2_contingency([ref_counts, cur_counts]).pvalue < alpha
    drifted |= stats.ks_2samp(per_text["confidence"], [r["confidence"] for r in logged]).pvalue < alpha
    drifted |= stats.ks_2samp(per_text["length"], [len(t) for t in texts]).pvalue < alpha
    cutoff = np.quantile(per_text["oov_rate"], 0.95)
    ref_above = sum(r > cutoff for r in per_text["oov_rate"])
    table = [[int((oov > cutoff).sum()), len(oov) - int((oov > cutoff).sum())],
             [ref_above, len(per_text["oov_rate"]) - ref_above]]
    drifted |= stats.fisher_exact(table, alternative="greater").pvalue < alpha
    n_terms = len(vocabulary)
    ref_terms = np.zeros(n_terms)
    for ids in per_text["term_ids"]:
        np.add.at(ref_terms, ids, 1)
    current = np.asarray(current_terms.sum(axis=0)).ravel()
    distance = jensenshannon(current, ref_terms, base=2)
    rng = np.random.default_rng(0)
    size = min(rows, len(per_text["term_ids"]) // 2)
    null = []
    for _ in range(500):  # as many resampled windows as ours
        picked = rng.choice(len(per_text["term_ids"]), size, replace=False)
        window = np.bincount(np.concatenate([per_text["term_ids"][i] for i in picked]), minlength=n_terms)
        null.append(jensenshannon(window, ref_terms - window, base=2))
    drifted |= distance > np.mean(null) + stats.norm.isf(alpha) * np.std(null, ddof=1)
    # New terms: Fisher's exact test on every unseen word (one vectorised call), Tarone's divisor by a loop.
    unseen = {text: {tok for tok in toks if tok not in vocabulary}
              for text, toks in zip(texts, analyzed, strict=True)}
    per_word = Counter(word for words in unseen.values() for word in words)
    reference_words = Counter(word for words in per_text["oov_terms"] for word in set(words))
    m, n = len(unseen), len(per_text["oov_terms"])
    words = sorted(set(per_word) | set(reference_words))
    window_counts = np.array([per_word[w] for w in words])
    totals = window_counts + np.array([reference_words[w] for w in words])
    log_min_p = np.sort(stats.hypergeom.logpmf(np.minimum(totals, m), m + n, totals, m))
    divisor = next(k for k in range(1, len(log_min_p) + 1)
                   if np.searchsorted(log_min_p, np.log(alpha / k), side="right") <= k)
    p_values = stats.hypergeom.sf(window_counts - 1, m + n, totals, m)
    drifted |= bool(np.min(p_values, initial=1.0) * divisor < alpha)
    # Known terms: the same test on every vocabulary term, its texts counted from binary term counts.
    window_known = np.asarray((counter.transform(list(unseen)) > 0).sum(axis=0)).ravel()
    reference_known = np.zeros(n_terms)
    for ids in per_text["term_ids"]:
        reference_known[list(set(ids))] += 1
    totals = window_known + reference_known
    log_min_p = np.sort(stats.hypergeom.logpmf(np.minimum(totals, m), m + n, totals, m))
    divisor = next(k for k in range(1, len(log_min_p) + 1)
                   if np.searchsorted(log_min_p, np.log(alpha / k), side="right") <= k)
    p_values = stats.hypergeom.sf(window_known - 1, m + n, totals, m)
    drifted |= bool(np.min(p_values, initial=1.0) * divisor < alpha)
    # Text features: Hotelling's T² on (OOV rate, confidence, log length), pooled covariance from np.cov.
    ref_x = np.column_stack([per_text["oov_rate"], per_text["confidence"], np.log1p(per_text["length"])])
    cur_x = np.column_stack([oov, [r["confidence"] for r in logged], np.log1p([len(t) for t in texts])])
    n, m = len(cur_x), len(ref_x)
    pooled = ((n - 1) * np.cov(cur_x, rowvar=False) + (m - 1) * np.cov(ref_x, rowvar=False)) / (n + m - 2)
    difference = cur_x.mean(axis=0) - ref_x.mean(axis=0)
    t2 = n * m / (n + m) * difference @ np.linalg.solve(pooled, difference)
    drifted |= bool(stats.f.sf(t2 * (n + m - 4) / (3 * (n + m - 2)), 3, n + m - 4) < alpha)
    timings["checks"] = time.perf_counter() - mark
    timings["checks cpu"] = time.process_time() - cpu
    timings["total"] = time.perf_counter() - start
    return timings, bool(drifted)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=ROWS)
    parser.add_argument("--skip-baseline", action="store_true", help="Only time our implementation.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        print(f"setup: training on the built-in corpus and logging {args.rows:,} predictions to SQLite …")
        started = time.perf_counter()
        profile, url = _setup(args.rows, Path(tmp))
        print(f"setup took {time.perf_counter() - started:.1f} s (not timed below)")
        ours_t, report = ours(profile, url, args.rows)
        print(f"\nours     : {ours_t['total']:.2f} s  "
              + "  ".join(f"{k} {v:.2f} s" for k, v in ours_t.items() if k != "total")
              + f"  -> drift_detected={report.drift_detected}")  # type: ignore[attr-defined]
        if not args.skip_baseline:
            base_t, base_drift = baseline(profile, url, args.rows)
            print(f"baseline : {base_t['total']:.2f} s  "
                  + "  ".join(f"{k} {v:.2f} s" for k, v in base_t.items() if k != "total")
                  + f"  -> drift_detected={base_drift}")
            print(f"checks speed-up: {base_t['checks'] / ours_t['checks']:.1f}x wall, "
                  f"{base_t['checks cpu'] / ours_t['checks cpu']:.1f}x CPU; "
                  f"end to end: {base_t['total'] / ours_t['total']:.1f}x")
        spent = ours_t["total"]
        verdict = "within" if spent <= BUDGET_SECONDS else "OVER"
        print(f"budget: drift over {args.rows:,} logged predictions (store read + checks) took {spent:.2f} s "
              f"({ours_t['checks cpu']:.2f} s CPU), {verdict} the {BUDGET_SECONDS:.0f} s budget")
        if os.getloadavg()[0] > (os.cpu_count() or 1):
            print(f"note: load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; wall times are inflated")


if __name__ == "__main__":
    main()
