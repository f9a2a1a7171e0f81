"""Drift of a new topic whose texts share no word: the Apple tweets, their keywords taken out.

The model is trained without the corpus's Apple tweets (tests/support/drift.py), and the tokens that
select them ("apple", "iphone", "ipad", ...) are removed from their texts, so no unseen word recurs in
most of them and the word checks see little. What is left are small traces in every text (twice the
share of unseen tokens, a less confident model, shorter texts) that the text-features check adds up.
"""

from __future__ import annotations

import pytest

from sentiment_mlops.monitoring.drift import Reference, drift_report
from support.corpus_topics import TOPICS
from support.drift import TopicShift, build_topic_shift, draw_windows, spread_topic

WINDOWS = 30
SIZE = 300


@pytest.fixture(scope="module")
def shift() -> TopicShift:
    return spread_topic(build_topic_shift(topic=TOPICS["apple"]), TOPICS["apple"])


@pytest.fixture(scope="module")
def reference(shift: TopicShift) -> Reference:
    return Reference.from_profile(shift.profile)


def fired(shift: TopicShift, reference: Reference, *, new_share: float, seed: int) -> list[list[str]]:
    """Per window, the checks that raised drift."""
    windows = draw_windows(shift, size=SIZE, new_share=new_share, count=WINDOWS, seed=seed)
    reports = []
    for texts in windows:
        predicted, confidences = shift.score(texts)
        reports.append(drift_report(reference, texts, predicted, confidences, model_version="spread").drifted_checks)
    return reports


def test_the_keywords_are_gone_from_the_topic(shift: TopicShift) -> None:
    assert not any(TOPICS["apple"].search(text) for text in shift.new_pool)


def test_a_spread_topic_in_a_fifth_of_the_traffic_is_caught(shift: TopicShift, reference: Reference) -> None:
    """The seven other checks caught 70% of these windows; the text-features check adds those they miss."""
    windows = fired(shift, reference, new_share=0.20, seed=103)
    assert sum(bool(checks) for checks in windows) / WINDOWS >= 0.80
    assert sum(checks == ["text_features"] for checks in windows) >= 3  # windows no other check caught


def test_the_text_features_check_does_not_alarm_on_the_trained_topics(shift: TopicShift,
                                                                      reference: Reference) -> None:
    windows = fired(shift, reference, new_share=0.0, seed=22)
    assert sum("text_features" in checks for checks in windows) <= 1
