"""The dashboard's drift reports computed in one separate process, so they never hold the server's GIL.

A drift overview is seconds of Python and numpy (tokenising thousands of logged texts, calibrating the
vocabulary check by resampling). Run on a thread of the serving process, it takes the interpreter lock from
the event loop for those seconds, and eight dashboards polling ``/api/drift`` pushed ``/predict``'s p95 2.5x
(``benchmarks/dashboard_load.py``). Here it runs in one spawned worker process, started on the first drift
request and kept (with its reference profiles) until the server stops: the server's threads only wait for
the answer. One worker, so at most one core goes to dashboards; the app's ``TTLCache`` still makes eight
pollers of an expired report wait for one computation.

``SENTIMENT_MLOPS_DASHBOARD_DRIFT_PROCESS=false`` computes on the request's thread instead (tests do).
"""

from __future__ import annotations

import atexit
import multiprocessing
import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from sentiment_mlops.config import Settings
from sentiment_mlops.dashboard.cache import TTLCache
from sentiment_mlops.dashboard.resources import tracking_store_missing
from sentiment_mlops.errors import StoreError
from sentiment_mlops.registry.client import ModelRegistry
from sentiment_mlops.store import PredictionStore


class WorkerResources:
    """``DashboardReads`` inside the worker: its own store connection, registry and profile cache."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.store = PredictionStore(settings.store_url)
        self.cache = TTLCache()
        self._registry: ModelRegistry | None = None

    @property
    def tracking_store_missing(self) -> bool:
        return tracking_store_missing(self.settings)

    @property
    def registry(self) -> ModelRegistry:
        if self._registry is None:
            self._registry = ModelRegistry.from_settings(self.settings)
        return self._registry


_WORKER: WorkerResources | None = None
WATCHDOG_SECONDS = 1.0  # how soon a worker notices that its server has gone


def _start_worker(settings: Settings, server_pid: int) -> None:
    """In the worker: let go of the server's stdout / stderr (a reader of the server's pipe must see it close
    when the server exits), exit as soon as the server is gone however it ended (a pool worker otherwise
    waits for work forever), then open the store."""
    global _WORKER
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    threading.Thread(target=_exit_with, args=(server_pid,), name="drift-worker-watchdog", daemon=True).start()
    _WORKER = WorkerResources(settings)


def _exit_with(server_pid: int) -> None:
    while os.getppid() == server_pid:
        time.sleep(WATCHDOG_SECONDS)
    os._exit(0)


def _overview(environment: str | None, window: int, history: int) -> dict[str, Any]:
    from sentiment_mlops.dashboard.drift_view import drift_overview

    if _WORKER is None:
        raise StoreError("the drift worker was not started")
    return drift_overview(_WORKER, environment=environment, window=window, history=history)


class DriftWorker:
    """``overview(...)``: ``drift_view.drift_overview`` computed in the worker process (started on first use)."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()

    def _executor(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                # spawn, not fork: the server has threads (the log writer, the poller) a fork would copy mid-work.
                self._pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"),
                                                 initializer=_start_worker, initargs=(self._settings, os.getpid()))
                atexit.register(self.close)
            return self._pool

    def overview(self, *, environment: str | None, window: int, history: int) -> dict[str, Any]:
        pool = self._executor()
        try:
            return pool.submit(_overview, environment, window, history).result()
        except BrokenProcessPool:
            # The worker died (killed, out of memory): the next request starts a new one.
            with self._lock:
                if self._pool is pool:
                    self._pool = None
            raise StoreError("the dashboard's drift worker process stopped; the next request starts a new one") \
                from None

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:  # not waiting: a report being computed must not hold up the server's exit
            pool.shutdown(wait=False, cancel_futures=True)
