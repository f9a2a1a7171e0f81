"""Shared by the dashboard's integration and browser tests: a corpus slice, two trained versions, a seeded
prediction store and a minimal app wired the way ``create_app`` is."""

from __future__ import annotations

import csv
import os
import random
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

SLICE_ROWS = 3000
ADMIN_TOKEN = "dashboard-test-admin-token-0123456789"


@dataclass(frozen=True)
class Trained:
    tracking_uri: str
    versions: list[str]
    run_ids: list[str]
    texts: list[str]
    labels: list[str]


def write_slice(path: Path, rows: int, seed: int = 0) -> Path:
    """A CSV of ``rows`` rows drawn at random from the built-in corpus (which is ordered by topic)."""
    from sentiment_mlops.data import load_dataset

    data = load_dataset("builtin")
    chosen = random.Random(seed).sample(range(len(data.texts)), rows)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "sentiment"])
        writer.writerows((data.texts[i], data.labels[i]) for i in chosen)
    return path


def train_two_versions(root: Path) -> Trained:
    """Version 1 (mnb) and version 2 (complement_nb) of SentimentAnalysisModel, each with its run."""
    from sentiment_mlops.config import EXPERIMENT_NAME, REGISTERED_MODEL_NAME
    from sentiment_mlops.data import load_dataset
    from sentiment_mlops.registry.tracking import RunTracker
    from sentiment_mlops.training.run import TrainOptions, train

    tracking_uri = f"sqlite:///{root}/mlflow.db"
    dataset = load_dataset(write_slice(root / "slice.csv", SLICE_ROWS))
    previous = Path.cwd()
    os.chdir(root)  # MLflow puts a sqlite store's artifacts under ./mlruns
    try:
        tracker = RunTracker(tracking_uri, EXPERIMENT_NAME, REGISTERED_MODEL_NAME)
        results = [train(dataset, TrainOptions(model=model), models_dir=root / f"models-{model}", tracker=tracker)
                   for model in ("mnb", "complement_nb")]
    finally:
        os.chdir(previous)
    return Trained(tracking_uri=tracking_uri, versions=[r.model_version for r in results],
                   run_ids=[r.run_id for r in results], texts=dataset.texts, labels=dataset.labels)


def seed_store(store: Any, trained: Trained, *, now: datetime | None = None) -> dict[str, Any]:
    """Traffic over the last 3 hours on staging (v2) and production (v1, then v2 as a canary), with feedback."""
    now = now or datetime.now(UTC)
    rng = random.Random(7)
    labels = ("negative", "neutral", "positive")
    rows = []
    for i in range(600):
        environment = "staging" if i % 3 == 0 else "production"
        version = "2" if environment == "staging" or i % 5 == 0 else "1"
        confidence = rng.uniform(0.4, 0.99)
        sentiment = labels[i % 3]
        rest = (1 - confidence) / 2
        rows.append({
            "created_at": now - timedelta(minutes=180 * (600 - i) / 600),
            "environment": environment, "model_version": version, "text": trained.texts[i],
            "sentiment": sentiment, "confidence": confidence,
            "probabilities": {label: confidence if label == sentiment else rest for label in labels},
            "latency_ms": rng.uniform(0.5, 4.0), "route": "/predict",
        })
    ids = store.insert_predictions(rows)
    correct = 0
    for i, prediction_id in enumerate(ids[:300]):
        label = rows[i]["sentiment"] if i % 4 else labels[(i + 1) % 3]  # 3 of 4 right
        correct += label == rows[i]["sentiment"]
        store.add_feedback(prediction_id, label)
    store.record_deployment(environment="staging", action="promote", from_version=None, to_version="1",
                            actor="ci", reason="first version", created_at=now - timedelta(hours=5))
    store.record_deployment(environment="production", action="promote", from_version=None, to_version="1",
                            actor="ci", reason="gate passed", created_at=now - timedelta(hours=4))
    store.record_deployment(environment="staging", action="promote", from_version="1", to_version="2",
                            actor="ci", reason="better macro-F1", created_at=now - timedelta(hours=3.5))
    store.record_deployment(environment="canary", action="canary", from_version=None, to_version="2",
                            actor="alice", reason="20% canary", created_at=now - timedelta(hours=3))
    firing = store.record_alert(rule="p95_latency", severity="warning", environment="production",
                                model_version="1", message="p95 latency 61 ms > 50 ms", details={"p95_ms": 61})
    resolved = store.record_alert(rule="drift", severity="critical", environment="staging", model_version="2",
                                  message="drift detected <script>alert(1)</script>", details={})
    store.resolve_alert(resolved)
    return {"ids": ids, "rows": rows, "feedback": 300, "correct": correct, "alerts": (firing, resolved)}


def build_app(settings: Any, store: Any) -> Any:
    """The dashboard router in an app whose lifespan state has the shape ``create_app``'s has."""
    from fastapi import FastAPI

    from sentiment_mlops.dashboard.routes import router

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> Any:
        yield {"serving": SimpleNamespace(settings=settings, store=store, environment="production")}

    app = FastAPI(lifespan=lifespan)
    app.include_router(router)
    return app


def make_settings(tmp_path: Path, trained: Trained | None, **overrides: Any) -> Any:
    from sentiment_mlops.config import Settings

    tracking_uri = trained.tracking_uri if trained else f"sqlite:///{tmp_path}/empty-mlflow.db"
    return Settings(tracking_uri=tracking_uri, store_url=f"sqlite:///{tmp_path}/logs/predictions.db",
                    models_dir=tmp_path / "models", admin_token=ADMIN_TOKEN, **overrides)
