"""Named locks shared by every process that uses one store: the monitor's leader lock (one monitor per
environment, however many workers or machines run) and the deployment lock (one promote / rollback / canary
at a time).

- SQLite store (one machine): an exclusive ``flock`` on a file beside the database. The kernel releases it
  when the process dies, so a crashed holder never leaves a stale lock.
- PostgreSQL store (possibly several machines): a session-level advisory lock held on one dedicated
  connection; PostgreSQL releases it when that connection closes (or the client dies).

Neither holds a database transaction open, so prediction writes never wait on a lock holder.
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

from sentiment_mlops.errors import ConflictError
from sentiment_mlops.integrity import FileLock
from sentiment_mlops.store.engine import engine_url

logger = logging.getLogger(__name__)


class LeaderLock(Protocol):
    @property
    def held(self) -> bool: ...
    def try_acquire(self) -> bool: ...
    def release(self) -> None: ...


def _key(store_url: str, name: str) -> bytes:
    return hashlib.sha256(f"sentiment-mlops {name} {store_url}".encode()).digest()


FileLeaderLock = FileLock


class PostgresLeaderLock:
    """``pg_try_advisory_lock`` on a connection kept open while leading."""

    def __init__(self, store_url: str, name: str) -> None:
        self.url = engine_url(store_url)
        self.key = int.from_bytes(_key(store_url, name)[:8], "big", signed=True)
        self._connection: Any = None
        self._engine: Any = None

    @property
    def held(self) -> bool:
        return self._connection is not None

    def try_acquire(self) -> bool:
        from sqlalchemy import create_engine, text
        from sqlalchemy.exc import SQLAlchemyError
        from sqlalchemy.pool import NullPool

        if self._connection is not None:
            return True
        try:
            if self._engine is None:
                self._engine = create_engine(self.url, poolclass=NullPool)
            connection = self._engine.connect()
            got = connection.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": self.key}).scalar_one()
            connection.commit()
        except SQLAlchemyError as exc:
            logger.warning("monitor leader lock unavailable: %s", exc)
            return False
        if not got:
            connection.close()
            return False
        self._connection = connection
        return True

    def release(self) -> None:
        if self._connection is not None:
            self._connection.close()  # the session ends, so does its advisory lock
            self._connection = None
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None


def named_lock(store_url: str, name: str, lock_dir: Path | None = None) -> LeaderLock:
    """The right lock called ``name`` for this store: advisory on PostgreSQL, a file lock otherwise (beside a
    SQLite database file, or in ``lock_dir`` / the temporary directory for an in-memory one)."""
    url = engine_url(store_url)
    if url.get_backend_name() == "postgresql":
        return PostgresLeaderLock(store_url, name)
    digest = _key(store_url, name).hex()[:16]
    database = url.database or ""
    if lock_dir is None and database and database != ":memory:" and not database.startswith("file:"):
        return FileLeaderLock(Path(f"{database}.{name}.lock"))
    directory = lock_dir or Path(tempfile.gettempdir())
    return FileLeaderLock(directory / f"sentiment-mlops-{name}-{digest}.lock")


def leader_lock(store_url: str, environment: str, lock_dir: Path | None = None) -> LeaderLock:
    """The monitor's leader lock for ``environment``."""
    return named_lock(store_url, f"monitor-{environment}", lock_dir)


DEPLOYMENT_LOCK_WAIT_SECONDS = 30.0


@contextmanager
def deployment_lock(store_url: str, *, wait_seconds: float = DEPLOYMENT_LOCK_WAIT_SECONDS,
                    poll_seconds: float = 0.1) -> Iterator[None]:
    """Hold the store's deployment lock for the block: promote, rollback and canary run one at a time.

    Waits up to ``wait_seconds`` for another holder, then raises ``ConflictError``.
    """
    lock = named_lock(store_url, "deployment")
    deadline = time.monotonic() + wait_seconds
    while not lock.try_acquire():
        if time.monotonic() >= deadline:
            raise ConflictError(f"another promote, rollback or canary change holds the deployment lock of "
                                f"{engine_url(store_url).render_as_string(hide_password=True)} (waited "
                                f"{wait_seconds:g} s); run again when it has finished")
        time.sleep(poll_seconds)
    try:
        yield
    finally:
        lock.release()
