"""Models for the serving tests, trained on slices of the real built-in corpus (imported by the conftests)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from support.registries import DATABASE

SLICE_ROWS = 3000
ADMIN_TOKEN = "test-admin-token-0123456789"


def corpus_slice(rows: int = SLICE_ROWS, seed: int = 0) -> Any:
    """A stratified random slice of the built-in corpus, as a ``Dataset``."""
    from sklearn.model_selection import train_test_split

    from sentiment_mlops.data import load_dataset

    full = load_dataset("builtin")
    texts, _, labels, _ = train_test_split(full.texts, full.labels, train_size=rows, random_state=seed,
                                           stratify=full.labels)
    return dataclasses.replace(full, texts=list(texts), labels=list(labels))


def train_local(models_dir: Path, dataset: Any, **params: Any) -> Any:
    """Train into ``models_dir`` without MLflow (the artifacts ``serve --env local`` serves)."""
    from sentiment_mlops.training.run import TrainOptions, train

    return train(dataset, TrainOptions(params=dict(params), register=False), models_dir=models_dir)


def train_registered(models_dir: Path, dataset: Any, tracking_uri: str, **params: Any) -> Any:
    """Train, log and register a version in the MLflow store at ``tracking_uri``."""
    from sentiment_mlops.config import EXPERIMENT_NAME, REGISTERED_MODEL_NAME
    from sentiment_mlops.registry.tracking import RunTracker
    from sentiment_mlops.training.run import TrainOptions, train

    tracker = RunTracker(tracking_uri, EXPERIMENT_NAME, REGISTERED_MODEL_NAME)
    return train(dataset, TrainOptions(params=dict(params)), models_dir=models_dir, tracker=tracker)


def build_local_models(root: Path) -> dict[str, Any]:
    """``root/models`` trained on the default slice, without MLflow."""
    train_local(root / "models", corpus_slice())
    return {}


def build_two_versions(root: Path) -> dict[str, Any]:
    """Two registered versions in ``root/mlflow.db`` (different slices, the second with alpha 0.5)."""
    tracking_uri = f"sqlite:///{root / DATABASE}"
    first = train_registered(root / "models", corpus_slice(seed=1), tracking_uri)
    second = train_registered(root / "models", corpus_slice(seed=2), tracking_uri, alpha=0.5)
    return {"versions": [first.model_version, second.model_version]}
