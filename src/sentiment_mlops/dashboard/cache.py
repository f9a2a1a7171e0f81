"""A small thread-safe cache whose entries expire, for reads that are costly but may be a few seconds old."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from typing import TypeVar, cast

DEFAULT_TTL_SECONDS = 30.0
T = TypeVar("T")


class TTLCache:
    """``get_or_compute(key, fn, ttl)``: ``fn()``'s value, recomputed once ``ttl`` seconds have passed.

    One computation per key at a time: callers that miss while it runs wait for its value instead of
    computing it again (eight dashboards polling an expired drift report start one report, not eight).
    ``exclusive=True`` computations (the costly ones) also run one at a time across keys, so dashboards
    never take more than one core from the predictions the server is answering.
    """

    def __init__(self, *, clock: Callable[[], float] = time.monotonic, max_entries: int = 256) -> None:
        self._clock = clock
        self._max_entries = max_entries
        # Values of several types under one cache; each key is always computed by the same function.
        self._entries: dict[Hashable, tuple[float, object]] = {}
        self._lock = threading.Lock()
        self._computing: dict[Hashable, threading.Lock] = {}
        self._exclusive = threading.Lock()

    def _fresh(self, key: Hashable, now: float) -> tuple[bool, object]:
        with self._lock:
            hit = self._entries.get(key)
        return (True, hit[1]) if hit is not None and hit[0] > now else (False, None)

    def get_or_compute(self, key: Hashable, compute: Callable[[], T], ttl: float = DEFAULT_TTL_SECONDS, *,
                       exclusive: bool = False) -> T:
        found, value = self._fresh(key, self._clock())
        if found:
            return cast(T, value)
        with self._lock:
            key_lock = self._computing.setdefault(key, threading.Lock())
        # Computed outside the cache's lock: a slow MLflow read must not block other keys.
        with key_lock:
            found, value = self._fresh(key, self._clock())  # computed by the caller this one waited for
            if found:
                return cast(T, value)
            if exclusive:
                with self._exclusive:
                    computed = compute()
            else:
                computed = compute()
            self._store(key, computed, ttl)
        return computed

    def _store(self, key: Hashable, value: object, ttl: float) -> None:
        now = self._clock()
        with self._lock:
            if len(self._entries) >= self._max_entries:
                self._entries = {k: v for k, v in self._entries.items() if v[0] > now}
                if len(self._entries) >= self._max_entries:
                    self._entries.pop(next(iter(self._entries)))
            self._entries[key] = (now + ttl, value)
            if len(self._computing) > self._max_entries:
                self._computing = {k: lock for k, lock in self._computing.items() if lock.locked()}

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
