"""New terms: is a word the model has never seen in far more of the window's texts than the reference has?

A new topic (an event, a product, a hashtag) brings its own words, and at least one of them recurs in
most of the topic's texts: "coachella2015", "allergies", "driverless". Those words are outside the
model's vocabulary, so the vocabulary check cannot see them, and when the topic reaches only part of the
traffic they raise the window's out-of-vocabulary rates too little for the tail test to be sure. Without
drift, the words outside the vocabulary are rare (anything that recurs in the training data is in it).

Each unseen word is a 2 x 2 table: texts of the window and of the reference (the profile's held-out
texts) that contain it or not. Without drift the two are exchangeable samples, so given the word's total
the window's count is hypergeometric, and the one-sided test is Fisher's exact test. Texts are counted
once however often they repeat (a retweet burst of one text is one text). Thousands of words are tested
at once, but most are in one or two texts and can never reach a small p-value; Tarone's correction counts
only the words whose smallest possible p-value could pass, which keeps the family-wise guarantee of
Bonferroni with a far smaller divisor (R. E. Tarone, Biometrics 46:515-522, 1990).

A first version compared the window with windows resampled from the reference. That null ignores the
reference's own sampling noise, and for windows above a third of the reference's size it raised false
alarms several times more often than its threshold allowed; the exact conditional test has no such size.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from itertools import chain, repeat

import numpy as np
from scipy import stats

from sentiment_mlops.monitoring.drift.result import CheckResult

NAME = "new_terms"
TOP_WORDS = 5  # reported in the details: the unseen words that drift on their own, most significant first
# ``upper_tail_p_values`` bounds a p-value below by the probability of the count itself, both computed in
# floating point: the margin is far above their rounding, so a bound above the cut is never a p-value under it.
# Below ``_LOG_TINY`` p-values may round to 0 and tie whatever their bounds: those are always computed.
_LOG_BOUND_MARGIN = math.log1p(-1e-6)
_LOG_TINY = math.log(1e-300)


def tarone_divisor(log_min_p: np.ndarray, alpha: float) -> int:
    """Tarone's k: the smallest k such that at most k tests can reach a p-value of alpha / k."""
    if len(log_min_p) == 0:
        return 1
    ordered = np.sort(log_min_p)
    ks = np.arange(1, len(ordered) + 1)
    testable = np.searchsorted(ordered, np.log(alpha / ks), side="right")
    return int(ks[np.argmax(testable <= ks)])


def upper_tail_p_values(counts: np.ndarray, population: int, totals: np.ndarray, draws: int, *,
                        keep: int) -> np.ndarray:
    """Each word's one-sided p-value P(X >= count), X hypergeometric (``population``, ``totals``, ``draws``),
    as ``stats.hypergeom.sf`` gives it, for every word that can be among the ``keep`` smallest; ``inf`` for the
    words that cannot (so the first ``keep`` of a stable argsort are the same words, with the same values).

    ``hypergeom.sf`` sums its terms word by word, about 10 us a word and hundreds of testable words a window.
    It is called once per distinct (count, total) pair, and only for the pairs that can matter: a p-value is at
    least the probability of the count itself, which ``logpmf`` gives for all pairs at once. The ``keep`` pairs
    with the smallest such bounds are computed first, then every pair whose bound is not above the largest
    p-value found among them; any other pair's p-value is above that of at least ``keep`` words.
    """
    pairs, inverse = np.unique(np.stack([counts, totals]), axis=1, return_inverse=True)
    pair_counts, pair_totals = pairs
    pair_p = np.full(pair_counts.shape, np.inf)
    if len(pair_counts) <= keep:
        wanted = np.arange(len(pair_counts))
    else:
        log_bound = stats.hypergeom.logpmf(pair_counts, population, pair_totals, draws) + _LOG_BOUND_MARGIN
        by_bound = np.argsort(log_bound, kind="stable")
        first = by_bound[:keep]
        pair_p[first] = stats.hypergeom.sf(pair_counts[first] - 1, population, pair_totals[first], draws)
        cut = float(np.max(pair_p[first]))
        log_cut = max(math.log(cut), _LOG_TINY) if cut > 0 else _LOG_TINY
        wanted = by_bound[keep:][log_bound[by_bound[keep:]] <= log_cut]
    pair_p[wanted] = stats.hypergeom.sf(pair_counts[wanted] - 1, population, pair_totals[wanted], draws)
    return pair_p[inverse.reshape(-1)]


def word_excess_check(name: str, words: Sequence[str], in_window: np.ndarray, window_texts: int,
                      in_reference: np.ndarray, reference_texts: int, *, alpha: float) -> CheckResult:
    """Drift when some word is in significantly more window texts than reference texts (Fisher + Tarone).

    ``in_window`` and ``in_reference`` count, per word of ``words``, the distinct texts containing it out of
    ``window_texts`` and ``reference_texts``. Shared by this check and ``known_terms``.
    """
    total = in_window + in_reference
    population = window_texts + reference_texts
    # The smallest p-value a word can have: as many of its texts in the window as the window can hold. It depends
    # on the word's total only, and thousands of words share a few hundred totals.
    totals, of_total = np.unique(total, return_inverse=True)
    log_min_p = stats.hypergeom.logpmf(np.minimum(totals, window_texts), population, totals,
                                       window_texts)[of_total.reshape(-1)]
    divisor = tarone_divisor(log_min_p, alpha)
    testable = np.flatnonzero((log_min_p <= math.log(alpha / divisor)) & (in_window > 0))
    p_values = upper_tail_p_values(in_window[testable], population, total[testable], window_texts,
                                   keep=TOP_WORDS)
    order = np.argsort(p_values, kind="stable")[:TOP_WORDS]
    smallest = float(p_values[order[0]]) if len(order) else 1.0
    adjusted = min(1.0, smallest * divisor)
    # The words that drift on their own (adjusted p-value under alpha), most significant first.
    top = [{"word": words[testable[i]], "texts": int(in_window[testable[i]]),
            "reference_texts": int(in_reference[testable[i]]), "p_value": float(p_values[i]) * divisor}
           for i in order if float(p_values[i]) * divisor < alpha]
    most_common = int(in_window.max(initial=0))
    return CheckResult(
        name=name,
        test="fisher_tarone",
        statistic=(top[0]["texts"] if top else most_common) / max(window_texts, 1),
        p_value=adjusted,
        threshold=alpha,
        drift=adjusted < alpha,
        details={
            "distinct_texts": window_texts,
            "reference_texts": reference_texts,
            "words_in_window": int(np.count_nonzero(in_window)),
            "texts_with_most_common_word": most_common,
            "tests_counted": divisor,
            "top_words": top,
        },
    )


def new_terms_check(window_words: Mapping[str, int], window_texts: int, reference_words: Mapping[str, int],
                    reference_texts: int, *, alpha: float) -> CheckResult:
    """Drift when some unseen word is in significantly more window texts than reference texts.

    ``window_words`` and ``reference_words`` map each word outside the vocabulary to the number of distinct
    texts containing it, out of ``window_texts`` and ``reference_texts``.
    """
    # Every word of either counts in Tarone's correction, in any order; only the window's words can be tested
    # (a word in no window text has no excess), and they come first, sorted: ties listed the same way every run.
    # (The reference's words, thousands, are neither sorted nor looked up again for each window.)
    in_window_words = sorted(window_words)
    words = in_window_words + list(reference_words.keys() - window_words.keys())
    in_window = np.zeros(len(words), dtype=np.int64)
    in_window[:len(in_window_words)] = [window_words[word] for word in in_window_words]
    in_reference = np.fromiter(chain(map(reference_words.get, in_window_words, repeat(0)),
                                     map(reference_words.__getitem__, words[len(in_window_words):])),
                               dtype=np.int64, count=len(words))
    return word_excess_check(NAME, words, in_window, window_texts, in_reference, reference_texts, alpha=alpha)
