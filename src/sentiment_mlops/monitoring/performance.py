"""Live accuracy and macro-F1 per model version from feedback, and the label-free estimate beside them.

The estimate is the CBPE idea: if confidences are calibrated, the expected accuracy of a window is the mean
of its top-class confidences. Training stores a confidence map in the reference profile when the held-out
ECE is high (``sentiment_mlops.calibration``); the estimate applies it. The functions over rows are pure;
``live_performance`` is the one thin read of the store.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Protocol

import numpy as np

from sentiment_mlops.calibration import ConfidenceCalibration
from sentiment_mlops.data.labels import LABELS

DEFAULT_WINDOW = timedelta(hours=1)


class PerformanceSource(Protocol):
    """The two reads of ``store.PredictionStore`` this module needs."""

    def feedback_pairs(self, *, environment: str | None = None, model_version: str | None = None,
                       since: datetime | None = None, limit: int | None = None) -> list[dict[str, Any]]: ...

    def recent_predictions(self, *, environment: str | None = None, model_version: str | None = None,
                           limit: int = 1000, since: datetime | None = None) -> list[dict[str, Any]]: ...


@dataclass(frozen=True)
class WindowPerformance:
    """What one model version did in one time window: actual metrics where labelled, the estimate always."""

    model_version: str
    window_start: datetime | None
    window_end: datetime | None
    predictions: int
    labelled: int
    accuracy: float | None
    macro_f1: float | None
    estimated_accuracy: float | None

    @property
    def estimate_error(self) -> float | None:
        """estimated - actual accuracy (positive: the estimate was optimistic)."""
        if self.accuracy is None or self.estimated_accuracy is None:
            return None
        return self.estimated_accuracy - self.accuracy

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("window_start", "window_end"):
            data[key] = data[key].isoformat() if data[key] is not None else None
        data["estimate_error"] = self.estimate_error
        return data


def as_utc(moment: datetime) -> datetime:
    """Stores hand back naive datetimes from SQLite and aware ones from PostgreSQL; both mean UTC."""
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


def accuracy_and_macro_f1(predicted: Sequence[str], actual: Sequence[str]) -> tuple[float, float]:
    """Accuracy and macro-F1 over the labels that occur in either list (a 2-label window scores 2 labels)."""
    from sklearn.metrics import f1_score

    if len(predicted) != len(actual):
        raise ValueError(f"predicted and actual differ in length: {len(predicted)} vs {len(actual)}")
    if not predicted:
        raise ValueError("accuracy needs at least one labelled prediction, got none")
    hits = np.asarray(predicted) == np.asarray(actual)
    labels = [label for label in LABELS if label in set(predicted) | set(actual)]
    labels += sorted((set(predicted) | set(actual)) - set(labels))
    macro = f1_score(list(actual), list(predicted), labels=labels, average="macro", zero_division=0)
    return float(hits.mean()), float(macro)


def estimated_accuracy(confidences: Sequence[float] | np.ndarray,
                       calibration: ConfidenceCalibration | None = None) -> float | None:
    """Expected accuracy of a window from its top-class confidences (None for an empty window)."""
    conf = np.asarray(confidences, dtype=float)
    if conf.size == 0:
        return None
    mapped = calibration.apply(conf) if calibration is not None else conf
    return float(mapped.mean())


def profile_calibration(profile: Mapping[str, Any] | None) -> ConfidenceCalibration:
    """The confidence map a training run stored in its reference profile (identity when absent)."""
    return ConfidenceCalibration.from_dict((profile or {}).get("calibration"))


def reference_estimate(profile: Mapping[str, Any] | None) -> float | None:
    """The estimate on the held-out split itself: what a window without any shift should score."""
    if not profile:
        return None
    confidences = (profile.get("per_text") or {}).get("confidence") or []
    return estimated_accuracy(confidences, profile_calibration(profile))


def summarise_window(model_version: str, predictions: Sequence[Mapping[str, Any]],
                     pairs: Sequence[Mapping[str, Any]], *, calibration: ConfidenceCalibration | None = None,
                     start: datetime | None = None, end: datetime | None = None) -> WindowPerformance:
    """Metrics of one version over one window: ``predictions`` are logged rows, ``pairs`` feedback pairs."""
    accuracy = macro = None
    if pairs:
        accuracy, macro = accuracy_and_macro_f1([p["predicted"] for p in pairs], [p["label"] for p in pairs])
    return WindowPerformance(
        model_version=str(model_version), window_start=start, window_end=end, predictions=len(predictions),
        labelled=len(pairs), accuracy=accuracy, macro_f1=macro,
        estimated_accuracy=estimated_accuracy([float(p["confidence"]) for p in predictions], calibration),
    )


def _bucket(moment: datetime, window: timedelta) -> datetime:
    seconds = window.total_seconds()
    stamp = as_utc(moment).timestamp()
    return datetime.fromtimestamp(stamp - stamp % seconds, tz=timezone.utc)


def performance_windows(predictions: Iterable[Mapping[str, Any]], pairs: Iterable[Mapping[str, Any]], *,
                        window: timedelta = DEFAULT_WINDOW,
                        calibrations: Mapping[str, ConfidenceCalibration] | None = None
                        ) -> list[WindowPerformance]:
    """Group logged predictions and feedback pairs by model version and time window (oldest first).

    A feedback pair falls in the window of the prediction it labels (its ``created_at``), however late
    the label arrived.
    """
    if window.total_seconds() <= 0:
        raise ValueError(f"window must be positive, got {window}")
    calibrations = calibrations or {}
    groups: dict[tuple[str, datetime], tuple[list[Mapping[str, Any]], list[Mapping[str, Any]]]] = {}
    for row in predictions:
        key = (str(row["model_version"]), _bucket(row["created_at"], window))
        groups.setdefault(key, ([], []))[0].append(row)
    for pair in pairs:
        key = (str(pair["model_version"]), _bucket(pair["created_at"], window))
        groups.setdefault(key, ([], []))[1].append(pair)
    return [
        summarise_window(version, rows, labelled, calibration=calibrations.get(version), start=start,
                         end=start + window)
        for (version, start), (rows, labelled) in sorted(groups.items(), key=lambda item: (item[0][1], item[0][0]))
    ]


def live_performance(store: PerformanceSource, *, environment: str | None, model_version: str,
                     since: datetime | None = None, calibration: ConfidenceCalibration | None = None,
                     limit: int = 100_000) -> WindowPerformance:
    """Live accuracy, macro-F1 and the estimate of one version since ``since`` (thin read of the store)."""
    predictions = store.recent_predictions(environment=environment, model_version=model_version, since=since,
                                           limit=limit)
    pairs = store.feedback_pairs(environment=environment, model_version=model_version, since=since)
    return summarise_window(model_version, predictions, pairs, calibration=calibration, start=since,
                            end=datetime.now(timezone.utc))
