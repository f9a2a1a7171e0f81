"""Trained MLflow registries, built once per test run and copied for each user.

Training into a fresh MLflow store costs seconds (creating the SQLite schema alone is about two). Each
registry is built once in the run's base temp directory -- once for all pytest-xdist workers, under a
file lock -- and whoever needs it gets a copy of the whole directory (``mlflow.db``, ``mlruns/``, the
models directories), so tests can move aliases, delete versions or damage artifacts freely.

MLflow stores absolute artifact locations in the database (``experiments.artifact_location``,
``runs.artifact_uri``, ``logged_models.artifact_location``, ``model_versions.storage_location``):
``copy_registry`` rewrites every text value that names the original directory to name the copy. Files
are copied as they are (an ``MLmodel`` still names the original in ``artifact_path``, which nothing reads,
and rewriting it would break the manifest's sha256).
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

DATABASE = "mlflow.db"
BUILT = "built.json"
MLFLOW_URI_VARIABLES = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")


@dataclass(frozen=True)
class Registry:
    """A directory holding an MLflow SQLite store (``mlflow.db`` + ``mlruns/``) and whatever the builder
    wrote beside it; ``info`` is what the builder returned (paths in it are relative to ``root``)."""

    root: Path
    info: dict[str, Any]

    @property
    def tracking_uri(self) -> str:
        return f"sqlite:///{self.root / DATABASE}"


def run_directory(factory: pytest.TempPathFactory) -> Path:
    """The base temp directory of the whole run: under pytest-xdist, the parent of the worker's own."""
    base = factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


@contextmanager
def building_in(root: Path) -> Iterator[None]:
    """Work in ``root`` (MLflow puts a SQLite store's artifacts under ``./mlruns``) and leave no MLflow URI
    behind (``mlflow.set_tracking_uri`` exports it; later tests must not inherit this store)."""
    previous_dir = Path.cwd()
    previous_env = {name: os.environ.get(name) for name in MLFLOW_URI_VARIABLES}
    os.chdir(root)
    try:
        yield
    finally:
        os.chdir(previous_dir)
        for name, value in previous_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _build_empty_store(root: Path) -> dict[str, Any]:
    """Every MLflow table, migrated to head, and no experiment: MLflow creates its Default experiment (with
    an artifact location under the store's own directory) the first time a copy is opened."""
    from mlflow.tracking import MlflowClient

    MlflowClient(f"sqlite:///{root / DATABASE}").search_experiments()
    connection = sqlite3.connect(root / DATABASE)
    try:
        with connection:
            connection.execute("DELETE FROM experiment_tags")
            connection.execute("DELETE FROM experiments")
    finally:
        connection.close()
    return {}


def seed_tracking_store(factory: pytest.TempPathFactory, directory: Path) -> str:
    """Put an empty, already migrated MLflow SQLite store at ``directory/mlflow.db``; returns its URI.

    Creating MLflow's schema (its tables, then every Alembic migration) costs seconds; a fresh store is
    otherwise the same as one MLflow makes on first use.
    """
    template = _build(factory, "empty-tracking-store", _build_empty_store, seed=False)
    directory.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(template.root / DATABASE, directory / DATABASE)
    return f"sqlite:///{directory / DATABASE}"


def build_once(factory: pytest.TempPathFactory, name: str, build: Callable[[Path], dict[str, Any]]) -> Registry:
    """The registry ``name``: built by ``build(root)`` (run with ``root`` as working directory, an empty MLflow
    store already at ``root/mlflow.db``) the first time any worker of this run asks, read from disk after
    that."""
    return _build(factory, name, build, seed=True)


def _build(factory: pytest.TempPathFactory, name: str, build: Callable[[Path], dict[str, Any]], *,
           seed: bool) -> Registry:
    shared = run_directory(factory) / "registries"
    shared.mkdir(exist_ok=True)
    root = shared / name
    with (shared / f"{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, also if this worker dies
        if not (root / BUILT).is_file():
            shutil.rmtree(root, ignore_errors=True)  # a build that failed half way
            root.mkdir()
            if seed:
                seed_tracking_store(factory, root)
            with building_in(root):
                info = build(root)
            (root / BUILT).write_text(json.dumps(info))
    return Registry(root, json.loads((root / BUILT).read_text()))


def copy_registry(source: Registry, destination: Path) -> Registry:
    """A private copy of ``source`` at ``destination`` (which must not exist yet), artifact locations
    pointing into the copy."""
    # Coverage's per-process data files (.coverage.*) may come and go while the tree is copied; they are
    # not part of the registry.
    shutil.copytree(source.root, destination, ignore=shutil.ignore_patterns(".coverage*"))
    relocate(destination / DATABASE, source.root, destination)
    return Registry(destination, source.info)


def relocate(database: Path, old: Path, new: Path) -> None:
    """Replace the directory ``old`` by ``new`` in every text value of every table of a SQLite database."""
    connection = sqlite3.connect(database)
    try:
        with connection:
            tables = [row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
            for table in tables:
                for column in [row[1] for row in connection.execute(f'PRAGMA table_info("{table}")')]:
                    connection.execute(
                        f'UPDATE "{table}" SET "{column}" = replace("{column}", ?, ?) '
                        f'WHERE typeof("{column}") = \'text\' AND instr("{column}", ?) > 0',
                        (str(old), str(new), str(old)))
    finally:
        connection.close()
