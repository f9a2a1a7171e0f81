"""Drift over logged predictions: the last N of one environment's current model version, from the store.

``logged_drift_report`` is what ``sentiment-mlops monitor`` prints, and what the alert loop calls each
interval (pass the same ``Reference`` every time: it caches the vocabulary check's calibration).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sentiment_mlops.errors import DataError
from sentiment_mlops.monitoring.drift.reference import Reference
from sentiment_mlops.monitoring.drift.report import as_reference, drift_report
from sentiment_mlops.monitoring.drift.result import DriftReport

DEFAULT_WINDOW = 1000


class PredictionLog(Protocol):
    """The part of ``store.PredictionStore`` this module reads."""

    def recent_columns(self, columns: Sequence[str], *, environment: str | None = None,
                       model_version: str | None = None, limit: int | None = 1000,
                       since: datetime | None = None) -> Mapping[str, Sequence[Any]]: ...


# Only what the checks read: decoding timestamps and probability maps would double the read time.
WINDOW_COLUMNS = ("text", "sentiment", "confidence", "text_length")


@dataclass(frozen=True)
class LoggedWindow:
    """The columns of a window of logged predictions that drift checks use."""

    texts: list[str] | None  # None unless every row kept its text
    predicted: list[str]
    confidences: list[float]
    lengths: list[int]
    missing_texts: int


def window_from_columns(columns: Mapping[str, Sequence[Any]]) -> LoggedWindow:
    """The window from a columnar read (``PredictionStore.recent_columns`` of ``WINDOW_COLUMNS``); the texts
    only when every row has one (a partial window would bias them)."""
    texts = list(columns["text"])
    missing = texts.count(None)
    return LoggedWindow(
        texts=None if missing else [str(text) for text in texts],
        predicted=[str(label) for label in columns["sentiment"]],
        confidences=[float(confidence) for confidence in columns["confidence"]],
        lengths=[int(length) for length in columns["text_length"]],
        missing_texts=missing,
    )


def window_from_rows(rows: Sequence[Mapping[str, Any]]) -> LoggedWindow:
    """``window_from_columns`` for store rows (``PredictionStore.recent_predictions``)."""
    return window_from_columns({"text": [row.get("text") for row in rows],
                                **{name: [row[name] for row in rows] for name in WINDOW_COLUMNS if name != "text"}})


def logged_drift_report(store: PredictionLog, profile: Mapping[str, Any] | Reference, *, environment: str,
                        model_version: str, window: int = DEFAULT_WINDOW) -> DriftReport:
    """Drift of the last ``window`` predictions ``model_version`` made in ``environment``.

    When the texts were not logged (``SENTIMENT_MLOPS_LOG_TEXT=false``) only the label, confidence and
    length checks run, and the report lists the OOV and vocabulary checks as skipped.
    """
    if window < 1:
        raise DataError(f"--window must be at least 1 prediction, got {window}")
    columns = store.recent_columns(WINDOW_COLUMNS, environment=environment, model_version=str(model_version),
                                   limit=window)
    if not columns["sentiment"]:
        raise DataError(
            f"no logged predictions of model version {model_version} in environment {environment!r}; "
            "send traffic to the server first (or check --env)"
        )
    logged = window_from_columns(columns)
    return drift_report(as_reference(profile), logged.texts, logged.predicted, logged.confidences,
                        model_version=str(model_version), lengths=logged.lengths)
