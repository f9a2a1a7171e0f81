"""The text-features check on small synthetic samples: Hotelling's T² adds up small shifts of several means."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from sentiment_mlops.monitoring.drift.text_features import FEATURES, feature_matrix, text_features_check

ALPHA = 0.002


def _sample(rng: np.random.Generator, size: int, shift: float = 0.0) -> np.ndarray:
    """Correlated features (an OOV rate that lowers the confidence), each mean moved by ``shift`` sds."""
    oov = rng.normal(0.1, 0.1, size)
    confidence = 0.7 - 0.5 * oov + rng.normal(0.0, 0.1, size)
    log_length = rng.normal(4.5, 0.5, size)
    sds = np.array([0.1, np.hypot(0.05, 0.1), 0.5])
    return np.column_stack([oov, confidence, log_length]) + shift * sds * np.array([1.0, -1.0, -1.0])


def test_the_p_value_is_hotellings_two_sample_f_test() -> None:
    rng = np.random.default_rng(0)
    reference, current = _sample(rng, 400), _sample(rng, 60, shift=0.2)
    n, m, p = len(current), len(reference), reference.shape[1]
    difference = current.mean(axis=0) - reference.mean(axis=0)
    pooled = ((n - 1) * np.cov(current, rowvar=False) + (m - 1) * np.cov(reference, rowvar=False)) / (n + m - 2)
    t2 = n * m / (n + m) * difference @ np.linalg.solve(pooled, difference)
    expected = stats.f.sf(t2 * (n + m - p - 1) / (p * (n + m - 2)), p, n + m - p - 1)
    result = text_features_check(reference, current, alpha=ALPHA)
    assert result.statistic == pytest.approx(t2)
    assert result.p_value == pytest.approx(expected)
    assert result.details["features"] == list(FEATURES)
    assert result.details["degrees_of_freedom"] == [3, n + m - p - 1]


def test_small_shifts_of_every_feature_add_up_to_drift() -> None:
    """Each mean moves 2.6 standard errors: not enough alone at the same alpha, far past it together."""
    rng = np.random.default_rng(1)
    reference = rng.normal(size=(6000, 3)) * [0.1, 0.1, 0.5] + [0.1, 0.7, 4.5]
    current = rng.normal(size=(300, 3))
    standard_error = np.sqrt(1 / 300 + 1 / 6000)
    current = (current - current.mean(axis=0) + [2.6, -2.6, -2.6] * np.full(3, standard_error)) * [0.1, 0.1, 0.5]
    current += reference.mean(axis=0)
    result = text_features_check(reference, current, alpha=ALPHA)
    assert result.drift
    shifts = result.details["shifts"]
    assert shifts[0] > 0 and shifts[1] < 0 and shifts[2] < 0
    for feature in range(3):
        alone = stats.ttest_ind(reference[:, feature], current[:, feature]).pvalue
        assert alone > ALPHA  # no single feature would have raised drift at the same alpha


def test_samples_of_one_distribution_rarely_drift() -> None:
    rng = np.random.default_rng(2)
    reference = _sample(rng, 3000)
    alarms = sum(text_features_check(reference, _sample(rng, 300), alpha=0.05).drift for _ in range(200))
    assert alarms <= 20  # 5% expected: 10 of 200


def test_a_constant_feature_and_a_single_text_do_not_break_it() -> None:
    reference = feature_matrix(np.zeros(50), np.linspace(0.4, 0.9, 50), np.full(50, 80))
    result = text_features_check(reference, reference[:1], alpha=ALPHA)
    assert result.details["degrees_of_freedom"][0] == 1
    assert not result.drift and 0.0 <= result.p_value <= 1.0
    assert text_features_check(reference[:1], reference[:1], alpha=ALPHA).p_value == 1.0
