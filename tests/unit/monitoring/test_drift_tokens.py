"""The batch tokenizer of the drift report gives exactly what data.text_stats gives, text by text."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from sentiment_mlops.data.text_stats import DEFAULT_TOKEN_PATTERN, make_tokenizer, text_stats
from sentiment_mlops.monitoring.drift.tokens import SEPARATOR, WindowTokens, batch_text_stats

ODD_TEXTS = [
    "", "  ", "a b c", "Café CRÈME brûlée", "e\u0301te\u0301 de\u0301ja\u0300",  # already decomposed
    "ﬁne ｆｕｌｌｗｉｄｔｈ", "ℚℚ𝐐𝐐", "naïve_user_42 x", "line\nbreak\u2028sep", SEPARATOR, SEPARATOR.lower(),
    "𝐐𝐐𝐃𝐑𝐈𝐅𝐓𝐒𝐄𝐏𝐀𝐑𝐀𝐓𝐎𝐑𝐐𝐐 spelled in bold capitals",
]


def _expected(texts: list[str], vocabulary: dict[str, int], tokenizer: dict) -> WindowTokens:
    """The same statistics computed text by text, the obvious way."""
    stats = text_stats(texts, vocabulary, make_tokenizer(**tokenizer))
    flat = np.fromiter((i for ids in stats.term_ids for i in ids), dtype=np.int64)
    unseen = {text: set(terms) for text, terms in zip(texts, stats.oov_terms, strict=True)}  # distinct texts
    per_word = Counter(word for words in unseen.values() for word in words)
    known = {text: set(ids) for text, ids in zip(texts, stats.term_ids, strict=True)}
    per_term = np.fromiter((term for ids in known.values() for term in ids), dtype=np.int64)
    return WindowTokens(oov_rates=stats.oov_rates,
                        term_counts=np.bincount(flat, minlength=len(vocabulary)).astype(float),
                        distinct_texts=len(unseen), unseen_words=dict(per_word),
                        known_texts=np.bincount(per_term, minlength=len(vocabulary)))


def _assert_same(got: WindowTokens, expected: WindowTokens) -> None:
    assert np.array_equal(got.oov_rates, expected.oov_rates)
    assert np.array_equal(got.term_counts, expected.term_counts)
    assert got.distinct_texts == expected.distinct_texts
    assert got.unseen_words == expected.unseen_words
    assert np.array_equal(got.known_texts, expected.known_texts)


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
    texts = corpus + ODD_TEXTS + corpus[:50]  # the repeated texts count once for the unseen words
    got = batch_text_stats(texts, vocabulary, tokenizer)
    _assert_same(got, _expected(texts, vocabulary, tokenizer))
    assert got.distinct_texts < len(texts) and sum(n >= 2 for n in got.unseen_words.values()) > 10


def test_a_text_that_becomes_the_separator_falls_back(vocabulary: dict[str, int]) -> None:
    tokenizer = {"lowercase": True, "strip_accents": "unicode", "token_pattern": DEFAULT_TOKEN_PATTERN}
    texts = ["good flight", ODD_TEXTS[-1], "bad"]  # bold capitals decompose to the ASCII separator
    got = batch_text_stats(texts, vocabulary, tokenizer)
    _assert_same(got, _expected(texts, vocabulary, tokenizer))
    assert got.oov_rates[1] > 0  # the separator-like word is an unknown token of that text


def test_arrays_and_series_of_texts_work_like_lists(vocabulary: dict[str, int]) -> None:
    import pandas as pd

    tokenizer = {"lowercase": True, "strip_accents": "unicode", "token_pattern": DEFAULT_TOKEN_PATTERN}
    texts = ["good flight", "Café crème", "bad gate agent"]
    expected = _expected(texts, vocabulary, tokenizer)
    _assert_same(batch_text_stats(np.array(texts, dtype=object), vocabulary, tokenizer), expected)
    _assert_same(batch_text_stats(pd.Series(texts, index=[10, 20, 30]), vocabulary, tokenizer), expected)
