"""The gate's base-vs-feedback rule: no gain on one held-out set bought with a loss over the margin on the other."""

from __future__ import annotations

import pytest

from sentiment_mlops.deployment.policy import RULE_FEEDBACK_TRADEOFF, CandidateEvidence, GateRules, evaluate_gate


def _evidence(version: str, base: float, feedback: float | None) -> CandidateEvidence:
    return CandidateEvidence(version=version, macro_f1=base, artifacts_ok=True, smoke_ok=True, p99_latency_ms=0.5,
                             eval_size=600, feedback_macro_f1=feedback, feedback_eval_size=60 if feedback else 0)


def _rule(report):
    return next(rule for rule in report.rules if rule.name == RULE_FEEDBACK_TRADEOFF)


@pytest.mark.parametrize(("candidate", "incumbent", "passed"), [
    ((0.700, 0.60), (0.705, 0.40), True),    # +0.20 on feedback for -0.005 on base: within the margin
    ((0.680, 0.60), (0.700, 0.40), False),   # -0.02 on base: over the margin however much feedback gains
    ((0.720, 0.35), (0.700, 0.40), False),   # a gain on base bought with -0.05 on feedback
    ((0.700, 0.40), (0.700, 0.40), True),
])
def test_a_loss_over_the_margin_on_either_set_fails(candidate, incumbent, passed):
    report = evaluate_gate(_evidence("3", *candidate), _evidence("2", *incumbent), GateRules(max_macro_f1_drop=1.0))
    rule = _rule(report)
    assert rule.passed is passed and report.passed is passed
    assert "base" in rule.detail and "feedback" in rule.detail


def test_skipped_without_a_feedback_set_and_the_margin_is_a_setting():
    assert _rule(evaluate_gate(_evidence("3", 0.7, None), _evidence("2", 0.7, None), GateRules())).skipped
    loose = GateRules(max_macro_f1_drop=1.0, max_feedback_tradeoff=0.1)
    assert evaluate_gate(_evidence("3", 0.68, 0.6), _evidence("2", 0.70, 0.4), loose).passed
