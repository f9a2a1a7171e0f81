"""Registered versions for the deployment tests, trained once per run on slices of the real corpus.

The template is an MLflow SQLite database plus its ``mlruns/`` (see ``support.registries``). Each test
gets its own copy of the database (the artifacts it points at are read-only and shared), so tests can
move aliases freely. Conftests import the fixtures from here.
"""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import pytest

from support.registries import DATABASE, Registry, build_once

MODEL_NAME = "SentimentAnalysisModel"
EXPERIMENT = "sentiment-analysis"
# Which version is which in the template (registration order).
WEAK, BETTER, SHUFFLED, GOOD = "1", "2", "3", "4"


def _slice(dataset, start: int, stop: int, *, shuffle_labels: bool = False):
    from sentiment_mlops.data.loading import Dataset, DataSummary, fingerprint

    order = list(range(len(dataset.texts)))
    random.Random(1234).shuffle(order)  # the corpus file is grouped by source; mix before slicing
    rows = order[start:stop]
    texts = [dataset.texts[i] for i in rows]
    labels = [dataset.labels[i] for i in rows]
    if shuffle_labels:
        random.Random(99).shuffle(labels)
    counts = {label: labels.count(label) for label in sorted(set(labels))}
    summary = DataSummary(source=f"builtin[{start}:{stop}]{'-shuffled' if shuffle_labels else ''}",
                          rows_read=len(texts), dropped_empty=0, dropped_duplicate=0, class_counts=counts,
                          fingerprint=fingerprint(texts, labels))
    return Dataset(texts=texts, labels=labels, summary=summary)


def train_version(tracking_uri: str, directory: Path, dataset, *, seed: int = 42) -> str:
    """Train and register one version with the project's own training run; returns its number."""
    from sentiment_mlops.registry.tracking import RunTracker
    from sentiment_mlops.training.run import TrainOptions, train

    tracker = RunTracker(tracking_uri, EXPERIMENT, MODEL_NAME)
    result = train(dataset, TrainOptions(seed=seed), models_dir=directory / f"models-{seed}", tracker=tracker)
    return str(result.model_version)


def corpus_slice(start: int, stop: int, *, shuffle_labels: bool = False):
    """Rows ``start:stop`` of the built-in corpus in the tests' fixed shuffled order."""
    from sentiment_mlops.data import load_dataset

    return _slice(load_dataset("builtin"), start, stop, shuffle_labels=shuffle_labels)


def build_template(directory: Path) -> dict[str, str]:
    """Train the four versions into ``directory`` (the working directory); returns role -> version."""
    from sentiment_mlops.data import load_dataset

    corpus = load_dataset("builtin")
    uri = f"sqlite:///{directory / DATABASE}"
    return {
        "weak": train_version(uri, directory, _slice(corpus, 0, 900), seed=1),
        "better": train_version(uri, directory, _slice(corpus, 900, 3900), seed=2),
        "shuffled": train_version(uri, directory, _slice(corpus, 900, 3900, shuffle_labels=True), seed=3),
        "good": train_version(uri, directory, _slice(corpus, 3900, 6900), seed=4),
    }


@pytest.fixture(scope="session")
def deployment_template(tmp_path_factory) -> Registry:
    """Four registered versions: weak (900 rows), better (3,000), shuffled labels (3,000), good (3,000)."""
    template = build_once(tmp_path_factory, "deployment", build_template)
    assert template.info == {"weak": WEAK, "better": BETTER, "shuffled": SHUFFLED, "good": GOOD}
    return template


def copy_tracking_uri(template: Registry, destination: Path) -> str:
    """A private copy of the template's registry database; the artifacts it names stay shared and read-only
    (``copy_registry`` copies them too, for a test that alters them)."""
    destination.mkdir(parents=True, exist_ok=True)
    target = destination / DATABASE
    shutil.copyfile(template.root / DATABASE, target)
    return f"sqlite:///{target}"


@pytest.fixture
def tracking_uri(deployment_template, tmp_path) -> str:
    return copy_tracking_uri(deployment_template, tmp_path / "tracking")


@pytest.fixture
def registry(tracking_uri):
    from sentiment_mlops.registry import ModelRegistry

    return ModelRegistry(tracking_uri, MODEL_NAME, EXPERIMENT)


@pytest.fixture
def store_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path}/logs/predictions.db"


@pytest.fixture
def store(store_url):
    from sentiment_mlops.store import PredictionStore

    with PredictionStore(store_url) as opened:
        yield opened
