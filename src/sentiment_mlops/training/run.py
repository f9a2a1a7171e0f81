"""One training run end to end: split, fit (or search), evaluate, profile, write artifacts, track, register.

The tracker is passed in (``registry.RunTracker`` in the CLI) so that training never imports the registry.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline

from sentiment_mlops.calibration import fit_confidence_calibration
from sentiment_mlops.data import Dataset
from sentiment_mlops.errors import ConfigurationError, ConflictError
from sentiment_mlops.integrity import (
    FileLock,
    atomic_write_json,
    build_manifest,
    read_manifest,
    sha256_file,
    verify_manifest,
)
from sentiment_mlops.layout import (
    LOCAL_MANIFEST_TAG,
    MANIFEST_FILE,
    METRICS_FILE,
    RUN_MANIFEST_TAG,
    TRAINING_COMPLETE,
    TRAINING_INCOMPLETE,
    TRAINING_STATUS_TAG,
)
from sentiment_mlops.training.artifacts import confusion_matrix_png, write_artifacts
from sentiment_mlops.training.evaluation import Evaluation, evaluate_predictions
from sentiment_mlops.training.models import DEFAULT_MODEL, MODEL_TYPES
from sentiment_mlops.training.pipeline import build_pipeline, hyperparameters, num_features, vectorizers
from sentiment_mlops.training.profile import reference_profile

if TYPE_CHECKING:
    from sentiment_mlops.training.feedback import FeedbackData
    from sentiment_mlops.training.search import Trial


class Tracker(Protocol):
    """What a training run needs from an experiment tracker (implemented by ``registry.RunTracker``)."""

    def run(self, run_name: str | None = None, *, nested: bool = False,
            tags: Mapping[str, str] | None = None) -> AbstractContextManager[str]: ...
    def log_params(self, params: Mapping[str, Any]) -> None: ...
    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None: ...
    def log_artifacts(self, directory: Path) -> None: ...
    def log_model(self, pipeline: Any, example_texts: list[str]) -> str: ...
    def model_digest(self, model_uri: str) -> dict[str, str]: ...
    def register(self, model_uri: str, tags: Mapping[str, str]) -> str: ...
    def set_version_tag(self, version: str, key: str, value: str) -> None: ...


@dataclass(frozen=True)
class TrainOptions:
    """What the user chose on the command line."""

    model: str = DEFAULT_MODEL
    params: dict[str, Any] = field(default_factory=dict)
    test_size: float = 0.2
    seed: int = 42
    search_trials: int = 0
    register: bool = True

    def validate(self) -> None:
        if self.model not in MODEL_TYPES:
            raise ConfigurationError(f"unknown model {self.model!r}; expected one of {', '.join(MODEL_TYPES)}")
        if not 0.05 <= self.test_size <= 0.5:
            raise ConfigurationError(f"--test-size must be between 0.05 and 0.5, got {self.test_size}")
        if self.search_trials < 0:
            raise ConfigurationError(f"--search must be 0 or more trials, got {self.search_trials}")


@dataclass
class TrainResult:
    """Everything a caller prints or checks after a run."""

    pipeline: Pipeline
    evaluation: Evaluation
    train_size: int
    test_size: int
    hyperparameters: dict[str, Any]
    trials: list[Trial]
    artifacts_dir: Path
    run_id: str | None = None
    model_version: str | None = None
    timings: dict[str, float] = field(default_factory=dict)
    calibration: dict[str, Any] | None = None
    feedback_evaluation: Evaluation | None = None


class StepTimer:
    """Times the named steps of a run and reports each as it ends."""

    def __init__(self, on_step: Callable[[str, float], None] | None) -> None:
        self.timings: dict[str, float] = {}
        self.on_step = on_step

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        yield
        self.timings[name] = time.perf_counter() - start
        if self.on_step is not None:
            self.on_step(name, self.timings[name])


@contextmanager
def publishing(models_dir: Path) -> Iterator[Path]:
    """Hold ``models_dir``'s training lock and yield the parent folder for the run's staging folder.

    One ``train`` at a time writes a models folder (a second one fails at once, naming the first's pid);
    staging folders that a killed run left behind are removed first: while the lock is held, no other run
    of this folder can own them.
    """
    parent = models_dir.absolute().parent
    lock = FileLock(parent / f".{models_dir.name}.train.lock")
    if not lock.try_acquire():
        holder = lock.holder()
        raise ConflictError(f"another `sentiment-mlops train` is writing {models_dir}/"
                            f"{f' (pid {holder})' if holder else ''}; wait for it to finish, or train into "
                            "another --models-dir")
    try:
        for stale in parent.glob(f"{STAGING_PREFIX}{models_dir.name}-*"):
            shutil.rmtree(stale, ignore_errors=True)
        yield parent
    finally:
        lock.release()


STAGING_PREFIX = ".train-"
# What a run logs about its feedback as MLflow metrics (the rest of ``FeedbackData.record`` are params).
FEEDBACK_METRICS = ("macro_f1", "accuracy")


@dataclass(frozen=True)
class FittedRun:
    """A fitted model and its held-out evidence: what publishing needs, however the model was fitted.

    In memory the held-out texts are all of them; out of core (``scaling.training``) they are a uniform
    sample, while ``evaluation`` covers every held-out row.
    """

    pipeline: Pipeline
    evaluation: Evaluation
    heldout_texts: list[str]
    heldout_labels: list[str]
    heldout_probabilities: np.ndarray
    dataset_size: int
    train_size: int
    test_size: int
    data_source: str
    data_fingerprint: str
    trials: list[Trial] = field(default_factory=list)
    # Logged as run params and written to metrics.json beside the usual metadata (e.g. the engine).
    extra_metadata: dict[str, Any] = field(default_factory=dict)
    # ``train --with-feedback``: the feedback rows added to the training data and the evaluation on their
    # own held-out part.
    feedback: FeedbackData | None = None
    feedback_evaluation: Evaluation | None = None


def train(dataset: Dataset, options: TrainOptions, *, models_dir: Path, tracker: Tracker | None = None,
          on_step: Callable[[str, float], None] | None = None,
          on_trial: Callable[[Trial], None] | None = None, commit: str | None = None,
          feedback: FeedbackData | None = None) -> TrainResult:
    """Train, evaluate on the held-out split, log and register; ``models_dir`` changes only on success.

    ``feedback`` (``train --with-feedback``) adds its training rows, weighted, to the base data's, and is
    evaluated on its own held-out rows beside the base held-out split.

    All or nothing: the version is registered tagged ``training_status=incomplete`` and marked complete only
    once ``models_dir`` holds its verified artifacts, so a run killed in between leaves a version that
    ``promote`` refuses, never a half-published one.
    """
    options.validate()
    with publishing(models_dir) as parent:
        timer = StepTimer(on_step)
        fitted = _fit_in_memory(dataset, options, timer, on_trial, feedback)
        return publish(fitted, options, models_dir=models_dir, staging_parent=parent, tracker=tracker,
                       timer=timer, commit=commit)


def _fit_in_memory(dataset: Dataset, options: TrainOptions, timer: StepTimer,
                   on_trial: Callable[[Trial], None] | None, feedback: FeedbackData | None = None) -> FittedRun:
    with timer.step("split"):
        x_train, x_test, y_train, y_test = train_test_split(
            dataset.texts, dataset.labels, test_size=options.test_size, random_state=options.seed,
            stratify=dataset.labels,
        )
        weights = None
        if feedback is not None:
            weights = [1.0] * len(x_train) + [feedback.weight] * len(feedback.train_texts)
            x_train = [*x_train, *feedback.train_texts]
            y_train = [*y_train, *feedback.train_labels]
    trials: list[Trial] = []
    params = dict(options.params)
    if options.search_trials:
        from sentiment_mlops.training.search import random_search

        with timer.step("search"):
            trials = random_search(options.model, x_train, y_train, trials=options.search_trials,
                                   seed=options.seed, base_params=options.params, on_trial=on_trial)
        params = max(trials, key=lambda t: t.cv_macro_f1).params
    with timer.step("fit"):
        pipeline = _fit(build_pipeline(options.model, params, seed=options.seed), x_train, y_train, weights)
        drop_stop_words(pipeline)
    with timer.step("evaluate"):
        probabilities = pipeline.predict_proba(x_test)
        predicted = pipeline.classes_[probabilities.argmax(axis=1)]
        evaluation = evaluate_predictions(y_test, predicted, labels=sorted(set(dataset.labels)))
        feedback_evaluation = None
        if feedback is not None:
            feedback_evaluation = evaluate_predictions(feedback.test_labels, pipeline.predict(feedback.test_texts),
                                                       labels=sorted(set(dataset.labels)))
    return FittedRun(pipeline=pipeline, evaluation=evaluation, heldout_texts=list(x_test),
                     heldout_labels=list(y_test), heldout_probabilities=probabilities,
                     dataset_size=len(dataset.texts), train_size=len(x_train), test_size=len(x_test),
                     data_source=dataset.summary.source, data_fingerprint=dataset.summary.fingerprint,
                     trials=trials, feedback=feedback, feedback_evaluation=feedback_evaluation)


def drop_stop_words(pipeline: Pipeline) -> None:
    """Drop each fitted vectorizer's ``stop_words_`` (the terms min_df pruned).

    It holds ~10x the vocabulary; scikit-learn documents it as introspection-only and safe to drop, and it
    dominates pickle and skops sizes.
    """
    for vectorizer in vectorizers(pipeline):
        vectorizer.stop_words_ = None


def publish(fitted: FittedRun, options: TrainOptions, *, models_dir: Path, staging_parent: Path,
            tracker: Tracker | None, timer: StepTimer, commit: str | None) -> TrainResult:
    """Profile, write the artifacts, log and register, then publish ``models_dir``: the one way every
    training run (in memory or out of core) ends. Call it inside ``publishing(models_dir)``."""
    pipeline, evaluation = fitted.pipeline, fitted.evaluation
    x_test, y_test, probabilities = fitted.heldout_texts, fitted.heldout_labels, fitted.heldout_probabilities
    staging_parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f"{STAGING_PREFIX}{models_dir.name}-", dir=staging_parent))
    try:
        with timer.step("profile"):
            predicted = pipeline.classes_[probabilities.argmax(axis=1)]
            profiled = list(x_test)
            if fitted.feedback is not None:
                # The traffic the feedback came from is now part of what this version is meant for: its
                # drift reference includes it, or the texts it learned from would keep raising drift.
                profiled += fitted.feedback.test_texts
            profile = reference_profile(pipeline, profiled,
                                        probabilities=None if fitted.feedback is not None else probabilities)
            # Monitoring's label-free accuracy estimate reads this map (see sentiment_mlops.calibration).
            calibration = fit_confidence_calibration(probabilities.max(axis=1), predicted == np.asarray(y_test),
                                                     seed=options.seed)
            profile["calibration"] = calibration.to_dict()
            png = confusion_matrix_png(evaluation, f"{options.model} — accuracy {evaluation.accuracy:.3f}")
        hparams = hyperparameters(pipeline)
        with ExitStack() as stack:
            # The run opens only now, after the fit: a TrackerProcess spends that time opening MLflow.
            with timer.step("open run"):
                run_id = stack.enter_context(tracker.run(run_name=f"train-{options.model}")) if tracker else None
            if tracker is not None and fitted.trials:
                _log_trials(tracker, fitted.trials)
            metadata = {
                "model_type": options.model,
                "dataset_size": fitted.dataset_size,
                "train_size": fitted.train_size,
                "test_size": fitted.test_size,
                "num_features": num_features(pipeline),
                "data_source": fitted.data_source,
                "data_fingerprint": fitted.data_fingerprint,
                "seed": options.seed,
                "run_id": run_id,
                "model_version": None,
                "git_commit": commit,
                "ece": calibration.ece,
                "ece_calibrated": calibration.ece_calibrated,
                "calibration_applied": calibration.applied,
                **fitted.extra_metadata,
            }
            feedback, feedback_evaluation = fitted.feedback, fitted.feedback_evaluation
            if feedback is not None and feedback_evaluation is not None:
                metadata["feedback"] = {**feedback.record(), "macro_f1": feedback_evaluation.macro_f1,
                                        "accuracy": feedback_evaluation.accuracy}
            with timer.step("artifacts"):
                paths = write_artifacts(staging, pipeline, evaluation, metadata=metadata, profile=profile,
                                        heldout=(list(x_test), list(y_test)), confusion_png=png,
                                        feedback_heldout=(feedback.test_texts, feedback.test_labels)
                                        if feedback is not None else None,
                                        feedback_trained=feedback.train_texts if feedback is not None else None)
            version = None
            if tracker is not None:
                with timer.step("mlflow"):
                    version = _track(tracker, pipeline, evaluation, options, metadata, hparams, staging,
                                     list(x_test), commit, extra_params=fitted.extra_metadata)
            if version is not None:
                _record_version(staging, version, paths.manifest)
        with timer.step("publish"):
            models_dir.mkdir(parents=True, exist_ok=True)
            for item in sorted(staging.iterdir(), key=lambda p: p.name == MANIFEST_FILE):
                item.replace(models_dir / item.name)  # manifest last: it vouches for the others
            verify_manifest(models_dir, read_manifest(models_dir))
            if tracker is not None and version is not None:
                tracker.set_version_tag(version, LOCAL_MANIFEST_TAG, sha256_file(models_dir / MANIFEST_FILE))
                tracker.set_version_tag(version, TRAINING_STATUS_TAG, TRAINING_COMPLETE)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return TrainResult(
        pipeline=pipeline, evaluation=evaluation, train_size=fitted.train_size, test_size=fitted.test_size,
        hyperparameters=hparams, trials=fitted.trials, artifacts_dir=models_dir, run_id=run_id,
        model_version=version, timings=timer.timings, calibration=profile["calibration"],
        feedback_evaluation=fitted.feedback_evaluation,
    )


def _fit(pipeline: Pipeline, texts: list[str], labels: list[str], weights: list[float] | None = None) -> Pipeline:
    try:
        if weights is not None:
            return pipeline.fit(texts, labels, clf__sample_weight=weights)
        return pipeline.fit(texts, labels)
    except ValueError as exc:  # e.g. min_df above the number of documents: a parameter the data cannot meet
        first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ConfigurationError(f"training failed with these parameters: {first_line}") from exc


def _log_trials(tracker: Tracker, trials: list[Trial]) -> None:
    """One nested run per search trial, with its sampled params and cross-validated score."""
    for trial in trials:
        with tracker.run(run_name=f"trial-{trial.number}", nested=True):
            tracker.log_params(trial.params)
            tracker.log_metrics({"cv_macro_f1": trial.cv_macro_f1, "cv_macro_f1_std": trial.cv_std})


def _track(tracker: Tracker, pipeline: Pipeline, evaluation: Evaluation, options: TrainOptions,
           metadata: dict[str, Any], hparams: dict[str, Any], staging: Path, x_test: list[str],
           commit: str | None, *, extra_params: Mapping[str, Any]) -> str | None:
    feedback_record: dict[str, Any] = metadata.get("feedback") or {}
    tracker.log_params({
        **{k: metadata[k] for k in ("dataset_size", "num_features", "model_type", "data_source",
                                    "data_fingerprint", "seed")},
        "test_size": options.test_size,
        "search_trials": options.search_trials,
        **hparams,
        **extra_params,
        **{f"feedback_{k}": v for k, v in feedback_record.items() if k not in FEEDBACK_METRICS},
    })
    tracker.log_metrics({**evaluation.flat_metrics(), "ece": metadata["ece"],
                         "ece_calibrated": metadata["ece_calibrated"],
                         **{f"feedback_{k}": float(feedback_record[k]) for k in FEEDBACK_METRICS
                            if k in feedback_record}})
    model_uri = tracker.log_model(pipeline, x_test)
    manifest_path = staging / MANIFEST_FILE
    manifest = json.loads(manifest_path.read_text())
    manifest["registry_model"] = tracker.model_digest(model_uri)
    atomic_write_json(manifest_path, manifest)
    tracker.log_artifacts(staging)
    run_manifest_sha256 = sha256_file(manifest_path)
    if not options.register:
        return None
    tags = {
        "macro_f1": f"{evaluation.macro_f1:.4f}",
        "accuracy": f"{evaluation.accuracy:.4f}",
        "data_fingerprint": metadata["data_fingerprint"],
        "model_type": options.model,
        TRAINING_STATUS_TAG: TRAINING_INCOMPLETE,
        RUN_MANIFEST_TAG: run_manifest_sha256,
    }
    if commit:
        tags["git_commit"] = commit
    if feedback_record:
        tags["feedback_rows"] = str(feedback_record["rows"])
        tags["feedback_fingerprint"] = str(feedback_record["fingerprint"])
    return tracker.register(model_uri, tags)


def _record_version(staging: Path, version: str, manifest: dict[str, str]) -> None:
    """Write the registered version into the local metrics.json and re-seal the local manifest."""
    metrics_path = staging / METRICS_FILE
    metrics = json.loads(metrics_path.read_text())
    metrics["model_version"] = version
    atomic_write_json(metrics_path, metrics)
    manifest_path = staging / MANIFEST_FILE
    sealed = json.loads(manifest_path.read_text())
    sealed["files"] = build_manifest(staging, manifest)
    sealed["model_version"] = version
    atomic_write_json(manifest_path, sealed)
