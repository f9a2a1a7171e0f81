"""The prediction store: every prediction, its feedback, deployment history and alerts, in one database.

SQLite by default (WAL, so a serving process can write while the CLI reads) and PostgreSQL at scale,
through the same SQLAlchemy Core statements. Every timestamp is an aware UTC ``datetime``; every row
comes back as a plain ``dict``.

>>> store = PredictionStore("sqlite://")
>>> ids = store.insert_predictions([{"environment": "local", "model_version": "1", "text": "great",
...     "sentiment": "positive", "confidence": 0.9,
...     "probabilities": {"negative": 0.05, "neutral": 0.05, "positive": 0.9}}])
>>> store.get_prediction(ids[0])["text_length"]
5
>>> store.summary()["total_predictions"]
1
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, Engine, Result, String, func, literal, select, text, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError, SQLAlchemyError, StatementError

from sentiment_mlops.errors import DataError, NotFoundError, StoreError
from sentiment_mlops.monitoring.engine import create_store_engine, engine_url
from sentiment_mlops.monitoring.gc_pause import gc_paused
from sentiment_mlops.monitoring.prediction_rows import prediction_values
from sentiment_mlops.monitoring.schema import (
    UTCDateTime,
    alerts,
    column_names,
    deployment_events,
    feedback,
    metadata,
    predictions,
    row_fields,
    utcnow,
)

ALERT_STATUSES = ("firing", "resolved")
_SCHEMA_LOCK_KEY = 0x5E17  # pg_advisory_xact_lock key: workers starting together create tables once


def _dicts(result: Result[Any]) -> list[dict[str, Any]]:
    """Rows as plain dicts (zip over the keys: a third faster than ``Row._mapping`` over 100k rows)."""
    keys = tuple(result.keys())
    return [dict(zip(keys, row, strict=True)) for row in result]


def _feedback_label(label: object) -> str:
    from sentiment_mlops.data.labels import LABELS

    normalised = label.strip().lower() if isinstance(label, str) else None
    if normalised not in LABELS:
        raise DataError(f"feedback label {label!r} is not one of {', '.join(LABELS)}")
    return normalised


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


class PredictionStore:
    """Prediction log, feedback, deployment events and alerts behind one database URL.

    Parameters
    ----------
    url:
        ``sqlite:///logs/predictions.db`` (the directory is created) or ``postgresql://…``.
        Tables are created on the first connection; a database that cannot be reached raises
        ``StoreError`` naming the URL with its password masked.
    """

    def __init__(self, url: str) -> None:
        self.url = engine_url(url)
        self.display_url = self.url.render_as_string(hide_password=True)
        self._engine = create_store_engine(self.url)
        self._insert = postgresql.insert if self._engine.dialect.name == "postgresql" else sqlite.insert
        self._create_tables()

    def __repr__(self) -> str:
        return f"PredictionStore({self.display_url!r})"

    def __enter__(self) -> PredictionStore:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    @property
    def engine(self) -> Engine:
        """The store's engine, for read-only aggregate queries over its tables (the dashboard's Live page)."""
        return self._engine

    def close(self) -> None:
        """Close every pooled connection."""
        self._engine.dispose()

    # --- plumbing -----------------------------------------------------------------------------------

    def _error(self, exc: SQLAlchemyError) -> StoreError:
        cause = getattr(exc, "orig", None) or exc
        detail = (str(cause).strip().splitlines() or [type(cause).__name__])[0]
        if isinstance(exc, OperationalError | InterfaceError):
            return StoreError(
                f"cannot use the prediction store at {self.display_url}: {detail}; "
                "check SENTIMENT_MLOPS_STORE_URL and that the database is running"
            )
        return StoreError(f"the prediction store at {self.display_url} refused the operation: {detail}")

    @contextmanager
    def _transaction(self) -> Iterator[Connection]:
        try:
            with self._engine.begin() as connection:
                yield connection
        except DBAPIError as exc:
            raise self._error(exc) from exc
        except StatementError as exc:
            # Raised before reaching the database: a bad argument (say a naive datetime) is the caller's bug.
            if isinstance(exc.orig, TypeError | ValueError):
                raise exc.orig from None
            raise self._error(exc) from exc
        except SQLAlchemyError as exc:
            raise self._error(exc) from exc

    def _create_tables(self) -> None:
        # Server workers start together on a fresh database: take the write lock before looking for
        # the tables, so exactly one of them creates them and the others find them.
        with self._transaction() as connection:
            if connection.dialect.name == "postgresql":
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SCHEMA_LOCK_KEY})
            elif connection.dialect.name == "sqlite":
                connection.exec_driver_sql("BEGIN IMMEDIATE")
            metadata.create_all(connection)

    # --- predictions --------------------------------------------------------------------------------

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
            return _dicts(connection.execute(query))

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
        with gc_paused():  # 100k rows of tuples: see monitoring.gc_pause
            with self._transaction() as connection:
                rows = connection.execute(query).fetchall()
            values = list(zip(*rows, strict=True)) if rows else [() for _ in columns]
        return dict(zip(columns, values, strict=True))

    def _recent_query(self, columns: Sequence[str] | None, environment: str | None, model_version: str | None,
                      limit: int | None, since: datetime | None) -> Any:
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
                page = _dicts(connection.execute(query))
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

    # --- feedback -----------------------------------------------------------------------------------

    def add_feedback(self, prediction_id: str, label: str) -> dict[str, Any]:
        """Record the true label of a logged prediction (a later label replaces an earlier one).

        Raises ``DataError`` for a label other than negative/neutral/positive and ``NotFoundError``
        for an unknown prediction id.
        """
        label = _feedback_label(label)
        now = utcnow()
        # One statement that inserts only when the prediction exists: no read-then-write race.
        source = select(
            predictions.c.id, literal(label, String()), literal(now, UTCDateTime())
        ).where(predictions.c.id == prediction_id)
        insert = self._insert(feedback).from_select(["prediction_id", "label", "created_at"], source)
        statement = insert.on_conflict_do_update(
            index_elements=[feedback.c.prediction_id],
            set_={"label": insert.excluded.label, "created_at": insert.excluded.created_at},
        ).returning(feedback.c.prediction_id)  # rowcount of INSERT … SELECT is not reliable on psycopg
        with self._transaction() as connection:
            written = connection.execute(statement).first()
        if written is None:
            raise NotFoundError(f"no logged prediction has id {prediction_id!r}")
        return {"prediction_id": prediction_id, "label": label, "created_at": now}

    def feedback_pairs(
        self, *, environment: str | None = None, model_version: str | None = None, since: datetime | None = None,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        """Predictions that have feedback, oldest first; with ``limit``, the latest ``limit`` of them.

        Each item: prediction_id, predicted, label, confidence, created_at (of the prediction; ``since``
        filters on it), model_version, environment and feedback_at.
        """
        query = (
            select(
                predictions.c.id.label("prediction_id"),
                predictions.c.sentiment.label("predicted"),
                feedback.c.label,
                predictions.c.confidence,
                predictions.c.created_at,
                predictions.c.model_version,
                predictions.c.environment,
                feedback.c.created_at.label("feedback_at"),
            )
            .join_from(feedback, predictions, feedback.c.prediction_id == predictions.c.id)
            .where(*prediction_filters(environment, model_version, since))
            .order_by(predictions.c.created_at.desc(), predictions.c.id.desc())
            .limit(limit)
        )
        with self._transaction() as connection:
            return _dicts(connection.execute(query))[::-1]

    # --- deployment events (append-only) ------------------------------------------------------------

    def record_deployment(self, **fields: Any) -> int:
        """Append a deployment event (environment, action, from_version, to_version, actor, reason,
        report); return its id. Events are never updated or deleted."""
        values = row_fields(deployment_events, fields, what="deployment event")
        values.pop("id", None)
        values.setdefault("created_at", utcnow())
        with self._transaction() as connection:
            statement = deployment_events.insert().values(**values).returning(deployment_events.c.id)
            return int(connection.execute(statement).scalar_one())

    def deployment_events(self, environment: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
        """Deployment events oldest first; with ``limit``, the latest ``limit`` of them (still oldest first)."""
        query = select(deployment_events).order_by(deployment_events.c.id.desc()).limit(limit)
        if environment is not None:
            query = query.where(deployment_events.c.environment == environment)
        with self._transaction() as connection:
            rows = _dicts(connection.execute(query))
        return rows[::-1]

    # --- alerts -------------------------------------------------------------------------------------

    def record_alert(self, **fields: Any) -> int:
        """Record an alert (rule, severity, environment, model_version, message, details; status
        'firing' unless given); return its id."""
        values = row_fields(alerts, fields, what="alert")
        values.pop("id", None)
        values.setdefault("created_at", utcnow())
        values.setdefault("status", "firing")
        if values["status"] not in ALERT_STATUSES:
            raise DataError(f"alert status {values['status']!r} is not one of {', '.join(ALERT_STATUSES)}")
        if values["status"] == "resolved":
            values.setdefault("resolved_at", values["created_at"])
        with self._transaction() as connection:
            return int(connection.execute(alerts.insert().values(**values).returning(alerts.c.id)).scalar_one())

    def resolve_alert(self, alert_id: int) -> None:
        """Mark an alert resolved (keeping the first resolution time); ``NotFoundError`` for an unknown id."""
        resolved_at = func.coalesce(alerts.c.resolved_at, literal(utcnow(), UTCDateTime()))
        statement = update(alerts).where(alerts.c.id == alert_id).values(status="resolved", resolved_at=resolved_at)
        with self._transaction() as connection:
            if not connection.execute(statement).rowcount:
                raise NotFoundError(f"no alert has id {alert_id!r}")

    def alerts(self, status: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
        """Alerts newest first, optionally only 'firing' or 'resolved' ones."""
        if status is not None and status not in ALERT_STATUSES:
            raise DataError(f"alert status {status!r} is not one of {', '.join(ALERT_STATUSES)}")
        query = select(alerts).order_by(alerts.c.id.desc()).limit(limit)
        if status is not None:
            query = query.where(alerts.c.status == status)
        with self._transaction() as connection:
            return _dicts(connection.execute(query))

    def open_alert(self, rule: str, environment: str | None) -> dict[str, Any] | None:
        """The newest firing alert for this rule and environment, or None."""
        return self.latest_alert(rule, environment, status="firing")

    def latest_alert(self, rule: str, environment: str | None, *, status: str) -> dict[str, Any] | None:
        """The newest alert with this status for this rule and environment, or None."""
        same_environment = (
            alerts.c.environment.is_(None) if environment is None else alerts.c.environment == environment
        )
        query = (
            select(alerts)
            .where(alerts.c.rule == rule, same_environment, alerts.c.status == status)
            .order_by(alerts.c.id.desc())
            .limit(1)
        )
        with self._transaction() as connection:
            row = connection.execute(query).first()
        return dict(row._mapping) if row is not None else None
