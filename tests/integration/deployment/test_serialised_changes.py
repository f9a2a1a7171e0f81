"""Deployment changes are serialised (one lock per store) and move an alias only if it still points where the
decision saw it; ``history --verify`` reports any disagreement between the history and the registry."""

from __future__ import annotations

import threading

import pytest

from sentiment_mlops.deployment.actions import promote, rollback
from sentiment_mlops.deployment.history import read_history, verify_history
from sentiment_mlops.deployment.policy import GateRules
from sentiment_mlops.errors import ConflictError
from sentiment_mlops.store.locks import deployment_lock
from support.deployment import BETTER, GOOD, WEAK

ANY_QUALITY = GateRules(max_macro_f1_drop=1.0)


def alias(registry, name):
    info = registry.alias_version(name)
    return info.version if info else None


def aliases(registry):
    return {name: alias(registry, name) for name in ("staging", "production", "canary")}


def test_a_second_command_waits_for_the_lock_then_sees_the_first_ones_result(registry, store, monkeypatch):
    """promote while a rollback runs: the promote's gate compares with the version the rollback left."""
    for version in (WEAK, BETTER):
        promote(registry, store, version=version, to="staging", rules=ANY_QUALITY)
    gate_incumbents = []
    import sentiment_mlops.deployment.actions as actions

    real_run_gate = actions.run_gate

    def recording_gate(registry_, candidate, incumbent, **kwargs):
        gate_incumbents.append(incumbent)
        return real_run_gate(registry_, candidate, incumbent, **kwargs)

    monkeypatch.setattr(actions, "run_gate", recording_gate)
    rollback_started = threading.Event()
    finish_rollback = threading.Event()
    real_move = actions._move_alias

    def slow_move(registry_, name, *, expected, version):
        rollback_started.set()
        finish_rollback.wait(10)
        real_move(registry_, name, expected=expected, version=version)

    monkeypatch.setattr(actions, "_move_alias", slow_move)
    rolling = threading.Thread(target=rollback, args=(registry, store),
                               kwargs={"environment": "staging", "reason": "bad"})
    rolling.start()
    assert rollback_started.wait(10)
    monkeypatch.setattr(actions, "_move_alias", real_move)  # the promote moves at full speed
    outcome: dict[str, object] = {}

    def promote_good() -> None:
        outcome["result"] = promote(registry, store, version=GOOD, to="staging", rules=ANY_QUALITY)

    promoting = threading.Thread(target=promote_good)
    promoting.start()
    promoting.join(0.5)
    assert promoting.is_alive(), "the promote must wait for the rollback's lock"
    finish_rollback.set()
    rolling.join(10)
    promoting.join(30)
    assert gate_incumbents == [WEAK]  # the gate saw the version the rollback left, not BETTER
    steps = [(e.action, e.from_version, e.to_version) for e in read_history(store, "staging")]
    assert steps[-2:] == [("rollback", BETTER, WEAK), ("promote", WEAK, GOOD)]
    assert alias(registry, "staging") == GOOD
    assert verify_history(read_history(store), aliases(registry)) == []


def test_an_alias_moved_around_the_tool_while_the_gate_ran_is_refused(registry, store, monkeypatch):
    promote(registry, store, version=WEAK, to="staging", rules=ANY_QUALITY)
    import sentiment_mlops.deployment.actions as actions

    real_run_gate = actions.run_gate

    def gate_then_someone_moves_staging(*args, **kwargs):
        report = real_run_gate(*args, **kwargs)
        registry.set_alias("staging", BETTER)  # e.g. the MLflow UI, during the gate
        return report

    monkeypatch.setattr(actions, "run_gate", gate_then_someone_moves_staging)
    with pytest.raises(ConflictError, match=f"staging moved from {WEAK} to {BETTER} while this command ran"):
        promote(registry, store, version=GOOD, to="staging", rules=ANY_QUALITY)
    assert alias(registry, "staging") == BETTER  # left where the other writer put it
    assert [e.to_version for e in read_history(store, "staging")] == [WEAK]  # nothing recorded
    found = verify_history(read_history(store), aliases(registry))
    assert [str(d) for d in found] == [f"staging: the registry says {BETTER}, the history says {WEAK}"]


def test_the_lock_times_out_with_one_clear_line(store):
    with deployment_lock(store.source_url):
        with pytest.raises(ConflictError, match="another promote, rollback or canary change holds the deployment "
                                                "lock"):
            with deployment_lock(store.source_url, wait_seconds=0.2):
                pass
    with deployment_lock(store.source_url, wait_seconds=0.2):  # released: free again
        pass


def test_history_verify_on_the_command_line(registry, store, tracking_uri, store_url, cli_run, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_uri)
    monkeypatch.setenv("SENTIMENT_MLOPS_STORE_URL", store_url)
    promote(registry, store, version=WEAK, to="staging", rules=ANY_QUALITY)
    code, out, err = cli_run("history", "--verify")
    assert code == 0 and f"staging: {WEAK}" in out and "history agrees with the registry" in out
    registry.set_alias("production", BETTER)
    code, out, err = cli_run("history", "--verify")
    assert code == 1
    assert f"production: the registry says {BETTER}, the history says unset" in " ".join(err.split())
