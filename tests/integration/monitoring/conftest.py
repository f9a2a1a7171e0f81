"""An opened prediction store on each backend (``store_url`` and the PostgreSQL fixtures: tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture
def store(store_url) -> Iterator[object]:
    from sentiment_mlops.store import PredictionStore

    with PredictionStore(store_url) as opened:
        yield opened
