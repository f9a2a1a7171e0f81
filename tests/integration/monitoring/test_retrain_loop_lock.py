"""The retraining loop's lock in one process, on each backend: a second loop on the same store follows until the
first releases (the two-process version runs in ``make test-deploy``: tests/e2e/deployment/test_retrain_watchers.py)."""

from __future__ import annotations

from sentiment_mlops.monitoring.retrain import RetrainLoop, loop_lock
from sentiment_mlops.monitoring.retrain_policy import RetrainPolicy
from sentiment_mlops.store import PredictionStore


def test_a_second_loop_on_the_same_store_follows_until_the_first_releases(store_url, tmp_path):
    """The lock on each backend (a file lock beside SQLite, an advisory lock on PostgreSQL), in one process."""
    from sentiment_mlops.monitoring.alerts import MonitorSnapshot
    from sentiment_mlops.monitoring.retrain import LoopAlerts

    policy = RetrainPolicy(require="none", min_new_labels=1)
    snapshot = MonitorSnapshot(environment="production", model_version="1")
    with PredictionStore(store_url) as store:
        loops = [RetrainLoop(policy, store=store, deployer=None, trainer=None,  # type: ignore[arg-type]
                             alerts=LoopAlerts(store, [], "production"), lock=loop_lock(store_url, "production"))
                 for _ in range(2)]
        try:
            assert loops[0].step(snapshot).startswith("retrain: not yet: 0 new labels")
            assert loops[1].step(snapshot).startswith("retrain: following: another process steps the retraining loop")
            loops[0].close()
            assert loops[1].step(snapshot).startswith("retrain: not yet")
            assert loops[0].step(snapshot).startswith("retrain: following")
        finally:
            for loop in loops:
                loop.close()

