"""The dashboard's TTL cache, admin-token check, per-class metric parsing and drift windows."""

from __future__ import annotations

import pytest
from starlette.requests import Request

from sentiment_mlops.config import Settings
from sentiment_mlops.dashboard.cache import TTLCache
from sentiment_mlops.dashboard.drift_view import MIN_WINDOW, _windows
from sentiment_mlops.dashboard.experiments import per_class
from sentiment_mlops.dashboard.resources import admin_authorized
from sentiment_mlops.errors import ForbiddenError, UnauthorizedError
from sentiment_mlops.serving.errors import status_for
from sentiment_mlops.store.live import bucket_count, choose_bucket

TOKEN = "unit-test-admin-token-0123456789"


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_cache_recomputes_only_after_the_ttl():
    clock, calls = Clock(), []
    cache = TTLCache(clock=clock)
    compute = lambda: calls.append(1) or len(calls)  # noqa: E731
    assert cache.get_or_compute("k", compute, ttl=10) == 1
    clock.now = 9.9
    assert cache.get_or_compute("k", compute, ttl=10) == 1
    clock.now = 10.1
    assert cache.get_or_compute("k", compute, ttl=10) == 2
    cache.clear()
    assert cache.get_or_compute("k", compute, ttl=10) == 3


def test_cache_stays_bounded():
    clock = Clock()
    cache = TTLCache(clock=clock, max_entries=3)
    for key in range(10):
        cache.get_or_compute(key, lambda key=key: key, ttl=100)
    assert len(cache._entries) <= 3
    assert cache.get_or_compute(9, lambda: "recomputed", ttl=100) == 9


def _request(authorization: str | None) -> Request:
    headers = [] if authorization is None else [(b"authorization", authorization.encode())]
    return Request({"type": "http", "headers": headers, "method": "GET", "path": "/"})


@pytest.mark.parametrize("header, expected", [(None, False), (f"Bearer {TOKEN}", True), (f"bearer {TOKEN}", True)])
def test_admin_token_grants_or_withholds(header, expected):
    assert admin_authorized(_request(header), Settings(admin_token=TOKEN)) is expected


@pytest.mark.parametrize("header", ["Bearer wrong-token-wrong-token", f"Basic {TOKEN}", "Bearer", f"Bearer {TOKEN}x"])
def test_a_wrong_admin_token_is_refused(header):
    with pytest.raises(UnauthorizedError) as raised:
        admin_authorized(_request(header), Settings(admin_token=TOKEN))
    assert status_for(raised.value) == 401


def test_no_token_configured_means_no_one_is_admin():
    # The same answer as the admin routes give when the server has no token: 403.
    with pytest.raises(ForbiddenError) as raised:
        admin_authorized(_request(f"Bearer {TOKEN}"), Settings(admin_token=None))
    assert status_for(raised.value) == 403


def test_per_class_reads_the_flat_metric_names_training_logs():
    metrics = {"accuracy": 0.7, "macro_f1": 0.6, "cv_macro_f1": 0.5, "negative_precision": 0.8, "negative_recall": 0.7,
               "negative_f1": 0.75, "very_positive_precision": 0.1, "very_positive_recall": 0.2,
               "very_positive_f1": 0.15, "neutral_f1": 0.3}
    assert per_class(metrics) == {
        "negative": {"precision": 0.8, "recall": 0.7, "f1": 0.75},
        "very_positive": {"precision": 0.1, "recall": 0.2, "f1": 0.15},
    }


def test_windows_are_oldest_first_and_keep_only_a_short_newest_window():
    rows = [{"n": n} for n in range(250, 0, -1)]  # newest first, as the store returns them
    windows = _windows(rows, 100)
    assert [len(w) for w in windows] == [100, 100]
    assert windows[-1][-1] == {"n": 250} and windows[0][0] == {"n": 51}
    short = _windows(rows[:MIN_WINDOW + 10], 100)
    assert [len(w) for w in short] == [MIN_WINDOW + 10]
    assert _windows(rows[:MIN_WINDOW - 1], 100) == []


@pytest.mark.parametrize("hours, bucket", [(1, "minute"), (6, "minute"), (24, "hour"), (336, "hour"), (720, "day")])
def test_the_chosen_bucket_keeps_charts_readable(hours, bucket):
    assert choose_bucket(hours) == bucket
    assert bucket_count(hours, bucket) <= 400


def test_concurrent_misses_compute_once_and_exclusive_work_runs_one_at_a_time() -> None:
    import threading
    import time

    from sentiment_mlops.dashboard.cache import TTLCache

    cache = TTLCache()
    calls: list[str] = []
    running = []
    overlap = []
    guard = threading.Lock()

    def slow(name: str) -> str:
        with guard:
            running.append(name)
            overlap.append(len(running))
        time.sleep(0.2)
        with guard:
            running.remove(name)
            calls.append(name)
        return name

    threads = [threading.Thread(target=cache.get_or_compute, args=(key, lambda key=key: slow(key), 30),
                                kwargs={"exclusive": True}) for key in ["a"] * 8 + ["b"] * 8]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert sorted(calls) == ["a", "b"]  # sixteen callers, one computation per key
    assert max(overlap) == 1  # the two keys' costly computations never ran together
    assert cache.get_or_compute("a", lambda: "again") == "a"
