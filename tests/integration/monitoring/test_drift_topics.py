"""Drift detection on a real topic shift: a model trained without the Coachella tweets of the corpus.

Windows of kept-topic texts come from rows neither trained on nor used for the reference profile
(tests/fixtures_drift.py), so the false-alarm rates are what a fresh stream of the same topics would see.
"""

from __future__ import annotations

import pytest

from sentiment_mlops.monitoring.drift import Reference, drift_report
from support.drift import TopicShift, build_topic_shift, draw_windows

# False alarms are rare events (about 1.5% of windows over 600 windows measured): 100 windows keep one
# unlucky draw of 3-4 alarms from deciding the verdict; detections need fewer.
FALSE_ALARM_WINDOWS = 100
DETECTION_WINDOWS = 60


@pytest.fixture(scope="module")
def shift() -> TopicShift:
    return build_topic_shift()


@pytest.fixture(scope="module")
def reference(shift: TopicShift) -> Reference:
    return Reference.from_profile(shift.profile)


def detection_rate(shift: TopicShift, reference: Reference, *, size: int, new_share: float, seed: int,
                   check: str | None = None) -> float:
    """Share of windows where the report (or only ``check``) raised drift."""
    count = FALSE_ALARM_WINDOWS if new_share == 0 else DETECTION_WINDOWS
    windows = draw_windows(shift, size=size, new_share=new_share, count=count, seed=seed)
    fired = 0
    for texts in windows:
        predicted, confidences = shift.score(texts)
        report = drift_report(reference, texts, predicted, confidences, model_version="topic")
        fired += report.check(check).drift if check else report.drift_detected
    return fired / len(windows)


def test_the_left_out_topic_is_really_left_out(shift: TopicShift) -> None:
    vocabulary = set(shift.profile["vocabulary"])
    assert "coachella" not in vocabulary
    assert len(shift.new_pool) > 3000 and len(shift.same_pool) > 6000
    assert shift.profile_size > 6000


def test_windows_of_500_trained_topics_rarely_alarm(shift: TopicShift, reference: Reference) -> None:
    assert detection_rate(shift, reference, size=500, new_share=0.0, seed=11) <= 0.05


def test_windows_of_500_from_the_new_topic_always_alarm(shift: TopicShift, reference: Reference) -> None:
    assert detection_rate(shift, reference, size=500, new_share=1.0, seed=12) >= 0.95


def test_windows_of_300_trained_topics_rarely_alarm(shift: TopicShift, reference: Reference) -> None:
    assert detection_rate(shift, reference, size=300, new_share=0.0, seed=13) <= 0.05


def test_a_shift_in_10_percent_of_the_traffic_is_caught(shift: TopicShift, reference: Reference) -> None:
    """Evidently's default preset caught 5/20 such windows (issue 5); the goal is 80%."""
    assert detection_rate(shift, reference, size=300, new_share=0.10, seed=14) >= 0.80


def test_the_new_terms_check_alone_catches_5_percent_and_names_the_word(shift: TopicShift,
                                                                        reference: Reference) -> None:
    """15 Coachella tweets among 300: the festival's words are ones the model never saw, and they recur."""
    assert detection_rate(shift, reference, size=300, new_share=0.05, seed=15, check="new_terms") >= 0.80
    assert detection_rate(shift, reference, size=300, new_share=0.0, seed=16, check="new_terms") <= 0.02
    (texts,) = draw_windows(shift, size=300, new_share=0.10, count=1, seed=17)
    predicted, confidences = shift.score(texts)
    check = drift_report(reference, texts, predicted, confidences, model_version="topic").check("new_terms")
    assert check.drift and "coachella" in check.details["top_words"][0]["word"]
