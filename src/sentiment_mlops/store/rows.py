"""A prediction as the serving writer hands it over, checked and completed into a full table row, and the
rows written in one ``executemany`` at the driver level."""

from __future__ import annotations

import hashlib
import os
import time
from datetime import UTC, datetime
from functools import cache
from typing import Any

from sqlalchemy import Connection

from sentiment_mlops.config import SHADOW_ALIAS
from sentiment_mlops.store.engine import json_dumps
from sentiment_mlops.store.schema import DEFAULT_SOURCE, SHADOW_SOURCE, column_names, predictions, row_fields

# The key of a row the serving writer hands over still to be completed (``finish_rows``): whether its text is
# kept (``serving.prediction_log.prediction_row``).
PENDING = "_log_text"
# The key of a shadow row still to be scored (``shadow_row``; ``store.child_writer.score_shadow_rows`` removes it):
# the key of the model to score its text with. Such a row holds no answer yet and is never queued as it is.
SCORE_WITH = "_score_with"
# The key of a live row whose text production's shadow answers too (``serving.shadow``): the model (or its key)
# to score it with. The shadow row is made from the live row where the inserts run (``shadow_row``), so a
# shadowed request queues nothing more than its live row and the text goes over the pipe once.
SHADOW_WITH = "_shadow_with"


def new_prediction_id() -> str:
    """32 hex digits laid out as a UUIDv7's: the time in milliseconds (12 digits), then 80 random bits from
    ``os.urandom`` (every served text gets one; uuid4 costs five times as much). Ids made one after another
    sort by time, so the store's primary-key index takes new rows at its newest end, not on random pages:
    inserting into a store of 500,000 rows then costs about half the CPU (``benchmarks/prediction_ids.py``)."""
    return f"{time.time_ns() // 1_000_000:012x}{os.urandom(10).hex()}"


def shadow_row(live: dict[str, Any], key: str) -> dict[str, Any]:
    """The shadow row of ``live`` (a pending row, ``finish_rows`` not yet applied), still to be scored with the
    model ``key``: its own id, the live row's text, time and route, ``shadow_of`` the live row's id."""
    return {"id": new_prediction_id(), "created_at": live["created_at"], "environment": SHADOW_ALIAS,
            "model_version": None, "text": live["text"], "route": live["route"], "source": SHADOW_SOURCE,
            "shadow_of": live["id"], PENDING: live.get(PENDING, True), SCORE_WITH: key}


def strip_shadow_marks(rows: list[dict[str, Any]]) -> int:
    """Remove the shadow work still to do from ``rows``, in place (their ``SHADOW_WITH`` marks): how many shadow
    answers that was."""
    return sum(1 for row in rows if row.pop(SHADOW_WITH, None) is not None)


def finish_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Complete the rows ``prediction_row`` left pending, in place (complete rows are left as they are):
    ``text_sha256`` of the text as sent, ``text_length``, the text as stored or None, ``created_at`` as an
    aware UTC datetime. Returns ``rows``."""
    for row in rows:
        if PENDING not in row:
            continue
        keep = row.pop(PENDING)
        text = row["text"]
        # Lone surrogates can arrive through JSON escapes; keep the row writable (UTF-8) and hash what was sent.
        raw = text.encode("utf-8", "surrogatepass")
        row["text_sha256"] = hashlib.sha256(raw).hexdigest()
        row["text_length"] = len(text)
        # PostgreSQL text cannot hold NUL.
        row["text"] = raw.decode("utf-8", "replace").replace("\x00", "\ufffd") if keep else None
        row["created_at"] = datetime.fromtimestamp(row["created_at"], UTC)
    return rows


def prediction_values(row: dict[str, Any], now: datetime) -> dict[str, Any]:
    """A full predictions row: id (``new_prediction_id``), created_at (``now``) and the text's sha256 and length
    filled in when absent; a typo in a field name or a naive time fails here, before the database."""
    row_fields(predictions, row, what="prediction")
    values = {name: row.get(name) for name in column_names(predictions)}
    if values["text_sha256"] is None or values["text_length"] is None:
        text = values["text"]
        if text is None:
            raise TypeError("a prediction without its text needs text_sha256 and text_length")
        if values["text_sha256"] is None:
            values["text_sha256"] = hashlib.sha256(text.encode("utf-8")).hexdigest()
        if values["text_length"] is None:
            values["text_length"] = len(text)
    if values["source"] is None:
        values["source"] = DEFAULT_SOURCE
    if values["id"] is None:
        values["id"] = new_prediction_id()
    created_at = values["created_at"] or now
    if created_at.tzinfo is None:
        raise ValueError(f"datetime {created_at.isoformat()} has no time zone; pass an aware UTC datetime")
    values["created_at"] = created_at.astimezone(UTC)
    return values


# Rows per INSERT statement: 14 columns x 64 rows stays under SQLite's oldest limit of 999 parameters.
ROWS_PER_STATEMENT = 64


@cache
def _insert_sql(dialect: str, rows: int) -> str:
    names = column_names(predictions)
    if dialect == "sqlite":
        one = "(" + ", ".join("?" for _ in names) + ")"
    else:
        one = "(" + ", ".join("%s::json" if name == "probabilities" else "%s" for name in names) + ")"
    return f"INSERT INTO predictions ({', '.join(names)}) VALUES {', '.join([one] * rows)}"


def insert_prediction_rows(connection: Connection, rows: list[dict[str, Any]]) -> None:
    """Insert full rows (``prediction_values``) with multi-row ``INSERT ... VALUES`` statements at the driver.

    The serving writer inserts every prediction from a thread beside the event loop, and how it talks to the
    driver decides what logging costs:

    - ``executemany`` runs one ``sqlite3_step`` per row, releasing the interpreter lock for it and taking it
      back after: a lock hand-over with the event loop for every row. py-spy on a server under wrk found the
      writer inside ``executemany`` a quarter of the time, ~250 us of wall time per row against ~30 us in a
      quiet process. One statement per ``ROWS_PER_STATEMENT`` rows hands the lock over once per statement.
      PostgreSQL keeps psycopg's ``executemany`` (pipelined): multi-row statements measured 77-122 us of CPU
      per row there against 34-42 us.
    - SQLAlchemy's per-row parameter processing was a third of the insert's CPU (500-row batches: 36-53 us
      of CPU per row through ``connection.execute``, 25-45 us at the driver; 49-58 against 34-42 us on
      PostgreSQL); the values are converted here as the column types would: the time as naive UTC text on
      SQLite (SQLAlchemy's storage format) and aware on PostgreSQL, the probabilities with the store's JSON
      serialiser.
    """
    dialect = connection.dialect.name
    names = column_names(predictions)
    created = names.index("created_at")
    probabilities = names.index("probabilities")
    converted: list[list[Any]] = []
    for row in rows:
        values = [row[name] for name in names]
        if dialect == "sqlite":  # prediction_values made it aware UTC already
            values[created] = values[created].replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")
        values[probabilities] = json_dumps(values[probabilities])
        converted.append(values)
    if dialect != "sqlite":
        connection.exec_driver_sql(_insert_sql(dialect, 1), [tuple(values) for values in converted])
        return
    for start in range(0, len(converted), ROWS_PER_STATEMENT):
        chunk = converted[start:start + ROWS_PER_STATEMENT]
        connection.exec_driver_sql(_insert_sql(dialect, len(chunk)), tuple(v for values in chunk for v in values))
