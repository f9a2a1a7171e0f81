"""Prediction ids (``store.rows.new_prediction_id``): a uuid's 32 hex digits, unique, and in time order."""

from __future__ import annotations

import re
import time

from sentiment_mlops.store.rows import new_prediction_id


def test_ids_are_32_hex_digits_and_unique() -> None:
    ids = [new_prediction_id() for _ in range(20_000)]
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)
    assert len(set(ids)) == len(ids)


def test_ids_made_a_millisecond_apart_sort_in_the_order_they_were_made_and_start_with_the_time() -> None:
    before = time.time_ns() // 1_000_000
    ids = []
    for _ in range(5):
        ids.append(new_prediction_id())
        time.sleep(0.002)
    after = time.time_ns() // 1_000_000
    assert sorted(ids) == ids
    assert all(before <= int(i[:12], 16) <= after for i in ids)
