"""A ``train`` that dies part-way leaves no version that can be promoted without its artifacts, no staging
folders behind, and two ``train`` runs never publish one models folder at once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from sentiment_mlops.deployment.actions import promote
from sentiment_mlops.errors import ConfigurationError, ConflictError
from sentiment_mlops.integrity import FileLock, read_manifest, verify_manifest
from sentiment_mlops.layout import TRAINING_COMPLETE, TRAINING_INCOMPLETE, TRAINING_STATUS_TAG
from sentiment_mlops.registry import ModelRegistry
from sentiment_mlops.store import PredictionStore
from sentiment_mlops.training.run import TrainOptions, train

MODEL = "SentimentAnalysisModel"


class DiesBeforeCompleting:
    """A tracker that stops the run the moment training would mark the version complete."""

    def __init__(self, inner) -> None:
        self.inner = inner

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def set_version_tag(self, version: str, key: str, value: str) -> None:
        raise KeyboardInterrupt("killed between registering and publishing")


@pytest.fixture
def slice_dataset(corpus_slice):
    from sentiment_mlops.data.loading import Dataset, DataSummary

    texts, labels = corpus_slice
    counts = {label: labels.count(label) for label in sorted(set(labels))}
    summary = DataSummary(source="slice", rows_read=len(texts), dropped_empty=0, dropped_duplicate=0,
                          class_counts=counts, fingerprint="0" * 64)
    return Dataset(texts=list(texts), labels=list(labels), summary=summary)


@pytest.mark.usefixtures("tracked")
def test_a_run_stopped_after_registering_leaves_a_version_promote_refuses(isolated: Path, slice_dataset):
    from sentiment_mlops.registry.tracking import RunTracker

    uri = f"sqlite:///{isolated / 'mlflow.db'}"
    tracker = RunTracker(uri, "sentiment-analysis", MODEL)
    with pytest.raises(KeyboardInterrupt):
        train(slice_dataset, TrainOptions(), models_dir=isolated / "models", tracker=DiesBeforeCompleting(tracker))
    registry = ModelRegistry(uri, MODEL)
    assert registry.version("1").tags[TRAINING_STATUS_TAG] == TRAINING_INCOMPLETE
    assert not list(isolated.glob(".train-*"))  # its staging folder went with it
    with PredictionStore(f"sqlite:///{isolated / 'logs.db'}") as store, \
            pytest.raises(ConfigurationError, match="version 1 never finished training"):
        promote(registry, store, version="1", to="staging")

    # The next run completes: its version is tagged complete and promotable.
    result = train(slice_dataset, TrainOptions(), models_dir=isolated / "models", tracker=tracker)
    assert result.model_version == "2"
    assert registry.version("2").tags[TRAINING_STATUS_TAG] == TRAINING_COMPLETE
    with PredictionStore(f"sqlite:///{isolated / 'logs.db'}") as store:
        assert promote(registry, store, version="2", to="staging").to_version == "2"


def test_a_second_train_into_the_same_folder_fails_at_once_and_stale_staging_is_removed(isolated: Path,
                                                                                      slice_dataset):
    models_dir = isolated / "models"
    lock = FileLock(isolated / ".models.train.lock")
    assert lock.try_acquire()  # a first `train` is running
    try:
        with pytest.raises(ConflictError, match=rf"another `sentiment-mlops train` is writing .*models/ "
                                                rf"\(pid {os.getpid()}\)"):
            train(slice_dataset, TrainOptions(register=False), models_dir=models_dir)
    finally:
        lock.release()
    stale = isolated / ".train-models-killed"  # what a run killed with SIGKILL leaves
    (stale / "deep").mkdir(parents=True)
    other = isolated / ".train-elsewhere-running"  # another folder's run: not ours to remove
    other.mkdir()
    train(slice_dataset, TrainOptions(register=False), models_dir=models_dir)
    assert not stale.exists() and other.exists()
    verify_manifest(models_dir, read_manifest(models_dir))


@pytest.mark.slow
@pytest.mark.usefixtures("tracked")
def test_kill_9_during_train_never_leaves_a_promotable_version_without_its_artifacts(isolated: Path, slice_csv,
                                                                                     cli_run, monkeypatch):
    """SIGKILL as soon as MLflow says it created the version: whichever step the kill lands in, every version
    not tagged incomplete has verified artifacts in models/."""
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{isolated / 'mlflow.db'}", "COLUMNS": "200"}
    command = [sys.executable, "-c", "import sys; from sentiment_mlops.cli import main; main(sys.argv[1:])",
               "train", "--data", str(slice_csv)]
    process = subprocess.Popen(command, cwd=isolated, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True)
    assert process.stdout is not None
    for line in process.stdout:
        if "Created version" in line or "registered:" in line:
            process.send_signal(signal.SIGKILL)
            break
    process.wait(60)
    registry = ModelRegistry(env["MLFLOW_TRACKING_URI"], MODEL)
    for version in registry.versions():
        if version.tags.get(TRAINING_STATUS_TAG) == TRAINING_INCOMPLETE:
            continue
        manifest = read_manifest(isolated / "models")
        verify_manifest(isolated / "models", manifest)
    # The next run in the folder cleans what the killed one left and publishes a complete version: the same CLI
    # in this process (isolated's working directory and store; a second interpreter start adds seconds, not
    # coverage).
    monkeypatch.setenv("COLUMNS", env["COLUMNS"])
    code, _, err = cli_run("train", "--data", str(slice_csv))
    assert code == 0, err
    assert not list(isolated.glob(".train-*"))
    newest = registry.versions()[0]
    assert newest.tags[TRAINING_STATUS_TAG] == TRAINING_COMPLETE
