"""``train --with-feedback`` end to end: a version trained without a topic serves it through a real server, the
topic's labels come back through the authenticated ``/feedback``, and the retrained version, promoted through
the gate, is better on the rest of the topic and no worse on the base held-out split."""

from __future__ import annotations

import json
import re

import pytest

from sentiment_mlops.registry import ModelRegistry, load_local
from support.feedback import build_base_registry, macro_f1, predict_and_label, topic_split
from support.processes import child_env, serve
from support.registries import build_once, copy_registry

FEEDBACK_TOKEN = "test-feedback-token-0123456789"


@pytest.fixture(autouse=True)
def _wide_console(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")


@pytest.fixture
def base_workspace(tmp_path_factory, tmp_path, monkeypatch):
    built = build_once(tmp_path_factory, "feedback-base", build_base_registry)
    workspace = copy_registry(built, tmp_path / "ws")
    monkeypatch.chdir(workspace.root)
    settings = {"MLFLOW_TRACKING_URI": workspace.tracking_uri,
                "SENTIMENT_MLOPS_STORE_URL": f"sqlite:///{workspace.root / workspace.info['store']}",
                "SENTIMENT_MLOPS_FEEDBACK_TOKEN": FEEDBACK_TOKEN, "SENTIMENT_MLOPS_GATE_LATENCY_SAMPLES": "20"}
    for key, value in settings.items():
        monkeypatch.setenv(key, value)
    return workspace, settings


@pytest.mark.slow
def test_feedback_from_production_adapts_the_model_to_its_topic(base_workspace, builtin_dataset, cli_run):
    workspace, settings = base_workspace
    split = topic_split(builtin_dataset)
    with serve("production", env=child_env(**settings), cwd=workspace.root) as url:
        served = predict_and_label(url, split.feedback, FEEDBACK_TOKEN)
    assert {p["model_version"] for p in served} == {"1"}

    code, out, err = cli_run("train", "--with-feedback", "--data", "base.csv", "--env", "production",
                             "--since", "2020-01-01", "--models-dir", "models-2")
    assert code == 0, err
    assert re.search(r"labelled rows read\s+│ 300 ", out) and "rows used" in out and "held-out feedback (" in out
    assert "registered: SentimentAnalysisModel version 2" in out
    metrics = json.loads((workspace.root / "models-2" / "metrics.json").read_text())
    recorded = metrics["feedback"]
    assert recorded["rows"] == 300 - recorded["dropped_in_base_data"] - recorded["dropped_duplicate"]
    assert recorded["train_size"] + recorded["test_size"] == recorded["rows"]
    assert recorded["environment"] == "production"
    registry = ModelRegistry(workspace.tracking_uri, "SentimentAnalysisModel", "sentiment-analysis")
    assert registry.version("2").tags["feedback_fingerprint"] == recorded["fingerprint"]

    assert cli_run("promote", "--to", "staging")[0] == 0
    code, out, err = cli_run("promote", "--to", "production")
    assert code == 0, err
    assert "base_vs_feedback_heldout" in out and "production: 1 → 2" in out

    before, after = (load_local(workspace.root / folder).pipeline for folder in ("models", "models-2"))
    base_heldout = [(row["text"], row["label"]) for row in map(json.loads, (workspace.root / "models" /
                                                                            "heldout.jsonl").open())]
    assert macro_f1(after, split.rest) - macro_f1(before, split.rest) >= 0.10
    assert macro_f1(before, base_heldout) - macro_f1(after, base_heldout) <= 0.01


@pytest.mark.parametrize(("args", "message"), [
    (["--env", "qa"], "--env must be one of local, staging, production, got 'qa'"),
    (["--since", "last tuesday"], "--since must be a date like 2026-11-30"),
    (["--feedback-weight", "0"], "--feedback-weight must be above 0, got 0"),
])
def test_bad_feedback_options_are_one_line_and_exit_1(isolated, cli_run, args, message):
    code, out, err = cli_run("train", "--with-feedback", *args)
    assert code == 1 and message in err and len(err.strip().splitlines()) == 1


def test_options_without_with_feedback_and_a_store_without_feedback_are_refused(isolated, slice_csv, cli_run,
                                                                                 monkeypatch):
    code, _, err = cli_run("train", "--env", "production")
    assert code == 1 and "--env: only with --with-feedback" in err
    monkeypatch.setenv("SENTIMENT_MLOPS_STORE_URL", f"sqlite:///{isolated}/logs/predictions.db")
    code, _, err = cli_run("train", "--with-feedback", "--data", str(slice_csv), "--env", "production")
    assert code == 1 and "no labelled feedback for production in the prediction store" in err
    assert not (isolated / "models").exists()
