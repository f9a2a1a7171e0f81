"""The prediction log's inserts in a child process (``store.child_writer``), on SQLite and PostgreSQL: the rows the
child writes are the rows the store reads; a failed insert and a dead child are each one ``StoreError`` (the
writer journals that batch) and the next batch goes through; the URL never reaches the command line."""

from __future__ import annotations

import array
import fcntl
import os
import signal
import termios
import threading
import time
from pathlib import Path

import pytest

from sentiment_mlops.errors import StoreError
from sentiment_mlops.serving.prediction_log import PredictionLogWriter, prediction_row
from sentiment_mlops.store.child_writer import ChildWriter, writes_in_child
from sentiment_mlops.store.rows import new_prediction_id


def _rows(count: int, start: int = 0) -> list[dict]:
    return [prediction_row(prediction_id=new_prediction_id(), text=f"the flight was fine {start + i}", log_text=True,
                           environment="production", model_version="3", sentiment="neutral", confidence=0.5,
                           probabilities={"negative": 0.2, "neutral": 0.5, "positive": 0.3}, latency_ms=0.4,
                           route="/predict") for i in range(count)]


@pytest.fixture
def child(store):
    writer = ChildWriter(store.url.render_as_string(hide_password=False))
    yield writer
    writer.close()


def _stored(store) -> dict[str, dict]:
    columns = store.recent_columns(["id", "text", "sentiment", "confidence", "probabilities"], limit=None)
    rows = (dict(zip(columns, values, strict=True)) for values in zip(*columns.values(), strict=True))
    return {row["id"]: row for row in rows}


def test_the_child_writes_what_the_store_reads_and_the_totals(store, child):
    rows = _rows(300)
    child.insert_predictions(rows)
    stored = _stored(store)
    assert set(stored) == {row["id"] for row in rows}
    first = stored[rows[0]["id"]]
    assert (first["text"], first["sentiment"], first["confidence"]) == ("the flight was fine 0", "neutral", 0.5)
    assert first["probabilities"] == {"negative": 0.2, "neutral": 0.5, "positive": 0.3}
    assert store.summary("production")["sentiment_distribution"] == {"neutral": 300}  # the running totals too


def _unread_bytes(child: ChildWriter) -> int:
    """Bytes waiting in the pipe to the child (FIONREAD)."""
    buffer = array.array("i", [0])
    fcntl.ioctl(child._process.stdin.fileno(), termios.FIONREAD, buffer)
    return buffer[0]


def _state(pid: int) -> str:
    """The process's state letter from /proc (T: stopped)."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


def _killed_mid_batch(child: ChildWriter, send) -> threading.Thread:
    """Stop the child, have ``send()`` hand it a batch from a thread, then kill the child before it answers."""
    pid = child._process.pid
    os.kill(pid, signal.SIGSTOP)
    deadline = time.monotonic() + 10
    while _state(pid) != "T" and time.monotonic() < deadline:  # stopped, not about to read the batch
        time.sleep(0.01)
    thread = threading.Thread(target=send)
    thread.start()
    deadline = time.monotonic() + 10
    while _unread_bytes(child) == 0 and time.monotonic() < deadline:  # until the batch is in the pipe
        time.sleep(0.01)
    assert _unread_bytes(child) > 0
    os.kill(pid, signal.SIGKILL)
    return thread


def test_a_failed_insert_and_a_child_killed_mid_batch_are_store_errors_then_the_next_batch_goes_through(store,
                                                                                                        child):
    rows = _rows(10)
    child.insert_predictions(rows)
    with pytest.raises(StoreError, match="refused the operation"):  # the same ids again: the batch is refused
        child.insert_predictions(rows[:3] + _rows(2, start=100))
    assert len(_stored(store)) == 10  # nothing of the refused batch
    errors: list[Exception] = []

    def send() -> None:
        try:
            child.insert_predictions(_rows(5, start=200))
        except StoreError as exc:
            errors.append(exc)

    _killed_mid_batch(child, send).join(10)
    assert len(errors) == 1 and "exited (code -9) before answering" in str(errors[0])
    more = _rows(5, start=300)
    child.insert_predictions(more)  # a new child
    assert child.restarts == 1 and {row["id"] for row in more} <= set(_stored(store))


def test_the_url_goes_through_the_pipe_not_the_command_line(store, child):
    child.insert_predictions(_rows(1))
    command_line = Path(f"/proc/{child._process.pid}/cmdline").read_bytes().decode()
    assert "sentiment_mlops.store.child_writer" in command_line and str(store.url.database) not in command_line


def test_close_stops_the_child_and_refuses_later_batches(child):
    child.insert_predictions(_rows(1))
    process = child._process
    child.close()
    assert process.poll() == 0  # it exited on its own when its stdin closed
    with pytest.raises(StoreError, match="closed"):
        child.insert_predictions(_rows(1))


def test_a_writer_journals_the_batch_a_killed_child_held_and_the_store_gets_every_row(store, tmp_path):
    from sentiment_mlops.store.journal import PredictionJournal

    child = ChildWriter(store.url.render_as_string(hide_password=False))
    journal = PredictionJournal(tmp_path / "journal", max_bytes=1 << 20)
    writer = PredictionLogWriter(store, queue_size=1000, batch_size=50, journal=journal, flush_interval=0.05,
                                 retry_seconds=0.1, sink=child)
    writer.start()
    try:
        writer.put_many(_rows(50))
        assert writer.flush(10)
        _killed_mid_batch(child, lambda: writer.put_many(_rows(50, start=50))).join(10)
        assert writer.flush(10) and writer.journaled == 50  # the batch the child held when it was killed
        deadline = time.monotonic() + 10
        while writer.failure is not None and time.monotonic() < deadline:  # the replayer: the store answers
            time.sleep(0.05)
        assert writer.failure is None and len(_stored(store)) == 100
        writer.put_many(_rows(50, start=100))  # through a new child
        assert writer.flush(10)
    finally:
        writer.close(5)
        child.close()
    assert len(_stored(store)) == 150 and writer.dropped == 0 and child.restarts == 1


@pytest.mark.parametrize(("url", "expected"), [("sqlite://", False), ("sqlite:///:memory:", False),
                                                ("sqlite:///logs/p.db", True), ("postgresql://u:p@db/x", True)])
def test_only_a_store_another_process_can_open_is_written_from_a_child(url, expected):
    assert writes_in_child(url) is expected


def test_the_child_makes_and_scores_the_shadow_rows_as_the_scorer_does_here_and_keeps_the_live_rows(store, child):
    from types import SimpleNamespace

    from sentiment_mlops.serving.model_holder import ModelSnapshot, ServedModel
    from sentiment_mlops.serving.shadow import ShadowScorer
    from sentiment_mlops.training.pipeline import build_pipeline
    from support.serving import corpus_slice

    data = corpus_slice(rows=900)
    pipeline = build_pipeline("mnb").fit(data.texts[:600], data.labels[:600])
    model = ServedModel.from_loaded(SimpleNamespace(pipeline=pipeline, version="2"))
    shadow = ShadowScorer(queue_size=10, log=lambda rows: [], log_text=True, in_store_writer=True)
    snapshot = ModelSnapshot(model, shadow=model, shadow_percent=100.0)
    child.preload(model)  # as a server does when a shadow appears, before its first rows
    assert child._models_sent == {model.key}
    scored: dict[str, int] = {}
    child.on_shadow_scored = lambda version, n: scored.__setitem__(version, scored.get(version, 0) + n)
    live_ids = []
    for start in (600, 750):  # two batches, the model already there
        live = _rows(150, start=start)
        texts = data.texts[start:start + 150]
        for row, text in zip(live, texts, strict=True):
            row["text"] = text
        assert shadow.offer(snapshot, texts, [row["id"] for row in live], "/predict/batch", live)
        live_ids += [row["id"] for row in live]
        child.insert_predictions(live)  # the live rows only: the child makes the shadow rows from them
    assert scored == {"2": 300} and child._models_sent == {model.key}
    stored = _stored(store)
    assert len(stored) == 600
    shadows = {i: store.get_prediction(i) for i in set(stored) - set(live_ids)}
    assert all(row["environment"] == "shadow" and row["source"] == "shadow" and row["model_version"] == "2"
               for row in shadows.values())
    by_live = {row["shadow_of"]: stored[i] for i, row in shadows.items()}
    assert set(by_live) == set(live_ids)
    expected = model.scorer.predict_proba(data.texts[600:900])
    for live_id, text, probabilities in zip(live_ids, data.texts[600:900], expected, strict=True):
        got = by_live[live_id]
        assert got["text"] == stored[live_id]["text"] and text.strip() in (got["text"], got["text"].strip())
        assert max(abs(got["probabilities"][label] - p)
                   for label, p in zip(model.classes, probabilities, strict=True)) < 1e-12


def test_a_killed_child_holding_shadowed_rows_journals_the_live_rows_and_counts_the_shadow_as_dropped(store,
                                                                                                    tmp_path):
    from types import SimpleNamespace

    from sentiment_mlops.serving.model_holder import ModelSnapshot, ServedModel
    from sentiment_mlops.serving.shadow import ShadowScorer
    from sentiment_mlops.store.journal import PredictionJournal
    from sentiment_mlops.training.pipeline import build_pipeline
    from support.serving import corpus_slice

    data = corpus_slice(rows=700)
    model = ServedModel.from_loaded(SimpleNamespace(pipeline=build_pipeline("mnb").fit(data.texts[:600],
                                                                                       data.labels[:600]),
                                                    version="2"))
    child = ChildWriter(store.url.render_as_string(hide_password=False))
    journal = PredictionJournal(tmp_path / "journal", max_bytes=1 << 20)
    writer = PredictionLogWriter(store, queue_size=1000, batch_size=50, journal=journal, flush_interval=0.05,
                                 retry_seconds=0.1, sink=child)
    shadow = ShadowScorer(queue_size=10, log=writer.try_put_many, log_text=True, in_store_writer=True)
    child.on_shadow_scored, writer.on_unscored_dropped = shadow.count_scored, shadow.count_unscored
    snapshot = ModelSnapshot(model, shadow=model, shadow_percent=100.0)

    def shadowed(start: int) -> list[dict]:
        live = _rows(50, start=start)
        for row, text in zip(live, data.texts[600 + start // 2:], strict=False):
            row["text"] = text
        assert shadow.offer(snapshot, [r["text"] for r in live], [r["id"] for r in live], "/predict", live)
        return live

    writer.start()
    try:
        child.preload(model)
        writer.put_many(shadowed(0))
        assert writer.flush(10) and shadow.scored == 50
        _killed_mid_batch(child, lambda: writer.put_many(shadowed(50))).join(10)
        assert writer.flush(10) and writer.journaled == 50 and shadow.dropped == 50  # the live rows, kept
        deadline = time.monotonic() + 10
        while writer.failure is not None and time.monotonic() < deadline:  # the replayer: the store answers
            time.sleep(0.05)
        writer.put_many(shadowed(100))  # a new child, which is sent the shadow model again with this batch
        assert writer.flush(10)
    finally:
        writer.close(5)
        child.close()
    stored = _stored(store)
    shadows = [store.get_prediction(i) for i in stored if store.get_prediction(i)["environment"] == "shadow"]
    assert len(stored) == 150 + 100 and len(shadows) == 100 and writer.dropped == 0 and child.restarts == 1
    assert shadow.scored == 100 and shadow.dropped == 50
