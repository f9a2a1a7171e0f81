"""How the feedback weight changes domain adaptation: ``benchmarks/loop.py``'s measurement, in process, for several
``--feedback-weight`` values in one run.

Per topic (tests/support/corpus_topics.py): the base model on every corpus row outside the topic, then the training
``train --with-feedback`` runs (``training.feedback.assemble_feedback`` + ``training.run.train``) with the topic's
first ``--feedback`` texts as trusted feedback, once per weight; macro-F1 on the rest of the topic and on the base
held-out split. No server, MLflow or gate: the texts and labels ``loop.py`` sends through ``/predict`` and
``/feedback`` are these, so its figures at weight 1 are the ones printed here (its gate column is not).

    python benchmarks/loop_weights.py [--topics apple,coachella] [--weights 1,2,3,5] [--feedback 1000]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from sentiment_mlops.data import load_dataset  # noqa: E402
from sentiment_mlops.registry import load_local  # noqa: E402
from sentiment_mlops.training.feedback import assemble_feedback  # noqa: E402
from sentiment_mlops.training.run import TrainOptions, train  # noqa: E402
from support.corpus_topics import TOPICS  # noqa: E402
from support.feedback import macro_f1, topic_split, write_csv  # noqa: E402

MIN_TOPIC_GAIN = 0.10
MAX_BASE_DROP = 0.01


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--topics", default=",".join(TOPICS), help="comma-separated topics (default: all six)")
    parser.add_argument("--weights", default="1,2,3,5", help="comma-separated feedback weights")
    parser.add_argument("--feedback", type=int, default=1000, help="topic texts used as feedback per topic")
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
    for weight in weights:
        print(f"feedback weight {weight:g}: bar (topic macro-F1 +{MIN_TOPIC_GAIN:.2f}, base held-out "
              f"-{MAX_BASE_DROP:.2f} at most) met on {met[weight]} of {len(topics)} topics")


if __name__ == "__main__":
    main()
