"""Predicted label distribution: chi-square test of homogeneity against the reference, with PSI reported."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import stats

from sentiment_mlops.monitoring.drift.result import CheckResult

NAME = "prediction_distribution"
# PSI needs a share for every label; an empty label gets this floor instead of a division by zero.
PSI_FLOOR = 1e-4


def population_stability_index(reference_share: np.ndarray, current_share: np.ndarray) -> float:
    """PSI = sum((current - reference) * ln(current / reference)); 0.1 is commonly read as a moderate shift."""
    ref = np.clip(reference_share, PSI_FLOOR, None)
    cur = np.clip(current_share, PSI_FLOOR, None)
    return float(np.sum((cur - ref) * np.log(cur / ref)))


def prediction_distribution_check(reference_counts: np.ndarray, current_counts: np.ndarray, *,
                                  labels: Sequence[str], alpha: float) -> CheckResult:
    """Chi-square test that the current window's predicted labels follow the reference's proportions.

    A two-sample test of homogeneity (``chi2_contingency`` on the 2 x labels table), not a goodness of
    fit against fixed proportions: the reference counts are a sample too.
    """
    table = np.vstack([reference_counts, current_counts]).astype(np.float64)
    used = table.sum(axis=0) > 0
    if used.sum() < 2:
        statistic, p_value = 0.0, 1.0  # one label in both samples: nothing can differ
    else:
        result = stats.chi2_contingency(table[:, used], correction=False)
        statistic, p_value = float(result.statistic), float(result.pvalue)
    reference_share = table[0] / table[0].sum()
    current_share = table[1] / table[1].sum()
    return CheckResult(
        name=NAME,
        test="chi2",
        statistic=statistic,
        p_value=p_value,
        threshold=alpha,
        drift=p_value < alpha,
        details={
            "psi": round(population_stability_index(reference_share, current_share), 6),
            "reference_share": {label: round(float(s), 4) for label, s in zip(labels, reference_share, strict=True)},
            "current_share": {label: round(float(s), 4) for label, s in zip(labels, current_share, strict=True)},
        },
    )
