"""The Live aggregates on PostgreSQL give what they give on SQLite for the same traffic (dialect-specific SQL)."""

from __future__ import annotations

import os
import uuid
from urllib.parse import quote

import pytest

from support import POSTGRES_ENV

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def postgres_store(seeded):
    """The seeded traffic copied into a fresh PostgreSQL schema, once: the dashboard routes only read."""
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        pytest.skip(f"{POSTGRES_ENV} is not set; set it to postgresql://postgres@127.0.0.1:5432/test")
    from sqlalchemy import create_engine, text

    from sentiment_mlops.store import PredictionStore
    from sentiment_mlops.store.engine import engine_url

    schema = f"sm_dashboard_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(engine_url(url), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in url else "?"
    store = PredictionStore(f"{url}{separator}options={quote(f'-csearch_path={schema}')}")
    try:
        ids = store.insert_predictions([dict(row) for row in seeded["rows"]])
        for prediction_id, label in zip(ids[:seeded["feedback"]], seeded["truth"], strict=False):
            store.add_feedback(prediction_id, label)
        yield store
    finally:
        store.close()
        with admin.connect() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.mark.parametrize("query", ["hours=6", "hours=24&bucket=hour", "environment=staging&hours=6&bucket=minute",
                                   "environment=production&version=1&hours=48&bucket=day"])
def test_live_on_postgresql_matches_sqlite(client, seeded_env, postgres_store, query):
    from fastapi.testclient import TestClient

    from support.dashboard import build_app

    settings = seeded_env[0]
    with TestClient(build_app(settings, postgres_store)) as pg_client:
        on_postgres = pg_client.get(f"/api/live?{query}").json()
    on_sqlite = client.get(f"/api/live?{query}").json()
    assert on_postgres["total_predictions"] == on_sqlite["total_predictions"] > 0
    for key in ("volume", "labels", "confidence_histogram", "accuracy_over_time", "versions", "latency_over_time"):
        assert len(on_postgres[key]) == len(on_sqlite[key]), key
        for pg_row, sqlite_row in zip(on_postgres[key], on_sqlite[key], strict=True):
            assert _normalised(pg_row, approx=True) == _normalised(sqlite_row, approx=False), key
    assert on_postgres["latency"] == pytest.approx(on_sqlite["latency"])


def _normalised(row, *, approx):
    """Floats as approx (the backends sum in different orders), times as instants."""
    from datetime import datetime

    def value(v):
        if isinstance(v, float) and approx:
            return pytest.approx(v, rel=1e-9, abs=1e-9)
        if isinstance(v, str) and len(v) >= 19 and v[4] == "-" and "T" in v:
            return datetime.fromisoformat(v).timestamp()
        return v

    return {k: value(v) for k, v in row.items()}
