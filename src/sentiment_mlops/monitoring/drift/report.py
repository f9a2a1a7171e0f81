"""The drift report: every check over one window of traffic against one model version's reference profile.

Several checks run on the same window, so each is held to ``family_alpha / number of checks run``
(Bonferroni): the chance that a window without drift raises any alarm stays below ``family_alpha``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from sentiment_mlops.errors import DataError
from sentiment_mlops.monitoring.drift.confidence import confidence_check
from sentiment_mlops.monitoring.drift.drivers import DriftDriver, drift_drivers
from sentiment_mlops.monitoring.drift.known_terms import known_terms_check
from sentiment_mlops.monitoring.drift.new_terms import NAME as NEW_TERMS
from sentiment_mlops.monitoring.drift.new_terms import new_terms_check
from sentiment_mlops.monitoring.drift.oov_rate import oov_rate_check
from sentiment_mlops.monitoring.drift.prediction_distribution import prediction_distribution_check
from sentiment_mlops.monitoring.drift.reference import PROFILE_DECIMALS, Reference, text_window
from sentiment_mlops.monitoring.drift.result import CheckResult, DriftReport, SkippedCheck
from sentiment_mlops.monitoring.drift.text_features import feature_matrix, text_features_check
from sentiment_mlops.monitoring.drift.text_length import text_length_check
from sentiment_mlops.monitoring.drift.vocabulary import (
    VOCABULARY_RESAMPLES,
    calibration_size,
    vocabulary_check,
    vocabulary_null,
)

FAMILY_ALPHA = 0.01
CHECKS = ("prediction_distribution", "confidence", "text_length", "oov_rate", "vocabulary", "new_terms",
          "known_terms", "text_features")
TEXT_CHECKS = ("oov_rate", "vocabulary", "new_terms", "known_terms", "text_features")
NO_TEXT_REASON = "the texts were not logged (SENTIMENT_MLOPS_LOG_TEXT=false)"
OLD_PROFILE_REASON = ("the model version's reference profile predates this check (no per-text oov_terms); "
                      "retrain to get it")


def as_reference(profile: Mapping[str, Any] | Reference) -> Reference:
    """A ``Reference`` from a profile document, or the one given (reuse it across windows: it caches)."""
    return profile if isinstance(profile, Reference) else Reference.from_profile(profile)


def _label_counts(reference: Reference, predicted: Sequence[str]) -> np.ndarray:
    index = {label: i for i, label in enumerate(reference.labels)}
    unknown = sorted({str(p) for p in predicted if p not in index})
    if unknown:
        raise DataError(f"predicted labels {unknown} are not the model's labels {list(reference.labels)}")
    codes = np.fromiter((index[p] for p in predicted), dtype=np.int64, count=len(predicted))
    return np.bincount(codes, minlength=len(reference.labels))


def _validate(texts: Sequence[str] | None, predicted: Sequence[str], confidences: Sequence[float],
              lengths: Sequence[int] | None) -> int:
    size = len(predicted)
    if size == 0:
        raise DataError("the current window is empty: a drift report needs at least one prediction")
    if len(confidences) != size:
        raise DataError(f"got {size} predicted labels but {len(confidences)} confidences; they must pair up")
    if texts is not None and len(texts) != size:
        raise DataError(f"got {len(texts)} texts but {size} predicted labels; they must pair up")
    if texts is None and lengths is None:
        raise DataError("a drift report needs the texts or at least their lengths")
    if lengths is not None and len(lengths) != size:
        raise DataError(f"got {len(lengths)} text lengths but {size} predicted labels; they must pair up")
    return size


def drift_report(profile: Mapping[str, Any] | Reference, texts: Sequence[str] | None, predicted: Sequence[str],
                 confidences: Sequence[float], *, model_version: str, lengths: Sequence[int] | None = None,
                 family_alpha: float = FAMILY_ALPHA, resamples: int = VOCABULARY_RESAMPLES,
                 seed: int = 0) -> DriftReport:
    """Compare a window of predictions with the reference profile of the model version that made them.

    Parameters
    ----------
    profile:
        ``LoadedModel.profile`` (the ``reference_profile.json`` document) or a ``Reference`` built from it.
    texts:
        The window's texts, or None when they were not logged: then only the label, confidence and length
        checks run (``lengths`` must be given) and the report lists the others as skipped.
    predicted, confidences:
        The model's predicted label and top-class probability for each text, computed by the caller.
    """
    size = _validate(texts, predicted, confidences, lengths)
    reference = as_reference(profile)
    label_counts = _label_counts(reference, predicted)
    window = text_window(reference, texts) if texts is not None else None
    skipped: list[SkippedCheck] = []
    if window is None:
        skipped = [SkippedCheck(name, NO_TEXT_REASON) for name in TEXT_CHECKS]
    elif reference.unseen_words is None:
        skipped = [SkippedCheck(NEW_TERMS, OLD_PROFILE_REASON)]
    alpha = family_alpha / (len(CHECKS) - len(skipped))
    current_confidence = np.round(np.asarray(confidences, dtype=np.float64), PROFILE_DECIMALS)
    current_lengths = window.lengths if window is not None else np.asarray(lengths, dtype=np.float64)

    checks: list[CheckResult] = [
        prediction_distribution_check(reference.label_counts, label_counts, labels=reference.labels, alpha=alpha),
        confidence_check(reference.confidence, current_confidence, alpha=alpha),
        text_length_check(reference.length, current_lengths, alpha=alpha),
    ]
    if window is not None:
        checks.append(oov_rate_check(reference.oov_rate, window.oov_rate, alpha=alpha))
        key = ("vocabulary", calibration_size(size, reference.size), resamples, seed)
        null = reference.null_cache.get(key)
        if null is None:
            null = reference.null_cache[key] = vocabulary_null(reference.terms, size, resamples=resamples, seed=seed)
        checks.append(vocabulary_check(reference.term_counts, window.term_counts, null, alpha=alpha))
        if reference.unseen_words is not None:
            checks.append(new_terms_check(window.unseen_words, window.distinct_texts, reference.unseen_words,
                                          reference.size, alpha=alpha))
        checks.append(known_terms_check(reference.terms_in_order, window.known_texts, window.distinct_texts,
                                        reference.texts_per_term, reference.size, alpha=alpha))
        checks.append(text_features_check(reference.features, feature_matrix(window.oov_rate, current_confidence,
                                                                              window.lengths), alpha=alpha))
    drivers: list[DriftDriver] = []
    if window is not None and texts is not None:
        drivers = drift_drivers(list(texts), window.oov_rate, checks, reference.tokenizer)
    return DriftReport(
        model_version=str(model_version),
        reference_size=reference.size,
        current_size=size,
        checks=checks,
        family_alpha=family_alpha,
        skipped=skipped,
        drivers=drivers,
    )
