"""deploy/grafana/sentiment-mlops.json queries only series that a real `sentiment-mlops serve` exports.

The server is started as a user would (``serve``, monitor loop on) before its first model exists; a model is
trained on a small file and the server swaps it in (``sentiment_model_reloads_total``). It is sent predictions
and feedback, and its /metrics scraped until the monitor loop has published its gauges; every metric name and
every label a dashboard query groups or filters by must then be among the scraped samples.
"""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from ship_env import ROOT, free_port

from support.registries import seed_tracking_store

DASHBOARD = ROOT / "deploy" / "grafana" / "sentiment-mlops.json"
CLI = str(Path(sys.executable).parent / "sentiment-mlops")
METRIC = re.compile(r"\bsentiment_[a-z_]+\b")
GROUPING = re.compile(r"\b(?:by|without)\s*\(([^)]*)\)")
MATCHER = re.compile(r"([a-z_]+)\s*(?:=~|!~|!=|=)\s*\"")
GRAFANA_LABELS = {"job", "instance", "le"}  # added by Prometheus' scrape (job, instance) or the histogram (le)
ADMIN_TOKEN = "ship-test-" + "x" * 40

WORDS = {"positive": ["great", "lovely", "friendly", "perfect", "smooth"],
         "negative": ["awful", "delayed", "rude", "lost", "broken"],
         "neutral": ["a", "flight", "seat", "gate", "ticket"]}


def small_corpus(path: Path) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "sentiment"])
        for label, words in WORDS.items():
            for i, word in enumerate(words * 8):
                writer.writerow([f"the {word} {WORDS['neutral'][i % 5]} number {i}", label])


def dashboard_queries() -> list[str]:
    panels = json.loads(DASHBOARD.read_text())["panels"]
    return [target["expr"] for panel in panels for target in panel["targets"]]


def samples(exposition: str) -> dict[str, set[str]]:
    """sample name -> the label names it carries."""
    found: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(exposition):
        for sample in family.samples:
            found.setdefault(sample.name, set()).update(sample.labels)
    return found


@pytest.fixture(scope="module")
def scraped(tmp_path_factory) -> dict[str, set[str]]:
    work = tmp_path_factory.mktemp("grafana")
    small_corpus(work / "small.csv")
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("SENTIMENT_MLOPS_", "MLFLOW_"))},
           "MLFLOW_TRACKING_URI": seed_tracking_store(tmp_path_factory, work),
           "SENTIMENT_MLOPS_MONITOR_IN_SERVER": "true",
           "SENTIMENT_MLOPS_MONITOR_INTERVAL_SECONDS": "1", "SENTIMENT_MLOPS_ADMIN_TOKEN": ADMIN_TOKEN,
           "SENTIMENT_MLOPS_POLL_SECONDS": "1",
           "SENTIMENT_MLOPS_STORE_URL": f"sqlite:///{work / 'predictions.db'}"}

    def train(seed: str) -> None:
        trained = subprocess.run([CLI, "train", "--data", "small.csv", "--no-register", "--seed", seed], cwd=work,
                                 env=env, capture_output=True, text=True, timeout=300)
        assert trained.returncode == 0, trained.stdout[-2000:] + trained.stderr[-2000:]

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = (work / "serve.log").open("w")
    # Without --env, as the image runs it: local models, and 503 on /predict until the first model appears.
    server = subprocess.Popen([CLI, "serve", "--port", str(port)], cwd=work, env=env, stdout=log,
                              stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120

        def wait_for_health(ready) -> None:
            while True:
                assert server.poll() is None, (work / "serve.log").read_text()[-2000:]
                try:
                    if ready(httpx.get(f"{url}/health", timeout=2)):
                        return
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline, "serve did not come up with the model"
                time.sleep(0.3)

        wait_for_health(lambda response: response.status_code == 200)  # up, no model yet (503 on /predict)
        train("1")  # new artifacts in models/: the server swaps them in (sentiment_model_reloads_total)
        wait_for_health(lambda response: response.json()["model_version"] is not None)
        with httpx.Client(base_url=url, timeout=10) as client:
            for i, (label, words) in enumerate(WORDS.items()):
                for word in words * 4:
                    answer = client.post("/predict", json={"text": f"the {word} gate, trip {i}"}).json()
                    client.post("/feedback", json={"id": answer["id"], "label": label},
                                headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
            client.post("/predict/batch", json={"texts": ["great seat", "lost bag"]})
            wanted = {name for query in dashboard_queries() for name in METRIC.findall(query)}
            while True:  # the monitor loop publishes its gauges a moment after the traffic
                found = samples(client.get("/metrics").text)
                if wanted <= set(found) or time.monotonic() > deadline + 60:
                    return found
                time.sleep(0.5)
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


def test_dashboard_covers_what_the_issue_asks_for():
    queries = "\n".join(dashboard_queries())
    for needed in ("sentiment_http_requests_total", "histogram_quantile(0.95", "sentiment_predictions_total",
                   "sentiment_prediction_log_queue_depth", "sentiment_prediction_log_dropped_total",
                   "sentiment_monitor_drift_detected", "sentiment_monitor_live_accuracy"):
        assert needed in queries


@pytest.mark.parametrize("query", dashboard_queries())
def test_every_dashboard_query_uses_exported_metrics_and_labels(query, scraped):
    names = METRIC.findall(query)
    assert names, f"no sentiment_* metric in {query}"
    missing = [name for name in names if name not in scraped]
    assert not missing, f"{missing} are not exported by serve (exported: {sorted(scraped)})"
    labels = set().union(*(scraped[name] for name in names)) | GRAFANA_LABELS
    used = {label.strip() for group in GROUPING.findall(query) for label in group.split(",") if label.strip()}
    used |= set(MATCHER.findall(query))
    assert used <= labels, f"{sorted(used - labels)} are not labels of {names}"
