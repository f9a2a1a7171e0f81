"""The background prediction writer: batches, backpressure, flush, and nothing lost on close."""

from __future__ import annotations

import asyncio
import hashlib
import threading
from pathlib import Path
from typing import Any

import pytest

from sentiment_mlops.serving.prediction_log import PredictionLogWriter, new_prediction_id, prediction_row
from sentiment_mlops.store import PredictionStore


def _row(text: str = "hello", **overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {"prediction_id": new_prediction_id(), "text": text, "log_text": True,
                              "environment": "local", "model_version": "1", "sentiment": "positive",
                              "confidence": 0.8, "probabilities": {"negative": 0.1, "neutral": 0.1, "positive": 0.8},
                              "latency_ms": 0.1, "route": "/predict"}
    values.update(overrides)
    return prediction_row(**values)


@pytest.fixture
def store(tmp_path: Path) -> Any:
    with PredictionStore(f"sqlite:///{tmp_path / 'logs' / 'p.db'}") as opened:
        yield opened


class CountingStore:
    """The real store, recording the size of each insert."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.batches: list[int] = []

    def insert_predictions(self, rows: list[dict[str, Any]]) -> list[str]:
        self.batches.append(len(rows))
        return self.store.insert_predictions(rows)


def test_rows_are_written_in_batches_and_close_flushes_everything(store: Any) -> None:
    counting = CountingStore(store)
    writer = PredictionLogWriter(counting, queue_size=1000, batch_size=50)
    writer.try_put_many([_row(f"text {i}") for i in range(230)])  # queued before the thread starts
    writer.start()
    writer.close()
    assert store.count_predictions() == 230
    assert max(counting.batches) == 50 and sum(counting.batches) == 230


def test_a_full_queue_makes_the_caller_wait_then_everything_is_written(store: Any) -> None:
    writer = PredictionLogWriter(store, queue_size=3, batch_size=2)
    rest = writer.try_put_many([_row() for _ in range(5)])
    assert len(rest) == 2 and writer.depth == 3
    waiter = threading.Thread(target=writer.put_many, args=(rest,))
    waiter.start()
    waiter.join(timeout=0.2)
    assert waiter.is_alive()  # blocked: the queue is full and nobody drains it
    writer.start()
    waiter.join(timeout=10)
    assert not waiter.is_alive()
    writer.close()
    assert store.count_predictions() == 5


def test_flush_waits_for_rows_queued_before_it(store: Any) -> None:
    writer = PredictionLogWriter(store, queue_size=100, batch_size=10)
    writer.start()
    rows = [_row() for _ in range(25)]
    writer.try_put_many(rows)
    ids = [r["id"] for r in rows]
    assert writer.flush(timeout=10)
    assert all(store.get_prediction(i) is not None for i in ids)
    writer.close()


def test_flush_without_a_running_writer_returns_false(store: Any) -> None:
    writer = PredictionLogWriter(store, queue_size=10, batch_size=10)
    writer.try_put_many([_row()])
    assert writer.flush(timeout=0.1) is False


def test_backpressure_is_counted_by_the_serving_state(store: Any) -> None:
    from sentiment_mlops.serving.metrics import ServingMetrics
    from sentiment_mlops.serving.state import ServingState

    writer = PredictionLogWriter(store, queue_size=2, batch_size=2)
    metrics = ServingMetrics()
    state = ServingState(settings=None, environment="local", holder=None, poller=None, store=store,  # type: ignore[arg-type]
                         metrics=metrics, writer=writer)

    async def scenario() -> None:
        task = asyncio.create_task(state.log([_row() for _ in range(4)]))
        await asyncio.sleep(0.2)
        assert not task.done()  # waiting for room
        writer.start()
        await asyncio.wait_for(task, timeout=10)

    asyncio.run(scenario())
    writer.close()
    assert store.count_predictions() == 4
    assert metrics.registry.get_sample_value("sentiment_prediction_log_backpressure_waits_total") == 1


def test_row_without_text_keeps_hash_and_length_and_is_storable(store: Any) -> None:
    text = "nul\u0000 and a lone \ud83d surrogate"
    hidden = _row(text, log_text=False)
    shown = _row(text)
    assert hidden["text"] is None and shown["text"] is not None and "\x00" not in shown["text"]
    assert hidden["text_sha256"] == hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
    assert hidden["text_length"] == len(text)
    store.insert_predictions([hidden, shown])
    assert store.get_prediction(shown["id"])["text_sha256"] == hidden["text_sha256"]
