"""How the feedback weight changes domain adaptation: ``benchmarks/loop.py``'s measurement, in process, for several
``--feedback-weight`` values in one run.

Per topic (tests/support/corpus_topics.py): the base model on every corpus row outside the topic, then the training
``train --with-feedback`` runs (``training.feedback.assemble_feedback`` + ``training.run.train``) with the topic's
first ``--feedback`` texts as trusted feedback, once per weight; macro-F1 on the rest of the topic and on the base
held-out split. No server, MLflow or gate: the texts and labels ``loop.py`` sends through ``/predict`` and
``/feedback`` are these, so its figures at weight 1 are the ones printed here (its gate column is not).

``--ceiling`` adds, per topic, what far more feedback could give: the topic's texts split 70/30 (stratified),
macro-F1 on the 30% of a version trained on the base rows alone, on the base rows plus the 70% (2.6-9 times
the 1,000 texts the loop labels), and on the 70% alone.

    python benchmarks/loop_weights.py [--topics apple,coachella] [--weights 1,2,3,5] [--feedback 1000] [--ceiling]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from sklearn.model_selection import train_test_split  # noqa: E402

from sentiment_mlops.data import load_dataset  # noqa: E402
from sentiment_mlops.registry import load_local  # noqa: E402
from sentiment_mlops.training.feedback import assemble_feedback  # noqa: E402
from sentiment_mlops.training.pipeline import DEFAULT_MODEL, build_pipeline  # noqa: E402
from sentiment_mlops.training.run import TrainOptions, train  # noqa: E402
from support.corpus_topics import TOPICS  # noqa: E402
from support.feedback import macro_f1, topic_split, write_csv  # noqa: E402

MIN_TOPIC_GAIN = 0.10
MAX_BASE_DROP = 0.01


def ceiling(corpus: Any, topic: str) -> str:
    """Macro-F1 on 30% of ``topic`` of versions trained on the base rows, on them plus the topic's other 70%, and on
    that 70% alone (see the module docstring)."""
    split = topic_split(corpus, topic, base_rows=None, feedback_rows=0, rest_rows=None)
    texts, labels = [text for text, _ in split.rest], [label for _, label in split.rest]
    x_train, x_test, y_train, y_test = train_test_split(texts, labels, test_size=0.3, stratify=labels, random_state=0)
    base_texts, base_labels = [text for text, _ in split.base], [label for _, label in split.base]
    test = list(zip(x_test, y_test, strict=True))
    scores = [macro_f1(build_pipeline(DEFAULT_MODEL).fit(x, y), test) for x, y in (
        (base_texts, base_labels), (base_texts + x_train, base_labels + y_train), (x_train, y_train))]
    return (f"{topic:<16} ceiling ({len(x_train):,} topic texts labelled, {len(x_test):,} scored): base rows only "
            f"{scores[0]:.3f}, base + topic {scores[1]:.3f} ({scores[1] - scores[0]:+.3f}), topic only {scores[2]:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--topics", default=",".join(TOPICS), help="comma-separated topics (default: all six)")
    parser.add_argument("--weights", default="1,2,3,5", help="comma-separated feedback weights")
    parser.add_argument("--feedback", type=int, default=1000, help="topic texts used as feedback per topic")
    parser.add_argument("--ceiling", action="store_true", help="also train with 70%% of each topic labelled")
    args = parser.parse_args()
    weights = [float(w) for w in args.weights.split(",")]
    corpus = load_dataset("builtin")
    print(f"{'topic':<16} {'weight':>6}  {'topic F1 before → after':>24}  {'base F1 before → after':>23}  bar",
          flush=True)
    met = dict.fromkeys(weights, 0)
    topics = args.topics.split(",")
    for topic in topics:
        split = topic_split(corpus, topic, base_rows=None, feedback_rows=args.feedback, rest_rows=None)
        rows = [{"prediction_id": str(i), "text": text, "label": label, "actor": "feedback-token"}
                for i, (text, label) in enumerate(split.feedback)]
        with tempfile.TemporaryDirectory(prefix="loop-weights-") as tmp:
            work = Path(tmp)
            base = load_dataset(write_csv(work / "base.csv", split.base))
            train(base, TrainOptions(register=False), models_dir=work / "models")
            before = load_local(work / "models").pipeline
            with (work / "models" / "heldout.jsonl").open(encoding="utf-8") as handle:
                heldout = [(row["text"], row["label"]) for row in map(json.loads, handle)]
            topic_before, base_before = macro_f1(before, split.rest), macro_f1(before, heldout)
            for weight in weights:
                feedback = assemble_feedback(rows, base_texts=base.texts, test_size=0.2, weight=weight,
                                             environment="production")
                train(base, TrainOptions(register=False), models_dir=work / f"models-{weight:g}", feedback=feedback)
                after = load_local(work / f"models-{weight:g}").pipeline
                topic_after, base_after = macro_f1(after, split.rest), macro_f1(after, heldout)
                gain, drop = topic_after - topic_before, base_before - base_after
                ok = gain >= MIN_TOPIC_GAIN and drop <= MAX_BASE_DROP
                met[weight] += ok
                print(f"{topic:<16} {weight:>6g}  {topic_before:.3f} → {topic_after:.3f} ({gain:+.3f})  "
                      f"{base_before:.3f} → {base_after:.3f} ({-drop:+.3f})  {'yes' if ok else 'no'}", flush=True)
        if args.ceiling:
            print(ceiling(corpus, topic), flush=True)
    for weight in weights:
        print(f"feedback weight {weight:g}: bar (topic macro-F1 +{MIN_TOPIC_GAIN:.2f}, base held-out "
              f"-{MAX_BASE_DROP:.2f} at most) met on {met[weight]} of {len(topics)} topics")


if __name__ == "__main__":
    main()
