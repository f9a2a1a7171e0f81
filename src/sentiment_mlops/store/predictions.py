"""The prediction log: insert, read newest first or by column, page oldest first, count, summarise, prune."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, String, func, literal, select, tuple_

from sentiment_mlops.store.database import Database, dicts
from sentiment_mlops.store.gc_pause import gc_paused
from sentiment_mlops.store.rows import insert_prediction_rows, prediction_values
from sentiment_mlops.store.schema import UTCDateTime, column_names, feedback, feedback_history, predictions, utcnow
from sentiment_mlops.store.totals import apply_increments, increments, summary_from_totals

PruneKey = tuple[datetime, str]  # (created_at, id): the order the log is paged and pruned in


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

        Missing ``id`` (``rows.new_prediction_id``), ``created_at`` (now) and, when the text is given, ``text_sha256``
        and ``text_length`` are filled in.
        """
        if not rows:
            return []
        now = utcnow()
        full_rows = [prediction_values(row, now) for row in rows]
        with self._transaction() as connection:
            insert_prediction_rows(connection, full_rows)
            apply_increments(connection, self._insert, increments(full_rows))
        return [row["id"] for row in full_rows]

    def insert_new_predictions(self, rows: Sequence[dict[str, Any]]) -> list[str]:
        """Insert ``rows``, skipping those whose ``id`` is already in the log; return the ids inserted.

        For writers that may send the same rows twice: a resumed ``score --log`` job gives every row an
        id derived from its input position, and re-logs the partition it was writing when it stopped; a
        journal replays a batch whose commit may in fact have succeeded. Running totals count only the rows
        inserted here.
        """
        if not rows:
            return []
        now = utcnow()
        full_rows = [prediction_values(row, now) for row in rows]
        statement = (self._insert(predictions).on_conflict_do_nothing(index_elements=["id"])
                     .returning(predictions.c.id))
        with gc_paused(), self._transaction() as connection:
            inserted = {str(row[0]) for row in connection.execute(statement, full_rows)}
            apply_increments(connection, self._insert,
                             increments([row for row in full_rows if row["id"] in inserted]))
        return [row["id"] for row in full_rows if row["id"] in inserted]

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

    def iter_predictions(self, batch: int = 5000, *, environment: str | None = None,
                         before: datetime | None = None) -> Iterator[dict[str, Any]]:
        """Every prediction (created before ``before``, when given), oldest first, read ``batch`` rows at a time.

        Pages are keyed on (created_at, id), so no connection or snapshot is held between pages
        and rows written meanwhile are not skipped.
        """
        if batch < 1:
            raise ValueError(f"batch must be at least 1, got {batch}")
        base = select(predictions).where(*prediction_filters(environment, None, None))
        if before is not None:
            base = base.where(predictions.c.created_at < before)
        base = base.order_by(predictions.c.created_at, predictions.c.id).limit(batch)
        last: PruneKey | None = None
        while True:
            query = base
            if last is not None:
                query = query.where(_key() > _key_literal(last))
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
        """``{"total_predictions", "sentiment_distribution", "mean_confidence"}``.

        Without ``since`` it reads the running totals (``store.totals``: a few rows, whatever the size of
        the log); with it, it aggregates the window in SQL. ``mean_confidence`` is None while there is no
        prediction.
        """
        with self._transaction() as connection:
            if since is None:
                groups = summary_from_totals(connection, environment, model_version)
            else:
                query = (
                    select(predictions.c.sentiment, func.count(), func.sum(predictions.c.confidence))
                    .where(*prediction_filters(environment, model_version, since))
                    .group_by(predictions.c.sentiment)
                    .order_by(predictions.c.sentiment)
                )
                groups = [(str(label), int(count), float(total or 0.0))
                          for label, count, total in connection.execute(query)]
        total = sum(int(count) for _, count, _ in groups)
        confidence_sum = sum(float(value or 0.0) for _, _, value in groups)
        return {
            "total_predictions": total,
            "sentiment_distribution": {str(label): int(count) for label, count, _ in groups},
            "mean_confidence": confidence_sum / total if total else None,
        }

    def delete_predictions(self, before: datetime, *, through: PruneKey | None = None, batch: int = 5000) -> int:
        """Delete the predictions created before ``before`` (and, with ``through``, only those up to that
        (created_at, id) key: the last row an archive holds), with their feedback; return how many.

        Oldest first, ``batch`` rows per transaction, so a serving writer waits at most one batch; each
        transaction subtracts exactly the rows it deleted from the running totals.
        """
        if batch < 1:
            raise ValueError(f"batch must be at least 1, got {batch}")
        deleted = 0
        while True:
            page = select(predictions.c.id).where(predictions.c.created_at < before)
            if through is not None:
                page = page.where(_key() <= _key_literal(through))
            page = page.order_by(predictions.c.created_at, predictions.c.id).limit(batch)
            with self._transaction() as connection:
                ids = list(connection.execute(page).scalars())
                if ids:
                    connection.execute(feedback.delete().where(feedback.c.prediction_id.in_(ids)))
                    connection.execute(feedback_history.delete().where(feedback_history.c.prediction_id.in_(ids)))
                    gone = connection.execute(
                        predictions.delete().where(predictions.c.id.in_(ids)).returning(
                            predictions.c.environment, predictions.c.model_version, predictions.c.sentiment,
                            predictions.c.confidence)).mappings().all()
                    apply_increments(connection, self._insert, increments(map(dict, gone), sign=-1))
                    deleted += len(gone)
            if len(ids) < batch:
                return deleted


def _key() -> Any:
    return tuple_(predictions.c.created_at, predictions.c.id)


def _key_literal(key: PruneKey) -> Any:
    # A row-value comparison, which both databases answer from the (created_at, id) index.
    return tuple_(literal(key[0], UTCDateTime()), literal(key[1], String()))
