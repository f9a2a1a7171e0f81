"""The multi-machine topology for real: an MLflow tracking server on PostgreSQL, the prediction store on
PostgreSQL, and every command talking to them over the network (loopback here) as separate processes."""

from __future__ import annotations

import csv
import json
import os
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest

from support import POSTGRES_ENV
from support.deployment import corpus_slice
from support.polling import wait_for
from support.processes import child_env, health, mlflow_server, run_cli, serve

# A tracking server, PostgreSQL and two serving processes, each CLI call a new process: minutes, so it runs
# with the other replica tests in `make test-deploy`, not in the five-minute `make test`.
pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.cluster]


def database_url(base: str, name: str, *, driver: str = "postgresql") -> str:
    parts = urlsplit(base)
    return urlunsplit((driver, parts.netloc, f"/{name}", parts.query, ""))


@pytest.fixture
def databases() -> Iterator[tuple[str, str]]:
    """Two fresh databases on the test server (MLflow's backend, the prediction store), dropped afterwards."""
    base = os.environ.get(POSTGRES_ENV)
    if not base:
        pytest.skip(f"{POSTGRES_ENV} is not set; set it to postgresql://postgres@127.0.0.1:5432/test")
    import psycopg

    suffix = uuid.uuid4().hex[:10]
    names = (f"sm_deploy_mlflow_{suffix}", f"sm_deploy_store_{suffix}")
    with psycopg.connect(base, autocommit=True) as admin:
        for name in names:
            admin.execute(f'CREATE DATABASE "{name}"')
    try:
        # MLflow's SQLAlchemy needs the driver named (psycopg 3); the store accepts a plain postgresql:// URL.
        yield database_url(base, names[0], driver="postgresql+psycopg"), database_url(base, names[1])
    finally:
        with psycopg.connect(base, autocommit=True) as admin:
            for name in names:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def write_csv(path, dataset) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "sentiment"])
        writer.writerows(zip(dataset.texts, dataset.labels, strict=True))


def test_tracking_server_and_postgres_store_with_two_serving_processes(databases, tmp_path):
    backend, store_url = databases
    first_csv, second_csv = tmp_path / "first.csv", tmp_path / "second.csv"
    write_csv(first_csv, corpus_slice(0, 1500))
    write_csv(second_csv, corpus_slice(1500, 4500))
    (tmp_path / "server").mkdir()

    with mlflow_server(backend, tmp_path / "server" / "artifacts", cwd=tmp_path / "server") as tracking:
        env = child_env(MLFLOW_TRACKING_URI=tracking, SENTIMENT_MLOPS_STORE_URL=store_url,
                        SENTIMENT_MLOPS_POLL_SECONDS="1", SENTIMENT_MLOPS_GATE_MAX_MACRO_F1_DROP="1.0",
                        COLUMNS="200")
        for data, version in ((first_csv, "1"), (second_csv, "2")):
            trained = run_cli("train", "--data", str(data), env=env, cwd=tmp_path)
            assert trained.returncode == 0, trained.stderr
            assert f"version {version}" in trained.stdout
        assert not (tmp_path / "mlruns").exists() and not (tmp_path / "mlflow.db").exists()  # all on the server

        def cli(*args: str) -> str:
            result = run_cli(*args, env=env, cwd=tmp_path)
            assert result.returncode == 0, f"{args}: {result.stdout[-1500:]} {result.stderr}"
            return result.stdout

        cli("promote", "1", "--to", "staging")
        cli("promote", "--to", "production")
        with serve("production", env=env, cwd=tmp_path, log_name="a") as first, \
                serve("production", env=env, cwd=tmp_path, log_name="b") as second:
            servers = (first, second)
            assert [health(url)["model_version"] for url in servers] == ["1", "1"]

            cli("promote", "2", "--to", "staging")
            cli("promote", "--to", "production")
            wait_for(lambda: all(health(url)["model_version"] == "2" for url in servers), timeout=30,
                     what="both servers on version 2")
            answered = {url: httpx.post(f"{url}/predict", json={"text": "great crew"}, timeout=10).json()
                        for url in servers}
            assert {a["model_version"] for a in answered.values()} == {"2"}

            assert "production: 2 → 1 (rollback)" in cli("rollback", "--env", "production")
            wait_for(lambda: all(health(url)["model_version"] == "1" for url in servers), timeout=30,
                     what="both servers back on version 1")
            for url in servers:
                answer = httpx.post(f"{url}/predict", json={"text": "lost bag"}, timeout=10).json()
                assert answer["model_version"] == "1"

        events = json.loads(cli("history", "--json"))
        assert [(e["environment"], e["action"], e["from_version"], e["to_version"]) for e in events] == [
            ("staging", "promote", None, "1"), ("production", "promote", None, "1"),
            ("staging", "promote", "1", "2"), ("production", "promote", "1", "2"),
            ("production", "rollback", "2", "1")]

    from sentiment_mlops.store import PredictionStore

    with PredictionStore(store_url) as store:
        logged = wait_for(lambda: store.count_predictions(environment="production") >= 4, timeout=10,
                          what="predictions of both servers in the PostgreSQL store")
        versions = {row["model_version"] for row in store.recent_predictions(environment="production")}
    assert logged and versions == {"1", "2"}
