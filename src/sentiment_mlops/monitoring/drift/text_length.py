"""Text length: two-sample Kolmogorov-Smirnov test of the character length per text."""

from __future__ import annotations

import numpy as np

from sentiment_mlops.monitoring.drift.ks import ks_check
from sentiment_mlops.monitoring.drift.result import CheckResult

NAME = "text_length"


def text_length_check(reference: np.ndarray, current: np.ndarray, *, alpha: float) -> CheckResult:
    """KS test on the number of characters per text."""
    return ks_check(NAME, reference, current, alpha=alpha,
                    details={"reference_median": float(np.median(reference)),
                             "current_median": float(np.median(current))})
