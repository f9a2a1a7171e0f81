"""The typed results of the drift checks and of a whole drift report (the JSON of DESIGN.md)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sentiment_mlops.monitoring.drift.drivers import DriftDriver


def _finite(value: float | None) -> float | None:
    """JSON has no NaN or infinity; a statistic scipy could not compute is reported as null."""
    if value is None or not math.isfinite(value):
        return None
    return float(value)


@dataclass(frozen=True)
class CheckResult:
    """One check: its test, statistic, p-value (None for a distance), threshold and verdict.

    The direction is the same for every check: ``drift`` is True when the current window differs from
    the reference. For a test, ``drift`` means ``p_value < threshold``; for a distance, it means
    ``statistic > threshold`` (a threshold calibrated for the window's size).
    """

    name: str
    test: str
    statistic: float
    p_value: float | None
    threshold: float
    drift: bool
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "test": self.test,
            "statistic": _finite(self.statistic),
            "p_value": _finite(self.p_value),
            "threshold": _finite(self.threshold),
            "drift": self.drift,
            "details": self.details,
        }


@dataclass(frozen=True)
class SkippedCheck:
    """A check the report could not run, and why (e.g. the prediction log holds no texts)."""

    name: str
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "reason": self.reason}


@dataclass(frozen=True)
class DriftReport:
    """Every check over one window of current traffic against one model version's reference profile."""

    model_version: str
    reference_size: int
    current_size: int
    checks: list[CheckResult]
    family_alpha: float
    correction: str = "bonferroni"
    skipped: list[SkippedCheck] = field(default_factory=list)
    # The window's texts furthest from the reference (drivers.py); none when the texts were not logged.
    drivers: list[DriftDriver] = field(default_factory=list)

    @property
    def drift_detected(self) -> bool:
        return any(check.drift for check in self.checks)

    @property
    def drifted_checks(self) -> list[str]:
        return [check.name for check in self.checks if check.drift]

    def check(self, name: str) -> CheckResult:
        """The result of the check called ``name`` (KeyError if it was not run)."""
        for result in self.checks:
            if result.name == name:
                return result
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "drift_detected": self.drift_detected,
            "model_version": self.model_version,
            "reference_size": self.reference_size,
            "current_size": self.current_size,
            "family_alpha": self.family_alpha,
            "correction": self.correction,
            "checks": [check.to_dict() for check in self.checks],
            "skipped_checks": [skip.to_dict() for skip in self.skipped],
            "drivers": [driver.to_dict() for driver in self.drivers],
        }
