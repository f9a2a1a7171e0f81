"""Text length: two-sample Kolmogorov-Smirnov test of the character length per text."""

from __future__ import annotations

import numpy as np
from scipy import stats

from sentiment_mlops.monitoring.drift.result import CheckResult

NAME = "text_length"


def text_length_check(reference: np.ndarray, current: np.ndarray, *, alpha: float) -> CheckResult:
    """KS test on the number of characters per text."""
    result = stats.ks_2samp(reference, current)
    p_value = float(result.pvalue)
    return CheckResult(
        name=NAME,
        test="ks",
        statistic=float(result.statistic),
        p_value=p_value,
        threshold=alpha,
        drift=p_value < alpha,
        details={"reference_median": float(np.median(reference)), "current_median": float(np.median(current))},
    )
