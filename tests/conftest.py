"""Shared session fixtures: the real corpus and a slice of it, and one model trained through the CLI into a
temporary MLflow store. Other areas put their fixtures in tests/<area>/conftest.py or tests/support/<area>.py."""

from __future__ import annotations

import csv
import linecache
import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import redirect_stdout
from dataclasses import dataclass
from io import StringIO
from pathlib import Path
from urllib.parse import quote

import pytest

from support import POSTGRES_ENV
from support.linecache_race import checkcache_tolerating_finalizers
from support.registries import build_once, copy_registry, seed_tracking_store

SLICE_ROWS = 3000


# Every pytest worker imports this file while collecting (the package's doctests included), so the whole
# process gets the tolerant version (tests/support/linecache_race.py says why).
linecache.checkcache = checkcache_tolerating_finalizers


@pytest.fixture(scope="session")
def builtin_dataset():
    """The whole built-in corpus, loaded once (about a second)."""
    from sentiment_mlops.data import load_dataset

    return load_dataset("builtin")


@pytest.fixture(scope="session")
def corpus(builtin_dataset):
    """The whole built-in corpus (the name the monitoring tests use)."""
    return builtin_dataset


@pytest.fixture(scope="session")
def corpus_slice(builtin_dataset) -> tuple[list[str], list[str]]:
    """3,000 cleaned rows drawn at random (fixed seed) from the real corpus, which is sorted by class."""
    import numpy as np

    rows = np.random.default_rng(0).permutation(len(builtin_dataset.texts))[:SLICE_ROWS]
    return [builtin_dataset.texts[i] for i in rows], [builtin_dataset.labels[i] for i in rows]


@pytest.fixture(scope="session")
def slice_csv(tmp_path_factory, corpus_slice) -> Path:
    """The slice as a CSV with the built-in column names (``text``, ``sentiment``)."""
    path = tmp_path_factory.mktemp("data") / "slice.csv"
    texts, labels = corpus_slice
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "sentiment"])
        writer.writerows(zip(texts, labels, strict=True))
    return path


@dataclass(frozen=True)
class TrainedWorkspace:
    """A directory where ``sentiment-mlops train`` ran once, with its own SQLite MLflow store."""

    root: Path
    tracking_uri: str
    stdout: str

    @property
    def models_dir(self) -> Path:
        return self.root / "models"

    def env(self) -> dict[str, str]:
        return {"MLFLOW_TRACKING_URI": self.tracking_uri}


@pytest.fixture(scope="session")
def trained_workspace(tmp_path_factory, slice_csv) -> TrainedWorkspace:
    """A copy of the directory where ``sentiment-mlops train --data slice.csv`` ran in-process once per run
    (version 1); the copy is this session's."""
    from sentiment_mlops.cli import main

    def train_through_the_cli(root: Path) -> dict[str, str]:
        output = StringIO()
        with pytest.MonkeyPatch.context() as mp, redirect_stdout(output):
            mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root / 'mlflow.db'}")
            mp.setenv("COLUMNS", "200")  # rich sizes its tables to this when not on a terminal
            main(["train", "--data", str(slice_csv)])
        return {"stdout": output.getvalue()}

    built = build_once(tmp_path_factory, "workspace", train_through_the_cli)
    workspace = copy_registry(built, tmp_path_factory.mktemp("workspace") / "workspace")
    return TrainedWorkspace(root=workspace.root, tracking_uri=workspace.tracking_uri, stdout=built.info["stdout"])


@pytest.fixture
def in_workspace(trained_workspace, monkeypatch) -> TrainedWorkspace:
    """Run a test inside the trained workspace, with its MLflow store selected."""
    monkeypatch.chdir(trained_workspace.root)
    for key, value in trained_workspace.env().items():
        monkeypatch.setenv(key, value)
    return trained_workspace


@pytest.fixture
def isolated(tmp_path, monkeypatch) -> Path:
    """An empty working directory with its own (not yet created) SQLite MLflow store."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.delenv("SENTIMENT_MLOPS_MODELS_DIR", raising=False)
    return tmp_path


@pytest.fixture
def tracked(isolated, tmp_path_factory) -> Path:
    """``isolated`` with its MLflow store already created, empty (see ``support.registries.seed_tracking_store``):
    for tests that train or read the registry, not for ones about creating the store."""
    seed_tracking_store(tmp_path_factory, isolated)
    return isolated


@pytest.fixture
def cli_run(capsys: pytest.CaptureFixture[str]) -> Callable[..., tuple[int, str, str]]:
    """``sentiment-mlops ARGS`` in this process: ``(exit code, stdout, stderr)``; ``main`` rereads the
    environment on every call."""
    from sentiment_mlops.cli import main

    def invoke(*argv: str) -> tuple[int, str, str]:
        try:
            main(list(argv))
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
        out, err = capsys.readouterr()
        return code, out, err

    return invoke


@pytest.fixture(scope="session")
def postgres_admin_engine() -> Iterator[object]:
    """An engine on the test PostgreSQL server; skips when SENTIMENT_MLOPS_TEST_POSTGRES_URL is unset."""
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        pytest.skip(f"{POSTGRES_ENV} is not set; set it to postgresql://postgres@127.0.0.1:5432/test")
    from sqlalchemy import create_engine

    from sentiment_mlops.store.engine import engine_url

    engine = create_engine(engine_url(url), isolation_level="AUTOCOMMIT")
    yield engine
    engine.dispose()


@pytest.fixture
def postgres_store_url(postgres_admin_engine) -> Iterator[str]:
    """A URL whose connections work in a fresh schema (search_path), dropped after the test."""
    from sqlalchemy import text

    schema = f"sm_test_{uuid.uuid4().hex[:12]}"
    with postgres_admin_engine.connect() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    base = os.environ[POSTGRES_ENV]
    separator = "&" if "?" in base else "?"
    yield f"{base}{separator}options={quote(f'-csearch_path={schema}')}"
    with postgres_admin_engine.connect() as connection:
        connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request, tmp_path) -> str:
    """A prediction store URL for each backend: SQLite under a directory that does not exist yet, or PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/logs/predictions.db"
    return str(request.getfixturevalue("postgres_store_url"))


def pytest_configure(config) -> None:
    # MLflow must never reach the network or a user's store from the test suite.
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("DO_NOT_TRACK", "true")
    # Every promotion in the suite runs the gate; 620 timed calls per version are for real promotions.
    os.environ.setdefault("SENTIMENT_MLOPS_GATE_LATENCY_SAMPLES", "20")
    # pytest-xdist workers start with COLUMNS=80, and rich fixes a console's width to COLUMNS when the console
    # is created (at import); without it rich reads COLUMNS on every print, which the CLI tests set to 200.
    if os.environ.get("PYTEST_XDIST_WORKER"):
        os.environ.pop("COLUMNS", None)
    # `-n 2 --dist loadfile` hands out whole files, by default the files with the most tests first. The slowest
    # files hold one or two end-to-end tests each (tests/e2e, tests/faults), so they came last, and one worker ran
    # the last of them alone while the other had finished. In collection order they come first, and the unit tests
    # and doctests, many and quick, fill in at the end.
    if getattr(config.option, "loadscopereorder", None):
        config.option.loadscopereorder = False
