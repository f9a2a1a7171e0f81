"""Pause the cyclic garbage collector around allocation-heavy work that creates no reference cycles.

Reading 100,000 logged predictions and tokenizing their texts allocates millions of tuples, strings and
lists. Every 700 allocations CPython runs a collection, and the older generations' runs traverse every
object the process holds (a loaded model, its vocabulary): in a serving process that doubles the time of a
drift window. The work here creates no cycles, so reference counting frees all of it; collections resume
when it ends. (The serving app also ``gc.freeze()``s what its startup built, for the same reason.)
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def gc_paused() -> Iterator[None]:
    """Disable the collector for the block (or the decorated function); restore it as it was.

    Two threads may overlap: the collector is left enabled when the first that found it enabled ends,
    never left disabled by this.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
