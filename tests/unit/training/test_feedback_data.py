"""Feedback rows as training data: what is kept, what is dropped and why, the split by digest, the errors."""

from __future__ import annotations

import pytest

from sentiment_mlops.errors import ConfigurationError, DataError
from sentiment_mlops.training.feedback import assemble_feedback, held_out


def _rows(count: int, *, actor: str = "feedback-token", prefix: str = "tweet") -> list[dict[str, object]]:
    labels = ("negative", "neutral", "positive")
    return [{"prediction_id": f"{prefix}{i}", "text": f"{prefix} number {i}", "label": labels[i % 3],
             "actor": actor} for i in range(count)]


def test_keeps_token_labels_drops_open_ones_missing_texts_repeats_and_base_rows():
    rows = _rows(60)
    rows += [{"prediction_id": "x", "text": "open label", "label": "positive", "actor": "anonymous"},
             {"prediction_id": "y", "text": None, "label": "positive", "actor": "feedback-token"},
             {"prediction_id": "z", "text": "tweet number 1", "label": "negative", "actor": "admin-token"}]
    data = assemble_feedback(rows, base_texts=["tweet number 2", "unrelated"], test_size=0.25, weight=2.0,
                             environment="production")
    assert (data.untrusted, data.without_text, data.duplicate, data.duplicate_of_base) == (1, 1, 1, 1)
    assert data.rows_used == 59
    # The newest label of a repeated text wins; the base data's rows are not added twice.
    texts = dict(zip(data.train_texts + data.test_texts, data.train_labels + data.test_labels, strict=True))
    assert texts["tweet number 1"] == "negative" and "tweet number 2" not in texts
    record = data.record()
    assert record["rows"] == 59 and record["weight"] == 2.0 and len(record["fingerprint"]) == 64


def test_the_split_is_by_text_so_every_run_holds_out_the_same_rows():
    first = assemble_feedback(_rows(200), base_texts=[], test_size=0.2)
    later = assemble_feedback(_rows(300), base_texts=[], test_size=0.2)  # more labels arrived since
    assert set(first.test_texts) <= set(later.test_texts)
    assert not set(later.train_texts) & set(first.test_texts)
    assert 20 < len(first.test_texts) < 60
    assert all(held_out(text, 0.2) for text in first.test_texts)


def test_a_different_row_set_has_a_different_fingerprint():
    assert assemble_feedback(_rows(50), base_texts=[], test_size=0.2).fingerprint != \
        assemble_feedback(_rows(51), base_texts=[], test_size=0.2).fingerprint


@pytest.mark.parametrize(("rows", "message"), [
    ([], "no labelled feedback for production in the prediction store"),
    ([{"prediction_id": "a", "text": None, "label": "positive", "actor": "feedback-token"}] * 3,
     "SENTIMENT_MLOPS_LOG_TEXT=true"),
    (_rows(5), "only 5 usable feedback rows"),
    (_rows(40, actor="anonymous"), "40 not given with a token"),
])
def test_unusable_feedback_is_one_clear_error(rows, message):
    with pytest.raises(DataError, match=message.replace("(", r"\(")):
        assemble_feedback(rows, base_texts=[], test_size=0.2, environment="production")


def test_weight_must_be_positive():
    with pytest.raises(ConfigurationError, match="--feedback-weight must be above 0, got 0"):
        assemble_feedback(_rows(40), base_texts=[], test_size=0.2, weight=0)
