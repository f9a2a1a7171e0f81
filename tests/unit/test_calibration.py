"""Expected calibration error and the post-hoc confidence map, on toy numbers and on a real corpus slice."""

from __future__ import annotations

import numpy as np
import pytest

from sentiment_mlops.calibration import (
    ECE_THRESHOLD,
    ConfidenceCalibration,
    expected_calibration_error,
    fit_confidence_calibration,
)
from support.alerts import draw_rows


def test_ece_is_zero_when_confidence_matches_accuracy():
    conf = [0.75] * 4 + [0.5] * 2
    right = [True, True, True, False, True, False]
    assert expected_calibration_error(conf, right) == pytest.approx(0.0)


def test_ece_weights_each_bin_by_its_rows():
    # bin 0.9: accuracy 1.0 (gap 0.1, 2 rows); bin 0.6: accuracy 0.5 (gap 0.1, 2 rows)
    assert expected_calibration_error([0.9, 0.9, 0.6, 0.6], [1, 1, 1, 0]) == pytest.approx(0.1)
    # an overconfident model: always 0.95 sure, right half the time
    assert expected_calibration_error([0.95] * 10, [1, 0] * 5) == pytest.approx(0.45)


def test_ece_refuses_mismatched_or_empty_input():
    with pytest.raises(ValueError, match="differ in length"):
        expected_calibration_error([0.5, 0.6], [True])
    with pytest.raises(ValueError, match="at least one"):
        expected_calibration_error([], [])


def test_identity_map_when_not_applied_and_round_trip():
    raw = ConfidenceCalibration(x=[0.3, 1.0], y=[0.1, 0.5], applied=False)
    assert raw.apply([0.9]).tolist() == [0.9]
    applied = ConfidenceCalibration(x=[0.3, 1.0], y=[0.1, 0.5], applied=True, ece=0.2, ece_calibrated=0.01, rows=500)
    assert applied.apply([0.3, 0.65, 1.0]) == pytest.approx([0.1, 0.3, 0.5])
    assert ConfidenceCalibration.from_dict(applied.to_dict()) == applied
    assert ConfidenceCalibration.from_dict(None).apply([0.7]).tolist() == [0.7]
    assert "isotonic" in applied.summary() and "ECE 0.2000" in applied.summary()


def test_overconfident_model_on_real_slice_is_calibrated_on_held_out_rows(corpus):
    """A barely smoothed NB is overconfident; the map must bring the cross-fitted ECE under the threshold."""
    from sklearn.model_selection import train_test_split

    from sentiment_mlops.training.pipeline import build_pipeline

    texts, labels = draw_rows(corpus, 6000, seed=11)
    x_train, x_test, y_train, y_test = train_test_split(texts, labels, test_size=0.4, random_state=0, stratify=labels)
    pipeline = build_pipeline("mnb", {"alpha": 0.01}).fit(x_train, y_train)
    probabilities = pipeline.predict_proba(x_test)
    correct = pipeline.classes_[probabilities.argmax(axis=1)] == np.asarray(y_test)
    calibration = fit_confidence_calibration(probabilities.max(axis=1), correct)
    assert calibration.ece > ECE_THRESHOLD
    assert calibration.applied and calibration.rows == len(x_test)
    assert calibration.ece_calibrated < ECE_THRESHOLD < calibration.ece
    # isotonic regression keeps the mean: on its own rows the estimate equals the accuracy
    assert calibration.apply(probabilities.max(axis=1)).mean() == pytest.approx(correct.mean(), abs=1e-3)


def test_well_calibrated_or_tiny_input_is_left_alone():
    rng = np.random.default_rng(0)
    conf = rng.uniform(0.4, 1.0, 5000)
    right = rng.uniform(size=5000) < conf  # calibrated by construction
    assert not fit_confidence_calibration(conf, right).applied
    small = fit_confidence_calibration([0.99] * 50, [False] * 50)
    assert not small.applied and small.ece > ECE_THRESHOLD and "too few rows" in small.summary()
