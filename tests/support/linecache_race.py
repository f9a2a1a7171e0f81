"""A tolerant ``linecache.checkcache`` for the test processes (installed by tests/conftest.py)."""

from __future__ import annotations

import linecache


def checkcache_tolerating_finalizers(filename: str | None = None, *, _checkcache=linecache.checkcache) -> None:
    """``linecache.checkcache``, run again when an entry vanishes while it loops over the cache.

    SQLAlchemy 2.1 puts the source of the ``__init__`` methods it generates into ``linecache`` and removes each
    entry from a weakref finalizer. When garbage collection runs inside ``checkcache``'s loop (doctest calls it
    with no argument before every module's examples), Python 3.11 reads a key it listed a moment before and
    raises KeyError: a doctest of this package failed that way in a fresh-clone CI run (2026-11-30). Running
    it again is harmless: the loop only discards stale entries.
    """
    for _ in range(10):
        try:
            _checkcache(filename)
            return
        except KeyError:
            continue
    _checkcache(filename)
