"""Replay and shadow against a real ``serve --env production`` on loopback: logged traffic with feedback,
``promote --shadow`` (gated with the replay) printing the numbers, shadow rows after live requests, the
dashboard's comparison, and ``rollback --env shadow`` ending it."""

from __future__ import annotations

import httpx
import pytest

from sentiment_mlops.deployment.history import read_history
from support.deployment import BETTER, GOOD, copy_tracking_uri
from support.polling import wait_for
from support.processes import child_env, serve

pytestmark = pytest.mark.slow

FEEDBACK_TOKEN = "feedback-token-for-the-shadow-test"


def _shadow_served(url: str, version: str) -> bool:
    line = f'sentiment_model_info{{environment="production",model_version="{version}",role="shadow"}} 1.0'
    return line in httpx.get(f"{url}/metrics", timeout=5).text


def test_replay_then_shadow_then_rollback_on_a_live_server(deployment_template, tmp_path, corpus_slice, cli_run,
                                                           monkeypatch):
    from sentiment_mlops.registry import ModelRegistry
    from sentiment_mlops.store import PredictionStore

    tracking_uri = copy_tracking_uri(deployment_template, tmp_path / "tracking")
    store_url = f"sqlite:///{tmp_path}/logs/predictions.db"
    env = child_env(MLFLOW_TRACKING_URI=tracking_uri, SENTIMENT_MLOPS_STORE_URL=store_url, COLUMNS="220",
                    SENTIMENT_MLOPS_POLL_SECONDS="0.3", SENTIMENT_MLOPS_FEEDBACK_TOKEN=FEEDBACK_TOKEN,
                    # about aliases and evidence, not about which of two similar versions is better
                    SENTIMENT_MLOPS_GATE_MAX_MACRO_F1_DROP="1.0", SENTIMENT_MLOPS_REPLAY_MIN_AGREEMENT="0.5")
    registry = ModelRegistry(tracking_uri, "SentimentAnalysisModel", "sentiment-analysis")
    store = PredictionStore(store_url)
    for environment, version in (("staging", GOOD), ("production", BETTER)):
        registry.set_alias(environment, version)
        store.record_deployment(environment=environment, action="promote", to_version=version)
    texts, labels = corpus_slice
    with serve("production", env=env, cwd=tmp_path) as url, httpx.Client(base_url=url, timeout=10) as client:
        ids = [client.post("/predict", json={"text": text}).json()["id"] for text in texts[:120]]
        for prediction_id, label in zip(ids[:60], labels[:60], strict=True):
            client.post("/feedback", json={"id": prediction_id, "label": label},
                        headers={"Authorization": f"Bearer {FEEDBACK_TOKEN}"}).raise_for_status()
        wait_for(lambda: store.count_predictions(environment="production") == 120, timeout=10, what="120 logged")

        for name, value in env.items():  # the CLI in this process, with the server's settings
            if name.startswith(("SENTIMENT_MLOPS_", "MLFLOW_")) or name == "COLUMNS":
                monkeypatch.setenv(name, value)
        code, out, err = cli_run("promote", GOOD, "--to", "production", "--shadow", "--replay", "2000")
        assert code == 0, err
        assert f"Replay: candidate v{GOOD} vs incumbent v{BETTER} on 120 texts" in out
        for shown in ("replay_agreement", "replay_labelled_accuracy", "label mix (incumbent → candidate)",
                      "n=60 labelled", "Replay flips", "shadow started: version 4 also scores 100%"):
            assert shown in out, shown
        event = read_history(store, "shadow")[-1]
        assert event.action == "shadow-start" and event.report["replay"]["comparison"]["n"] == 120
        assert event.report["replay"]["comparison"]["labelled"] == 60
        code, out, _ = cli_run("history", "--env", "shadow")
        assert code == 0 and "shadow-start" in out and "agree (n=120)" in out

        wait_for(lambda: _shadow_served(url, GOOD), timeout=15, what="the server to load the shadow")
        live = [client.post("/predict", json={"text": text}).json() for text in texts[120:160]]
        assert {answer["model_version"] for answer in live} == {BETTER}  # the shadow never answers
        wait_for(lambda: store.count_predictions(environment="shadow") == 40, timeout=15, what="40 shadow rows")
        rows = store.recent_predictions(environment="shadow", limit=100)
        assert {row["shadow_of"] for row in rows} == {answer["id"] for answer in live}
        assert {(row["model_version"], row["source"]) for row in rows} == {(GOOD, "shadow")}
        panel = client.get("/api/shadow").json()
        assert panel["shadow_version"] == GOOD and panel["pairs"] == 40 and panel["comparison"]["n"] == 40
        assert "sentiment_shadow_dropped_total" in client.get("/metrics").text

        code, said, err = cli_run("rollback", "--env", "shadow")
        assert code == 0 and f"shadow of {GOOD} ended" in said, err
        wait_for(lambda: not _shadow_served(url, GOOD), timeout=15, what="the server to drop the shadow")
        for text in texts[160:170]:
            client.post("/predict", json={"text": text}).raise_for_status()
        wait_for(lambda: store.count_predictions(environment="production") == 170, timeout=10, what="170 logged")
        assert store.count_predictions(environment="shadow") == 40
    store.close()
