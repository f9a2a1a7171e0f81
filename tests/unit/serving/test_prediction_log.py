"""The background prediction writer: batches, backpressure, flush, nothing lost on close, and the journal
that holds rows while the store fails."""

from __future__ import annotations

import asyncio
import hashlib
import threading
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from sentiment_mlops.errors import StoreError
from sentiment_mlops.serving.metrics import ServingMetrics
from sentiment_mlops.serving.prediction_log import PredictionLogWriter, prediction_row
from sentiment_mlops.store import PredictionStore
from sentiment_mlops.store.journal import PredictionJournal
from sentiment_mlops.store.rows import finish_rows, new_prediction_id


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
    pending = _row(text, log_text=False)
    assert "text_sha256" not in pending  # the request leaves the digest to whoever inserts the batch
    hidden, shown = finish_rows([pending, _row(text)])
    assert hidden["text"] is None and shown["text"] is not None and "\x00" not in shown["text"]
    assert hidden["text_sha256"] == hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
    assert hidden["text_length"] == len(text)
    store.insert_predictions([hidden, shown])
    assert store.get_prediction(shown["id"])["text_sha256"] == hidden["text_sha256"]


# -- a failing store: the journal ------------------------------------------------------------------------


class FlakyStore:
    """The real store behind a switch: ``down`` refuses every write; ``commit_then_fail`` commits the next
    direct write and then raises, like a connection lost during COMMIT."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.down = False
        self.commit_then_fail = False
        self.blocked: threading.Event | None = None

    def insert_predictions(self, rows: list[dict[str, Any]]) -> list[str]:
        if self.blocked is not None:
            self.blocked.wait()
        if self.down:
            raise StoreError("cannot use the prediction store: connection refused")
        ids = self.store.insert_predictions(rows)
        if self.commit_then_fail:
            self.commit_then_fail = False
            raise StoreError("server closed the connection unexpectedly")
        return ids

    def insert_new_predictions(self, rows: list[dict[str, Any]]) -> list[str]:
        if self.down:
            raise StoreError("cannot use the prediction store: connection refused")
        return list(self.store.insert_new_predictions(rows))


def _journaled_writer(store: Any, tmp_path: Path, **options: Any) -> tuple[PredictionLogWriter, ServingMetrics]:
    metrics = ServingMetrics()
    journal = PredictionJournal(tmp_path / "journal", max_bytes=options.pop("max_bytes", 1 << 20))
    values: dict[str, Any] = {"queue_size": 1000, "batch_size": 50, "flush_interval": 0.02, "retry_seconds": 0.05}
    values.update(options)
    return PredictionLogWriter(store, journal=journal, observer=metrics, **values), metrics


def _wait_for(condition: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.01)


def _sample(metrics: ServingMetrics, name: str) -> float:
    value = metrics.registry.get_sample_value(name)
    return 0.0 if value is None else value


def test_a_failing_store_journals_every_row_and_replays_them_when_it_answers(store: Any, tmp_path: Path) -> None:
    flaky = FlakyStore(store)
    writer, metrics = _journaled_writer(flaky, tmp_path)
    writer.start()
    flaky.down = True
    rows = [_row(f"text {i}") for i in range(120)]
    writer.try_put_many(rows)
    assert writer.flush(timeout=10)
    assert writer.failure is not None and "connection refused" in writer.failure
    assert writer.journaled == 120 and writer.dropped == 0 and store.count_predictions() == 0
    _wait_for(lambda: _sample(metrics, "sentiment_prediction_log_journaled_rows") == 120)
    assert _sample(metrics, "sentiment_prediction_log_store_failing") == 1
    flaky.down = False
    _wait_for(lambda: writer.failure is None and store.count_predictions() == 120)
    _wait_for(lambda: _sample(metrics, "sentiment_prediction_log_journaled_rows") == 0)
    writer.try_put_many([_row("after")])
    writer.close()
    assert store.count_predictions() == 121 and writer.written == 121
    assert _sample(metrics, "sentiment_prediction_log_written_total") == 121
    assert _sample(metrics, "sentiment_prediction_log_dropped_total") == 0


def test_a_commit_that_succeeded_but_reported_failure_is_neither_lost_nor_duplicated(store: Any,
                                                                                   tmp_path: Path) -> None:
    flaky = FlakyStore(store)
    flaky.commit_then_fail = True
    writer, metrics = _journaled_writer(flaky, tmp_path)
    rows = [_row(f"text {i}") for i in range(30)]
    writer.try_put_many(rows)
    writer.start()
    assert writer.flush(timeout=10)
    assert writer.journaled == 30  # the writer could not know the rows were committed
    _wait_for(lambda: writer.failure is None and writer.journal is not None and writer.journal.pending_rows == 0)
    writer.close()
    assert store.count_predictions() == 30 and writer.dropped == 0 and writer.written == 30
    assert _sample(metrics, "sentiment_prediction_log_dropped_total") == 0


def test_rows_beyond_the_journal_bound_are_dropped_and_counted_at_once(store: Any, tmp_path: Path) -> None:
    flaky = FlakyStore(store)
    flaky.down = True
    writer, metrics = _journaled_writer(flaky, tmp_path, max_bytes=len(orjson.dumps(_row())) * 10)
    writer.start()
    writer.try_put_many([_row("x") for _ in range(40)])
    assert writer.flush(timeout=10)
    assert writer.journaled + writer.dropped == 40 and 5 <= writer.journaled <= 10
    assert _sample(metrics, "sentiment_prediction_log_dropped_total") == writer.dropped  # before close
    flaky.down = False
    _wait_for(lambda: store.count_predictions() == writer.journaled)
    writer.close()


def test_close_gives_a_stuck_store_a_bounded_time_then_journals_the_rest(store: Any, tmp_path: Path) -> None:
    flaky = FlakyStore(store)
    flaky.blocked = threading.Event()  # every write hangs, like a commit to a host that vanished
    writer, _ = _journaled_writer(flaky, tmp_path)
    writer.start()
    writer.try_put_many([_row(f"t{i}") for i in range(200)])
    time.sleep(0.1)  # the writer is now stuck in a write
    started = time.monotonic()
    writer.close(timeout=0.3)
    assert time.monotonic() - started < 3
    assert writer.journaled == 200 and writer.dropped == 0
    flaky.blocked.set()
    # The next server's journal replays what this one left (idempotently: the stuck write may land too).
    follower, _ = _journaled_writer(store, tmp_path)
    follower.start()
    _wait_for(lambda: store.count_predictions() == 200)
    follower.close()
    assert not list((tmp_path / "journal").iterdir())


def test_a_full_queue_spills_to_the_journal_instead_of_making_the_request_wait(store: Any, tmp_path: Path) -> None:
    writer, _ = _journaled_writer(store, tmp_path, queue_size=5)
    rows = [_row() for _ in range(20)]
    rest = writer.try_put_many(rows)
    started = time.monotonic()
    writer.put_many(rest)  # nobody drains the queue: waits ENQUEUE_WAIT_SECONDS, then journals
    assert time.monotonic() - started < 2
    assert writer.depth == 5 and writer.journaled == 15
    writer.start()
    writer.close()
    assert store.count_predictions() == 20
