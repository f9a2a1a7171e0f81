"""Rollback walks back through the history; canary rollouts set and clear the alias and the tag."""

from __future__ import annotations

import pytest

from sentiment_mlops.deployment.actions import promote, rollback
from sentiment_mlops.deployment.history import read_history
from sentiment_mlops.deployment.policy import GateRules
from sentiment_mlops.errors import ConfigurationError, ModelNotFoundError
from sentiment_mlops.registry.client import CANARY_PERCENT_TAG as CANARY_TAG
from support.deployment import BETTER, GOOD, WEAK

# These tests are about aliases and history, not model quality: the relative rule must not get in the way.
ANY_QUALITY = GateRules(max_macro_f1_drop=1.0)


def alias(registry, name):
    info = registry.alias_version(name)
    return info.version if info else None


def to_production(registry, store, version):
    promote(registry, store, version=version, to="staging", rules=ANY_QUALITY)
    return promote(registry, store, version=None, to="production", rules=ANY_QUALITY)


def test_rollback_after_three_promotions_returns_to_the_right_version_each_time(registry, store):
    for version in (WEAK, BETTER, GOOD):
        to_production(registry, store, version)
    assert alias(registry, "production") == GOOD

    first = rollback(registry, store, environment="production", reason="latency regression", actor="oncall@test")
    assert (first.from_version, first.to_version) == (GOOD, BETTER) and alias(registry, "production") == BETTER
    second = rollback(registry, store, environment="production")
    assert (second.from_version, second.to_version) == (BETTER, WEAK) and alias(registry, "production") == WEAK
    with pytest.raises(ConfigurationError, match="no earlier version in the deployment history"):
        rollback(registry, store, environment="production")
    assert alias(registry, "staging") == GOOD  # staging is untouched by production's rollbacks

    steps = [(e.action, e.from_version, e.to_version) for e in read_history(store, "production")]
    assert steps == [("promote", None, WEAK), ("promote", WEAK, BETTER), ("promote", BETTER, GOOD),
                     ("rollback", GOOD, BETTER), ("rollback", BETTER, WEAK)]
    rolled = read_history(store, "production")[3]
    assert rolled.reason == "latency regression" and rolled.actor == "oncall@test"
    assert registry.version(GOOD).tags["last_action"].startswith(f"rollback production: replaced by v{BETTER}")

    # A promotion after the rollbacks starts a new branch of the history.
    promote(registry, store, version=None, to="production", rules=ANY_QUALITY)
    assert alias(registry, "production") == GOOD
    assert rollback(registry, store, environment="production").to_version == WEAK


def test_rollback_to_an_explicit_version_and_in_staging(registry, store):
    for version in (WEAK, BETTER, GOOD):
        promote(registry, store, version=version, to="staging", rules=ANY_QUALITY)
    result = rollback(registry, store, environment="staging", to_version=WEAK)
    assert result.to_version == WEAK and alias(registry, "staging") == WEAK
    with pytest.raises(ConfigurationError, match="no earlier version"):
        rollback(registry, store, environment="staging")
    same = rollback(registry, store, environment="staging", to_version=WEAK)
    assert not same.changed
    with pytest.raises(ModelNotFoundError, match="version 42"):
        rollback(registry, store, environment="staging", to_version="42")
    with pytest.raises(ConfigurationError, match="--env must be one of"):
        rollback(registry, store, environment="prod")


def test_auto_rollback_records_the_evidence(registry, store):
    for version in (WEAK, BETTER):
        to_production(registry, store, version)
    evidence = {"rule": "error_rate", "value": 0.04, "threshold": 0.01}
    result = rollback(registry, store, environment="production", action="auto-rollback", evidence=evidence,
                      reason="error rate 4% > 1%", actor="monitor@test")
    assert result.action == "auto-rollback" and alias(registry, "production") == WEAK
    event = read_history(store, "production")[-1]
    assert event.action == "auto-rollback" and event.report == {"evidence": evidence}
    with pytest.raises(ConfigurationError, match="action must be one of"):
        rollback(registry, store, environment="production", action="undo")


def test_canary_start_then_finish_moves_production_and_clears_the_canary(registry, store):
    to_production(registry, store, WEAK)
    promote(registry, store, version=BETTER, to="staging", rules=ANY_QUALITY)

    started = promote(registry, store, version=None, to="production", canary_percent=10, rules=ANY_QUALITY)
    assert started.action == "canary-start" and started.report.verdict == "pass"
    assert alias(registry, "canary") == BETTER and alias(registry, "production") == WEAK
    assert registry.model_tags()[CANARY_TAG] == "10"

    resized = promote(registry, store, version=None, to="production", canary_percent=25, rules=ANY_QUALITY)
    assert resized.action == "canary-start" and registry.model_tags()[CANARY_TAG] == "25"
    assert "10% → 25%" in resized.message

    with pytest.raises(ConfigurationError, match="a canary of version 2 is running"):
        promote(registry, store, version=GOOD, to="production", force=True, reason="skip")

    finished = promote(registry, store, version=None, to="production", rules=ANY_QUALITY)
    assert finished.action == "canary-finish" and (finished.from_version, finished.to_version) == (WEAK, BETTER)
    assert alias(registry, "production") == BETTER and alias(registry, "canary") is None
    assert CANARY_TAG not in registry.model_tags()

    steps = [(e.environment, e.action, e.from_version, e.to_version) for e in read_history(store)]
    assert steps[-3:] == [("canary", "canary-start", WEAK, BETTER), ("canary", "canary-start", WEAK, BETTER),
                          ("production", "canary-finish", WEAK, BETTER)]
    # A finished canary is a production deployment: rolling back returns to the version before it.
    assert rollback(registry, store, environment="production").to_version == WEAK


def test_canary_abort_removes_alias_and_tag_and_keeps_production(registry, store):
    to_production(registry, store, WEAK)
    promote(registry, store, version=BETTER, to="staging", rules=ANY_QUALITY)
    promote(registry, store, version=None, to="production", canary_percent=10, rules=ANY_QUALITY)

    aborted = rollback(registry, store, environment="canary", reason="p95 up 40%")
    assert aborted.action == "canary-abort" and (aborted.from_version, aborted.to_version) == (BETTER, WEAK)
    assert alias(registry, "canary") is None and CANARY_TAG not in registry.model_tags()
    assert alias(registry, "production") == WEAK
    event = read_history(store, "canary")[-1]
    assert (event.action, event.reason) == ("canary-abort", "p95 up 40%")
    assert "left.canary.at" in registry.version(BETTER).tags
    assert "deployed.canary.at" not in registry.version(WEAK).tags  # production's version never entered it

    with pytest.raises(ConfigurationError, match="no canary is running"):
        rollback(registry, store, environment="canary")
    with pytest.raises(ConfigurationError, match="--to does not apply"):
        rollback(registry, store, environment="canary", to_version=WEAK)


def test_canary_refuses_what_it_cannot_do(registry, store):
    promote(registry, store, version=WEAK, to="staging", rules=ANY_QUALITY)
    with pytest.raises(ConfigurationError, match="production is empty"):
        promote(registry, store, version=None, to="production", canary_percent=10)
    with pytest.raises(ConfigurationError, match="only applies to --to production"):
        promote(registry, store, version=None, to="staging", canary_percent=10)
    with pytest.raises(ConfigurationError, match="above 0 and at most 100"):
        promote(registry, store, version=None, to="production", canary_percent=150)
    promote(registry, store, version=None, to="production", rules=ANY_QUALITY)
    with pytest.raises(ConfigurationError, match="already in production; nothing to canary"):
        promote(registry, store, version=None, to="production", canary_percent=10)
