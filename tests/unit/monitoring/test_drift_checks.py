"""Each drift check on tiny inline data: the verdict flips when, and only when, the data differ."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import sparse
from scipy.spatial.distance import jensenshannon
from scipy.stats import fisher_exact, hypergeom

from sentiment_mlops.monitoring.drift.confidence import confidence_check
from sentiment_mlops.monitoring.drift.new_terms import new_terms_check, tarone_divisor, upper_tail_p_values
from sentiment_mlops.monitoring.drift.oov_rate import oov_rate_check
from sentiment_mlops.monitoring.drift.prediction_distribution import (
    population_stability_index,
    prediction_distribution_check,
)
from sentiment_mlops.monitoring.drift.result import CheckResult
from sentiment_mlops.monitoring.drift.text_length import text_length_check
from sentiment_mlops.monitoring.drift.vocabulary import (
    calibration_size,
    jensen_shannon_distance,
    vocabulary_check,
    vocabulary_null,
)

LABELS = ("negative", "neutral", "positive")
ALPHA = 0.002


def test_same_label_proportions_do_not_drift() -> None:
    result = prediction_distribution_check(np.array([500, 300, 200]), np.array([50, 30, 20]), labels=LABELS,
                                           alpha=ALPHA)
    assert result.p_value == pytest.approx(1.0)
    assert not result.drift
    assert result.details["psi"] == pytest.approx(0.0)
    assert result.details["current_share"] == {"negative": 0.5, "neutral": 0.3, "positive": 0.2}


def test_shifted_label_proportions_drift_and_psi_grows() -> None:
    result = prediction_distribution_check(np.array([500, 300, 200]), np.array([10, 20, 70]), labels=LABELS,
                                           alpha=ALPHA)
    assert result.drift and result.p_value < 1e-10
    assert result.test == "chi2" and result.threshold == ALPHA
    assert result.details["psi"] > 0.25


def test_a_label_missing_from_both_samples_is_ignored() -> None:
    result = prediction_distribution_check(np.array([60, 40, 0]), np.array([6, 4, 0]), labels=LABELS, alpha=ALPHA)
    assert not result.drift and result.p_value == pytest.approx(1.0)
    only_one = prediction_distribution_check(np.array([0, 10, 0]), np.array([0, 3, 0]), labels=LABELS, alpha=ALPHA)
    assert only_one.p_value == 1.0 and only_one.statistic == 0.0


def test_psi_is_zero_for_equal_shares_and_positive_otherwise() -> None:
    shares = np.array([0.5, 0.3, 0.2])
    assert population_stability_index(shares, shares) == 0.0
    assert population_stability_index(shares, np.array([0.2, 0.3, 0.5])) == pytest.approx(
        0.3 * np.log(0.5 / 0.2) * 2)
    assert np.isfinite(population_stability_index(shares, np.array([1.0, 0.0, 0.0])))


@pytest.mark.parametrize("check", [confidence_check, text_length_check])
def test_ks_checks_follow_the_distribution(check: object) -> None:
    rng = np.random.default_rng(0)
    reference = rng.uniform(0.4, 1.0, 5000)
    same = check(reference, rng.uniform(0.4, 1.0, 500), alpha=ALPHA)  # type: ignore[operator]
    shifted = check(reference, rng.uniform(0.34, 0.94, 500), alpha=ALPHA)  # type: ignore[operator]
    assert isinstance(same, CheckResult) and same.test == "ks"
    assert not same.drift and same.p_value > ALPHA
    assert shifted.drift and shifted.statistic > same.statistic


def _oov_rates(rng: np.random.Generator, n: int, high_share: float) -> np.ndarray:
    rates = rng.choice([0.0, 0.1, 0.2], size=n)
    high = rng.random(n) < high_share
    rates[high] = rng.choice([0.5, 0.6, 1.0], size=int(high.sum()))
    return rates


def test_oov_check_counts_texts_above_the_reference_tail() -> None:
    rng = np.random.default_rng(1)
    reference = _oov_rates(rng, 5000, 0.04)
    same = oov_rate_check(reference, _oov_rates(rng, 300, 0.04), alpha=ALPHA)
    partly_new = oov_rate_check(reference, _oov_rates(rng, 300, 0.15), alpha=ALPHA)
    assert same.test == "fisher_tail" and not same.drift
    assert partly_new.drift
    assert partly_new.details["oov_cutoff"] == 0.2  # the reference's 95th percentile
    assert 0.1 < partly_new.statistic < 0.25


def test_oov_check_survives_a_reference_without_any_unknown_token() -> None:
    result = oov_rate_check(np.zeros(1000), np.array([0.0] * 99 + [0.5]), alpha=ALPHA)
    assert result.details["reference_share_above"] == 0.0
    assert not result.drift  # one odd text in a hundred is no drift
    assert oov_rate_check(np.zeros(1000), np.full(100, 0.5), alpha=ALPHA).drift


def test_js_distance_matches_scipy() -> None:
    rng = np.random.default_rng(2)
    current = rng.integers(0, 3, 50).astype(float)
    reference = rng.integers(0, 20, 50).astype(float)
    reference[:5] = 0
    current[5:10] = 0
    expected = jensenshannon(current / current.sum(), reference / reference.sum(), base=2)
    assert jensen_shannon_distance(current, reference) == pytest.approx(expected, abs=1e-12)
    assert jensen_shannon_distance(reference, reference) == pytest.approx(0.0, abs=1e-7)
    assert jensen_shannon_distance(np.zeros(50), reference) == 1.0


def test_vocabulary_null_is_the_distance_of_held_out_windows() -> None:
    rng = np.random.default_rng(3)
    terms = sparse.csr_matrix(rng.poisson(0.3, size=(40, 12)).astype(float))
    null = vocabulary_null(terms, 10, resamples=50, seed=7)
    assert len(null) == 50 and np.all(np.diff(null) >= 0)
    # Recompute one window by hand with the same random ranking.
    picks = np.argpartition(np.random.default_rng(7).random((50, 40)), 9, axis=1)[:, :10]
    window = np.asarray(terms[picks[0]].sum(axis=0)).ravel()
    rest = np.asarray(terms.sum(axis=0)).ravel() - window
    expected = jensenshannon(window / window.sum(), rest / rest.sum(), base=2)
    assert np.any(np.isclose(null, expected, atol=1e-9))
    # Same seed, same calibration: monitoring a steady stream gives steady thresholds.
    assert np.array_equal(null, vocabulary_null(terms, 10, resamples=50, seed=7))


def test_calibration_windows_are_capped_at_half_the_reference() -> None:
    assert calibration_size(300, 7000) == 300
    assert calibration_size(100_000, 7000) == 3500
    assert calibration_size(5, 1) == 1


def test_vocabulary_check_threshold_is_a_gaussian_quantile_of_the_null() -> None:
    null = np.random.default_rng(4).normal(0.4, 0.01, 500)
    reference = np.array([10.0, 10.0, 10.0, 10.0])
    same = vocabulary_check(reference, np.array([1.0, 1.0, 1.0, 1.0]), null, alpha=0.01)
    shifted = vocabulary_check(reference, np.array([9.0, 0.0, 0.0, 1.0]), null, alpha=0.01)
    assert same.threshold == pytest.approx(np.mean(null) + 2.3263 * np.std(null, ddof=1), abs=1e-4)
    assert same.threshold == pytest.approx(np.quantile(null, 0.99), abs=0.003)
    assert not same.drift and same.p_value == pytest.approx(1.0)
    assert shifted.drift and shifted.statistic > shifted.threshold
    assert shifted.p_value < 1e-10


def test_check_results_serialise_without_nan() -> None:
    result = CheckResult(name="x", test="ks", statistic=float("nan"), p_value=None, threshold=0.01, drift=False)
    assert result.to_dict() == {"name": "x", "test": "ks", "statistic": None, "p_value": None, "threshold": 0.01,
                                "drift": False, "details": {}}


def test_new_terms_p_value_is_fishers_exact_test_for_the_most_significant_word() -> None:
    """coachella2015 in 15 of 300 window texts and 0 of 6,700 reference texts; filler words everywhere."""
    window = {"coachella2015": 15, "festival": 6, "gate": 3, "lol": 2}
    reference = {"gate": 60, "lol": 40, **{f"rare{i}": 1 for i in range(3000)}}
    check = new_terms_check(window, 300, reference, 6700, alpha=ALPHA)
    table = [[15, 300 - 15], [0, 6700]]
    fisher = fisher_exact(table, alternative="greater").pvalue
    divisor = check.details["tests_counted"]
    assert check.p_value == pytest.approx(min(1.0, fisher * divisor), rel=1e-9)
    assert check.drift and check.details["top_words"][0] == {
        "word": "coachella2015", "texts": 15, "reference_texts": 0, "p_value": pytest.approx(fisher * divisor)}
    # Only the words that drift on their own are named: "festival" (6 vs 0) does, "gate" (3 vs 60) does not.
    assert [w["word"] for w in check.details["top_words"]] == ["coachella2015", "festival"]
    assert check.statistic == pytest.approx(15 / 300)
    # Words in one text can never reach a small p-value: Tarone leaves them out of the divisor.
    assert divisor < 10


def test_new_terms_without_a_shift_do_not_drift() -> None:
    """The same rates in the window as in the reference: nothing is significant."""
    reference = {"gate": 200, "delay": 100, **{f"rare{i}": 1 for i in range(2000)}}
    window = {"gate": 9, "delay": 4, **{f"other{i}": 1 for i in range(80)}}
    check = new_terms_check(window, 300, reference, 6700, alpha=ALPHA)
    assert not check.drift and check.p_value > 0.5
    empty = new_terms_check({}, 300, reference, 6700, alpha=ALPHA)
    assert empty.p_value == 1.0 and empty.statistic == 0.0 and empty.details["top_words"] == []


def test_tarone_divisor_counts_only_tests_that_could_pass() -> None:
    log_min_p = np.log(np.array([1e-9, 1e-6, 0.01, 0.2, 0.5, 0.9]))
    # k = 1: three tests can reach 0.01 (more than 1); k = 2: two can reach 0.005 (not more than 2).
    assert tarone_divisor(log_min_p, 0.01) == 2
    assert tarone_divisor(np.log(np.full(50, 1e-9)), 0.01) == 50  # all testable: Bonferroni
    assert tarone_divisor(np.array([]), 0.01) == 1


@pytest.mark.parametrize("seed", range(4))
def test_the_smallest_upper_tail_p_values_are_hypergeom_sf_in_the_same_order(seed: int) -> None:
    """Computed once per (count, total) and only where they can be among the smallest: the first of a stable
    argsort are the same words with the same values as ``hypergeom.sf`` on every word (ties included)."""
    rng = np.random.default_rng(seed)
    window, reference = 300, 6700
    counts = rng.integers(1, 4, 800) * rng.integers(1, 3, 800)
    counts[rng.integers(0, 800, 3)] = [40, 25, 25]  # a few words that drift, two of them tied
    totals = counts + rng.integers(0, 30, 800) * rng.integers(0, 2, 800)
    expected = hypergeom.sf(counts - 1, window + reference, totals, window)
    got = upper_tail_p_values(counts, window + reference, totals, window, keep=5)
    first = np.argsort(expected, kind="stable")[:5]
    assert np.array_equal(np.argsort(got, kind="stable")[:5], first)
    assert np.array_equal(got[first], expected[first])
    computed = np.isfinite(got)
    assert np.array_equal(got[computed], expected[computed]) and (expected[~computed] > expected[first].max()).all()


def test_words_in_more_texts_than_the_window_holds_count_at_their_attainable_minimum() -> None:
    """A 1-text window: a word in 2 reference texts can have at most 1 window text, not all of its 3."""
    window = {"x": 1, "r0": 1}
    reference = {f"r{i}": 2 for i in range(3000)}
    check = new_terms_check(window, 1, reference, 6700, alpha=0.01 / 6)
    # Only 6 words (those of the window, and ties) can reach a small enough p-value; not 3,000.
    assert check.details["tests_counted"] < 10
    assert check.drift


def test_tied_words_are_listed_in_the_same_order_every_time() -> None:
    check = new_terms_check({"gamma": 20, "alpha": 20, "beta": 20}, 300, {}, 6700, alpha=ALPHA)
    assert [w["word"] for w in check.details["top_words"]] == ["alpha", "beta", "gamma"]
