"""Model quality measured, not quoted from one split: repeated splits, out-of-topic scores, behaviour.

For every model family (and the plain VADER lexicon as a reference):

- in-domain: macro-F1 on ``--splits`` stratified 80/20 splits of the built-in corpus (seeds 0, 1, ...),
  mean ± standard deviation;
- out of topic: for each of the corpus's six topics (tests/support/corpus_topics.py), trained on the other five
  and scored on it; the mean over the six;
- behaviour: pass rates of the CheckList-style cases (tests/support/behaviour_cases.py), trained on the whole corpus.

    python benchmarks/quality.py [--models mnb,logreg] [--splits 5] [--skip-topics] [--skip-behaviour] [--param k=v]...

``--param`` sets a hyperparameter of every model measured (as ``sentiment-mlops train --param`` does), so a
candidate configuration is measured the same way as the defaults.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import f1_score
from sklearn.model_selection import train_test_split

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from sentiment_mlops.data import load_dataset  # noqa: E402
from sentiment_mlops.training.pipeline import MODEL_TYPES, build_pipeline, parse_params  # noqa: E402
from support.behaviour_cases import CAPABILITIES, pass_rates  # noqa: E402
from support.corpus_topics import TOPICS  # noqa: E402

VADER = "vader"
# VADER's own cut-offs on its compound score.
VADER_THRESHOLD = 0.05

Predict = Callable[[list[str]], Sequence[str]]


def vader_predict(texts: list[str]) -> list[str]:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    analyzer = SentimentIntensityAnalyzer()
    labels = []
    for text in texts:
        compound = analyzer.polarity_scores(text)["compound"]
        labels.append("positive" if compound >= VADER_THRESHOLD
                      else "negative" if compound <= -VADER_THRESHOLD else "neutral")
    return labels


def fitted(model: str, texts: list[str], labels: list[str], params: dict[str, Any] | None = None) -> Predict:
    if model == VADER:
        return vader_predict
    pipeline = build_pipeline(model, params).fit(texts, labels)
    return lambda batch: list(pipeline.predict(batch))


def macro_f1(truth: Sequence[str], predicted: Sequence[str]) -> float:
    return float(f1_score(truth, predicted, labels=["negative", "neutral", "positive"], average="macro",
                          zero_division=0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join([*MODEL_TYPES, VADER]))
    parser.add_argument("--splits", type=int, default=5, help="Repeated stratified 80/20 splits.")
    parser.add_argument("--skip-topics", action="store_true")
    parser.add_argument("--skip-behaviour", action="store_true")
    parser.add_argument("--param", action="append", default=[], metavar="K=V",
                        help="A hyperparameter for every model measured, e.g. --param alpha=0.3 (repeatable).")
    args = parser.parse_args()
    models = args.models.split(",")
    params = parse_params(args.param)
    if params:
        print("parameters: " + ", ".join(f"{k}={v!r}" for k, v in params.items()), flush=True)
    data = load_dataset("builtin")
    texts, labels = np.array(data.texts, dtype=object), np.array(data.labels)
    in_topic = {name: np.array([bool(pattern.search(t)) for t in data.texts]) for name, pattern in TOPICS.items()}
    print(f"built-in corpus, {len(texts):,} texts; topics: "
          + ", ".join(f"{name} {int(mask.sum()):,}" for name, mask in in_topic.items()), flush=True)

    in_domain: dict[str, list[float]] = {}
    out_of_topic: dict[str, dict[str, float]] = {}
    behaviour: dict[str, dict[str, float]] = {}
    for model in models:
        started = time.perf_counter()
        scores = []
        for seed in range(args.splits):
            x_train, x_test, y_train, y_test = train_test_split(texts, labels, test_size=0.2, random_state=seed,
                                                                stratify=labels)
            predict = fitted(model, list(x_train), list(y_train), params)
            scores.append(macro_f1(y_test, predict(list(x_test))))
        in_domain[model] = scores
        if not args.skip_topics:
            out_of_topic[model] = {}
            for name, mask in in_topic.items():
                predict = fitted(model, list(texts[~mask]), list(labels[~mask]), params)
                out_of_topic[model][name] = macro_f1(labels[mask], predict(list(texts[mask])))
        if not args.skip_behaviour:
            behaviour[model] = pass_rates(fitted(model, list(texts), list(labels), params))
        # A line per model as soon as it is measured: on a loaded machine the whole run takes long.
        sd = statistics.stdev(scores) if len(scores) > 1 else 0.0
        print(f"  {model}: {time.perf_counter() - started:.0f} s; in-domain {statistics.mean(scores):.4f} ± {sd:.4f}"
              + (f", out of topic {statistics.mean(out_of_topic[model].values()):.4f}" if model in out_of_topic else "")
              + (", behaviour " + " ".join(f"{k} {v:.0%}" for k, v in behaviour[model].items())
                 if model in behaviour else ""), flush=True)

    print(f"\nin-domain macro-F1, {args.splits} stratified 80/20 splits (seeds 0-{args.splits - 1})")
    print(f"{'model':<14} {'mean':>7} {'sd':>7} {'min':>7} {'max':>7}")
    for model, scores in in_domain.items():
        sd = statistics.stdev(scores) if len(scores) > 1 else 0.0
        print(f"{model:<14} {statistics.mean(scores):7.4f} {sd:7.4f} {min(scores):7.4f} {max(scores):7.4f}")
    if out_of_topic:
        names = list(TOPICS)
        print("\nout-of-topic macro-F1 (trained on the other five topics, scored on the one left out)")
        print(f"{'model':<14} " + " ".join(f"{name[:11]:>11}" for name in names) + f" {'mean':>7}")
        for model, per_topic in out_of_topic.items():
            print(f"{model:<14} " + " ".join(f"{per_topic[name]:11.3f}" for name in names)
                  + f" {statistics.mean(per_topic.values()):7.4f}")
    if behaviour:
        names = list(CAPABILITIES)
        print("\nbehavioural pass rates (tests/support/behaviour_cases.py; trained on the whole corpus)")
        print(f"{'model':<14} " + " ".join(f"{name[:12]:>12}" for name in names))
        for model, rates in behaviour.items():
            print(f"{model:<14} " + " ".join(f"{rates[name]:12.0%}" for name in names))


if __name__ == "__main__":
    main()
