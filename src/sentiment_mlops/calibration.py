"""How far a model's confidence can be trusted as a probability of being right, and a mapping that fixes it.

Shared by training (which measures the expected calibration error on the held-out split and stores the
mapping in the reference profile) and monitoring (which turns live confidences into a label-free accuracy
estimate with it, the CBPE idea). It imports nothing from the package, so both layers may use it.

The mapping is post-hoc and separate from the pipeline: an isotonic fit of "was the prediction right"
on the top-class confidence. The served probabilities stay exactly those of ``Pipeline(tfidf, clf)``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

ECE_BINS = 15
# Above this the raw confidences misstate the chance of being right by more than 5 points on average,
# which would bias a label-free accuracy estimate by about as much: calibrate.
ECE_THRESHOLD = 0.05
CALIBRATION_FOLDS = 5
# An isotonic fit on fewer rows than this follows noise; keep the raw confidences instead.
MIN_CALIBRATION_ROWS = 200


def expected_calibration_error(confidences: Sequence[float] | np.ndarray, correct: Sequence[bool] | np.ndarray,
                               bins: int = ECE_BINS) -> float:
    """Mean |accuracy - confidence| over equal-width confidence bins, weighted by the rows in each bin.

    >>> round(expected_calibration_error([0.9, 0.9, 0.6, 0.6], [True, True, True, False]), 3)
    0.1
    """
    conf = np.asarray(confidences, dtype=float)
    hits = np.asarray(correct, dtype=float)
    if conf.shape != hits.shape:
        raise ValueError(f"confidences and correct differ in length: {conf.shape} vs {hits.shape}")
    if conf.size == 0:
        raise ValueError("expected_calibration_error needs at least one prediction, got none")
    # np.digitize on the inner edges puts 1.0 in the last bin and 0.0 in the first.
    which = np.digitize(conf, np.linspace(0.0, 1.0, bins + 1)[1:-1], right=True)
    total = 0.0
    for b in np.unique(which):
        in_bin = which == b
        total += in_bin.sum() * abs(hits[in_bin].mean() - conf[in_bin].mean())
    return float(total / conf.size)


@dataclass(frozen=True)
class ConfidenceCalibration:
    """A monotone map from top-class confidence to the probability that the prediction is right."""

    x: list[float] = field(default_factory=list)
    y: list[float] = field(default_factory=list)
    ece: float | None = None
    ece_calibrated: float | None = None
    applied: bool = False
    bins: int = ECE_BINS
    rows: int = 0

    def apply(self, confidences: Sequence[float] | np.ndarray) -> np.ndarray:
        """Calibrated confidences; the raw ones when the mapping is not applied."""
        conf = np.asarray(confidences, dtype=float)
        if not self.applied or not self.x:
            return conf
        return np.interp(conf, self.x, self.y)

    def summary(self) -> str:
        """One line for the terminal: the ECE and what was done about it."""
        if self.ece is None:
            return "calibration: not measured"
        head = f"calibration: ECE {self.ece:.4f} on {self.rows:,} held-out rows ({self.bins} bins)"
        if self.applied:
            return (f"{head} > {ECE_THRESHOLD}: isotonic confidence map stored in the profile "
                    f"(cross-fitted ECE {self.ece_calibrated:.4f}); the served probabilities are unchanged")
        if self.rows < MIN_CALIBRATION_ROWS and self.ece > ECE_THRESHOLD:
            return f"{head}: high, but too few rows to calibrate (need {MIN_CALIBRATION_ROWS})"
        return f"{head} ≤ {ECE_THRESHOLD}: confidences used as they are"

    def to_dict(self) -> dict[str, Any]:
        return {"method": "isotonic", "x": self.x, "y": self.y, "ece": self.ece,
                "ece_calibrated": self.ece_calibrated, "applied": self.applied, "bins": self.bins,
                "rows": self.rows}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> ConfidenceCalibration:
        """Read the ``calibration`` entry of a reference profile; an absent entry means identity."""
        if not data:
            return cls()
        return cls(x=[float(v) for v in data.get("x", [])], y=[float(v) for v in data.get("y", [])],
                   ece=data.get("ece"), ece_calibrated=data.get("ece_calibrated"),
                   applied=bool(data.get("applied", False)), bins=int(data.get("bins", ECE_BINS)),
                   rows=int(data.get("rows", 0)))


def _isotonic(conf: np.ndarray, hits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.isotonic import IsotonicRegression

    model = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(conf, hits)
    return np.asarray(model.X_thresholds_, dtype=float), np.asarray(model.y_thresholds_, dtype=float)


def _cross_fitted(conf: np.ndarray, hits: np.ndarray, folds: int, seed: int) -> np.ndarray:
    """Each row calibrated by a map fitted without it, so the ECE after calibration is not flattered."""
    from sklearn.model_selection import KFold

    out = np.empty_like(conf)
    for fit_rows, held_rows in KFold(folds, shuffle=True, random_state=seed).split(conf):
        x, y = _isotonic(conf[fit_rows], hits[fit_rows])
        out[held_rows] = np.interp(conf[held_rows], x, y)
    return out


def fit_confidence_calibration(confidences: Sequence[float] | np.ndarray, correct: Sequence[bool] | np.ndarray,
                               *, threshold: float = ECE_THRESHOLD, bins: int = ECE_BINS,
                               folds: int = CALIBRATION_FOLDS, seed: int = 42) -> ConfidenceCalibration:
    """Measure the ECE of held-out predictions and, when it exceeds ``threshold``, fit an isotonic map.

    ``ece_calibrated`` is measured by cross-fitting over ``folds`` folds of the same rows; the stored map is
    then refitted on all of them.
    """
    conf = np.asarray(confidences, dtype=float)
    hits = np.asarray(correct, dtype=float)
    ece = expected_calibration_error(conf, hits, bins)
    if ece <= threshold or conf.size < MIN_CALIBRATION_ROWS:
        return ConfidenceCalibration(ece=round(ece, 6), ece_calibrated=round(ece, 6), applied=False,
                                     bins=bins, rows=int(conf.size))
    calibrated_ece = expected_calibration_error(_cross_fitted(conf, hits, folds, seed), hits, bins)
    x, y = _isotonic(conf, hits)
    return ConfidenceCalibration(x=[round(float(v), 6) for v in x], y=[round(float(v), 6) for v in y],
                                 ece=round(ece, 6), ece_calibrated=round(calibrated_ece, 6), applied=True,
                                 bins=bins, rows=int(conf.size))
