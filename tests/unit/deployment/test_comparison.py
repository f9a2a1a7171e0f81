"""The pure comparison behind replay and shadow: flips, label-mix shift, labelled accuracy, and their rules."""

from __future__ import annotations

import pytest

from sentiment_mlops.deployment.comparison import (
    ReplayRules,
    accuracy_drop_p,
    compare_answers,
    comparison_rules,
    label_shift,
)
from sentiment_mlops.deployment.policy import CandidateEvidence, GateRules, evaluate_gate, force_report
from sentiment_mlops.deployment.replay import EvidenceKind, TrafficEvidence, with_traffic_evidence

NEG, NEU, POS = "negative", "neutral", "positive"


def test_flip_matrix_counts_incumbent_label_to_candidate_label():
    incumbent = [NEG, NEG, NEG, NEU, POS, POS]
    candidate = [NEG, POS, NEU, NEU, POS, NEG]
    comparison = compare_answers(incumbent, candidate)
    assert comparison.n == 6 and comparison.agreement == pytest.approx(3 / 6, abs=1e-4)
    assert comparison.flips == {NEG: {NEG: 1, NEU: 1, POS: 1}, NEU: {NEG: 0, NEU: 1, POS: 0},
                                POS: {NEG: 1, NEU: 0, POS: 1}}
    assert comparison.incumbent_mix == {NEG: 3, NEU: 1, POS: 2}
    assert comparison.candidate_mix == {NEG: 2, NEU: 2, POS: 2}
    assert comparison.labelled == 0 and comparison.incumbent_accuracy is None


def test_chi_square_sees_a_shifted_label_mix_and_not_an_equal_one():
    same = label_shift([NEG] * 40 + [POS] * 60, [POS] * 60 + [NEG] * 40)
    shifted = label_shift([NEG] * 50 + [POS] * 50, [NEG] * 20 + [POS] * 80)
    assert same[0] == 0 and same[1] == pytest.approx(1.0)
    assert shifted[1] is not None and shifted[1] < 1e-4


def test_labelled_accuracy_uses_only_labelled_texts_and_a_one_sided_paired_test():
    # 40 labelled texts: the incumbent right on all, the candidate wrong on 12 of them; 10 unlabelled.
    incumbent = [POS] * 50
    candidate = [NEG] * 12 + [POS] * 38
    truth = [POS] * 40 + [None] * 10
    comparison = compare_answers(incumbent, candidate, truth)
    assert comparison.labelled == 40
    assert comparison.incumbent_accuracy == 1.0 and comparison.candidate_accuracy == pytest.approx(28 / 40, abs=1e-4)
    assert (comparison.incumbent_only_right, comparison.candidate_only_right) == (12, 0)
    assert comparison.accuracy_drop_p == pytest.approx(0.5 ** 12)
    # The same test the other way round: the candidate better is no evidence of a drop.
    assert accuracy_drop_p(0, 12) == pytest.approx(1.0)


def test_answers_of_different_lengths_are_refused():
    with pytest.raises(ValueError, match="same texts"):
        compare_answers([POS], [POS, NEG])


@pytest.mark.parametrize(("candidate", "agreement_ok", "accuracy_ok"), [
    ([POS] * 100, True, True),                      # identical answers
    ([NEG] * 40 + [POS] * 60, False, False),        # 60% agreement, 40 labelled texts now wrong
    ([NEG] * 3 + [POS] * 97, True, True),           # 3 flips (p = 0.125): not a significant drop
])
def test_rules_refuse_low_agreement_and_a_significant_accuracy_drop(candidate, agreement_ok, accuracy_ok):
    comparison = compare_answers([POS] * 100, candidate, [POS] * 100)
    agreement, accuracy = comparison_rules(comparison, ReplayRules(min_agreement=0.9), what="replay")
    assert (agreement.name, accuracy.name) == ("replay_agreement", "replay_labelled_accuracy")
    assert (agreement.passed, accuracy.passed) == (agreement_ok, accuracy_ok)


def test_too_few_labels_are_reported_but_not_tested_and_no_traffic_passes_saying_why():
    few = compare_answers([POS] * 10, [NEG] * 10, [POS] * 10)
    _, accuracy = comparison_rules(few, ReplayRules(min_agreement=0.0, min_labelled=30), what="shadow")
    assert accuracy.passed and accuracy.skipped and "not tested" in accuracy.detail
    rules = comparison_rules(None, ReplayRules(), what="replay", skipped_reason="no traffic to replay")
    assert all(r.passed and r.skipped and r.detail == "no traffic to replay" for r in rules)


def test_traffic_rules_join_the_gate_report_and_only_force_overrides_them():
    good = CandidateEvidence(version="2", macro_f1=0.7, artifacts_ok=True, smoke_ok=True, p99_latency_ms=0.1)
    report = evaluate_gate(good, None, GateRules())
    low = TrafficEvidence(EvidenceKind.REPLAY, "production", "2", "1", 2000,
                          compare_answers([POS] * 10, [NEG] * 5 + [POS] * 5))
    refused = with_traffic_evidence(report, ReplayRules(), low, None)
    assert refused.verdict == "fail" and [r.name for r in refused.failed_rules] == ["replay_agreement"]
    assert refused.replay is not None and refused.replay["comparison"]["agreement"] == 0.5
    assert refused.from_dict(refused.to_dict()).replay == refused.replay  # what the history keeps
    assert force_report(refused, "drill").verdict == "forced"
    empty = TrafficEvidence(EvidenceKind.REPLAY, "production", "2", "1", 2000, None, note="no traffic to replay")
    assert with_traffic_evidence(report, ReplayRules(), empty, None).verdict == "pass"


def test_a_low_agreement_passes_only_when_vouching_labels_show_a_significant_gain():
    from sentiment_mlops.deployment.replay import vouching_labels

    # 60 labelled texts, the truth positive: the incumbent says negative on all, the candidate positive on 40.
    incumbent, candidate = [NEG] * 60, [NEG] * 20 + [POS] * 40
    gain = compare_answers(incumbent, candidate, truth=[POS] * 60)
    agreement, _ = comparison_rules(gain, ReplayRules(), what="replay", explaining=gain)
    assert agreement.passed and "explained by the labels" in agreement.detail and agreement.value < 0.70
    assert not comparison_rules(gain, ReplayRules(), what="replay")[0].passed  # nothing to vouch for it
    # The same disagreement where the labels side with neither, with too few labels, or with open feedback only.
    even = compare_answers(incumbent, candidate, truth=[NEG] * 20 + [POS] * 20 + [NEG] * 20)
    few = compare_answers(incumbent, candidate, truth=[POS] * 20 + [None] * 40)
    anonymous = compare_answers(incumbent, candidate, truth=vouching_labels([POS] * 60, ["anonymous"] * 60))
    for explaining in (even, few, anonymous):
        assert not comparison_rules(gain, ReplayRules(), what="replay", explaining=explaining)[0].passed


def test_the_replay_leaves_out_the_labels_of_texts_a_version_trained_on_as_feedback(tmp_path):
    import json
    from types import SimpleNamespace

    from sentiment_mlops.deployment.replay import unseen_labels
    from sentiment_mlops.integrity import text_digest

    def version(name: str, trained: list[str] | None = None, held_out: list[str] | None = None) -> SimpleNamespace:
        directory = tmp_path / name
        directory.mkdir()
        trained_path = held_out_path = None
        if trained is not None:
            trained_path = directory / "trained.txt"
            trained_path.write_text("".join(f"{text_digest(t)}\n" for t in trained))
        if held_out is not None:
            held_out_path = directory / "held_out.jsonl"
            held_out_path.write_text("".join(json.dumps({"text": t, "label": POS}) + "\n" for t in held_out))
        return SimpleNamespace(feedback_trained_path=trained_path, feedback_heldout_path=held_out_path)

    texts = ["a", " b ", "c", "d", None]
    labels = [POS, NEG, None, NEU, POS]
    assert unseen_labels(texts, labels, [version("plain"), None]) == (labels, 0)
    candidate = version("candidate", trained=["b", "c"], held_out=["a"])
    # " b " was trained on (feedback texts are stripped); "d" never was feedback; a digest-only row trained nothing.
    assert unseen_labels(texts, labels, [candidate, version("incumbent")]) == ([POS, None, None, NEU, POS], 1)
    # A version trained before the digests were kept: every feedback text it did not hold out counts as seen.
    older = version("older", held_out=["d"])
    assert unseen_labels(texts, labels, [version("new", trained=[]), older]) == ([None, None, None, NEU, POS], 2)
