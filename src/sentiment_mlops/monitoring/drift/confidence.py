"""Confidence: two-sample Kolmogorov-Smirnov test of the top-class probability against the reference."""

from __future__ import annotations

import numpy as np
from scipy import stats

from sentiment_mlops.monitoring.drift.result import CheckResult

NAME = "confidence"


def confidence_check(reference: np.ndarray, current: np.ndarray, *, alpha: float) -> CheckResult:
    """KS test on the model's confidence (max class probability) per text."""
    result = stats.ks_2samp(reference, current)
    p_value = float(result.pvalue)
    return CheckResult(
        name=NAME,
        test="ks",
        statistic=float(result.statistic),
        p_value=p_value,
        threshold=alpha,
        drift=p_value < alpha,
        details={"reference_mean": round(float(np.mean(reference)), 4),
                 "current_mean": round(float(np.mean(current)), 4)},
    )
