"""Drift of live or offline traffic against a model version's reference profile.

One module per check, each a pure function over scipy.stats returning a ``CheckResult``; ``drift_report``
runs them together with a multiple-testing correction and returns the ``DriftReport`` of DESIGN.md.
"""

from __future__ import annotations

from sentiment_mlops.monitoring.drift.reference import Reference, TextWindow, text_window
from sentiment_mlops.monitoring.drift.report import CHECKS, FAMILY_ALPHA, as_reference, drift_report
from sentiment_mlops.monitoring.drift.result import CheckResult, DriftReport, SkippedCheck

__all__ = [
    "CHECKS",
    "FAMILY_ALPHA",
    "CheckResult",
    "DriftReport",
    "Reference",
    "SkippedCheck",
    "TextWindow",
    "as_reference",
    "drift_report",
    "text_window",
]
