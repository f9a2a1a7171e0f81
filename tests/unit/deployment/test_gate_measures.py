"""The gate's smoke test, latency measure and evaluation-set readers, on a real fitted pipeline."""

from __future__ import annotations

import json

import numpy as np
import pytest

from sentiment_mlops.deployment.gate import heldout_eval_set, p99_latency_ms, read_eval_set, smoke_test
from sentiment_mlops.errors import DataError

TEXTS = ["great flight, thank you", "awful delay again", "the gate is B12", "love the crew", "lost my bag",
         "boarding now", "best airline ever", "worst service", "flight 22 lands at 5"] * 3
LABELS = ["positive", "negative", "neutral"] * 9


@pytest.fixture(scope="module")
def pipeline():
    from sentiment_mlops.training.pipeline import build_pipeline

    return build_pipeline("mnb", {"min_df": 1}).fit(TEXTS, LABELS)


def test_smoke_test_passes_a_real_pipeline(pipeline):
    ok, detail = smoke_test(pipeline.predict_proba, [str(c) for c in pipeline.classes_])
    assert ok, detail


def test_smoke_test_fails_a_model_that_raises_or_returns_nonsense(pipeline):
    classes = [str(c) for c in pipeline.classes_]

    def raises(texts):
        raise ValueError("vocabulary missing")

    ok, detail = smoke_test(raises, classes)
    assert not ok and "ValueError: vocabulary missing" in detail
    ok, detail = smoke_test(lambda texts: np.full((len(texts), 3), np.nan), classes)
    assert not ok and "NaN" in detail
    ok, detail = smoke_test(lambda texts: np.ones((len(texts), 3)), classes)
    assert not ok and "sum to 1" in detail
    ok, detail = smoke_test(lambda texts: np.ones((len(texts), 2)) / 2, classes)
    assert not ok and "shape" in detail


def test_p99_latency_is_a_positive_number_of_milliseconds(pipeline):
    value = p99_latency_ms(pipeline.predict_proba, calls=20, rounds=2)
    assert 0 < value < 1000


def test_eval_set_reads_label_or_sentiment_columns(tmp_path):
    rows = [(f"{text} {i}", label) for i, (text, label) in enumerate(zip(TEXTS, LABELS, strict=True))]
    jsonl = tmp_path / "eval.jsonl"
    jsonl.write_text("\n".join(json.dumps({"text": t, "label": lab}) for t, lab in rows))
    csv = tmp_path / "eval.csv"
    csv.write_text("text,sentiment\n" + "\n".join(f'"{t}",{lab}' for t, lab in rows))
    assert len(read_eval_set(jsonl).texts) == len(rows)
    assert read_eval_set(csv).labels[:3] == ["positive", "negative", "neutral"]
    bad = tmp_path / "bad.csv"
    bad.write_text("text,stars\nhello,5\n")
    with pytest.raises(DataError, match="'sentiment' or 'label' column"):
        read_eval_set(bad)
    few = tmp_path / "few.jsonl"
    few.write_text('{"text": "a", "label": "positive"}\n{"text": "b", "label": "negative"}\n')
    with pytest.raises(DataError, match="at least 5 rows"):
        read_eval_set(few)


def test_heldout_split_is_read_as_written(tmp_path):
    path = tmp_path / "heldout.jsonl"
    path.write_text('{"text": "a", "label": "positive"}\n{"text": "a", "label": "negative"}\n\n')
    assert heldout_eval_set(path, "3").labels == ["positive", "negative"]
    path.write_text("")
    with pytest.raises(DataError, match="has no rows"):
        heldout_eval_set(path, "3")
