"""Live accuracy / macro-F1 per version and window, and the label-free estimate on real corpus slices."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from sentiment_mlops.calibration import ConfidenceCalibration
from sentiment_mlops.monitoring.performance import (
    accuracy_and_macro_f1,
    as_utc,
    estimated_accuracy,
    performance_windows,
    profile_calibration,
    reference_estimate,
    summarise_window,
)
from support.alerts import AIRLINE_PATTERN

T0 = datetime(2026, 3, 1, 10, 0, tzinfo=timezone.utc)


def pair(predicted, label, version="1", at=T0, confidence=0.8):
    return {"predicted": predicted, "label": label, "model_version": version, "created_at": at,
            "confidence": confidence}


def test_accuracy_and_macro_f1_match_scikit_learn():
    from sklearn.metrics import f1_score

    predicted = ["positive", "negative", "neutral", "negative", "positive"]
    actual = ["positive", "neutral", "neutral", "negative", "negative"]
    accuracy, macro = accuracy_and_macro_f1(predicted, actual)
    assert accuracy == pytest.approx(0.6)
    assert macro == pytest.approx(f1_score(actual, predicted, average="macro"))
    with pytest.raises(ValueError, match="at least one"):
        accuracy_and_macro_f1([], [])
    with pytest.raises(ValueError, match="differ in length"):
        accuracy_and_macro_f1(["positive"], [])


def test_windows_group_by_version_and_time_and_place_late_labels_with_their_prediction():
    preds = [{"model_version": "1", "created_at": T0 + timedelta(minutes=m), "confidence": 0.9} for m in (1, 2)]
    preds += [{"model_version": "2", "created_at": T0 + timedelta(minutes=70), "confidence": 0.6}]
    pairs = [pair("positive", "positive", at=T0 + timedelta(minutes=1)),
             pair("negative", "positive", at=T0 + timedelta(minutes=2)),
             pair("neutral", "neutral", version="2", at=T0 + timedelta(minutes=70))]
    windows = performance_windows(preds, pairs, window=timedelta(hours=1))
    assert [(w.model_version, w.window_start, w.predictions, w.labelled) for w in windows] == [
        ("1", T0, 2, 2), ("2", T0 + timedelta(hours=1), 1, 1)]
    first, second = windows
    assert first.accuracy == 0.5 and first.estimated_accuracy == pytest.approx(0.9)
    assert first.estimate_error == pytest.approx(0.4)
    assert second.accuracy == 1.0 and second.to_dict()["window_start"] == (T0 + timedelta(hours=1)).isoformat()
    with pytest.raises(ValueError, match="positive"):
        performance_windows([], [], window=timedelta(0))


def test_estimate_uses_the_profile_map_and_handles_empty_windows():
    calibration = ConfidenceCalibration(x=[0.0, 1.0], y=[0.0, 0.5], applied=True)
    profile = {"calibration": calibration.to_dict(), "per_text": {"confidence": [0.8, 0.6]}}
    assert profile_calibration(profile) == calibration
    assert reference_estimate(profile) == pytest.approx(0.35)
    assert reference_estimate(None) is None
    assert estimated_accuracy([], calibration) is None
    window = summarise_window("3", [{"confidence": 1.0}], [], calibration=calibration)
    assert window.accuracy is None and window.estimated_accuracy == pytest.approx(0.5)
    assert as_utc(datetime(2026, 1, 1)).tzinfo is timezone.utc


def test_estimate_tracks_accuracy_in_distribution_and_flags_a_shifted_topic(corpus):
    """Train without airline tweets: in distribution the estimate is within 3 points of the truth; on
    airline windows real accuracy falls, and the calibrated estimate falls with it, closer than raw."""
    from sklearn.model_selection import train_test_split

    from sentiment_mlops.calibration import fit_confidence_calibration
    from sentiment_mlops.training.pipeline import build_pipeline

    is_airline = np.array([bool(AIRLINE_PATTERN.search(t)) for t in corpus.texts])
    texts, labels = np.array(corpus.texts, dtype=object), np.array(corpus.labels)
    kept = np.flatnonzero(~is_airline)
    rng = np.random.default_rng(5)
    kept = rng.choice(kept, 9000, replace=False)
    x_train, x_test, y_train, y_test = train_test_split(list(texts[kept]), list(labels[kept]), test_size=0.3,
                                                        random_state=0, stratify=list(labels[kept]))
    pipeline = build_pipeline().fit(x_train, y_train)
    held = pipeline.predict_proba(x_test)
    correct = pipeline.classes_[held.argmax(axis=1)] == np.asarray(y_test)
    calibration = fit_confidence_calibration(held.max(axis=1), correct, threshold=0.0)  # always map
    airline = rng.choice(np.flatnonzero(is_airline), 500, replace=False)
    shifted = pipeline.predict_proba(list(texts[airline]))
    shifted_accuracy = (pipeline.classes_[shifted.argmax(axis=1)] == labels[airline]).mean()
    in_dist = estimated_accuracy(held.max(axis=1), calibration)
    assert abs(in_dist - correct.mean()) < 0.03
    raw, calibrated = estimated_accuracy(shifted.max(axis=1)), estimated_accuracy(shifted.max(axis=1), calibration)
    assert shifted_accuracy < correct.mean() - 0.1  # the shift is real
    assert calibrated < in_dist - 0.05  # the estimate sees a drop larger than the alert's default limit
    assert abs(calibrated - shifted_accuracy) < abs(raw - shifted_accuracy)
