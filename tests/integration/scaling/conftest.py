"""One LocalCluster (2 worker processes on 127.0.0.1) for the scaling tests: its startup is their main cost.

Package scope, not session: a cluster left running keeps its scheduler's threads busy in this process and
slows every test that runs after the scaling ones."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest


@pytest.fixture(scope="package")
def scheduler() -> Iterator[str]:
    distributed = pytest.importorskip("distributed")
    started = time.perf_counter()
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as cluster:
        print(f"LocalCluster of 2 processes started in {time.perf_counter() - started:.1f} s")
        yield cluster.scheduler_address
