"""Confidence: two-sample Kolmogorov-Smirnov test of the top-class probability against the reference."""

from __future__ import annotations

import numpy as np

from sentiment_mlops.monitoring.drift.ks import ks_check
from sentiment_mlops.monitoring.drift.result import CheckResult

NAME = "confidence"


def confidence_check(reference: np.ndarray, current: np.ndarray, *, alpha: float) -> CheckResult:
    """KS test on the model's confidence (max class probability) per text."""
    return ks_check(NAME, reference, current, alpha=alpha,
                    details={"reference_mean": round(float(np.mean(reference)), 4),
                             "current_mean": round(float(np.mean(current)), 4)})
