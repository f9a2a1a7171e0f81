"""``sentiment-mlops train`` / ``models`` / ``predict`` on a 3,000-row slice of the real corpus (the search on 1,000
of its rows), in temporary directories with temporary SQLite MLflow stores."""

from __future__ import annotations

import csv
import json
import pickle
import re
import shutil

import pytest
from mlflow.tracking import MlflowClient

from sentiment_mlops.errors import IntegrityError
from sentiment_mlops.integrity import sha256_file
from sentiment_mlops.registry import ModelRegistry, load_local, load_version

SEED_FILES = ["sentiment_model.pkl", "sentiment_model_vectorizer.pkl", "metrics.json", "confusion_matrix.json",
              "confusion_matrix.png", "manifest.json"]
MODEL = "SentimentAnalysisModel"


@pytest.fixture(autouse=True)
def _wide_console(monkeypatch):
    """Rich sizes tables to an 80-column console when not on a terminal; give them room to be asserted."""
    monkeypatch.setenv("COLUMNS", "200")


def test_train_prints_data_metrics_steps_and_the_version(trained_workspace):
    out = trained_workspace.stdout
    for expected in ("rows read", "3,000", "dropped (duplicate)", "train / 600 held out", "macro-F1",
                     "Held-out classification report", "Confusion matrix", "MLflow run:",
                     f"registered: {MODEL} version 1"):
        assert expected in out
    assert re.search(r"^\s+fit\s+\d+\.\d\d s$", out, re.M) and re.search(r"^\s+mlflow\s+\d+\.\d\d s$", out, re.M)


def test_seed_artifacts_exist_and_the_pickles_predict_with_plain_pickle(trained_workspace):
    models = trained_workspace.models_dir
    assert all((models / name).is_file() for name in SEED_FILES)
    with (models / "sentiment_model_vectorizer.pkl").open("rb") as f:
        vectorizer = pickle.load(f)
    with (models / "sentiment_model.pkl").open("rb") as f:
        classifier = pickle.load(f)
    predicted = classifier.predict(vectorizer.transform(["the flight was great, thank you", "lost my bag again"]))
    assert set(predicted) <= {"negative", "neutral", "positive"}
    assert (models / "confusion_matrix.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_manifest_vouches_for_every_file_and_tampering_is_detected(trained_workspace, tmp_path):
    models = trained_workspace.models_dir
    manifest = json.loads((models / "manifest.json").read_text())
    assert set(manifest["files"]) >= set(SEED_FILES) - {"manifest.json"} | {"reference_profile.json"}
    assert all(sha256_file(models / name) == digest for name, digest in manifest["files"].items())
    assert manifest["model_version"] == "1"
    copy = tmp_path / "models"
    shutil.copytree(models, copy)
    assert load_local(copy).version == "1"
    with (copy / "sentiment_model.pkl").open("ab") as f:
        f.write(b"\0")
    with pytest.raises(IntegrityError, match="sentiment_model.pkl .* altered after training"):
        load_local(copy)


def test_metrics_json_records_the_evaluation_and_provenance(trained_workspace):
    metrics = json.loads((trained_workspace.models_dir / "metrics.json").read_text())
    assert metrics["labels"] == ["negative", "neutral", "positive"]
    assert set(metrics["classification_report"]) >= {"negative", "neutral", "positive", "macro avg"}
    assert sum(map(sum, metrics["confusion_matrix"])) == metrics["test_size"] == 600
    assert len(metrics["data_fingerprint"]) == 64 and metrics["model_version"] == "1"
    assert re.fullmatch(r"[0-9a-f]{32}", metrics["run_id"])
    # The default model on 2,400 real training rows: well above chance (0.33) and the majority class.
    assert metrics["macro_f1"] > 0.55 and metrics["accuracy"] > 0.6


def test_mlflow_run_has_params_metrics_and_artifacts(trained_workspace):
    metrics = json.loads((trained_workspace.models_dir / "metrics.json").read_text())
    client = MlflowClient(trained_workspace.tracking_uri)
    run = client.get_run(metrics["run_id"])
    assert run.info.status == "FINISHED"
    assert client.get_experiment(run.info.experiment_id).name == "sentiment-analysis"
    assert set(run.data.params) >= {"dataset_size", "num_features", "model_type", "test_size", "seed", "data_source",
                                    "data_fingerprint", "clf__alpha", "clf__fit_prior", "tfidf__ngram_range"}
    assert run.data.params["dataset_size"] == "3000" and run.data.params["model_type"] == "mnb"
    assert run.data.metrics["macro_f1"] == pytest.approx(metrics["macro_f1"])
    assert {f"{c}_{m}" for c in ("negative", "neutral", "positive") for m in ("precision", "recall", "f1")} \
        <= set(run.data.metrics)
    logged = {a.path for a in client.list_artifacts(run.info.run_id, "training")}
    assert {f"training/{n}" for n in SEED_FILES + ["reference_profile.json"]} <= logged


def test_registered_version_is_tagged_and_loads_from_skops_with_signature(trained_workspace, tmp_path):
    registry = ModelRegistry(trained_workspace.tracking_uri, MODEL)
    (version,) = registry.versions()
    assert version.version == "1" and version.tags["model_type"] == "mnb"
    assert float(version.tags["macro_f1"]) > 0.55 and float(version.tags["accuracy"]) > 0.6
    assert len(version.tags["data_fingerprint"]) == 64
    model_dir, _ = registry.download("1", str(tmp_path))
    mlmodel = (tmp_path / "model" / "MLmodel").read_text() if (tmp_path / "model" / "MLmodel").exists() \
        else next(tmp_path.rglob("MLmodel")).read_text()
    for field in ("serialization_format: skops", "signature:", "saved_input_example_info"):
        assert field in mlmodel
    loaded = load_version(registry, "1", cache_dir=tmp_path)
    local = load_local(trained_workspace.models_dir)
    texts = ["the flight was great", "delayed for hours", "boarding now"]
    assert (loaded.pipeline.predict_proba(texts) == local.pipeline.predict_proba(texts)).all()
    assert loaded.profile is not None and loaded.profile["size"] == 600


def test_models_lists_versions_with_metrics(in_workspace, cli_run):
    code, out, _ = cli_run("models")
    assert code == 0
    row = r"│ 1 +│ \d{4}-\d\d-\d\d \d\d:\d\d:\d\d +│ mnb +│ 0\.\d{4} +│ 0\.\d{4} +│ [0-9a-f]{12} +│ - +│"
    assert re.search(row, out)


@pytest.mark.parametrize("source", [[], ["--model-uri", f"models:/{MODEL}/1"]], ids=["local", "registry"])
def test_predict_scores_texts(in_workspace, cli_run, source):
    code, out, _ = cli_run("predict", "the flight was great, thank you so much", *source)
    assert code == 0
    assert "model version 1" in out and ("registry" in out if source else "local" in out)
    assert re.search(r"the flight was great.*│ (positive|neutral|negative) +│ +0\.\d{3}", out)


@pytest.mark.parametrize(("argv", "message"), [
    (["predict", "x", "--model-uri", "runs:/abc/model"], "--model-uri must look like models:/NAME/VERSION"),
    (["predict", "x", "--model-uri", f"models:/{MODEL}/9"], "version 9"),
    (["predict", "x", "--env", "production"], "no version has alias 'production'"),
    (["predict", "   "], "non-whitespace"),
])
def test_predict_errors_are_one_line(in_workspace, cli_run, argv, message):
    code, _, err = cli_run(*argv)
    assert code == 1 and message in err and err.count("\n") == 1


def _assert_nothing_happened(root, code, err, message):
    assert code == 1, err
    assert message in err and err.startswith("error: ") and err.count("\n") == 1
    assert (root / "models" / "keep.txt").read_text() == "untouched"
    assert sorted(p.name for p in (root / "models").iterdir()) == ["keep.txt"]


@pytest.mark.parametrize(("argv", "message"), [
    (["--data", "missing.csv"], "data file not found: missing.csv"),
    (["--data", "{csv}", "--text-column", "body"], "column 'body' not found"),
    (["--param", "bogus=1"], "unknown parameter 'bogus'"),
    (["--model", "forest"], "unknown model 'forest'"),
])
def test_bad_input_fails_with_one_line_and_writes_nothing(isolated, cli_run, slice_csv, argv, message):
    (isolated / "models").mkdir()
    (isolated / "models" / "keep.txt").write_text("untouched")
    code, _, err = cli_run("train", *[a.replace("{csv}", str(slice_csv)) for a in argv])
    _assert_nothing_happened(isolated, code, err, message)
    assert not (isolated / "mlflow.db").exists()


SEARCH_ROWS = 1000  # of the slice: what the search logs does not depend on how many rows each fold fits


@pytest.mark.usefixtures("tracked")
def test_failing_run_registers_nothing_then_search_logs_trials_without_registering(isolated, cli_run,
                                                                                   corpus_slice):
    texts, labels = corpus_slice
    data = isolated / "search.csv"
    with data.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "sentiment"])
        writer.writerows(zip(texts[:SEARCH_ROWS], labels[:SEARCH_ROWS], strict=True))
    (isolated / "models").mkdir()
    (isolated / "models" / "keep.txt").write_text("untouched")
    code, _, err = cli_run("train", "--data", str(data), "--param", "min_df=100000")
    _assert_nothing_happened(isolated, code, err, "training failed with these parameters")

    code, out, err = cli_run("train", "--data", str(data), "--search", "2", "--no-register",
                          "--models-dir", "other")
    assert code == 0, err
    assert "registered: no (--no-register)" in out
    assert re.search(r"trial +1/2: CV macro-F1 0\.\d{4} ± 0\.\d{4}", out) and "trial   2/2" in out
    metrics = json.loads((isolated / "other" / "metrics.json").read_text())
    assert metrics["model_version"] is None
    uri = f"sqlite:///{isolated / 'mlflow.db'}"
    assert ModelRegistry(uri, MODEL).versions() == []
    client = MlflowClient(uri)
    runs = client.search_runs([client.get_experiment_by_name("sentiment-analysis").experiment_id])
    parent = client.get_run(metrics["run_id"])
    trials = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == metrics["run_id"]]
    assert len(runs) == 3 and len(trials) == 2  # the failed fit opened no run
    assert all("cv_macro_f1" in t.data.metrics and "clf__alpha" in t.data.params for t in trials)
    best = max(trials, key=lambda t: t.data.metrics["cv_macro_f1"])
    assert float(parent.data.params["clf__alpha"]) == pytest.approx(float(best.data.params["clf__alpha"]))
    assert parent.data.params["search_trials"] == "2" and "macro_f1" in parent.data.metrics


def test_predict_from_the_registry_leaves_no_download_behind(in_workspace, cli_run, tmp_path, monkeypatch):
    import tempfile

    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    code, out, err = cli_run("predict", "--model-uri", f"models:/{MODEL}/1", "the crew were lovely")
    assert code == 0, err
    assert "model version 1 (registry)" in out
    assert [p.name for p in scratch.iterdir()] == []
