"""Out-of-core training: the passes over files give the model an in-memory fit of the same rows gives,
whatever the partitioning; ``train --engine dask`` publishes a version that serving loads and answers with;
bad input stops with one line before any work starts.

The in-process tests run the passes on the local engine; one test runs the command on the shared
LocalCluster (``scheduler``, conftest.py).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sentiment_mlops.errors import DataError
from sentiment_mlops.scaling.engine import LocalEngine
from sentiment_mlops.scaling.inputs import expand_inputs
from sentiment_mlops.scaling.training import check_out_of_core_options, fit_out_of_core
from sentiment_mlops.scaling.training_tasks import TrainingInputs
from sentiment_mlops.training.run import FittedRun, StepTimer, TrainOptions


def _write_parts(directory: Path, texts: list[str], labels: list[object], sizes: list[int]) -> str:
    """The rows split into Parquet files of ``sizes`` rows (the rest in the last); returns their glob."""
    directory.mkdir(parents=True, exist_ok=True)
    bounds = np.cumsum([0, *sizes, len(texts)])
    for i, (start, end) in enumerate(zip(bounds[:-1], bounds[1:], strict=True)):
        pd.DataFrame({"text": texts[start:end], "sentiment": labels[start:end]}).to_parquet(
            directory / f"part-{i}.parquet", index=False)
    return str(directory / "*.parquet")


def _fit(pattern: str, partition_rows: int = 400, **option_fields: object) -> FittedRun:
    options = TrainOptions(**option_fields)  # type: ignore[arg-type]
    inputs = TrainingInputs(files=expand_inputs(pattern), text_column="text", label_column="sentiment",
                            partition_rows=partition_rows, test_size=options.test_size, seed=options.seed)
    return fit_out_of_core(inputs, options, LocalEngine(), template=check_out_of_core_options(options, 1),
                           timer=StepTimer(None), source=pattern, engine_name="local")


def test_the_passes_give_the_in_memory_fit_of_the_same_split(corpus_slice, tmp_path) -> None:
    from sentiment_mlops.training.evaluation import evaluate_predictions
    from sentiment_mlops.training.pipeline import build_pipeline

    texts, labels = corpus_slice
    fitted = _fit(_write_parts(tmp_path / "parts", texts, labels, [1000, 700]))
    is_test, _ = TrainingInputs(files=[], text_column="", label_column="", partition_rows=1, test_size=0.2,
                                seed=42).split_keys(texts)
    train = [(t, y) for t, y, held in zip(texts, labels, is_test, strict=True) if not held]
    test = [(t, y) for t, y, held in zip(texts, labels, is_test, strict=True) if held]
    in_memory = build_pipeline("mnb").fit([t for t, _ in train], [y for _, y in train])
    assert fitted.train_size == len(train) and fitted.test_size == len(test)
    assert fitted.pipeline.named_steps["tfidf"].vocabulary_ == in_memory.named_steps["tfidf"].vocabulary_
    test_texts = [t for t, _ in test]
    np.testing.assert_allclose(fitted.pipeline.predict_proba(test_texts), in_memory.predict_proba(test_texts),
                               rtol=0, atol=1e-9)
    expected = evaluate_predictions([y for _, y in test], in_memory.predict(test_texts), ["negative", "neutral",
                                                                                          "positive"])
    assert fitted.evaluation == expected
    # Held-out rows only, all of them here (fewer than the sample cap), and never a training text.
    assert sorted(fitted.heldout_texts) == sorted(test_texts)


def test_the_partitioning_does_not_change_the_model(corpus_slice, tmp_path) -> None:
    texts, labels = corpus_slice
    one = _fit(_write_parts(tmp_path / "one", texts, labels, []), partition_rows=5000)
    many = _fit(_write_parts(tmp_path / "many", texts, labels, [300, 1200, 50]), partition_rows=333)
    sample = texts[:200]
    np.testing.assert_allclose(many.pipeline.predict_proba(sample), one.pipeline.predict_proba(sample),
                               rtol=0, atol=1e-12)
    assert many.data_fingerprint != "" and many.evaluation == one.evaluation


def test_numeric_labels_are_read_over_every_file_and_empty_texts_are_dropped(corpus_slice, tmp_path) -> None:
    texts, labels = corpus_slice
    codes = {"negative": 0, "neutral": 1, "positive": 2}
    rows = sorted(zip(texts[:900], labels[:900], strict=True), key=lambda row: row[1] == "neutral")
    numbers = [codes[label] for _, label in rows]
    # The first file holds no 1 (alone, 0/2 would not read as three classes); the empty texts are dropped.
    first = [i for i, n in enumerate(numbers) if n != 1][:400]
    order = first + [i for i in range(len(rows)) if i not in set(first)]
    pattern = _write_parts(tmp_path / "codes", [rows[i][0] for i in order] + ["", "  "],
                           [numbers[i] for i in order] + [1, 2], [400])
    fitted = _fit(pattern)
    assert list(fitted.pipeline.classes_) == ["negative", "neutral", "positive"]
    assert fitted.extra_metadata["dropped_empty"] == 2 and fitted.dataset_size == 900


def test_an_empty_label_names_its_file_and_row(corpus_slice, tmp_path) -> None:
    texts, labels = corpus_slice
    pattern = _write_parts(tmp_path / "gap", texts[:60], [*labels[:41], None, *labels[42:60]], [])
    with pytest.raises(DataError, match=r"column 'sentiment' of .*part-0.parquet has an empty label at row 41"):
        _fit(pattern)


def _one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    return lines[0]


@pytest.mark.usefixtures("tracked")
def test_train_on_dask_publishes_a_version_that_serving_loads_and_answers(cli_run, isolated, corpus_slice,
                                                                          scheduler) -> None:
    from fastapi.testclient import TestClient

    from sentiment_mlops.config import Settings
    from sentiment_mlops.registry import ModelRegistry
    from sentiment_mlops.registry.loading import load_local
    from sentiment_mlops.serving.app import create_app

    texts, labels = corpus_slice
    pattern = _write_parts(isolated / "data", texts, labels, [1000, 1000])
    code, out, err = cli_run("train", "--engine", "dask", "--data", pattern, "--scheduler", scheduler,
                             "--partition-rows", "500")
    assert code == 0, err
    assert "on dask (" + scheduler in out and "registered: SentimentAnalysisModel version 1" in out
    metrics = (isolated / "models" / "metrics.json").read_text()
    assert '"training_engine": "dask"' in metrics and '"model_version": "1"' in metrics
    version = ModelRegistry.from_settings(Settings()).versions()[0]
    assert version.tags["training_status"] == "complete" and version.metric("macro_f1") is not None
    loaded = load_local(isolated / "models")  # the manifest and the skops file, verified
    settings = Settings(models_dir=isolated / "models", store_url=f"sqlite:///{isolated / 'p.db'}")
    with TestClient(create_app(settings, environment="local", poll=False)) as client:
        answer = client.post("/predict", json={"text": "what a lovely flight"}).json()
    expected = loaded.pipeline.predict_proba(["what a lovely flight"])[0]
    assert answer["model_version"] == "1"
    np.testing.assert_allclose([answer["probabilities"][c] for c in ("negative", "neutral", "positive")],
                               expected, atol=1e-9)


@pytest.mark.parametrize("extra, expected", [
    (["--label-column", "label"], "column 'label' not found in"),
    (["--epochs", "3"], "--epochs 3: mnb sums counts"),
    (["--model", "logreg"], "--engine dask trains mnb"),
])
def test_bad_input_is_one_line_before_any_work(cli_run, isolated, corpus_slice, extra, expected) -> None:
    texts, labels = corpus_slice
    pattern = _write_parts(isolated / "data", texts[:100], labels[:100], [])
    code, _, err = cli_run("train", "--engine", "dask", "--data", pattern, *extra)
    assert code == 1 and expected in _one_error_line(err)
    assert not (isolated / "mlflow.db").exists() and not (isolated / "models").exists()


def test_an_unreadable_file_or_unreachable_scheduler_is_one_line(cli_run, isolated, corpus_slice,
                                                                 monkeypatch) -> None:
    from sentiment_mlops.scaling import engine

    (isolated / "broken.parquet").write_bytes(b"PAR1 not really")
    code, _, err = cli_run("train", "--engine", "dask", "--data", str(isolated / "broken.parquet"))
    assert code == 1 and "cannot read" in _one_error_line(err)
    monkeypatch.setattr(engine, "CONNECT_TIMEOUT_SECONDS", 1.0)
    pattern = _write_parts(isolated / "data", corpus_slice[0][:100], corpus_slice[1][:100], [])
    code, _, err = cli_run("train", "--engine", "dask", "--data", pattern, "--scheduler", "tcp://127.0.0.1:9")
    assert code == 1 and "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in _one_error_line(err)
    assert not (isolated / "models").exists()
