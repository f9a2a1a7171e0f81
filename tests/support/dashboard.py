"""Shared by the dashboard's integration and browser tests: a corpus slice, two trained versions, a seeded
prediction store and a minimal app wired the way ``create_app`` is."""

from __future__ import annotations

import csv
import json
import random
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from sentiment_mlops.layout import PROFILE_FILE
from support.registries import DATABASE, build_once, copy_registry

SLICE_ROWS = 3000
SEEDED_FAMILIAR = 1200
SEEDED_SHIFTED = 400
ADMIN_TOKEN = "dashboard-test-admin-token-0123456789"


@dataclass(frozen=True)
class Trained:
    tracking_uri: str
    versions: list[str]
    run_ids: list[str]
    pipelines: list[Any]
    profiles: list[dict[str, Any]]


@dataclass(frozen=True)
class Traffic:
    """Texts the models never saw: ``familiar`` drawn like the training slice, ``shifted`` from one topic."""

    familiar: list[str]
    familiar_labels: list[str]
    shifted: list[str]
    shifted_labels: list[str]


@lru_cache(maxsize=1)
def _corpus() -> Any:
    from sentiment_mlops.data import load_dataset

    return load_dataset("builtin")


def _training_rows(rows: int, seed: int = 0) -> list[int]:
    return random.Random(seed).sample(range(len(_corpus().texts)), rows)


def write_slice(path: Path, rows: int, seed: int = 0) -> Path:
    """A CSV of ``rows`` rows drawn at random from the built-in corpus (which is ordered by topic)."""
    data = _corpus()
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "sentiment"])
        writer.writerows((data.texts[i], data.labels[i]) for i in _training_rows(rows, seed))
    return path


def traffic(familiar: int = 1500, shifted: int = 500) -> Traffic:
    """Unseen texts: a random draw (no drift expected) and the corpus's last topic block (drift expected).

    ``seed_store`` uses the first ``SEEDED_FAMILIAR`` / ``SEEDED_SHIFTED`` of each; live traffic the rest.
    """
    data = _corpus()
    seen = set(_training_rows(SLICE_ROWS))
    unseen = [i for i in range(len(data.texts)) if i not in seen]
    tail = unseen[-shifted:]  # the corpus is ordered by topic: its end is one topic only
    drawn = random.Random(1).sample(unseen[:-shifted], familiar)
    return Traffic([data.texts[i] for i in drawn], [data.labels[i] for i in drawn],
                   [data.texts[i] for i in tail], [data.labels[i] for i in tail])


def build_two_versions(root: Path) -> dict[str, Any]:
    """Version 1 (mnb) and 2 (complement_nb) on the same slice; staging→2, production→1, canary→2 at 20%.

    Trains into ``root`` (the working directory); returns the versions, run ids and models directories.
    """
    from sentiment_mlops.config import EXPERIMENT_NAME, REGISTERED_MODEL_NAME
    from sentiment_mlops.data import load_dataset
    from sentiment_mlops.registry.client import ModelRegistry
    from sentiment_mlops.registry.tracking import RunTracker
    from sentiment_mlops.training.run import TrainOptions, train

    tracking_uri = f"sqlite:///{root / DATABASE}"
    dataset = load_dataset(write_slice(root / "slice.csv", SLICE_ROWS))
    tracker = RunTracker(tracking_uri, EXPERIMENT_NAME, REGISTERED_MODEL_NAME)
    results = [train(dataset, TrainOptions(model=model), models_dir=root / f"models-{model}", tracker=tracker)
               for model in ("mnb", "complement_nb")]
    versions = [str(r.model_version) for r in results]
    registry = ModelRegistry(tracking_uri, REGISTERED_MODEL_NAME, EXPERIMENT_NAME)
    registry.set_alias("production", versions[0])
    registry.set_alias("staging", versions[1])
    registry.set_alias("canary", versions[1])
    registry.client.set_registered_model_tag(REGISTERED_MODEL_NAME, "canary_percent", "20")
    return {"versions": versions, "run_ids": [str(r.run_id) for r in results],
            "models_dirs": [str(r.artifacts_dir.relative_to(root)) for r in results]}


def train_two_versions(factory: Any, destination: Path) -> Trained:
    """A copy at ``destination`` of the run's two-version registry (see ``build_two_versions``)."""
    from sentiment_mlops.registry.loading import load_local

    built = copy_registry(build_once(factory, "dashboard", build_two_versions), destination)
    models_dirs = [built.root / name for name in built.info["models_dirs"]]
    return Trained(tracking_uri=built.tracking_uri, versions=built.info["versions"], run_ids=built.info["run_ids"],
                   pipelines=[load_local(directory).pipeline for directory in models_dirs],
                   profiles=[json.loads((directory / PROFILE_FILE).read_text()) for directory in models_dirs])


def _scored(pipeline: Any, texts: list[str]) -> list[tuple[str, float, dict[str, float]]]:
    probabilities = pipeline.predict_proba(texts)
    classes = [str(c) for c in pipeline.classes_]
    return [(classes[int(row.argmax())], float(row.max()), dict(zip(classes, map(float, row), strict=True)))
            for row in probabilities]


def seed_store(store: Any, trained: Trained, *, now: datetime | None = None) -> dict[str, Any]:
    """Three hours of traffic scored by the real models, feedback on half of it, history and alerts.

    production: familiar texts, 4 of 5 by version 1 and 1 of 5 by the version-2 canary; staging: version 2 on
    the shifted topic. Feedback labels are the corpus labels of the first half of the requests.
    """
    now = now or datetime.now(UTC)
    rng = random.Random(7)
    texts = traffic()
    familiar = zip(texts.familiar[:SEEDED_FAMILIAR], texts.familiar_labels[:SEEDED_FAMILIAR], strict=True)
    shifted = zip(texts.shifted[:SEEDED_SHIFTED], texts.shifted_labels[:SEEDED_SHIFTED], strict=True)
    plan = [("production", 2 if i % 5 == 0 else 1, text, label) for i, (text, label) in enumerate(familiar)]
    plan += [("staging", 2, text, label) for text, label in shifted]
    rng.shuffle(plan)
    scored = {n: dict(zip(range(len(plan)), _scored(trained.pipelines[n - 1], [p[2] for p in plan]), strict=True))
              for n in (1, 2)}
    rows, truth = [], []
    for i, (environment, n, text, label) in enumerate(plan):
        sentiment, confidence, probabilities = scored[n][i]
        rows.append({
            "created_at": now - timedelta(seconds=3 * 3600 * (len(plan) - i) / len(plan)),
            "environment": environment, "model_version": trained.versions[n - 1], "text": text,
            "sentiment": sentiment, "confidence": confidence, "probabilities": probabilities,
            "latency_ms": rng.lognormvariate(0.3, 0.4), "route": "/predict",
        })
        truth.append(label)
    ids = store.insert_predictions(rows)
    half = len(ids) // 2
    for prediction_id, label in zip(ids[:half], truth[:half], strict=True):
        store.add_feedback(prediction_id, label)
    correct = sum(rows[i]["sentiment"] == truth[i] for i in range(half))
    v1, v2 = trained.versions
    history = [("staging", "promote", None, v1, "ci", "first version", 5.0),
               ("production", "promote", None, v1, "ci", "gate passed", 4.5),
               ("staging", "promote", v1, v2, "ci", "macro-F1 +0.007", 4.0),
               ("staging", "rollback", v2, v1, "alice", "smoke test failed", 3.8),
               ("staging", "promote", v1, v2, "alice", "fixed the smoke test", 3.6),
               ("canary", "canary-start", v1, v2, "alice", "20% of production", 3.0)]
    for environment, action, from_version, to_version, actor, reason, hours_ago in history:
        store.record_deployment(environment=environment, action=action, from_version=from_version,
                                to_version=to_version, actor=actor, reason=reason,
                                created_at=now - timedelta(hours=hours_ago))
    resolved = store.record_alert(rule="p95_latency", severity="warning", environment="production",
                                  model_version=v1, message="p95 latency 61 ms > 50 ms", details={"p95_ms": 61},
                                  created_at=now - timedelta(hours=2.5), status="resolved",
                                  resolved_at=now - timedelta(hours=2))
    firing = store.record_alert(rule="drift", severity="critical", environment="staging", model_version=v2,
                                message="drift detected <script>alert(1)</script>", details={},
                                created_at=now - timedelta(hours=1))
    return {"ids": ids, "rows": rows, "truth": truth, "feedback": half, "correct": correct,
            "alerts": (firing, resolved)}


def build_app(settings: Any, store: Any) -> Any:
    """The dashboard router in an app whose lifespan state and error handlers are ``create_app``'s."""
    from fastapi import FastAPI

    from sentiment_mlops.dashboard.routes import router
    from sentiment_mlops.serving.errors import install_error_handlers

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> Any:
        yield {"serving": SimpleNamespace(settings=settings, store=store, environment="production")}

    app = FastAPI(lifespan=lifespan)
    app.include_router(router)
    install_error_handlers(app)
    return app


def make_settings(tmp_path: Path, trained: Trained | None, **overrides: Any) -> Any:
    from sentiment_mlops.config import Settings

    tracking_uri = trained.tracking_uri if trained else f"sqlite:///{tmp_path}/empty-mlflow.db"
    # tracking_uri is read under its aliases (MLFLOW_TRACKING_URI first), so it is passed by alias.
    # Drift reports on the request's thread: a worker process per app would cost seconds of imports per test
    # (test_drift_worker_process_gives_the_same_report covers the process).
    values: dict[str, Any] = {"dashboard_drift_process": False, **overrides}
    return Settings(MLFLOW_TRACKING_URI=tracking_uri, store_url=f"sqlite:///{tmp_path}/logs/predictions.db",
                    models_dir=tmp_path / "models", admin_token=ADMIN_TOKEN, **values)
