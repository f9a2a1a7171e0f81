"""The batch tokenizer of the drift report gives exactly what data.text_stats gives, text by text."""

from __future__ import annotations

import numpy as np
import pytest

from sentiment_mlops.data.text_stats import DEFAULT_TOKEN_PATTERN, make_tokenizer, text_stats
from sentiment_mlops.monitoring.drift.tokens import SEPARATOR, batch_text_stats

ODD_TEXTS = [
    "", "  ", "a b c", "Café CRÈME brûlée", "e\u0301te\u0301 de\u0301ja\u0300",  # already decomposed
    "ﬁne ｆｕｌｌｗｉｄｔｈ", "ℚℚ𝐐𝐐", "naïve_user_42 x", "line\nbreak\u2028sep", SEPARATOR, SEPARATOR.lower(),
    "𝐐𝐐𝐃𝐑𝐈𝐅𝐓𝐒𝐄𝐏𝐀𝐑𝐀𝐓𝐎𝐑𝐐𝐐 spelled in bold capitals",
]


def _expected(texts: list[str], vocabulary: dict[str, int], tokenizer: dict) -> tuple[np.ndarray, np.ndarray]:
    stats = text_stats(texts, vocabulary, make_tokenizer(**tokenizer))
    flat = np.fromiter((i for ids in stats.term_ids for i in ids), dtype=np.int64)
    return stats.oov_rates, np.bincount(flat, minlength=len(vocabulary)).astype(float)


@pytest.fixture(scope="module")
def corpus() -> list[str]:
    from sentiment_mlops.data import load_dataset

    return load_dataset().texts[::4]


@pytest.fixture(scope="module")
def vocabulary(corpus: list[str]) -> dict[str, int]:
    from sklearn.feature_extraction.text import CountVectorizer

    terms = CountVectorizer(min_df=3, strip_accents="unicode").fit(corpus[::2]).vocabulary_
    return {term: i for i, term in enumerate(sorted(terms) + ["cafe", "creme", "ete", "deja", "fine"])}


@pytest.mark.parametrize("tokenizer", [
    {"lowercase": True, "strip_accents": "unicode", "token_pattern": DEFAULT_TOKEN_PATTERN},
    {"lowercase": True, "strip_accents": "ascii", "token_pattern": DEFAULT_TOKEN_PATTERN},
    {"lowercase": True, "strip_accents": None, "token_pattern": DEFAULT_TOKEN_PATTERN},
    {"lowercase": True, "strip_accents": "unicode", "token_pattern": r"(?u)\b\w+\b"},
    {"lowercase": False, "strip_accents": "unicode", "token_pattern": DEFAULT_TOKEN_PATTERN},
])
def test_batch_stats_equal_text_stats(corpus: list[str], vocabulary: dict[str, int], tokenizer: dict) -> None:
    texts = corpus + ODD_TEXTS
    oov, counts = batch_text_stats(texts, vocabulary, tokenizer)
    expected_oov, expected_counts = _expected(texts, vocabulary, tokenizer)
    assert np.array_equal(oov, expected_oov)
    assert np.array_equal(counts, expected_counts)


def test_a_text_that_becomes_the_separator_falls_back(vocabulary: dict[str, int]) -> None:
    tokenizer = {"lowercase": True, "strip_accents": "unicode", "token_pattern": DEFAULT_TOKEN_PATTERN}
    texts = ["good flight", ODD_TEXTS[-1], "bad"]  # bold capitals decompose to the ASCII separator
    oov, counts = batch_text_stats(texts, vocabulary, tokenizer)
    expected_oov, expected_counts = _expected(texts, vocabulary, tokenizer)
    assert np.array_equal(oov, expected_oov) and np.array_equal(counts, expected_counts)
    assert oov[1] > 0  # the separator-like word is an unknown token of that text
