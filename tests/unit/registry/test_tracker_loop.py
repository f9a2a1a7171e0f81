"""The tracker child's request loop, driven in-process over a real pipe and a real SQLite MLflow store."""

from __future__ import annotations

import multiprocessing
import threading

import pytest

from sentiment_mlops.errors import RegistryError
from sentiment_mlops.registry.client import ModelRegistry
from sentiment_mlops.registry.tracker_process import serve
from sentiment_mlops.training.pipeline import build_pipeline


@pytest.fixture
def loop(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # MLflow puts a SQLite store's artifacts under ./mlruns
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    parent, child = multiprocessing.Pipe()
    thread = threading.Thread(target=serve, args=(child, uri, "sentiment-analysis", "SentimentAnalysisModel"))
    thread.start()

    def call(method, *args, **kwargs):
        parent.send((method, args, kwargs))
        status, value = parent.recv()
        if status == "error":
            raise value
        return value

    parent.send("ready")
    assert parent.recv() == ("ready", None)
    yield uri, call
    parent.send(None)
    thread.join(timeout=60)
    assert not thread.is_alive()


def test_the_loop_logs_a_model_and_registers_a_tagged_version(loop, corpus_slice, tmp_path):
    uri, call = loop
    texts, labels = corpus_slice
    pipeline = build_pipeline("mnb").fit(texts[:1000], labels[:1000])
    run_id = call("start_run", "train-mnb", nested=False, tags={})
    call("log_params", {"model_type": "mnb", "tfidf__ngram_range": (1, 2)})
    call("log_metrics", {"macro_f1": 0.6})
    (tmp_path / "files").mkdir()
    (tmp_path / "files" / "metrics.json").write_text("{}")
    call("log_artifacts", tmp_path / "files")
    model_uri = call("log_model", pipeline, texts[:3])
    assert len(call("model_digest", model_uri)["model.skops"]) == 64
    assert call("register", model_uri, {"macro_f1": "0.6000"}) == "1"
    call("end_run", "FINISHED")
    (version,) = ModelRegistry(uri, "SentimentAnalysisModel").versions()
    assert version.run_id == run_id and version.tags["macro_f1"] == "0.6000"


def test_errors_come_back_as_registry_errors_and_the_loop_goes_on(loop):
    _, call = loop
    with pytest.raises(RegistryError, match="unknown tracker call 'delete_everything'"):
        call("delete_everything")
    with pytest.raises(RegistryError, match="registering SentimentAnalysisModel failed: Run with id=0123"):
        call("register", "runs:/0123456789abcdef/model", {})
    with pytest.raises(RegistryError, match="MLflow failed: could not convert string to float"):
        call("log_metrics", {"macro_f1": "high"})
    assert len(call("start_run", "still-alive", nested=False, tags={})) == 32
    call("end_run", "FINISHED")
