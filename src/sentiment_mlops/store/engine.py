"""The SQLAlchemy engine behind a store URL: SQLite in WAL mode or PostgreSQL through psycopg 3."""

from __future__ import annotations

import re
import sqlite3
import time
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError
from sqlalchemy.pool import StaticPool

from sentiment_mlops.errors import ConfigurationError, StoreError

SUPPORTED_BACKENDS = ("sqlite", "postgresql")
SQLITE_BUSY_TIMEOUT_MS = 30_000  # a writer's batch commits in milliseconds; waiting beats failing
POSTGRES_CONNECT_TIMEOUT_S = 10


def engine_url(url: str) -> URL:
    """The SQLAlchemy URL for ``url``, with plain PostgreSQL URLs pointed at psycopg 3."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            url = "postgresql+psycopg://" + url[len(prefix):]
    try:
        return make_url(url)
    except ArgumentError as exc:
        masked = re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)
        raise ConfigurationError(
            f"store URL {masked!r} is not a database URL; expected sqlite:///path/to/predictions.db "
            "or postgresql://user@host:5432/database"
        ) from exc


def json_dumps(value: Any) -> str:
    # Reports and details come from numpy/scipy; NaN becomes null, which PostgreSQL's json accepts.
    return orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY).decode()


# orjson reads and writes the JSON columns several times faster than the json module.
_JSON_CODEC = {"json_serializer": json_dumps, "json_deserializer": orjson.loads}


def _enable_wal(cursor: Any) -> None:
    """Switch the file to WAL (a lasting property of the file, so only its first user really does it)."""
    if cursor.execute("PRAGMA journal_mode").fetchone()[0] == "wal":
        return
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            # Changing the journal mode answers "locked" at once instead of waiting on the busy timeout,
            # which happens when several server workers open a fresh database together.
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def _set_sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    _enable_wal(cursor)
    cursor.execute("PRAGMA synchronous=NORMAL")  # durable across crashes in WAL mode, far fewer fsyncs
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def create_store_engine(url: URL) -> Engine:
    if url.get_backend_name() not in SUPPORTED_BACKENDS:
        raise ConfigurationError(
            f"store URL {url.render_as_string(hide_password=True)} names an unsupported database; "
            "use sqlite:///… or postgresql://…"
        )
    try:
        if url.get_backend_name() == "sqlite":
            database = url.database or ":memory:"
            in_memory = database == ":memory:" or "mode=memory" in database
            if not in_memory and not database.startswith("file:"):
                Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
            engine = create_engine(
                url,
                connect_args={"check_same_thread": False},
                # An in-memory database lives in one connection; share it so it is one database.
                poolclass=StaticPool if in_memory else None,
                **_JSON_CODEC,
            )
            event.listen(engine, "connect", _set_sqlite_pragmas)
            return engine
        connect_args = {"connect_timeout": POSTGRES_CONNECT_TIMEOUT_S}
        return create_engine(url, pool_pre_ping=True, connect_args=connect_args, **_JSON_CODEC)
    except (NoSuchModuleError, ImportError) as exc:
        raise ConfigurationError(
            f"store URL {url.render_as_string(hide_password=True)} needs a database driver that is not "
            f"installed ({exc}); use sqlite:///… or postgresql://… (psycopg 3)"
        ) from exc
    except OSError as exc:
        raise StoreError(f"cannot create the directory for the prediction store {url.database}: {exc}") from exc
