"""Two ``monitor --watch --retrain`` processes on one store: only the holder of the store's retraining lock steps
the loop (one training run, one canary); the other says it follows, and takes over when the holder stops.

Several real processes training and deploying on one store: with the other multi-process topologies it runs in
``make test-deploy`` (marker ``cluster``); the lock itself is tested on both backends in
tests/integration/monitoring/test_retrain_loop_lock.py, in ``make test``."""

from __future__ import annotations

import subprocess

import pytest

from sentiment_mlops.registry import ModelRegistry
from sentiment_mlops.store import PredictionStore
from support.feedback import build_base_registry, topic_split
from support.polling import wait_for
from support.processes import CLI, child_env, stop
from support.registries import build_once, copy_registry

pytestmark = [pytest.mark.slow, pytest.mark.cluster]

LABELS = 120
POLICY = """\
min_new_labels: 100
require: none
cooldown_minutes: 60
canary_percent: 10
canary_minutes: 60
training:
  data: base.csv
"""


def _actions(store_url: str) -> list[str]:
    with PredictionStore(store_url) as store:
        return [str(e["action"]) for e in store.deployment_events()]


def _label_production(store_url: str, rows: list[tuple[str, str]]) -> None:
    """What production served and the labels that came back through the authenticated ``/feedback``."""
    with PredictionStore(store_url) as store:
        ids = store.insert_predictions([{"environment": "production", "model_version": "1", "text": text,
                                         "sentiment": "neutral", "confidence": 0.5,
                                         "probabilities": {"negative": 0.25, "neutral": 0.5, "positive": 0.25}}
                                        for text, _ in rows])
        for prediction_id, (_, label) in zip(ids, rows, strict=True):
            store.add_feedback(prediction_id, label, actor="feedback-token")


def test_two_watchers_on_one_store_train_once_and_the_follower_takes_over(tmp_path_factory, tmp_path,
                                                                          builtin_dataset):
    workspace = copy_registry(build_once(tmp_path_factory, "feedback-base", build_base_registry), tmp_path / "ws")
    root = workspace.root
    store_url = f"sqlite:///{root / workspace.info['store']}"
    (root / "policy.yml").write_text(POLICY)
    _label_production(store_url, topic_split(builtin_dataset).feedback[:LABELS])
    env = child_env(MLFLOW_TRACKING_URI=workspace.tracking_uri, SENTIMENT_MLOPS_STORE_URL=store_url,
                    SENTIMENT_MLOPS_GATE_LATENCY_SAMPLES="20", COLUMNS="200")
    logs = [root / f"watch-{n}.log" for n in (1, 2)]
    watchers = []
    try:
        for log in logs:
            with log.open("w") as out:
                watchers.append(subprocess.Popen([CLI, "monitor", "--env", "production", "--watch", "--interval",
                                                  "0.5", "--retrain", "policy.yml"], env=env, cwd=root, stdout=out,
                                                 stderr=subprocess.STDOUT))

        def text(n: int) -> str:
            if watchers[n].poll() is not None:
                raise AssertionError(f"watcher {n + 1} exited: {logs[n].read_text()[-3000:]}")
            return logs[n].read_text()

        wait_for(lambda: "canary-start" in _actions(store_url), timeout=180, interval=0.5, what="the loop's canary")
        # Both have made passes since: the follower kept following, the leader kept watching its canary.
        wait_for(lambda: all(t.count("watching the canary") + t.count("retrain: following") >= 3
                             for t in (text(0), text(1))), timeout=60, what="three more passes of each watcher")
        leader = 0 if "retrain: loop" in text(0) else 1
        follower = 1 - leader
        assert "retrain: loop" not in text(follower) and "retrain: following" in text(follower)
        assert "retrain: following" not in text(leader)
        actions = _actions(store_url)
        assert actions.count("loop-triggered") == actions.count("loop-trained") == actions.count("canary-start") == 1
        registry = ModelRegistry(workspace.tracking_uri, "SentimentAnalysisModel", "sentiment-analysis")
        assert sorted(v.version for v in registry.versions()) == ["1", "2"]

        stop(watchers[leader])
        wait_for(lambda: "watching the canary of version 2" in text(follower), timeout=60,
                 what="the follower to take the loop over")
        assert _actions(store_url).count("loop-trained") == 1
    finally:
        for watcher in watchers:
            stop(watcher)
