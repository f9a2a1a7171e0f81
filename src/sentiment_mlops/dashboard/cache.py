"""A small thread-safe cache whose entries expire, for reads that are costly but may be a few seconds old."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from typing import TypeVar, cast

DEFAULT_TTL_SECONDS = 30.0
T = TypeVar("T")


class TTLCache:
    """``get_or_compute(key, fn, ttl)``: ``fn()``'s value, recomputed once ``ttl`` seconds have passed."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic, max_entries: int = 256) -> None:
        self._clock = clock
        self._max_entries = max_entries
        # Values of several types under one cache; each key is always computed by the same function.
        self._entries: dict[Hashable, tuple[float, object]] = {}
        self._lock = threading.Lock()

    def get_or_compute(self, key: Hashable, compute: Callable[[], T], ttl: float = DEFAULT_TTL_SECONDS) -> T:
        now = self._clock()
        with self._lock:
            hit = self._entries.get(key)
            if hit is not None and hit[0] > now:
                return cast(T, hit[1])
        # Computed outside the lock: a slow MLflow read must not block other keys.
        value = compute()
        with self._lock:
            if len(self._entries) >= self._max_entries:
                self._entries = {k: v for k, v in self._entries.items() if v[0] > now}
                if len(self._entries) >= self._max_entries:
                    self._entries.pop(next(iter(self._entries)))
            self._entries[key] = (now + ttl, value)
        return value

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
