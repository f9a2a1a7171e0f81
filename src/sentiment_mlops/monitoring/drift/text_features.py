"""Text features together: do the window's texts differ from the reference in several small ways at once?

A new topic whose texts share no word (``new_terms`` and ``known_terms`` see nothing) still leaves traces
in every text: more tokens the model never saw, a less confident model, other lengths. When the topic is
a tenth of the window, each trace moves the window's mean by one or two standard errors, and each check
that looks at one of them alone (``oov_rate``, ``confidence``, ``text_length``) stays under its threshold.
Tested together they add up: Hotelling's two-sample T² compares the window's mean vector of per-text
features (OOV rate, confidence, log length) with the reference's, weighing each direction by the
features' pooled covariance. It is the test of the best linear classifier between window and reference
on those features (a domain classifier in closed form: no fitting, no permutations, microseconds).

Without drift, window and reference texts are independent draws from one distribution, and by the
central limit theorem the difference of their means is close to normal for windows of a few dozen
texts or more, so T² scaled to an F statistic has its textbook null. It needs only the per-text values
every reference profile has always stored, so profiles written before this check exist run it too.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from sentiment_mlops.monitoring.drift.result import CheckResult

NAME = "text_features"
FEATURES = ("oov_rate", "confidence", "log_length")
# Directions of the pooled covariance with less variance than this share of the largest are dropped (a
# feature constant in both samples, or two that move together exactly), so T² never divides by zero.
RANK_TOLERANCE = 1e-9


def feature_matrix(oov_rate: np.ndarray, confidence: np.ndarray, length: np.ndarray) -> np.ndarray:
    """Per-text features in the order of ``FEATURES`` (texts x features)."""
    return np.column_stack([np.asarray(oov_rate, dtype=np.float64), np.asarray(confidence, dtype=np.float64),
                            np.log1p(np.asarray(length, dtype=np.float64))])


def text_features_check(reference: np.ndarray, current: np.ndarray, *, alpha: float) -> CheckResult:
    """Hotelling's two-sample T² on the mean feature vectors (F test), drift when p < ``alpha``.

    ``reference`` and ``current`` are ``feature_matrix`` outputs (texts x features).
    """
    n, m = len(current), len(reference)
    difference = current.mean(axis=0) - reference.mean(axis=0)
    scatter = (reference - reference.mean(axis=0)).T @ (reference - reference.mean(axis=0))
    scatter += (current - current.mean(axis=0)).T @ (current - current.mean(axis=0))
    pooled = scatter / max(n + m - 2, 1)
    variances, directions = np.linalg.eigh(pooled)
    keep = variances > RANK_TOLERANCE * max(float(variances.max(initial=0.0)), 1e-300)
    rank = int(keep.sum())
    projected = directions[:, keep].T @ difference
    t2 = float(np.sum(projected ** 2 / variances[keep])) * n * m / (n + m)
    denominator_df = n + m - rank - 1
    if rank == 0 or denominator_df <= 0:
        statistic, p_value = 0.0, 1.0
    else:
        statistic = t2 * denominator_df / (rank * (n + m - 2))
        p_value = float(stats.f.sf(statistic, rank, denominator_df))
    spread = np.sqrt(np.maximum(np.diag(pooled), 0.0) * (1 / n + 1 / m))
    shifts = np.divide(difference, spread, out=np.zeros_like(difference), where=spread > 0)
    return CheckResult(
        name=NAME,
        test="hotelling_t2",
        statistic=t2,
        p_value=p_value,
        threshold=alpha,
        drift=p_value < alpha,
        details={
            "features": list(FEATURES),
            "reference_means": [round(float(v), 6) for v in reference.mean(axis=0)],
            "current_means": [round(float(v), 6) for v in current.mean(axis=0)],
            # Each feature's difference in standard errors: which traces moved, and which way.
            "shifts": [round(float(v), 3) for v in shifts],
            "degrees_of_freedom": [rank, max(denominator_df, 0)],
        },
    )
