"""The shadow scorer: the request side only queues (bounded, drops counted); the thread scores and logs rows."""

from __future__ import annotations

import random
from types import SimpleNamespace
from typing import Any

import numpy as np
from prometheus_client import CollectorRegistry

from sentiment_mlops.serving.model_holder import ModelSnapshot, ServedModel
from sentiment_mlops.serving.shadow import ShadowScorer
from sentiment_mlops.store.rows import finish_rows


def _served(pipeline: Any, version: str) -> ServedModel:
    return ServedModel.from_loaded(SimpleNamespace(pipeline=pipeline, version=version))


def _dropped(registry: CollectorRegistry, reason: str) -> float:
    return registry.get_sample_value("sentiment_shadow_dropped_total", {"reason": reason}) or 0.0


def test_only_a_drawn_share_is_queued_and_a_full_queue_drops_without_waiting(mnb_pipeline: Any) -> None:
    registry = CollectorRegistry()
    shadow = ShadowScorer(queue_size=3, log=None, log_text=True, metrics_registry=registry, rng=random.Random(3))
    primary = _served(mnb_pipeline, "1")
    assert not shadow.offer(ModelSnapshot(primary), ["no shadow"], ["a" * 32], "/predict")
    quarter = ModelSnapshot(primary, shadow=_served(mnb_pipeline, "2"), shadow_percent=25.0)
    share = ShadowScorer(queue_size=10_000, log=None, log_text=True, rng=random.Random(3))
    queued = sum(share.offer(quarter, ["text"], ["b" * 32], "/predict") for _ in range(4000))
    assert 800 < queued < 1200
    full = ModelSnapshot(primary, shadow=_served(mnb_pipeline, "2"), shadow_percent=100.0)
    results = [shadow.offer(full, ["one", "two"], ["c" * 32, "d" * 32], "/predict/batch") for _ in range(5)]
    assert results == [True, True, True, False, False]  # the thread is not running: the queue fills
    assert shadow.dropped == 4 and _dropped(registry, "queue_full") == 4


def test_the_thread_scores_queued_requests_into_shadow_rows(mnb_pipeline: Any) -> None:
    logged: list[dict[str, Any]] = []

    def log(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        logged.extend(rows)
        return []

    shadow_model = _served(mnb_pipeline, "2")
    snapshot = ModelSnapshot(_served(mnb_pipeline, "1"), shadow=shadow_model, shadow_percent=100.0)
    shadow = ShadowScorer(queue_size=100, log=log, log_text=False)
    shadow.start()
    texts = ["the crew were lovely", "lost my bag again", "is the lounge open?"]
    shadow.offer(snapshot, texts[:1], ["1" * 32], "/predict")
    shadow.offer(snapshot, texts[1:], ["2" * 32, "3" * 32], "/predict/batch")
    shadow.stop()
    assert [row["shadow_of"] for row in logged] == ["1" * 32, "2" * 32, "3" * 32]
    assert {(row["environment"], row["source"], row["model_version"]) for row in logged} == {("shadow", "shadow", "2")}
    finish_rows(logged)  # as the store writer completes them
    assert all(row["text"] is None and len(row["id"]) == 32 for row in logged)  # texts not kept, as configured
    expected = shadow_model.scorer.predict_proba(texts)
    for row, probabilities in zip(logged, expected, strict=True):
        assert row["sentiment"] == shadow_model.classes[int(np.argmax(probabilities))]
        assert abs(row["confidence"] - probabilities.max()) < 1e-12  # batched vs one call: last-bit differences
    assert shadow.scored == 3


def test_shadow_rows_leave_half_of_the_log_queue_to_live_rows() -> None:
    from sentiment_mlops.serving.prediction_log import PredictionLogWriter
    from sentiment_mlops.serving.shadow import leave_room_for_live

    writer = PredictionLogWriter(None, queue_size=10, batch_size=5)  # type: ignore[arg-type]  # never started
    log = leave_room_for_live(writer)
    assert log([{"n": i} for i in range(4)]) == [] and writer.depth == 4
    assert len(log([{"n": i} for i in range(2)])) == 2 and writer.depth == 4  # 6 > half of 10: refused whole
    assert writer.try_put_many([{"n": i} for i in range(6)]) == []  # live rows still find room
