"""``sentiment-mlops drift`` and ``sentiment-mlops monitor`` in-process, on a model trained in a tmp dir.

The model is trained (no MLflow) on 3,000 rows of the built-in corpus without its Coachella tweets,
so a file of Coachella tweets is a real shift and the model's own held-out file is none.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from support.drift import TOPIC_PATTERN


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    import numpy as np

    from sentiment_mlops.data import load_dataset
    from sentiment_mlops.training.run import TrainOptions, train

    root = tmp_path_factory.mktemp("drift-cli")
    dataset = load_dataset()
    kept = [i for i, t in enumerate(dataset.texts) if not TOPIC_PATTERN.search(t)]
    rows = np.random.default_rng(0).choice(kept, 3000, replace=False)
    corpus = root / "slice.jsonl"
    corpus.write_text("".join(json.dumps({"text": dataset.texts[i], "sentiment": dataset.labels[i]}) + "\n"
                              for i in rows))
    models_dir = root / "models"
    train(load_dataset(corpus), TrainOptions(register=False), models_dir=models_dir, tracker=None)
    new_topic = root / "coachella.csv"
    import csv

    with new_topic.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["tweet"])
        writer.writerows([t] for t in dataset.texts if TOPIC_PATTERN.search(t))
    return {"models": models_dir, "heldout": models_dir / "heldout.jsonl", "new_topic": new_topic}


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, trained: dict[str, Path], cli_run: Any) -> Any:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SENTIMENT_MLOPS_MODELS_DIR", str(trained["models"]))
    monkeypatch.setenv("SENTIMENT_MLOPS_STORE_URL", f"sqlite:///{tmp_path / 'logs' / 'predictions.db'}")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    return cli_run


def test_the_models_own_heldout_file_shows_no_drift(run: Any, trained: dict[str, Path]) -> None:
    code, out, _ = run("drift", "--data", str(trained["heldout"]), "--json", "--fail-on-drift")
    assert code == 0
    report = json.loads(out)
    assert report["drift_detected"] is False
    assert report["model_version"] == "local"
    assert report["current_size"] == report["reference_size"] == 600
    assert len(report["checks"]) == 8


def test_a_new_topic_exits_3_with_fail_on_drift(run: Any, trained: dict[str, Path]) -> None:
    code, out, _ = run("drift", "--data", str(trained["new_topic"]), "--text-column", "tweet", "--fail-on-drift",
                       "--models-dir", str(trained["models"]))
    assert code == 3
    assert "drift detected in:" in out and "oov_rate" in out and "vocabulary" in out and "new_terms" in out
    assert "words the model never saw, most significant first (texts): coachella" in out
    # The texts that drove it: the new topic's, naming the word the model never saw.
    drivers = out[out.index("texts furthest from the reference"):].splitlines()[1:6]
    assert len(drivers) == 5 and all(line.startswith("  ") and "coachella" in line.lower() for line in drivers)
    code, _, _ = run("drift", "--data", str(trained["new_topic"]), "--text-column", "tweet")
    assert code == 0  # without --fail-on-drift drift is reported, not an error


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["drift", "--data", "missing.csv"], "data file not found: missing.csv"),
        (["drift", "--data", "{heldout}", "--env", "production", "--version", "2"], "give one of --env, --version"),
        (["drift", "--data", "{heldout}", "--version", "two"], "--version must be a registered version number"),
        (["drift", "--data", "{heldout}", "--models-dir", "nowhere"], "no trained model in nowhere/"),
        (["monitor", "--env", "qa"], "--env must be one of local, staging, production"),
        (["monitor", "--env", "local"], "no logged predictions of model version local in environment 'local'"),
        (["monitor", "--env", "local", "--window", "0"], "--window must be at least 1"),
    ],
)
def test_bad_input_is_one_line_on_stderr(run: Any, trained: dict[str, Path], argv: list[str], message: str) -> None:
    code, _, err = run(*[a.replace("{heldout}", str(trained["heldout"])) for a in argv])
    assert code == 1
    assert message in " ".join(err.split())
    assert "Traceback" not in err


def _log_predictions(store_url: str, models_dir: Path, *, keep_text: bool, count: int = 400) -> None:
    from sentiment_mlops.registry import load_local
    from sentiment_mlops.store import PredictionStore

    loaded = load_local(models_dir)
    lines = (models_dir / "heldout.jsonl").read_text().split("\n")  # not splitlines: tweets hold U+2028
    texts = [json.loads(line)["text"] for line in lines if line][:count]
    probabilities = loaded.pipeline.predict_proba(texts)
    classes = [str(c) for c in loaded.pipeline.classes_]
    rows = [{"environment": "local", "model_version": loaded.version, "text": t if keep_text else None,
             "text_sha256": "0" * 64, "text_length": len(t), "sentiment": classes[int(p.argmax())],
             "confidence": float(p.max()), "probabilities": dict(zip(classes, map(float, p), strict=True))}
            for t, p in zip(texts, probabilities, strict=True)]
    with PredictionStore(store_url) as store:
        store.insert_predictions(rows)


def test_monitor_reports_the_latest_logged_window(run: Any, trained: dict[str, Path], tmp_path: Path) -> None:
    _log_predictions(f"sqlite:///{tmp_path / 'logs' / 'predictions.db'}", trained["models"], keep_text=True)
    code, out, _ = run("monitor", "--env", "local", "--window", "250", "--json")
    assert code == 0
    report = json.loads(out)
    assert report["current_size"] == 250 and report["model_version"] == "local"
    assert report["drift_detected"] is False
    assert [c["name"] for c in report["checks"]][-4:] == ["vocabulary", "new_terms", "known_terms", "text_features"]


def test_monitor_without_logged_texts_runs_three_checks(run: Any, trained: dict[str, Path], tmp_path: Path) -> None:
    _log_predictions(f"sqlite:///{tmp_path / 'logs' / 'predictions.db'}", trained["models"], keep_text=False)
    code, out, _ = run("monitor", "--env", "local")
    assert code == 0
    assert "oov_rate skipped: the texts were not logged" in " ".join(out.split())
    assert "400 current vs 600 reference texts" in out
    assert "no drift detected" in out


def test_monitor_report_reuses_a_loaded_model_and_store(trained: dict[str, Path], tmp_path: Path) -> None:
    """The alert loop's entry point: no reload, its own store."""
    from sentiment_mlops.config import Settings
    from sentiment_mlops.monitoring.served import monitor_report
    from sentiment_mlops.registry import load_local
    from sentiment_mlops.store import PredictionStore

    url = f"sqlite:///{tmp_path / 'p.db'}"
    _log_predictions(url, trained["models"], keep_text=True, count=100)
    loaded = load_local(trained["models"])
    with PredictionStore(url) as store:
        report, same = monitor_report(Settings(store_url="sqlite:///unused.db"), env="local", window=50,
                                      store=store, loaded=loaded)
    assert same is loaded
    assert report.current_size == 50
