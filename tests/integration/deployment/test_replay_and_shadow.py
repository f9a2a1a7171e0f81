"""Replay before promotion and the shadow's lifecycle, in-process on a real registry and store."""

from __future__ import annotations

import pytest

from sentiment_mlops.deployment.actions import promote, rollback
from sentiment_mlops.deployment.history import read_history, verify_history
from sentiment_mlops.deployment.policy import GateRules
from sentiment_mlops.deployment.replay import NO_TRAFFIC, TEXTS_NOT_KEPT, replay_traffic
from sentiment_mlops.errors import PromotionRefusedError
from sentiment_mlops.registry import LoadedModel
from sentiment_mlops.registry.client import SHADOW_PERCENT_TAG
from support.deployment import BETTER, GOOD, SHUFFLED

ANY_QUALITY = GateRules(max_macro_f1_drop=1.0)
PROBABILITIES = {"negative": 0.2, "neutral": 0.3, "positive": 0.5}


def alias(registry, name):
    info = registry.alias_version(name)
    return info.version if info else None


def place(registry, store, environment, version):
    """Set an alias as a recorded promotion would, without a gate: these tests are about what comes after."""
    before = alias(registry, environment)
    registry.set_alias(environment, version)
    store.record_deployment(environment=environment, action="promote", from_version=before, to_version=version)


def log(store, environment, texts, labels=(), *, version=BETTER, keep_text=True):
    rows = [{"environment": environment, "model_version": version, "text": text if keep_text else None,
             "text_sha256": f"{i:064x}", "text_length": len(text), "sentiment": "positive", "confidence": 0.5,
             "probabilities": PROBABILITIES} for i, text in enumerate(texts)]
    ids = store.insert_predictions(rows)
    for prediction_id, label in zip(ids, labels, strict=False):
        store.add_feedback(prediction_id, label)
    return ids


def test_replay_refuses_a_candidate_that_flips_logged_traffic_and_history_keeps_the_numbers(registry, store,
                                                                                             corpus_slice):
    texts, labels = corpus_slice
    place(registry, store, "staging", BETTER)
    log(store, "staging", texts[:300], labels[:150])
    with pytest.raises(PromotionRefusedError) as refused:
        promote(registry, store, version=SHUFFLED, to="staging", replay_size=300, rules=ANY_QUALITY)
    report = refused.value.report
    rules = {rule.name: rule for rule in report.rules}
    assert not rules["replay_agreement"].passed and rules["replay_agreement"].value < 0.7
    assert not rules["replay_labelled_accuracy"].passed and "n=150 labelled" in rules["replay_labelled_accuracy"].detail
    comparison = report.replay["comparison"]
    assert comparison["n"] == 300 and comparison["labelled"] == 150
    assert sum(sum(row.values()) for row in comparison["flips"].values()) == 300
    assert comparison["candidate_accuracy"] < comparison["incumbent_accuracy"]

    forced = promote(registry, store, version=SHUFFLED, to="staging", replay_size=300, rules=ANY_QUALITY, force=True,
                     reason="replay drill")
    recorded = read_history(store, "staging")[-1].report
    assert forced.report.verdict == "forced" and recorded["replay"]["comparison"]["n"] == 300


def test_no_traffic_and_texts_not_kept_pass_saying_so(store):
    model = LoadedModel(pipeline=None, version=GOOD, source="test")  # never scored: nothing to replay
    incumbent = LoadedModel(pipeline=None, version=BETTER, source="test")
    empty = replay_traffic(store, "production", 2000, model, incumbent)
    assert empty.comparison is None and empty.note.startswith(NO_TRAFFIC)
    log(store, "production", ["fine", "awful"], keep_text=False)
    digests = replay_traffic(store, "production", 2000, model, incumbent)
    assert digests.comparison is None and digests.note == TEXTS_NOT_KEPT


def test_promoting_the_shadow_uses_its_evidence_and_ends_it(registry, store, corpus_slice):
    texts, labels = corpus_slice
    place(registry, store, "staging", GOOD)
    place(registry, store, "production", BETTER)
    registry.set_model_tag(SHADOW_PERCENT_TAG, "50")
    registry.set_alias("shadow", GOOD)
    store.record_deployment(environment="shadow", action="shadow-start", from_version=BETTER, to_version=GOOD)
    live_ids = log(store, "production", texts[:60], labels[:60])
    store.insert_predictions([{"environment": "shadow", "model_version": GOOD, "text": text, "sentiment": "positive",
                               "confidence": 0.5, "probabilities": PROBABILITIES, "latency_ms": 0.2,
                               "source": "shadow", "shadow_of": live_id}
                              for text, live_id in zip(texts[:60], live_ids, strict=True)])

    result = promote(registry, store, version=GOOD, to="production", rules=ANY_QUALITY, replay_size=0)
    shadow = result.report.shadow
    assert shadow["comparison"]["n"] == 60 and shadow["comparison"]["agreement"] == 1.0  # both logged "positive"
    assert shadow["comparison"]["labelled"] == 60 and shadow["latency_ms"]["shadow_mean"] == pytest.approx(0.2)
    assert {r.name for r in result.report.rules} >= {"shadow_agreement", "shadow_labelled_accuracy"}
    assert alias(registry, "production") == GOOD and alias(registry, "shadow") is None
    assert SHADOW_PERCENT_TAG not in registry.model_tags()
    assert [(e.environment, e.action) for e in read_history(store)[-2:]] == [("production", "promote"),
                                                                              ("shadow", "shadow-end")]
    aliases = {name: alias(registry, name) for name in ("staging", "production", "canary", "shadow")}
    assert verify_history(read_history(store), aliases) == []


@pytest.mark.parametrize(("args", "message"), [
    (("promote", "--to", "production", "--replay", "-1"), "error: --replay must be a number of logged texts"),
    (("promote", "--to", "production", "--shadow", "150"), "error: --shadow must be a percentage above 0"),
    (("promote", "--to", "staging", "--shadow"), "error: --shadow only applies to --to production"),
    (("rollback", "--env", "shadow"), "error: no shadow is running"),
])
def test_bad_replay_and_shadow_input_is_one_line_and_exit_1(args, message, tracking_uri, store_url, tmp_path,
                                                            monkeypatch, cli_run):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_uri)
    monkeypatch.setenv("SENTIMENT_MLOPS_STORE_URL", store_url)
    code, _, err = cli_run(*args)
    assert code == 1 and err.count("\n") == 1 and err.startswith(message), err


def test_rollback_of_the_shadow_ends_it_and_the_history_agrees(registry, store):
    place(registry, store, "staging", GOOD)
    place(registry, store, "production", BETTER)
    started = promote(registry, store, version=GOOD, to="production", shadow_percent=30, rules=ANY_QUALITY)
    assert started.action == "shadow-start" and alias(registry, "production") == BETTER
    assert alias(registry, "shadow") == GOOD and registry.model_tags()[SHADOW_PERCENT_TAG] == "30"
    ended = rollback(registry, store, environment="shadow", reason="enough evidence")
    assert ended.action == "shadow-end" and alias(registry, "shadow") is None
    assert SHADOW_PERCENT_TAG not in registry.model_tags()
    aliases = {name: alias(registry, name) for name in ("staging", "production", "canary", "shadow")}
    assert verify_history(read_history(store), aliases) == []
