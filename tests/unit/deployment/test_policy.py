"""The promotion gate's pure decision."""

from __future__ import annotations

import pytest

from sentiment_mlops.deployment.policy import (
    RULE_ARTIFACTS,
    RULE_FEEDBACK_TRADEOFF,
    RULE_LATENCY,
    RULE_MIN_MACRO_F1,
    RULE_SMOKE,
    RULE_VS_INCUMBENT,
    CandidateEvidence,
    GateReport,
    GateRules,
    evaluate_gate,
    force_report,
)


def evidence(version: str = "2", **overrides) -> CandidateEvidence:
    fields = dict(version=version, macro_f1=0.70, accuracy=0.72, artifacts_ok=True, smoke_ok=True,
                  p99_latency_ms=0.5, eval_source="held-out split of v2", eval_size=600)
    fields.update(overrides)
    return CandidateEvidence(**fields)


def rule(report: GateReport, name: str):
    return next(r for r in report.rules if r.name == name)


def test_every_rule_is_reported_with_value_threshold_and_verdict():
    report = evaluate_gate(evidence(), evidence("1", macro_f1=0.69), GateRules())
    assert [r.name for r in report.rules] == [RULE_VS_INCUMBENT, RULE_MIN_MACRO_F1, RULE_ARTIFACTS, RULE_SMOKE,
                                              RULE_LATENCY, RULE_FEEDBACK_TRADEOFF]
    assert report.verdict == "pass" and report.passed
    vs = rule(report, RULE_VS_INCUMBENT)
    assert vs.value == pytest.approx(-0.01) and vs.threshold == 0.01 and not vs.skipped
    assert rule(report, RULE_MIN_MACRO_F1).value == 0.70
    assert rule(report, RULE_LATENCY).value == 0.5


@pytest.mark.parametrize(("candidate_f1", "passed"), [(0.69, True), (0.6899, False), (0.75, True)])
def test_candidate_may_trail_the_incumbent_by_at_most_the_allowed_drop(candidate_f1, passed):
    report = evaluate_gate(evidence(macro_f1=candidate_f1), evidence("1", macro_f1=0.70), GateRules())
    assert rule(report, RULE_VS_INCUMBENT).passed is passed
    assert report.passed is passed


def test_first_version_into_an_empty_environment_is_gated_on_absolute_rules_only():
    report = evaluate_gate(evidence(macro_f1=0.51), None, GateRules())
    vs = rule(report, RULE_VS_INCUMBENT)
    assert vs.skipped and vs.passed and report.incumbent_version is None
    assert report.passed
    assert not evaluate_gate(evidence(macro_f1=0.49), None, GateRules()).passed


@pytest.mark.parametrize(("overrides", "failing"), [
    ({"macro_f1": 0.40}, RULE_MIN_MACRO_F1),
    ({"artifacts_ok": False, "artifacts_detail": "model.skops altered"}, RULE_ARTIFACTS),
    ({"smoke_ok": False, "smoke_detail": "NaN"}, RULE_SMOKE),
    ({"p99_latency_ms": 5.01}, RULE_LATENCY),
    ({"p99_latency_ms": None}, RULE_LATENCY),
])
def test_a_failing_rule_fails_the_gate_and_is_named(overrides, failing):
    report = evaluate_gate(evidence(**overrides), None, GateRules())
    assert report.verdict == "fail" and not report.passed
    assert [r.name for r in report.failed_rules] == [failing]
    assert failing in report.summary()


def test_a_candidate_that_could_not_be_loaded_fails_every_measured_rule():
    broken = CandidateEvidence(version="3", artifacts_ok=False, artifacts_detail="heldout.jsonl missing")
    report = evaluate_gate(broken, evidence("1"), GateRules())
    assert {r.name for r in report.failed_rules} == {RULE_VS_INCUMBENT, RULE_MIN_MACRO_F1, RULE_ARTIFACTS,
                                                     RULE_SMOKE, RULE_LATENCY}
    assert "heldout.jsonl missing" in rule(report, RULE_ARTIFACTS).detail


def test_an_incumbent_that_cannot_be_evaluated_leaves_the_absolute_rules():
    gone = CandidateEvidence(version="1", artifacts_detail="artifacts deleted")
    report = evaluate_gate(evidence(), gone, GateRules())
    vs = rule(report, RULE_VS_INCUMBENT)
    assert vs.skipped and "artifacts deleted" in vs.detail and report.passed


def test_rules_are_configurable():
    strict = GateRules(min_macro_f1=0.8, max_p99_latency_ms=0.1, max_macro_f1_drop=0.0)
    report = evaluate_gate(evidence(macro_f1=0.699), evidence("1", macro_f1=0.70), strict)
    assert {r.name for r in report.failed_rules} == {RULE_VS_INCUMBENT, RULE_MIN_MACRO_F1, RULE_LATENCY}
    lenient = GateRules(require_artifacts=False, require_smoke_test=False)
    report = evaluate_gate(evidence(artifacts_ok=False, smoke_ok=False), None, lenient)
    assert report.passed and rule(report, RULE_ARTIFACTS).skipped and rule(report, RULE_SMOKE).skipped


def test_force_keeps_the_real_results_and_records_the_reason():
    failed = evaluate_gate(evidence(macro_f1=0.3), None, GateRules())
    forced = force_report(failed, "hotfix for incident 42")
    assert forced.verdict == "forced" and forced.passed
    assert forced.forced_reason == "hotfix for incident 42"
    assert [r.name for r in forced.failed_rules] == [RULE_MIN_MACRO_F1]
    passing = evaluate_gate(evidence(), None, GateRules())
    assert force_report(passing, "why").verdict == "pass"


def test_report_round_trips_through_json_types():
    import json

    report = force_report(evaluate_gate(evidence(macro_f1=0.3), evidence("1"), GateRules()), "because")
    again = GateReport.from_dict(json.loads(json.dumps(report.to_dict())))
    assert again == report
