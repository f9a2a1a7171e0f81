"""Log every prediction off the request path: a bounded queue drained by one writer thread in batches.

No accepted prediction is lost silently:

- the writer inserts a batch at least every ``flush_interval`` seconds; a ``kill -9`` loses at most the
  rows accepted in that interval plus the time of one write (docs/serving.md gives the measured window);
- when a write fails, the batch goes to the local journal (``store.journal``: fsync'd JSON Lines) and so
  does every later batch, without trying the store, until the replayer thread has replayed the journal
  into the store (every ``retry_seconds``); a failing store therefore never stalls a request;
- a request whose rows do not fit in the queue waits at most ``ENQUEUE_WAIT_SECONDS``, then journals them;
- a request only appends a pending row (``prediction_row``: no digest, no datetime, no copy of the text) to a
  deque: the writer is not woken per row but sleeps until ``batch_size`` rows are queued or
  ``flush_interval`` has passed;
- the writer hands each batch to the store writer process (``store.child_writer``; the writer thread itself
  when ``SENTIMENT_MLOPS_LOG_WRITER_PROCESS=false`` or the store is in memory), which completes the rows
  (``store.rows.finish_rows``) and inserts them outside this process's interpreter lock (README "Measured
  figures": what logging costs, and how each step changed it); a batch the process does not answer for is
  journaled like any failed write;
- ``close`` (SIGTERM) drains to the store for at most ``drain_seconds`` and journals the rest; the next
  server to start replays what any stopped process left in the journal;
- rows are dropped only when the journal is full (``journal_max_bytes``) or refuses the write; they are
  counted at once (``dropped``, the ``sentiment_prediction_log_dropped_total`` metric) and logged.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from sentiment_mlops.store.rows import PENDING, finish_rows, strip_shadow_marks

if TYPE_CHECKING:
    from sentiment_mlops.store import PredictionStore
    from sentiment_mlops.store.journal import PredictionJournal

logger = logging.getLogger(__name__)

# How long a request may wait for room in a full queue before its rows go to the journal instead.
ENQUEUE_WAIT_SECONDS = 0.02
# /health reports a store write that has been running this long (an unreachable host can take the
# driver's whole connect timeout to fail).
SLOW_WRITE_SECONDS = 2.0


def prediction_row(*, prediction_id: str, text: str, log_text: bool, environment: str, model_version: str,
                   sentiment: str, confidence: float, probabilities: dict[str, float], latency_ms: float,
                   route: str) -> dict[str, Any]:
    """One row of the ``predictions`` table as a request leaves it: the text's digest and length, the text
    as stored (only when ``log_text``) and the creation time as a datetime are filled in later by
    ``finish_rows``, a batch at a time where the inserts run (the store writer process), not on the request.
    Measured inside a server under load, the sha256, the aware ``datetime.now`` and the text's copy took
    ~8 us per request on the event loop; ~1 us for a whole row in a batch."""
    return {
        "id": prediction_id, "created_at": time.time(), "environment": environment,
        "model_version": model_version, "text": text, "sentiment": sentiment, "confidence": confidence,
        "probabilities": probabilities, "latency_ms": latency_ms, "route": route, PENDING: log_text,
    }


class _FinishingStore:
    """The store as the writer thread's sink when no child process writes: completes, then inserts."""

    def __init__(self, store: PredictionStore) -> None:
        self.store = store

    def insert_predictions(self, rows: list[dict[str, Any]]) -> Any:
        return self.store.insert_predictions(finish_rows(rows))


class RowSink(Protocol):
    """Where the writer inserts its batches: the store itself, or ``store.child_writer.ChildWriter``."""

    def insert_predictions(self, rows: list[dict[str, Any]]) -> Any: ...


class LogObserver(Protocol):
    """Where the writer reports what happens to rows (``serving.metrics.ServingMetrics``)."""

    def log_written(self, rows: int) -> None: ...

    def log_dropped(self, rows: int) -> None: ...

    def log_levels(self, *, queued: int, journaled: int, failing: bool) -> None: ...


class PredictionLogWriter:
    """A writer thread inserting queued rows into the store in batches, and a replayer thread emptying the
    journal into it; see the module docstring for what is promised."""

    def __init__(self, store: PredictionStore, *, queue_size: int, batch_size: int,
                 journal: PredictionJournal | None = None, flush_interval: float = 0.2,
                 retry_seconds: float = 1.0, observer: LogObserver | None = None,
                 sink: RowSink | None = None) -> None:
        self.store = store
        # Where batches go: the store writer process (which completes the rows itself) or the store.
        self.sink: RowSink = sink if sink is not None else _FinishingStore(store)
        self.on_unscored_dropped: Callable[[int], None] | None = None
        self.batch_size = batch_size
        self.journal = journal
        self.flush_interval = flush_interval
        self.retry_seconds = retry_seconds
        self.observer = observer
        self.capacity = queue_size
        # Appended by requests, popped by the writer: deque's append and popleft are atomic, so neither side
        # takes a lock per row. Bounded by ``capacity`` (checked before appending: concurrent producers can
        # overshoot it by one request's rows at most).
        self._rows: deque[dict[str, Any]] = deque()
        self._wake = threading.Event()  # a batch is ready, or a flush or close wants the writer now
        self.written = 0  # rows in the store: written directly or replayed from the journal
        self.journaled = 0  # rows this process put in the journal
        self.dropped = 0
        self._enqueued = 0
        self._settled = 0  # rows written, journaled or dropped (what flush waits for)
        self._lock = threading.Lock()
        self._progress = threading.Condition(self._lock)
        self._room = threading.Condition(threading.Lock())  # put_many waits here for the writer to take rows
        self._room_waiters = 0
        self._inflight: list[dict[str, Any]] | None = None
        self._write_started: float | None = None
        self._failure: str | None = None
        self._closing = threading.Event()
        self._hurry = threading.Event()  # set by flush: write what is queued without lingering
        self._thread: threading.Thread | None = None
        self._replayer: threading.Thread | None = None

    @property
    def depth(self) -> int:
        return len(self._rows)

    @property
    def failure(self) -> str | None:
        """Why rows are not reaching the store right now, or None while they are."""
        if self._failure is not None:
            return self._failure
        started = self._write_started
        if started is not None and time.monotonic() - started > SLOW_WRITE_SECONDS:
            return f"a write to the prediction store has been waiting for {time.monotonic() - started:.0f} s"
        return None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="prediction-log-writer", daemon=True)
            self._thread.start()
        if self._replayer is None and self.journal is not None:
            self._replayer = threading.Thread(target=self._replay_loop, name="prediction-log-replayer",
                                              daemon=True)
            self._replayer.start()

    # -- the request side -------------------------------------------------------------------------------

    def try_put_many(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Queue what fits without blocking; returns the rows that did not fit."""
        room = self.capacity - len(self._rows)
        if room <= 0:
            return rows
        taken = rows if len(rows) <= room else rows[:room]
        self._count(len(taken))
        self._rows.extend(taken)
        if len(self._rows) >= self.batch_size:
            self._wake.set()
        return rows[len(taken):]

    def put_many(self, rows: list[dict[str, Any]]) -> None:
        """Queue every row, waiting at most ``ENQUEUE_WAIT_SECONDS`` for room, then journal the rest (call
        from a worker thread). Without a journal, wait as long as it takes."""
        deadline = time.monotonic() + ENQUEUE_WAIT_SECONDS
        rest = self.try_put_many(rows)
        while rest:
            remaining = deadline - time.monotonic()
            if self.journal is not None and remaining <= 0:
                self._count(len(rest))
                self._journal(rest)
                return
            with self._room:
                self._room_waiters += 1
                try:
                    self._wake.set()  # the queue is full: have the writer take a batch now
                    self._room.wait(remaining if self.journal is not None else self.flush_interval)
                finally:
                    self._room_waiters -= 1
            rest = self.try_put_many(rest)

    def _count(self, n: int) -> None:
        if n:
            with self._lock:
                self._enqueued += n

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until every row queued before this call is written or journaled; False on timeout."""
        with self._lock:
            target = self._enqueued
        self._hurry.set()
        self._wake.set()
        deadline = time.monotonic() + timeout
        with self._progress:
            while self._settled < target:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._thread is None:
                    return False
                self._progress.wait(remaining)
        return True

    # -- the writer thread ------------------------------------------------------------------------------

    def _take_batch(self) -> list[dict[str, Any]]:
        """Up to ``batch_size`` rows, once that many are queued or ``flush_interval`` has passed."""
        if len(self._rows) < self.batch_size and not self._hurry.is_set() and not self._closing.is_set():
            self._wake.wait(self.flush_interval)
        self._wake.clear()
        batch: list[dict[str, Any]] = []
        take = self._rows.popleft
        try:
            for _ in range(self.batch_size):
                batch.append(take())
        except IndexError:
            pass
        if batch and self._room_waiters:
            with self._room:
                self._room.notify_all()
        return batch

    def _run(self) -> None:
        while True:
            batch = self._take_batch()
            if batch:
                self._store_or_journal(batch)
            if not self._rows:
                self._hurry.clear()
                if self._closing.is_set():
                    break
            self._report_levels()

    def _store_or_journal(self, batch: list[dict[str, Any]]) -> None:
        with self._lock:
            self._inflight = batch
        if self._failure is None:
            self._write_started = time.monotonic()
            try:
                self.sink.insert_predictions(batch)
            except Exception as exc:  # a full disk, a lost connection, a failed COMMIT: journal the batch
                self._write_started = None
                self._fail(exc)
            else:
                self._write_started = None
                with self._progress:
                    mine = self._inflight is batch
                    self._inflight = None
                    if mine:
                        self.written += len(batch)
                        self._settled += len(batch)
                        self._progress.notify_all()
                if mine and self.observer is not None:
                    self.observer.log_written(len(batch))
                return
        with self._lock:
            mine = self._inflight is batch
            self._inflight = None
        if mine:  # not already journaled by a close that gave up waiting for this write
            self._journal(batch)

    def _journal(self, rows: list[dict[str, Any]]) -> None:
        """Journal ``rows`` (or count what does not fit as dropped); they are settled either way. Shadow rows
        still to be scored are not predictions anyone was answered with: they are left out and reported to
        ``on_unscored_dropped`` (the shadow counts them as dropped)."""
        settled = len(rows)
        unscored = strip_shadow_marks(rows)
        if unscored and self.on_unscored_dropped is not None:
            self.on_unscored_dropped(unscored)
        kept = self.journal.append(finish_rows(rows)) if self.journal is not None and rows else 0
        lost = len(rows) - kept
        if lost:
            where = f"the journal in {self.journal.directory} is full or refused the write" \
                if self.journal is not None else "no journal is configured"
            logger.error("dropped %d predictions: the store failed and %s", lost, where)
        with self._progress:
            self.journaled += kept
            self.dropped += lost
            self._settled += settled
            self._progress.notify_all()
        if lost and self.observer is not None:
            self.observer.log_dropped(lost)

    def _fail(self, exc: Exception) -> None:
        reason = f"writing to the prediction store failed: {exc}"
        if self._failure is None:
            logger.error("%s; journaling predictions until it answers again", reason)
        self._failure = reason

    def _report_levels(self) -> None:
        if self.observer is not None:
            journaled = self.journal.pending_rows if self.journal is not None else 0
            self.observer.log_levels(queued=len(self._rows), journaled=journaled,
                                     failing=self._failure is not None)

    # -- the replayer thread ----------------------------------------------------------------------------

    def _replay_loop(self) -> None:
        self.replay()  # what stopped processes left behind
        while not self._closing.wait(self.retry_seconds):
            if self._failure is not None or (self.journal is not None and self.journal.pending_rows):
                self.replay()
            self._report_levels()

    def replay(self) -> int:
        """Insert the journal's rows into the store (skipping ids already stored); clears the failure once
        everything is in. Returns the rows replayed."""
        if self.journal is None:
            return 0
        segments = self.journal.take_segments()
        replayed = 0
        for position, segment in enumerate(segments):
            rows = segment.read()
            try:
                for start in range(0, len(rows), self.batch_size):
                    self.store.insert_new_predictions(rows[start:start + self.batch_size])
            except Exception as exc:  # still failing: keep the segments for the next attempt
                self._fail(exc)
                for kept in segments[position:]:
                    self.journal.give_back(kept)
                return replayed
            self.journal.remove(segment)
            replayed += len(rows)
            with self._lock:
                self.written += len(rows)
            if self.observer is not None:
                self.observer.log_written(len(rows))
        if self._failure is not None:
            logger.warning("the prediction store answers again; replayed %d journaled predictions", replayed)
        elif replayed:
            logger.info("replayed %d journaled predictions into the store", replayed)
        self._failure = None
        return replayed

    # -- shutdown ---------------------------------------------------------------------------------------

    def _drain_rows(self) -> list[dict[str, Any]]:
        rows = []
        while True:
            try:
                rows.append(self._rows.popleft())
            except IndexError:
                return rows

    def close(self, timeout: float = 10.0) -> None:
        """Write what is queued for at most ``timeout`` seconds, journal the rest, then stop both threads."""
        if self._thread is None:
            return
        self._closing.set()
        self._wake.set()
        self._thread.join(timeout=timeout)
        if self._thread.is_alive():  # stuck in a store call: journal the queue and the batch it holds
            with self._lock:
                stuck, self._inflight = self._inflight, None
            rest = [*(stuck or []), *self._drain_rows()]
            logger.error("the prediction store did not take the log within %.0f s; journaling %d rows",
                         timeout, len(rest))
            if rest:
                self._journal(rest)
        else:  # rows a late request queued after the writer's last look: to the journal, replayed just below
            late = self._drain_rows()
            if late:
                self._journal(late)
        replaying = False
        if self._replayer is not None:
            self._replayer.join(timeout=min(timeout, self.retry_seconds))
            replaying = self._replayer.is_alive()  # stuck in a store call, holding segments
            self._replayer = None
        if self.journal is not None and not replaying and not self._thread.is_alive() and self._failure is None:
            self.replay()  # rows spilled by a full queue, with the store answering: no need to leave them
        if self.journal is not None and not replaying:
            pending = self.journal.pending_rows
            if pending:
                logger.warning("%d predictions stay in the journal in %s; the next server to start replays "
                               "them", pending, self.journal.directory)
            self.journal.close()
        self._thread = None
