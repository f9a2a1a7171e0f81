"""The reference profile of a model version as arrays, ready for checks, and the current window's text stats.

A profile (``training/profile.py``, written as ``reference_profile.json``) keeps per-text values of the
held-out split. Converting its lists to arrays and its term ids to a sparse matrix costs time, so a
``Reference`` is built once per model version and reused for every window (``monitor --watch``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
from scipy import sparse

from sentiment_mlops.errors import DataError
from sentiment_mlops.monitoring.drift.text_features import feature_matrix
from sentiment_mlops.monitoring.drift.tokens import batch_text_stats

# The profile stores confidences and OOV rates rounded to 6 decimals; the current window is rounded the
# same way, or a two-sample test would see 1/3 and 0.333333 as different values and report drift.
PROFILE_DECIMALS = 6
_REQUIRED_PER_TEXT = ("predicted", "confidence", "length", "oov_rate", "term_ids")


def _term_matrix(term_ids: Sequence[Sequence[int]], n_terms: int) -> sparse.csr_matrix:
    """Per-text term counts as a sparse matrix (texts x vocabulary)."""
    lengths = np.fromiter((len(ids) for ids in term_ids), dtype=np.int64, count=len(term_ids))
    indptr = np.concatenate([[0], np.cumsum(lengths)])
    indices = np.fromiter((i for ids in term_ids for i in ids), dtype=np.int64, count=int(indptr[-1]))
    data = np.ones(len(indices), dtype=np.float64)
    matrix = sparse.csr_matrix((data, indices, indptr), shape=(len(term_ids), n_terms))
    matrix.sum_duplicates()
    return matrix


@dataclass(frozen=True, eq=False)
class Reference:
    """Per-text arrays of a reference profile plus the tokenizer and vocabulary that produced them."""

    labels: tuple[str, ...]
    predicted: np.ndarray  # label index per text
    confidence: np.ndarray
    length: np.ndarray
    oov_rate: np.ndarray
    terms: sparse.csr_matrix  # texts x vocabulary, counts
    vocabulary: dict[str, int]
    tokenizer: dict[str, Any]
    # The new-terms check's view of the reference: per word outside the vocabulary, the texts containing
    # it; None for a profile written before that check existed.
    unseen_words: dict[str, int] | None = None
    # Null distributions of distance checks, keyed by (check, calibration size, resamples, seed).
    null_cache: dict[tuple[Any, ...], np.ndarray] = field(default_factory=dict, repr=False)

    @property
    def size(self) -> int:
        return len(self.predicted)

    @property
    def label_counts(self) -> np.ndarray:
        return np.bincount(self.predicted, minlength=len(self.labels))

    @property
    def term_counts(self) -> np.ndarray:
        return np.asarray(self.terms.sum(axis=0)).ravel()

    @cached_property
    def texts_per_term(self) -> np.ndarray:
        """Per vocabulary id, the reference texts containing it (the matrix's duplicates are summed)."""
        return np.bincount(self.terms.indices, minlength=self.terms.shape[1])

    @cached_property
    def features(self) -> np.ndarray:
        """Per-text features of the text-features check (``text_features.FEATURES``)."""
        return feature_matrix(self.oov_rate, self.confidence, self.length)

    @cached_property
    def terms_in_order(self) -> list[str]:
        """The vocabulary's terms by id."""
        return sorted(self.vocabulary, key=self.vocabulary.__getitem__)

    @classmethod
    def from_profile(cls, profile: Mapping[str, Any]) -> Reference:
        """Validate a ``reference_profile.json`` document and convert it to arrays."""
        per_text = profile.get("per_text")
        if not isinstance(per_text, Mapping) or any(key not in per_text for key in _REQUIRED_PER_TEXT):
            raise DataError(
                "the reference profile has no per-text values (predicted, confidence, length, oov_rate, "
                "term_ids); it was written by an older version: retrain with: sentiment-mlops train"
            )
        labels = tuple(str(label) for label in profile.get("labels", []))
        index = {label: i for i, label in enumerate(labels)}
        unknown = sorted({p for p in per_text["predicted"] if p not in index})
        if unknown:
            raise DataError(f"the reference profile predicts labels {unknown} outside its labels {list(labels)}")
        vocabulary = {str(term): i for i, term in enumerate(profile.get("vocabulary", []))}
        size = len(per_text["predicted"])
        if size == 0 or any(len(per_text[key]) != size for key in _REQUIRED_PER_TEXT):
            raise DataError("the reference profile is empty or its per-text lists have different lengths")
        unseen_words = None
        oov_terms = per_text.get("oov_terms")
        if oov_terms is not None:
            if len(oov_terms) != size:
                raise DataError("the reference profile's oov_terms do not pair up with its texts")
            unseen_words = dict(Counter(str(word) for words in oov_terms for word in set(words)))
        return cls(
            labels=labels,
            predicted=np.fromiter((index[p] for p in per_text["predicted"]), dtype=np.int64, count=size),
            confidence=np.asarray(per_text["confidence"], dtype=np.float64),
            length=np.asarray(per_text["length"], dtype=np.float64),
            oov_rate=np.asarray(per_text["oov_rate"], dtype=np.float64),
            terms=_term_matrix(per_text["term_ids"], len(vocabulary)),
            vocabulary=vocabulary,
            tokenizer=dict(profile.get("tokenizer") or {}),
            unseen_words=unseen_words,
        )


@dataclass(frozen=True)
class TextWindow:
    """What the text checks need from the current window: per-text OOV rates and vocabulary term counts."""

    lengths: np.ndarray
    oov_rate: np.ndarray
    term_counts: np.ndarray  # summed over the window, one entry per vocabulary term
    # Counted over distinct texts: how many, and per word outside the vocabulary, how many contain it.
    distinct_texts: int
    unseen_words: dict[str, int]
    known_texts: np.ndarray  # per vocabulary id, the distinct texts containing it


def text_window(reference: Reference, texts: Sequence[str]) -> TextWindow:
    """Tokenize ``texts`` exactly as the reference was (same tokenizer settings and vocabulary)."""
    tokens = batch_text_stats(texts, reference.vocabulary, reference.tokenizer)
    return TextWindow(
        lengths=np.fromiter(map(len, texts), dtype=np.float64, count=len(texts)),
        oov_rate=np.round(tokens.oov_rates, PROFILE_DECIMALS),
        term_counts=tokens.term_counts,
        distinct_texts=tokens.distinct_texts,
        unseen_words=tokens.unseen_words,
        known_texts=tokens.known_texts,
    )
