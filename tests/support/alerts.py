"""Real data and real models for the performance, alert and auto-rollback tests.

Slices of the built-in corpus; a good model and a deliberately worse one (trained on shuffled labels of
the same slice) registered in a real MLflow SQLite registry, built once per run and copied per test.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from support.registries import DATABASE, build_once, copy_registry

# Airline customer-service tweets are the largest topic of the corpus; every one addresses an airline.
AIRLINE_PATTERN = re.compile(r"@(united|usairways|americanair|southwestair|jetblue|virginamerica|delta)\b",
                             re.IGNORECASE)
SLICE_SIZE = 3000


def make_dataset(texts: list[str], labels: list[str], source: str = "slice") -> Any:
    from sentiment_mlops.data import Dataset
    from sentiment_mlops.data.loading import DataSummary, fingerprint

    counts = {label: labels.count(label) for label in sorted(set(labels))}
    summary = DataSummary(source=source, rows_read=len(texts), dropped_empty=0, dropped_duplicate=0,
                          class_counts=counts, fingerprint=fingerprint(texts, labels))
    return Dataset(texts=list(texts), labels=list(labels), summary=summary)


def draw_rows(corpus: Any, size: int, seed: int, *, exclude: set[int] | None = None) -> tuple[list[str], list[str]]:
    rng = np.random.default_rng(seed)
    pool = np.array([i for i in range(len(corpus.texts)) if not exclude or i not in exclude])
    picked = rng.choice(pool, size, replace=False)
    return [corpus.texts[i] for i in picked], [corpus.labels[i] for i in picked]


@dataclass(frozen=True)
class Registered:
    """A tmp MLflow registry with version ``good`` and version ``bad`` (shuffled labels)."""

    tracking_uri: str
    root: Path
    good: str
    bad: str
    scoring_texts: list[str]  # rows neither model was trained on
    scoring_labels: list[str]


def build_good_and_bad(root: Path) -> dict[str, Any]:
    """Train both versions into ``root`` (the working directory); what ``Registered`` needs besides paths."""
    from sentiment_mlops.data import load_dataset
    from sentiment_mlops.registry.tracking import RunTracker
    from sentiment_mlops.training.run import TrainOptions, train

    corpus = load_dataset()
    texts, labels = draw_rows(corpus, SLICE_SIZE, seed=1)
    shuffled = list(np.random.default_rng(2).permutation(labels))
    used = set(texts)
    rest = [i for i, t in enumerate(corpus.texts) if t not in used]
    picked = np.random.default_rng(3).choice(rest, 1500, replace=False)
    tracker = RunTracker(f"sqlite:///{root / DATABASE}", "sentiment-analysis", "SentimentAnalysisModel")
    good = train(make_dataset(texts, labels), TrainOptions(), models_dir=root / "models-good", tracker=tracker)
    bad = train(make_dataset(texts, shuffled, "shuffled"), TrainOptions(), models_dir=root / "models-bad",
                tracker=tracker)
    return {"good": str(good.model_version), "bad": str(bad.model_version),
            "scoring_texts": [corpus.texts[i] for i in picked], "scoring_labels": [corpus.labels[i] for i in picked]}


@pytest.fixture(name="registered")
def registered_fixture(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> Registered:
    """A private copy of the run's good-and-bad registry: tests promote, roll back and alert freely."""
    built = copy_registry(build_once(tmp_path_factory, "alerts", build_good_and_bad), tmp_path / "registry")
    info = built.info
    return Registered(tracking_uri=built.tracking_uri, root=built.root, good=info["good"], bad=info["bad"],
                      scoring_texts=info["scoring_texts"], scoring_labels=info["scoring_labels"])


def prediction_rows(pipeline: Any, texts: list[str], *, environment: str, version: str,
                    created_at: datetime | None = None, latency_ms: float = 2.0) -> list[dict[str, Any]]:
    """Rows as the service logs them: the model's label, confidence and probabilities for each text."""
    probabilities = pipeline.predict_proba(texts)
    classes = [str(c) for c in pipeline.classes_]
    when = created_at or datetime.now(timezone.utc)
    return [{"environment": environment, "model_version": version, "text": text,
             "sentiment": classes[int(row.argmax())], "confidence": float(row.max()),
             "probabilities": dict(zip(classes, map(float, row), strict=True)), "latency_ms": latency_ms,
             "route": "/predict", "created_at": when}
            for text, row in zip(texts, probabilities, strict=True)]
