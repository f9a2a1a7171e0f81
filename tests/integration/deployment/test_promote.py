"""Gated promotion against a real MLflow registry and prediction store, with versions trained on the corpus."""

from __future__ import annotations

import pytest

from sentiment_mlops.deployment.actions import promote
from sentiment_mlops.deployment.history import read_history
from sentiment_mlops.deployment.policy import RULE_MIN_MACRO_F1, RULE_VS_INCUMBENT, GateRules
from sentiment_mlops.errors import ConfigurationError, ModelNotFoundError, PromotionRefusedError
from support.deployment import BETTER, GOOD, SHUFFLED, WEAK


def alias(registry, name):
    info = registry.alias_version(name)
    return info.version if info else None


def test_first_promotion_then_a_better_candidate_passes(registry, store):
    first = promote(registry, store, version=WEAK, to="staging", actor="ci@test")
    assert first.changed and first.report.verdict == "pass"
    assert next(r for r in first.report.rules if r.name == RULE_VS_INCUMBENT).skipped  # empty environment

    second = promote(registry, store, version=BETTER, to="staging", actor="ci@test")
    vs = next(r for r in second.report.rules if r.name == RULE_VS_INCUMBENT)
    assert not vs.skipped and vs.passed and vs.value < 0  # the candidate beats the incumbent on its held-out rows
    assert second.report.candidate["eval_source"] == f"held-out split of v{BETTER}"
    assert second.report.incumbent["eval_size"] == second.report.candidate["eval_size"]  # the same rows
    assert alias(registry, "staging") == BETTER

    events = read_history(store, "staging")
    assert [(e.action, e.from_version, e.to_version, e.actor) for e in events] == [
        ("promote", None, WEAK, "ci@test"), ("promote", WEAK, BETTER, "ci@test")]
    assert events[1].gate_verdict == "pass"
    tags = registry.version(BETTER).tags
    assert tags["gate.staging"] == "pass" and "deployed.staging.at" in tags and tags["deployed.staging.by"] == "ci@test"
    assert registry.version(WEAK).tags["last_action"].startswith(f"promote staging: replaced by v{BETTER}")


def test_candidate_trained_on_shuffled_labels_is_refused_naming_the_rules(registry, store):
    promote(registry, store, version=BETTER, to="staging")
    with pytest.raises(PromotionRefusedError, match=RULE_MIN_MACRO_F1) as refused:
        promote(registry, store, version=SHUFFLED, to="staging")
    report = refused.value.report
    assert report.verdict == "fail"
    assert {r.name for r in report.failed_rules} == {RULE_MIN_MACRO_F1, RULE_VS_INCUMBENT}
    assert report.candidate["macro_f1"] < 0.45
    assert alias(registry, "staging") == BETTER  # nothing moved
    assert len(read_history(store, "staging")) == 1  # and nothing recorded


def test_force_passes_a_failing_gate_and_records_why(registry, store):
    promote(registry, store, version=BETTER, to="staging")
    with pytest.raises(ConfigurationError, match="--force needs --reason"):
        promote(registry, store, version=SHUFFLED, to="staging", force=True)
    result = promote(registry, store, version=SHUFFLED, to="staging", force=True, reason="drill: bad model")
    assert result.report.verdict == "forced" and alias(registry, "staging") == SHUFFLED
    assert RULE_MIN_MACRO_F1 in {r.name for r in result.report.failed_rules}  # the real results are kept
    event = read_history(store, "staging")[-1]
    assert event.reason == "drill: bad model"
    assert event.report["verdict"] == "forced" and event.report["forced_reason"] == "drill: bad model"
    assert registry.version(SHUFFLED).tags["gate.staging"] == "forced"


def test_gate_can_evaluate_on_a_file_the_user_gives(registry, store, tmp_path):
    import json

    from support.deployment import corpus_slice

    sample = corpus_slice(7000, 7400)  # rows none of the template's versions trained on
    rows = zip(sample.texts, sample.labels, strict=True)
    path = tmp_path / "eval.jsonl"
    path.write_text("\n".join(json.dumps({"text": t, "label": label}) for t, label in rows))
    result = promote(registry, store, version=GOOD, to="staging", eval_path=path)
    assert result.report.candidate["eval_source"] == str(path) and result.report.candidate["eval_size"] == 400


def test_production_only_takes_the_staging_version(registry, store):
    with pytest.raises(ConfigurationError, match="nothing is in staging"):
        promote(registry, store, version=None, to="production")
    promote(registry, store, version=WEAK, to="staging")
    with pytest.raises(ConfigurationError, match=r"production only takes the version in staging \(1\)"):
        promote(registry, store, version=BETTER, to="production")
    result = promote(registry, store, version=None, to="production")
    assert (result.from_version, result.to_version) == (None, WEAK) and alias(registry, "production") == WEAK
    again = promote(registry, store, version=None, to="production")
    assert not again.changed and "already in production" in again.message
    forced = promote(registry, store, version=BETTER, to="production", force=True, reason="hotfix")
    assert alias(registry, "production") == BETTER and forced.report.forced_reason == "hotfix"


def test_staging_defaults_to_the_latest_version_and_unknown_versions_are_clear(registry, store):
    result = promote(registry, store, version=None, to="staging", rules=GateRules(max_macro_f1_drop=1.0))
    assert result.to_version == GOOD
    with pytest.raises(ModelNotFoundError, match="version 99 .* does not exist"):
        promote(registry, store, version="99", to="staging")
    with pytest.raises(ConfigurationError, match="a number"):
        promote(registry, store, version="latest", to="staging")
    with pytest.raises(ConfigurationError, match="--to must be one of"):
        promote(registry, store, version=None, to="prod")


def test_a_tampered_artifact_fails_the_sha256_rule(deployment_template, tmp_path, store):
    """A version whose run artifacts changed after training is refused by the artifact rule."""
    from sentiment_mlops.registry import ModelRegistry
    from support.registries import copy_registry

    # A private copy of the artifacts too, so altering them cannot affect other tests.
    private = copy_registry(deployment_template, tmp_path / "private").root
    registry = ModelRegistry(f"sqlite:///{private / 'mlflow.db'}", "SentimentAnalysisModel")
    heldouts = list((private / "mlruns").rglob("training/heldout.jsonl"))
    assert heldouts
    for path in heldouts:
        path.write_text(path.read_text().replace("negative", "positive", 1))
    with pytest.raises(PromotionRefusedError) as refused:
        promote(registry, store, version=GOOD, to="staging")
    failed = {r.name: r for r in refused.value.report.failed_rules}
    assert "artifacts_sha256" in failed and "heldout.jsonl" in failed["artifacts_sha256"].detail
