"""Known terms: is a word the model knows in far more of the window's texts than the reference has?

A new topic does not always bring one new word that recurs in most of its texts (the ``new_terms``
check). Tweets about airlines with the airlines' names taken out still say "flight" in a third of them,
news about driverless cars says "cars": words the model knows, rare in the reference, common in the
topic. The vocabulary check weighs every term of the vocabulary at once and dilutes such a word among
thousands; this check tests each of the model's single-word terms as ``new_terms`` tests unseen words
(Fisher's exact test on distinct texts, Tarone's correction: ``new_terms.word_excess_check``).

Measured with benchmarks/drift_topics.py --spread (the left-out topic's selecting keywords removed from
its texts), windows of 300 with 10% from the topic: airline 20% -> 80% of windows, driverless cars 25% ->
100%, no false alarm added (README, "Monitoring").
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from sentiment_mlops.monitoring.drift.new_terms import word_excess_check
from sentiment_mlops.monitoring.drift.result import CheckResult

NAME = "known_terms"


def known_terms_check(vocabulary: Sequence[str], window_texts_per_term: np.ndarray, window_texts: int,
                      reference_texts_per_term: np.ndarray, reference_texts: int, *, alpha: float) -> CheckResult:
    """Drift when some vocabulary term is in significantly more window texts than reference texts.

    The two arrays count, per term of ``vocabulary`` (the profile's single-word terms, in its order), the
    distinct texts containing it, out of ``window_texts`` and ``reference_texts``.
    """
    used = np.flatnonzero((window_texts_per_term + reference_texts_per_term) > 0)
    words = [vocabulary[i] for i in used.tolist()]
    return word_excess_check(NAME, words, window_texts_per_term[used].astype(np.int64), window_texts,
                             reference_texts_per_term[used].astype(np.int64), reference_texts, alpha=alpha)
