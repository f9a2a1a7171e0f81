"""Auto-rollback acts on statistically significant evidence, not on a handful of labels."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from sentiment_mlops.monitoring.auto_rollback import BakeEvidence, BakeWindow, decide_rollback

NOW = datetime(2026, 11, 30, tzinfo=timezone.utc)
WINDOW = BakeWindow("production", "3", "2", NOW, NOW + timedelta(minutes=30))


def evidence(correct: int, labelled: int, previous: tuple[int, int] | None = None) -> BakeEvidence:
    prev_correct, prev_labelled = previous or (0, 0)
    return BakeEvidence(window=WINDOW, requests=None, errors=None, labelled=labelled,
                        accuracy=correct / labelled if labelled else None,
                        previous_labelled=prev_labelled,
                        previous_accuracy=prev_correct / prev_labelled if prev_labelled else None)


@pytest.mark.parametrize(("correct", "labelled", "rolls_back"), [
    (15, 30, False),   # 50% on 30 labels: under a 55% floor, but well within chance
    (8, 30, True),     # 27% on 30 labels: significantly under
    (0, 30, True),     # 30 wrong labels: significant (why feedback needs a token)
    (90, 200, True),   # 45% on 200 labels: now significant
])
def test_the_floor_rule_needs_significance(correct: int, labelled: int, rolls_back: bool) -> None:
    decision = decide_rollback(evidence(correct, labelled), accuracy_floor=0.55, error_rate_threshold=0.01)
    assert decision.rollback is rolls_back
    assert 0 <= decision.evidence["p_values"]["below_floor"] <= 1


def test_the_comparison_rule_needs_significance() -> None:
    # 60% vs 70% on 30 labels each: 10 points down, yet not significantly more than the 5-point margin.
    noisy = decide_rollback(evidence(18, 30, (21, 30)), accuracy_floor=0.3, error_rate_threshold=0.01)
    assert not noisy.rollback
    # 55% vs 70% on 600 labels each is significantly more than 5 points down.
    clear = decide_rollback(evidence(330, 600, (420, 600)), accuracy_floor=0.3, error_rate_threshold=0.01)
    assert clear.rollback and "points under version 2" in clear.reasons[0]
    assert clear.evidence["p_values"]["worse_than_previous"] < 0.01
