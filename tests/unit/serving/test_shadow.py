"""The shadow scorer: the request side only queues (bounded, drops counted); the thread scores and logs rows."""

from __future__ import annotations

import random
from types import SimpleNamespace
from typing import Any

import numpy as np
from prometheus_client import CollectorRegistry

from sentiment_mlops.serving.model_holder import ModelSnapshot, ServedModel
from sentiment_mlops.serving.shadow import ShadowScorer
from sentiment_mlops.store.rows import PENDING, SCORE_WITH, SHADOW_WITH, finish_rows, shadow_row


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


def _live_rows(texts: list[str]) -> list[dict[str, Any]]:
    from sentiment_mlops.serving.prediction_log import prediction_row
    from sentiment_mlops.store.rows import new_prediction_id

    return [prediction_row(prediction_id=new_prediction_id(), text=t, log_text=True, environment="production",
                           model_version="1", sentiment="neutral", confidence=0.5,
                           probabilities={"negative": 0.2, "neutral": 0.5, "positive": 0.3}, latency_ms=1.0,
                           route="/predict/batch") for t in texts]


def test_with_the_store_writer_a_request_marks_its_live_rows_and_no_thread_runs(mnb_pipeline: Any) -> None:
    registry = CollectorRegistry()
    room = [3]

    def fits(n: int) -> bool:  # like room_for_shadow: what the log's queue has left for shadow work
        if n > room[0]:
            return False
        room[0] -= n
        return True

    shadow = ShadowScorer(queue_size=10, log=lambda rows: rows, log_text=False, metrics_registry=registry,
                          in_store_writer=True, room=fits)
    shadow.start()
    assert shadow._thread is None
    model = _served(mnb_pipeline, "2")
    snapshot = ModelSnapshot(_served(mnb_pipeline, "1"), shadow=model, shadow_percent=100.0)
    first, second = _live_rows(["the crew were lovely", "lost my bag"]), _live_rows(["late again", "no room"])
    assert shadow.offer(snapshot, [r["text"] for r in first], [r["id"] for r in first], "/predict/batch", first)
    assert not shadow.offer(snapshot, [r["text"] for r in second], [r["id"] for r in second], "/predict/batch",
                            second)
    assert all(row[SHADOW_WITH] is model for row in first) and not any(SHADOW_WITH in row for row in second)
    assert shadow.queue.qsize() == 0 and _dropped(registry, "log_full") == 2
    shadow.count_scored("2", 2)
    shadow.count_unscored(2)
    assert registry.get_sample_value("sentiment_shadow_predictions_total", {"model_version": "2"}) == 2
    assert _dropped(registry, "store_failing") == 2
    shadow.stop()


def test_the_shadow_row_of_a_live_row_is_its_text_time_and_route_with_its_own_id() -> None:
    live = _live_rows(["late again"])[0]
    row = shadow_row(live, "key")
    assert (row["text"], row["created_at"], row["route"], row["shadow_of"]) == (
        "late again", live["created_at"], "/predict/batch", live["id"])
    assert row["id"] != live["id"] and len(row["id"]) == 32 and row[SCORE_WITH] == "key"
    assert (row["environment"], row["source"], row[PENDING]) == ("shadow", "shadow", True)


def test_a_failed_batch_journals_its_live_rows_and_reports_the_unscored_shadow_rows(tmp_path: Any,
                                                                                  mnb_pipeline: Any) -> None:
    from sentiment_mlops.errors import StoreError
    from sentiment_mlops.serving.prediction_log import PredictionLogWriter
    from sentiment_mlops.store.journal import PredictionJournal

    class Down:
        def insert_predictions(self, rows: list[dict[str, Any]]) -> None:
            raise StoreError("the store is gone")

    journal = PredictionJournal(tmp_path, max_bytes=1 << 20)
    writer = PredictionLogWriter(SimpleNamespace(), queue_size=100, batch_size=100, journal=journal,
                                 flush_interval=0.05, sink=Down())
    unscored: list[int] = []
    writer.on_unscored_dropped = unscored.append
    shadow = ShadowScorer(queue_size=10, log=writer.try_put_many, log_text=True, in_store_writer=True)
    model = _served(mnb_pipeline, "2")
    live = _live_rows(["one text", "another"])
    shadow.offer(ModelSnapshot(_served(mnb_pipeline, "1"), shadow=model, shadow_percent=100.0),
                 [row["text"] for row in live], [row["id"] for row in live], "/predict/batch", live)
    writer.try_put_many(live)
    writer._store_or_journal(writer._take_batch())  # the writer thread's one step, here
    assert writer.journaled == 2 and unscored == [2] and writer.dropped == 0
    assert sorted(row["id"] for segment in journal.take_segments() for row in segment.read()) == sorted(
        row["id"] for row in live)
