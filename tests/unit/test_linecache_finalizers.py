"""The suite's tolerant ``linecache.checkcache`` (tests/support/linecache_race.py, installed by tests/conftest.py):
an entry removed while it loops is no error."""

from __future__ import annotations

import linecache
import os
import types

import pytest

from support.linecache_race import checkcache_tolerating_finalizers


@pytest.fixture
def vanishing_entry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two cache entries; checking the first one's file removes the second, as a finalizer run by garbage
    collection inside the loop does."""
    monkeypatch.setattr(linecache, "cache", {"<first>": (1, 1.0, ["x\\n"], "/nonexistent/first"),
                                             "<second>": (1, 1.0, ["y\\n"], "/nonexistent/second")})

    def stat(path: str) -> os.stat_result:
        linecache.cache.pop("<second>", None)
        raise OSError(path)

    monkeypatch.setattr(linecache, "os", types.SimpleNamespace(stat=stat))


def test_the_plain_checkcache_fails_when_an_entry_vanishes_mid_loop(vanishing_entry: None) -> None:
    original = checkcache_tolerating_finalizers.__kwdefaults__["_checkcache"]
    with pytest.raises(KeyError, match="<second>"):
        original()


def test_the_tolerant_one_finishes_and_discards_what_is_stale(vanishing_entry: None) -> None:
    checkcache_tolerating_finalizers()
    assert linecache.cache == {}
    assert linecache.checkcache is checkcache_tolerating_finalizers
