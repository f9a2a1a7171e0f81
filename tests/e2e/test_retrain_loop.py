"""One full retraining loop with real processes: a production server, the watch loop with ``--retrain``, a webhook
receiver on loopback. Version 1 never saw the Claritin tweets; production serves them, their labels come back
through the authenticated ``/feedback``; the loop sees the accuracy drop and the new labels, trains with the
feedback, gates it into staging, starts a canary, watches it serve and get labelled, waits for approval, and
``promote --approve`` (with the admin token) finishes it. Every step is in the history and reached the webhook."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from sentiment_mlops.monitoring.performance import as_utc
from sentiment_mlops.registry import ModelRegistry, load_local
from sentiment_mlops.store import PredictionStore
from support.feedback import build_base_registry, macro_f1, predict_and_label, topic_split
from support.polling import wait_for
from support.processes import CLI, child_env, serve, stop
from support.registries import build_once, copy_registry
from support.webhooks import webhook_receiver

FEEDBACK_TOKEN = "test-feedback-token-0123456789"
ADMIN_TOKEN = "test-admin-token-0123456789"
CANARY_TEXTS = 80
POLICY = """\
environment: production
min_new_labels: 200
require: drift_or_accuracy_drop
min_labelled_for_accuracy: 50
cooldown_minutes: 60
canary_percent: 50
canary_minutes: 0
min_canary_predictions: 20
min_canary_labels: 15
max_canary_accuracy_drop: 0.05
promotion: approval
training:
  data: base.csv
  models_dir: models-loop
"""


def _events(store_url: str) -> list[dict]:
    with PredictionStore(store_url) as store:
        return store.deployment_events()


def _label_one_by_one(url: str, rows: list[tuple[str, str]]) -> list[str]:
    """Single /predict calls (the canary share is drawn per request), each labelled; the versions that answered."""
    versions = []
    with httpx.Client(base_url=url, timeout=30) as client:
        for text, label in rows:
            answer = client.post("/predict", json={"text": text}).json()
            versions.append(answer["model_version"])
            client.post("/feedback", json={"id": answer["id"], "label": label},
                        headers={"Authorization": f"Bearer {FEEDBACK_TOKEN}"}).raise_for_status()
    return versions


@contextmanager
def _retrain_watch(root: Path, env: dict[str, str], store_url: str) -> Iterator[Callable[[], list[str]]]:
    """A real ``monitor --watch --retrain policy.yml`` process; yields a function listing the history's actions
    (failing the test if the process has exited)."""
    with (root / "watch.log").open("w") as log:
        watch = subprocess.Popen([CLI, "monitor", "--env", "production", "--watch", "--interval", "1",
                                  "--retrain", "policy.yml"], env=env, cwd=root, stdout=log, stderr=subprocess.STDOUT)

        def actions() -> list[str]:
            if watch.poll() is not None:
                raise AssertionError(f"the watch loop exited: {(root / 'watch.log').read_text()[-3000:]}")
            return [e["action"] for e in _events(store_url)]

        try:
            yield actions
        finally:
            stop(watch)


@pytest.mark.slow
def test_one_full_loop_drift_retrain_gate_canary_approval(tmp_path_factory, tmp_path, builtin_dataset, cli_run,
                                                          monkeypatch):
    workspace = copy_registry(build_once(tmp_path_factory, "feedback-base", build_base_registry), tmp_path / "ws")
    root = workspace.root
    monkeypatch.chdir(root)
    store_url = f"sqlite:///{root / workspace.info['store']}"
    (root / "policy.yml").write_text(POLICY)
    split = topic_split(builtin_dataset)
    with webhook_receiver() as receiver:
        settings = {"MLFLOW_TRACKING_URI": workspace.tracking_uri, "SENTIMENT_MLOPS_STORE_URL": store_url,
                    "SENTIMENT_MLOPS_FEEDBACK_TOKEN": FEEDBACK_TOKEN, "SENTIMENT_MLOPS_ADMIN_TOKEN": ADMIN_TOKEN,
                    "SENTIMENT_MLOPS_ALERT_WEBHOOK": receiver.url, "SENTIMENT_MLOPS_GATE_LATENCY_SAMPLES": "20",
                    "SENTIMENT_MLOPS_POLL_SECONDS": "0.5", "COLUMNS": "200"}
        for key, value in settings.items():
            monkeypatch.setenv(key, value)
        with serve("production", env=child_env(**settings), cwd=root) as url:
            predict_and_label(url, split.feedback, FEEDBACK_TOKEN)
            with _retrain_watch(root, child_env(**settings), store_url) as actions:
                wait_for(lambda: "canary-start" in actions(), timeout=180, interval=0.5, what="the loop's canary")
                wait_for(lambda: "2" in _label_one_by_one(url, split.rest[:4]), timeout=30,
                         what="the server to load the canary")
                versions = _label_one_by_one(url, split.rest[4:4 + CANARY_TEXTS])
                assert {"1", "2"} == set(versions)
                wait_for(lambda: "loop-awaiting-approval" in actions(), timeout=60, interval=0.5,
                         what="the loop to wait for approval")
                waiting = next(e for e in _events(store_url) if e["action"] == "loop-awaiting-approval")

                monkeypatch.setenv("SENTIMENT_MLOPS_ADMIN_TOKEN", "someone-else-entirely-0123456789")
                code, _, err = cli_run("promote", "--approve", str(waiting["id"]))
                assert code == 1 and "is not the admin token the retraining loop runs with" in err
                monkeypatch.setenv("SENTIMENT_MLOPS_ADMIN_TOKEN", ADMIN_TOKEN)
                code, out, err = cli_run("promote", "--approve", str(waiting["id"]))
                assert code == 0, err
                assert "canary finished: production 1 → 2" in out
                wait_for(lambda: any(m["details"].get("step") == "loop-approved" for m in receiver.received),
                         timeout=20, what="the approval's webhook")
                timeline = httpx.get(f"{url}/api/loop", timeout=10).json()["loops"]  # the dashboard's panel
                assert timeline[0]["status"] == "loop-approved"
                assert [s["action"] for s in timeline[0]["steps"]] == [
                    "loop-triggered", "loop-trained", "promote", "canary-start", "loop-awaiting-approval",
                    "canary-finish", "loop-approved"]

    code, out, _ = cli_run("history")
    assert code == 0
    (root / "history.txt").write_text(out)
    loop = [(e["environment"], e["action"], e["to_version"]) for e in _events(store_url)][2:]
    assert loop == [("loop", "loop-triggered", None), ("loop", "loop-trained", "2"), ("staging", "promote", "2"),
                    ("canary", "canary-start", "2"), ("loop", "loop-awaiting-approval", "2"),
                    ("production", "canary-finish", "2"), ("loop", "loop-approved", "2")]
    sent = [m for m in receiver.received if m["rule"] == "retrain_loop"]
    assert [m["details"]["step"] for m in sent] == ["loop-triggered", "loop-trained", "staged", "canary",
                                                     "loop-awaiting-approval", "loop-approved"]
    triggered = next(e for e in _events(store_url) if e["action"] == "loop-triggered")
    evidence = triggered["report"]["evidence"]
    assert evidence["new_labels"] >= 200 and (evidence["drift_detected"] or evidence["accuracy_drop"])
    code, _, _ = cli_run("history", "--verify")
    assert code == 0

    # What the loop trained from is recorded with the version; the CLI trains from the same rows.
    recorded = json.loads((root / "models-loop" / "metrics.json").read_text())["feedback"]
    registry = ModelRegistry(workspace.tracking_uri, "SentimentAnalysisModel", "sentiment-analysis")
    assert registry.version("2").tags["feedback_fingerprint"] == recorded["fingerprint"]
    assert recorded["rows_read"] == len(split.feedback) and recorded["environment"] == "production"
    with PredictionStore(store_url) as store:
        labelled_now = store.count_feedback(environment="production")  # the canary's traffic was labelled too
    code, out, err = cli_run("train", "--with-feedback", "--data", "base.csv", "--env", "production", "--since",
                             "2020-01-01", "--feedback-weight", "2", "--no-register", "--models-dir", "models-cli")
    assert code == 0, err
    assert re.search(rf"labelled rows read\s+│ {labelled_now} ", out) and re.search(r"weight\s+│ 2 ", out)
    assert "held-out feedback (" in out and "registered: no" in out
    assert json.loads((root / "models-cli" / "metrics.json").read_text())["feedback"]["weight"] == 2.0

    before, after = (load_local(root / folder).pipeline for folder in ("models", "models-loop"))
    unseen = split.rest[4 + CANARY_TEXTS:]
    base_heldout = [(row["text"], row["label"]) for row in map(json.loads, Path(root / "models/heldout.jsonl").open())]
    assert macro_f1(after, unseen) - macro_f1(before, unseen) >= 0.10
    assert macro_f1(before, base_heldout) - macro_f1(after, base_heldout) <= 0.01


SHADOW_POLICY = """\
min_new_labels: 200
require: drift_or_accuracy_drop
min_labelled_for_accuracy: 50
cooldown_minutes: 60
rollout: shadow
shadow_percent: 100
shadow_minutes: 0
min_shadow_pairs: 60
min_shadow_labels: 60
max_shadow_accuracy_drop: 0.05
promotion: auto
training:
  data: base.csv
  models_dir: models-loop
"""


@pytest.mark.slow
def test_a_loop_with_a_shadow_promotes_through_the_gate_on_the_shadows_evidence(tmp_path_factory, tmp_path,
                                                                                 builtin_dataset, monkeypatch):
    """The same loop with ``rollout: shadow``: the candidate scores every production request unseen, the labels
    production gets judge it on the same requests, and the ordinary gate (with the shadow's evidence) promotes it."""
    workspace = copy_registry(build_once(tmp_path_factory, "feedback-base", build_base_registry), tmp_path / "ws")
    root = workspace.root
    store_url = f"sqlite:///{root / workspace.info['store']}"
    (root / "policy.yml").write_text(SHADOW_POLICY)
    split = topic_split(builtin_dataset)
    with webhook_receiver() as receiver:
        settings = {"MLFLOW_TRACKING_URI": workspace.tracking_uri, "SENTIMENT_MLOPS_STORE_URL": store_url,
                    "SENTIMENT_MLOPS_FEEDBACK_TOKEN": FEEDBACK_TOKEN, "SENTIMENT_MLOPS_ALERT_WEBHOOK": receiver.url,
                    "SENTIMENT_MLOPS_GATE_LATENCY_SAMPLES": "20", "SENTIMENT_MLOPS_POLL_SECONDS": "0.5",
                    # A retrain that learned the topic disagrees with production exactly where production is wrong
                    # (on 60% of these texts); the gate's labelled-accuracy rule still guards it.
                    "SENTIMENT_MLOPS_REPLAY_MIN_AGREEMENT": "0.3", "COLUMNS": "200"}
        with serve("production", env=child_env(**settings), cwd=root) as url:
            predict_and_label(url, split.feedback, FEEDBACK_TOKEN)
            with _retrain_watch(root, child_env(**settings), store_url) as actions:
                wait_for(lambda: "shadow-start" in actions(), timeout=180, interval=0.5, what="the loop's shadow")
                # Each round serves and labels the policy's minimum (60 pairs, 60 labels) until the loop decides.
                rest = iter(split.rest[i:i + 60] for i in range(0, len(split.rest), 60))

                def served_and_judged() -> bool:
                    predict_and_label(url, next(rest), FEEDBACK_TOKEN)
                    return "loop-promoted" in actions()

                wait_for(served_and_judged, timeout=120, interval=1, what="the loop to promote its shadow")
                # The loop records loop-promoted as soon as the alias moved; the server follows within its poll.
                wait_for(lambda: "2" in _label_one_by_one(url, split.rest[-4:]), timeout=30,
                         what="the server to serve the promoted version")

    events = _events(store_url)
    loop = [(e["environment"], e["action"], e["to_version"]) for e in events][2:]
    assert loop == [("loop", "loop-triggered", None), ("loop", "loop-trained", "2"), ("staging", "promote", "2"),
                    ("shadow", "shadow-start", "2"), ("production", "promote", "2"), ("shadow", "shadow-end", None),
                    ("loop", "loop-promoted", "2")]
    promoted = next(e for e in events if e["environment"] == "production" and e["to_version"] == "2")
    with PredictionStore(store_url) as store:  # the shadow never answered: version 2 served only once promoted
        served = store.recent_predictions(environment="production", limit=5000)
    assert min(as_utc(r["created_at"]) for r in served if r["model_version"] == "2") >= as_utc(promoted["created_at"])
    shadow = promoted["report"]["shadow"]["comparison"]
    assert shadow["labelled"] >= 60 and shadow["candidate_accuracy"] > shadow["incumbent_accuracy"]
    rules = {r["name"]: r for r in promoted["report"]["rules"]}
    assert rules["shadow_labelled_accuracy"]["passed"] and not rules["shadow_labelled_accuracy"]["skipped"]
    judged = events[-1]["report"]["evidence"]
    assert judged["shadow_labelled"] >= 60 and judged["shadow_accuracy"] > judged["production_accuracy"]
    sent = [m["details"]["step"] for m in receiver.received if m["rule"] == "retrain_loop"]
    assert sent == ["loop-triggered", "loop-trained", "staged", "shadow", "loop-promoted"]
