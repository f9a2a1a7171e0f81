"""Per-text statistics shared by the reference profile (training) and drift checks (monitoring)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

DEFAULT_TOKEN_PATTERN = r"(?u)\b\w\w+\b"


def make_tokenizer(*, lowercase: bool = True, strip_accents: str | None = "unicode",
                   token_pattern: str = DEFAULT_TOKEN_PATTERN) -> Callable[[str], list[str]]:
    """Unigram tokenizer that matches scikit-learn's ``TfidfVectorizer`` preprocessing."""
    pattern = re.compile(token_pattern)

    def tokenize(text: str) -> list[str]:
        if lowercase:
            text = text.lower()
        if strip_accents == "unicode":
            decomposed = unicodedata.normalize("NFKD", text)
            if decomposed != text:
                text = "".join(c for c in decomposed if not unicodedata.combining(c))
        elif strip_accents == "ascii":
            text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
        return pattern.findall(text)

    return tokenize


@dataclass(frozen=True)
class TextStats:
    """Lengths, out-of-vocabulary rates, vocabulary term ids and out-of-vocabulary terms of a batch of texts."""

    lengths: np.ndarray
    oov_rates: np.ndarray
    term_ids: list[list[int]]
    oov_terms: list[list[str]]  # per text, the distinct tokens outside the vocabulary, sorted


def text_stats(texts: Sequence[str], vocabulary: Mapping[str, int],
               tokenize: Callable[[str], list[str]]) -> TextStats:
    """Per text: character length, share of tokens outside ``vocabulary`` (0 for no tokens), term ids,
    and the distinct tokens outside ``vocabulary``."""
    lengths = np.fromiter((len(t) for t in texts), dtype=np.int64, count=len(texts))
    oov = np.zeros(len(texts), dtype=np.float64)
    ids: list[list[int]] = []
    unknown: list[list[str]] = []
    for i, text in enumerate(texts):
        tokens = tokenize(text)
        known = [vocabulary[tok] for tok in tokens if tok in vocabulary]
        if tokens:
            oov[i] = 1.0 - len(known) / len(tokens)
        ids.append(known)
        unknown.append(sorted({tok for tok in tokens if tok not in vocabulary}))
    return TextStats(lengths=lengths, oov_rates=oov, term_ids=ids, oov_terms=unknown)
