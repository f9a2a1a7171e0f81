"""Shadow scoring: production's shadow version answers a share of live requests off the request path.

A request only draws whether it is shadowed. Where the prediction log inserts through the store writer
process (``store.child_writer``, the default), it then marks its live rows, before it queues them, with the
shadow version (``SHADOW_WITH``): the store writer makes the shadow rows from them and scores them there, so
the shadow costs this process one dict item per text and its scoring runs outside this process's interpreter
lock (README "Measured figures"). Otherwise it puts its texts on a
bounded queue (``put_nowait``) and one thread here scores what is queued in batches and hands the rows to the
log. Either way the rows are environment ``shadow``, ``source`` shadow, ``shadow_of`` the live prediction's
id. Nothing here can slow or fail a response: a full queue or a full log queue drops the shadow work and
counts it (``sentiment_shadow_dropped_total``), and so does a batch the store failed (its live rows are
journaled; shadow rows without answers are not); the answers are never returned to anyone.
"""

from __future__ import annotations

import logging
import queue
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge

from sentiment_mlops.serving.model_holder import ModelSnapshot, ServedModel
from sentiment_mlops.serving.prediction_log import PredictionLogWriter
from sentiment_mlops.store.child_writer import score_shadow_rows
from sentiment_mlops.store.rows import PENDING, SHADOW_WITH, shadow_row

logger = logging.getLogger(__name__)

BATCH_TEXTS = 512  # texts scored in one call: vectorised scoring costs a fraction per text of one-by-one calls
# After the first queued request the thread sleeps this long, then takes what came meanwhile: one wake-up per
# batch, not one per request (a wake-up per request costs the event loop a GIL hand-over every time).
LINGER_SECONDS = 0.1
# No explicit yields while a batch is scored: the interpreter's switch interval hands the GIL to the event
# loop. Yielding every 64 rows (``time.sleep(0)``) was measured to raise the server's CPU per request by ~35%
# at a 100% shadow (GIL hand-overs), with no gain in p99 (benchmarks/shadow.py).
LIVE_ROOM = 0.5  # the share of the prediction log's queue the shadow leaves to live rows


@dataclass(frozen=True)
class ShadowJob:
    """One shadowed request: its texts, the ids the live answers were logged under, and the route."""

    model: ServedModel
    texts: list[str]
    live_ids: list[str]
    route: str


class ShadowMetrics:
    """The shadow's counters, registered in the server's own ``CollectorRegistry``."""

    def __init__(self, registry: CollectorRegistry | None) -> None:
        self.scored = Counter("sentiment_shadow_predictions_total", "Texts scored by the shadow version.",
                              ["model_version"], registry=registry)
        self.dropped = Counter("sentiment_shadow_dropped_total",
                               "Texts not shadowed: a queue was full, the shadow failed or the store did.",
                               ["reason"], registry=registry)
        self.depth = Gauge("sentiment_shadow_queue_depth", "Shadowed requests waiting to be scored.",
                           registry=registry, multiprocess_mode="livesum")


def room_for_shadow(writer: PredictionLogWriter) -> Callable[[int], bool]:
    """Whether ``n`` more shadow answers fit: only while the log's queue is less than half full, so shadow work
    never makes a live request wait for room (it is dropped and counted instead)."""
    limit = int(writer.capacity * LIVE_ROOM)
    return lambda n: writer.depth + n <= limit


def leave_room_for_live(writer: PredictionLogWriter) -> Callable[[list[dict[str, Any]]], list[dict[str, Any]]]:
    """The shadow thread's way into the prediction log (``room_for_shadow``); returns the rows that did not fit."""
    room = room_for_shadow(writer)

    def log(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return writer.try_put_many(rows) if room(len(rows)) else rows

    return log


class ShadowScorer:
    """Scores shadowed requests in a background thread; see the module docstring for what is promised."""

    def __init__(self, *, queue_size: int, log: Callable[[list[dict[str, Any]]], list[dict[str, Any]]] | None,
                 log_text: bool, metrics_registry: CollectorRegistry | None = None,
                 rng: random.Random | None = None, in_store_writer: bool = False,
                 room: Callable[[int], bool] | None = None) -> None:
        self.queue: queue.Queue[ShadowJob] = queue.Queue(maxsize=queue_size)
        self.log = log  # the writer's try_put_many: never waits, returns what did not fit
        self.log_text = log_text
        # The store writer process makes and scores the shadow rows (``store.child_writer``): a shadowed
        # request only marks its live rows, and this process never scores for the shadow (no thread).
        self.in_store_writer = in_store_writer and log is not None
        self._room = room or (lambda n: True)
        self.metrics = ShadowMetrics(metrics_registry)
        self.scored = 0
        self.dropped = 0
        self._rng = rng or random.Random()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- the request side -------------------------------------------------------------------------------

    def offer(self, snapshot: ModelSnapshot, texts: list[str], live_ids: list[str], route: str,
              live_rows: list[dict[str, Any]] | None = None) -> bool:
        """Shadow ``texts`` if there is a shadow and this request is drawn; never blocks. ``live_rows``: the rows
        the request is about to log for them (not yet queued), which the store writer's shadow works from."""
        shadow = snapshot.shadow
        if shadow is None or snapshot.shadow_percent <= 0:
            return False
        if snapshot.shadow_percent < 100 and self._rng.random() * 100.0 >= snapshot.shadow_percent:
            return False
        if self.in_store_writer:
            return self._mark_for_store_writer(shadow, live_rows or [])
        try:
            self.queue.put_nowait(ShadowJob(shadow, texts, live_ids, route))
        except queue.Full:
            self._drop(len(texts), "queue_full")
            return False
        return True

    def _mark_for_store_writer(self, model: ServedModel, live_rows: list[dict[str, Any]]) -> bool:
        """Mark one request's live rows, before they are queued, for the store writer to answer with ``model``."""
        if not live_rows:
            return False
        if not self._room(len(live_rows)):
            self._drop(len(live_rows), "log_full")
            return False
        for row in live_rows:
            row[SHADOW_WITH] = model
        return True

    def count_scored(self, version: str, n: int) -> None:
        """The store writer scored ``n`` shadow rows of ``version``."""
        self.scored += n
        self.metrics.scored.labels(version).inc(n)

    def count_unscored(self, n: int) -> None:
        """``n`` shadow rows were not scored: the store failed and the batch holding them went to the journal."""
        self._drop(n, "store_failing")

    def _drop(self, n: int, reason: str) -> None:
        self.dropped += n
        self.metrics.dropped.labels(reason).inc(n)

    # -- the thread -------------------------------------------------------------------------------------

    def _take(self) -> list[ShadowJob]:
        try:
            jobs = [self.queue.get(timeout=0.2)]
        except queue.Empty:
            return []
        if not self._stop.is_set():
            self._stop.wait(LINGER_SECONDS)
        texts = len(jobs[0].texts)
        while texts < BATCH_TEXTS:
            try:
                job = self.queue.get_nowait()
            except queue.Empty:
                break
            jobs.append(job)
            texts += len(job.texts)
        return jobs

    def score(self, jobs: list[ShadowJob]) -> list[dict[str, Any]]:
        """The shadow rows for ``jobs`` (one batch per shadow version, as the store writer process scores them),
        handed to the log; rows a version failed to score are counted as dropped."""
        now = time.time()
        rows = [shadow_row({"id": live_id, "created_at": now, "text": text, "route": job.route,
                            PENDING: self.log_text}, job.model.key)
                for job in jobs for text, live_id in zip(job.texts, job.live_ids, strict=True)]
        models = {job.model.key: (job.model.version, job.model.scorer) for job in jobs}
        answered, scored = score_shadow_rows(rows, models)
        for version, n in scored.items():
            self.count_scored(version, n)
        if len(answered) < len(rows):
            self._drop(len(rows) - len(answered), "error")
        return answered

    def _run(self) -> None:
        while not self._stop.is_set() or not self.queue.empty():
            jobs = self._take()
            self.metrics.depth.set(self.queue.qsize())
            if not jobs:
                continue
            try:
                rows = self.score(jobs)
            except Exception:  # a shadow that cannot score must never reach the live path; the log has why
                logger.exception("the shadow version failed to score %d requests", len(jobs))
                self._drop(sum(len(job.texts) for job in jobs), "error")
                continue
            if self.log is not None:
                rest = self.log(rows)
                if rest:
                    self._drop(len(rest), "log_full")

    def start(self) -> None:
        if self._thread is None and not self.in_store_writer:
            self._thread = threading.Thread(target=self._run, name="shadow-scorer", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Score what is queued (for at most ``timeout`` seconds), then stop."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=timeout)
            self._thread = None
