"""The two-sample Kolmogorov-Smirnov check shared by the per-text numeric checks."""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import stats

from sentiment_mlops.monitoring.drift.result import CheckResult


def ks_check(name: str, reference: np.ndarray, current: np.ndarray, *, alpha: float,
             details: dict[str, Any]) -> CheckResult:
    """Drift when the two samples' distributions differ at level ``alpha``."""
    result = stats.ks_2samp(reference, current)
    p_value = float(result.pvalue)
    return CheckResult(name=name, test="ks", statistic=float(result.statistic), p_value=p_value,
                       threshold=alpha, drift=p_value < alpha, details=details)
