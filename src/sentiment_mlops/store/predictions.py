"""The prediction log: insert, read newest first or by column, page oldest first, count and summarise."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, String, func, literal, select, tuple_

from sentiment_mlops.store.database import Database, dicts
from sentiment_mlops.store.gc_pause import gc_paused
from sentiment_mlops.store.rows import prediction_values
from sentiment_mlops.store.schema import UTCDateTime, column_names, predictions, utcnow


def prediction_filters(environment: str | None, model_version: str | None,
                       since: datetime | None) -> list[ColumnElement[bool]]:
    """WHERE conditions selecting predictions by environment, model version and time (None: any)."""
    conditions: list[ColumnElement[bool]] = []
    if environment is not None:
        conditions.append(predictions.c.environment == environment)
    if model_version is not None:
        conditions.append(predictions.c.model_version == str(model_version))
    if since is not None:
        conditions.append(predictions.c.created_at >= since)
    return conditions


class PredictionLog(Database):
    """Every prediction served, one row each."""

    def insert_predictions(self, rows: Sequence[dict[str, Any]]) -> list[str]:
        """Insert ``rows`` in one transaction with one executemany; return their ids.

        Missing ``id`` (uuid4 hex), ``created_at`` (now) and, when the text is given, ``text_sha256``
        and ``text_length`` are filled in.
        """
        if not rows:
            return []
        now = utcnow()
        full_rows = [prediction_values(row, now) for row in rows]
        with self._transaction() as connection:
            connection.execute(predictions.insert(), full_rows)
        return [row["id"] for row in full_rows]

    def insert_new_predictions(self, rows: Sequence[dict[str, Any]]) -> int:
        """Insert ``rows`` in one transaction, skipping any whose id is already stored; return how many
        were new.

        For replaying a batch whose first commit may have succeeded (the connection was lost during
        COMMIT): the prediction id is the primary key, so a replay never duplicates a row.
        """
        if not rows:
            return 0
        now = utcnow()
        full_rows = [prediction_values(row, now) for row in rows]
        statement = (self._insert(predictions).on_conflict_do_nothing(index_elements=[predictions.c.id])
                     .returning(predictions.c.id))  # rowcount is -1 for psycopg's batched executemany
        with self._transaction() as connection:
            return len(connection.execute(statement, full_rows).all())

    def get_prediction(self, prediction_id: str) -> dict[str, Any] | None:
        """The prediction with this id, or None."""
        with self._transaction() as connection:
            row = connection.execute(select(predictions).where(predictions.c.id == prediction_id)).first()
        return dict(row._mapping) if row is not None else None

    def recent_predictions(
        self,
        *,
        environment: str | None = None,
        model_version: str | None = None,
        limit: int | None = 1000,
        since: datetime | None = None,
        columns: Sequence[str] | None = None,
    ) -> list[dict[str, Any]]:
        """The newest predictions first, at most ``limit`` (None: all).

        ``columns`` reads only those fields (say text, sentiment, confidence for drift), which is
        several times faster over 100k rows than decoding every timestamp and probability map.
        """
        query = self._recent_query(columns, environment, model_version, limit, since)
        with self._transaction() as connection:
            return dicts(connection.execute(query))

    def recent_columns(
        self,
        columns: Sequence[str],
        *,
        environment: str | None = None,
        model_version: str | None = None,
        limit: int | None = 1000,
        since: datetime | None = None,
    ) -> dict[str, tuple[Any, ...]]:
        """``recent_predictions`` by column: ``{name: values, newest first}``.

        For reads of 100k rows (a drift window), where building a dict per row costs more than the query.
        """
        query = self._recent_query(columns, environment, model_version, limit, since)
        with gc_paused():  # 100k rows of tuples: see store.gc_pause
            with self._transaction() as connection:
                rows = connection.execute(query).fetchall()
            values = list(zip(*rows, strict=True)) if rows else [() for _ in columns]
        return dict(zip(columns, values, strict=True))

    def _recent_query(self, columns: Sequence[str] | None, environment: str | None, model_version: str | None,
                      limit: int | None, since: datetime | None) -> Select[Any]:
        if columns is not None:
            unknown = set(columns).difference(column_names(predictions))
            if unknown:
                raise TypeError(f"unknown prediction column(s) {', '.join(sorted(unknown))}")
        selected = [predictions] if columns is None else [predictions.c[name] for name in columns]
        return (
            select(*selected)
            .where(*prediction_filters(environment, model_version, since))
            .order_by(predictions.c.created_at.desc())
            .limit(limit)
        )

    def iter_predictions(self, batch: int = 5000, *, environment: str | None = None) -> Iterator[dict[str, Any]]:
        """Every prediction, oldest first, read ``batch`` rows at a time.

        Pages are keyed on (created_at, id), so no connection or snapshot is held between pages
        and rows written meanwhile are not skipped.
        """
        if batch < 1:
            raise ValueError(f"batch must be at least 1, got {batch}")
        base = select(predictions).where(*prediction_filters(environment, None, None))
        base = base.order_by(predictions.c.created_at, predictions.c.id).limit(batch)
        last: tuple[datetime, str] | None = None
        while True:
            query = base
            if last is not None:
                # A row-value comparison, which both databases answer from the (created_at, id) index.
                after = tuple_(literal(last[0], UTCDateTime()), literal(last[1], String()))
                query = query.where(tuple_(predictions.c.created_at, predictions.c.id) > after)
            with self._transaction() as connection:
                page = dicts(connection.execute(query))
            yield from page
            if len(page) < batch:
                return
            last = (page[-1]["created_at"], page[-1]["id"])

    def count_predictions(
        self, *, environment: str | None = None, model_version: str | None = None, since: datetime | None = None
    ) -> int:
        """How many predictions match the filters."""
        query = select(func.count()).select_from(predictions)
        query = query.where(*prediction_filters(environment, model_version, since))
        with self._transaction() as connection:
            return int(connection.execute(query).scalar_one())

    def summary(
        self, environment: str | None = None, *, model_version: str | None = None, since: datetime | None = None
    ) -> dict[str, Any]:
        """``{"total_predictions", "sentiment_distribution", "mean_confidence"}``, aggregated in SQL.

        ``mean_confidence`` is None while there is no prediction.
        """
        query = (
            select(predictions.c.sentiment, func.count(), func.sum(predictions.c.confidence))
            .where(*prediction_filters(environment, model_version, since))
            .group_by(predictions.c.sentiment)
            .order_by(predictions.c.sentiment)
        )
        with self._transaction() as connection:
            groups = connection.execute(query).all()
        total = sum(int(count) for _, count, _ in groups)
        confidence_sum = sum(float(value or 0.0) for _, _, value in groups)
        return {
            "total_predictions": total,
            "sentiment_distribution": {str(label): int(count) for label, count, _ in groups},
            "mean_confidence": confidence_sum / total if total else None,
        }
