"""Domain adaptation on the real corpus: a model trained without one topic, that topic's texts as feedback.

``topic_split`` cuts the built-in corpus by a topic of ``support.corpus_topics``: base rows (other topics, a
slice), the topic texts to send through ``/predict`` and ``/feedback``, and the rest of the topic to score on.
``build_base_registry`` trains version 1 on the base rows once per test run (``support.registries``).
"""

from __future__ import annotations

import csv
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from support.corpus_topics import TOPICS
from support.registries import DATABASE

TOPIC = "claritin"  # 1,674 tweets; the other topics' model scores about 0.3 macro-F1 on them
BASE_ROWS = 3000
FEEDBACK_ROWS = 300
REST_ROWS = 1000
BASE_CSV = "base.csv"
STORE = "logs/predictions.db"  # the prediction store beside the registry, with version 1's promotions


@dataclass(frozen=True)
class TopicSplit:
    base: list[tuple[str, str]]
    feedback: list[tuple[str, str]]
    rest: list[tuple[str, str]]


def topic_split(dataset: Any, topic: str = TOPIC, *, base_rows: int | None = BASE_ROWS,
                feedback_rows: int = FEEDBACK_ROWS, rest_rows: int | None = REST_ROWS, seed: int = 0) -> TopicSplit:
    """Rows without ``topic`` (``base_rows`` of them, None: all), then ``topic``'s rows shuffled: the first
    ``feedback_rows`` to label through the API, the next ``rest_rows`` (None: all the others) to score on."""
    pattern = TOPICS[topic]
    rows = list(zip(dataset.texts, dataset.labels, strict=True))
    inside = [row for row in rows if pattern.search(row[0])]
    outside = [row for row in rows if not pattern.search(row[0])]
    random.Random(seed).shuffle(inside)
    random.Random(seed + 1).shuffle(outside)
    rest_end = None if rest_rows is None else feedback_rows + rest_rows
    return TopicSplit(base=outside[:base_rows], feedback=inside[:feedback_rows], rest=inside[feedback_rows:rest_end])


def write_csv(path: Path, rows: list[tuple[str, str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "sentiment"])
        writer.writerows(rows)
    return path


def build_base_registry(root: Path) -> dict[str, Any]:
    """Version 1, trained on ``BASE_ROWS`` rows of the other topics, registered in ``root/mlflow.db``."""
    from sentiment_mlops.config import EXPERIMENT_NAME, REGISTERED_MODEL_NAME
    from sentiment_mlops.data import load_dataset
    from sentiment_mlops.registry.tracking import RunTracker
    from sentiment_mlops.training.run import TrainOptions, train

    split = topic_split(load_dataset("builtin"))
    base = load_dataset(write_csv(root / BASE_CSV, split.base))
    tracker = RunTracker(f"sqlite:///{root / DATABASE}", EXPERIMENT_NAME, REGISTERED_MODEL_NAME)
    result = train(base, TrainOptions(), models_dir=root / "models", tracker=tracker)
    version = str(result.model_version)
    _promote_to_production(root, version)
    return {"version": version, "base_csv": BASE_CSV, "store": STORE}


def _promote_to_production(root: Path, version: str) -> None:
    """Version ``version`` through staging into production, gated and recorded in ``root/STORE``'s history."""
    from sentiment_mlops.config import EXPERIMENT_NAME, REGISTERED_MODEL_NAME
    from sentiment_mlops.deployment.actions import promote
    from sentiment_mlops.registry import ModelRegistry
    from sentiment_mlops.store import PredictionStore

    registry = ModelRegistry(f"sqlite:///{root / DATABASE}", REGISTERED_MODEL_NAME, EXPERIMENT_NAME)
    with PredictionStore(f"sqlite:///{root / STORE}") as store:
        for environment in ("staging", "production"):
            promote(registry, store, version=version, to=environment, actor="tests")


def chunks(rows: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(rows), size):
        yield rows[start:start + size]


def predict_and_label(url: str, rows: list[tuple[str, str]], token: str) -> list[dict[str, Any]]:
    """Send the texts through ``/predict/batch`` and their labels through ``/feedback`` (with the token)."""
    answered = []
    with httpx.Client(base_url=url, timeout=30) as client:
        for part in chunks(rows, 500):
            response = client.post("/predict/batch", json={"texts": [text for text, _ in part]})
            response.raise_for_status()
            predictions = response.json()["predictions"]
            items = [{"id": p["id"], "label": label} for p, (_, label) in zip(predictions, part, strict=True)]
            recorded = client.post("/feedback", json={"items": items}, headers={"Authorization": f"Bearer {token}"})
            recorded.raise_for_status()
            answered += predictions
    return answered


def macro_f1(pipeline: Any, rows: list[tuple[str, str]]) -> float:
    from sklearn.metrics import f1_score

    return float(f1_score([label for _, label in rows], pipeline.predict([text for text, _ in rows]),
                          average="macro"))
