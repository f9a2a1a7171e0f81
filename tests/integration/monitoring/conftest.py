"""Prediction stores on both backends: SQLite in a tmp dir, and PostgreSQL in a schema of its own per test."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from urllib.parse import quote

import pytest

POSTGRES_ENV = "SENTIMENT_MLOPS_TEST_POSTGRES_URL"


@pytest.fixture(scope="session")
def postgres_admin_engine() -> Iterator[object]:
    """An engine on the test PostgreSQL server; skips when SENTIMENT_MLOPS_TEST_POSTGRES_URL is unset."""
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        pytest.skip(f"{POSTGRES_ENV} is not set; set it to postgresql://postgres@127.0.0.1:5432/test")
    from sqlalchemy import create_engine

    from sentiment_mlops.monitoring.engine import engine_url

    engine = create_engine(engine_url(url), isolation_level="AUTOCOMMIT")
    yield engine
    engine.dispose()


@pytest.fixture
def postgres_store_url(postgres_admin_engine) -> Iterator[str]:
    """A URL whose connections work in a fresh schema (search_path), dropped after the test."""
    from sqlalchemy import text

    schema = f"sm_store_test_{uuid.uuid4().hex[:12]}"
    with postgres_admin_engine.connect() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    base = os.environ[POSTGRES_ENV]
    separator = "&" if "?" in base else "?"
    yield f"{base}{separator}options={quote(f'-csearch_path={schema}')}"
    with postgres_admin_engine.connect() as connection:
        connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request, tmp_path) -> str:
    """A store URL for each backend: SQLite under a directory that does not exist yet, or PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/logs/predictions.db"
    return request.getfixturevalue("postgres_store_url")


@pytest.fixture
def store(store_url) -> Iterator[object]:
    from sentiment_mlops.monitoring.store import PredictionStore

    with PredictionStore(store_url) as opened:
        yield opened
