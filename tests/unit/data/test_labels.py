from __future__ import annotations

import pytest

from sentiment_mlops.data import normalise_labels
from sentiment_mlops.errors import DataError


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ([" Positive", "NEGATIVE ", "neutral"], ["positive", "negative", "neutral"]),
        (["pos", "Neg", " neu "], ["positive", "negative", "neutral"]),
        ([0, 1, 2], ["negative", "neutral", "positive"]),
        (["0", "1", "2"], ["negative", "neutral", "positive"]),
        ([-1, 0, 1], ["negative", "neutral", "positive"]),
        (["-1", "1"], ["negative", "positive"]),
        ([0, 1], ["negative", "positive"]),
        ([0.0, 2.0], ["negative", "positive"]),
        (["negative", "positive"], ["negative", "positive"]),
    ],
    ids=["case-whitespace", "short-words", "0-1-2", "0-1-2-strings", "signed", "signed-two-class",
         "binary", "floats", "two-class-words"],
)
def test_labels_are_normalised(raw, expected):
    assert normalise_labels(raw) == expected


@pytest.mark.parametrize("raw", [["good", "bad"], [0, 5], [1.5, 2], [True, False]])
def test_unknown_labels_are_refused_with_the_accepted_forms(raw):
    with pytest.raises(DataError, match="expected negative/neutral/positive"):
        normalise_labels(raw)
