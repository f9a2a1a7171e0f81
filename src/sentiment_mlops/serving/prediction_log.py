"""Log every prediction off the request path: a bounded queue drained by one writer thread in batches.

Nothing is dropped: when the queue is full the request waits for room (backpressure, counted by a metric),
and ``close`` writes whatever is still queued before the process exits.
"""

from __future__ import annotations

import hashlib
import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sentiment_mlops.store import PredictionStore

logger = logging.getLogger(__name__)

_STOP = object()
RETRY_SECONDS = 0.5
MAX_RETRIES = 20
# Under steady traffic the writer would otherwise wake for every row and commit one-row transactions;
# waiting this long for a batch to fill turns a thousand commits a second into about twenty.
LINGER_SECONDS = 0.05
_LINGER_STEP = 0.01


def new_prediction_id() -> str:
    return uuid.uuid4().hex


def prediction_row(*, prediction_id: str, text: str, log_text: bool, environment: str, model_version: str,
                   sentiment: str, confidence: float, probabilities: dict[str, float], latency_ms: float,
                   route: str) -> dict[str, Any]:
    """One row of the ``predictions`` table (text kept only when ``log_text``)."""
    # Lone surrogates can arrive through JSON escapes; keep the row writable (UTF-8) and hash what was sent.
    raw = text.encode("utf-8", "surrogatepass")
    stored = None
    if log_text:
        stored = raw.decode("utf-8", "replace").replace("\x00", "\ufffd")  # PostgreSQL text cannot hold NUL
    return {
        "id": prediction_id, "created_at": datetime.now(timezone.utc), "environment": environment,
        "model_version": model_version, "text": stored, "text_sha256": hashlib.sha256(raw).hexdigest(),
        "text_length": len(text), "sentiment": sentiment, "confidence": confidence,
        "probabilities": probabilities, "latency_ms": latency_ms, "route": route,
    }


class PredictionLogWriter:
    """A writer thread inserting queued rows with ``store.insert_predictions`` in batches."""

    def __init__(self, store: PredictionStore, *, queue_size: int, batch_size: int,
                 on_wait: Callable[[], None] | None = None,
                 on_depth: Callable[[int], None] | None = None) -> None:
        self.store = store
        self.batch_size = batch_size
        self.queue: queue.Queue[Any] = queue.Queue(maxsize=queue_size)
        self.on_wait = on_wait
        self.on_depth = on_depth
        self._written = 0
        self._enqueued = 0
        self._count_lock = threading.Lock()
        self._progress = threading.Condition()
        self._thread: threading.Thread | None = None
        self._hurry = threading.Event()  # set by flush: write what is queued without lingering
        self.dropped = 0

    @property
    def depth(self) -> int:
        return self.queue.qsize()

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="prediction-log-writer", daemon=True)
            self._thread.start()

    def try_put_many(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Queue what fits without blocking; returns the rows that did not fit."""
        for position, row in enumerate(rows):
            try:
                self.queue.put_nowait(row)
            except queue.Full:
                self._count(position)
                return rows[position:]
        self._count(len(rows))
        return []

    def put_many(self, rows: list[dict[str, Any]]) -> None:
        """Queue every row, waiting for room when the queue is full (call from a worker thread)."""
        rest = self.try_put_many(rows)
        if not rest:
            return
        if self.on_wait is not None:
            self.on_wait()
        for row in rest:
            self.queue.put(row)
            self._count(1)

    def _count(self, n: int) -> None:
        if n:
            with self._count_lock:
                self._enqueued += n

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until every row queued before this call is written; False on timeout."""
        with self._count_lock:
            target = self._enqueued
        self._hurry.set()
        deadline = time.monotonic() + timeout
        with self._progress:
            while self._written + self.dropped < target:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._thread is None:
                    return False
                self._progress.wait(remaining)
        return True

    def _take_batch(self) -> tuple[list[dict[str, Any]], bool]:
        first = self.queue.get()
        if first is _STOP:
            return [], True
        batch = [first]
        stop = False
        linger_until = time.monotonic() + LINGER_SECONDS
        while len(batch) < self.batch_size:
            try:
                item = self.queue.get_nowait()
            except queue.Empty:
                if self._hurry.is_set() or time.monotonic() >= linger_until:
                    break
                try:
                    item = self.queue.get(timeout=_LINGER_STEP)
                except queue.Empty:
                    continue
            if item is _STOP:
                stop = True
                break
            batch.append(item)
        return batch, stop

    def _write(self, batch: list[dict[str, Any]]) -> None:
        for attempt in range(MAX_RETRIES):
            try:
                self.store.insert_predictions(batch)
                break
            except Exception as exc:  # a locked or unreachable database: retry, then say what was lost
                logger.warning("writing %d predictions failed (attempt %d): %s", len(batch), attempt + 1, exc)
                time.sleep(RETRY_SECONDS)
        else:
            logger.error("dropped %d predictions after %d failed writes", len(batch), MAX_RETRIES)
            with self._progress:
                self.dropped += len(batch)
                self._progress.notify_all()
            return
        with self._progress:
            self._written += len(batch)
            self._progress.notify_all()

    def _run(self) -> None:
        stop = False
        while not stop:
            batch, stop = self._take_batch()
            if batch:
                self._write(batch)
            if self.queue.empty():
                self._hurry.clear()
            if self.on_depth is not None:
                self.on_depth(self.queue.qsize())

    def close(self, timeout: float = 30.0) -> None:
        """Write everything still queued, then stop the thread."""
        if self._thread is None:
            return
        self.queue.put(_STOP)
        self._thread.join(timeout=timeout)
        if self._thread.is_alive():
            logger.error("the prediction log writer did not finish within %.0f s; %d rows still queued",
                         timeout, self.queue.qsize())
        self._thread = None

    @property
    def written(self) -> int:
        return self._written
