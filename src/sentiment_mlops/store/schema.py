"""The tables of the prediction store: predictions (and their running totals), feedback (and its history),
deployment events, alerts and the installation's secrets."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend.

    PostgreSQL keeps ``timestamptz``; SQLite has no time zones, so values are stored as naive UTC and
    given their zone back on the way out. Naive input is refused: a naive time is a bug waiting to
    compare wrongly with an aware one.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"datetime {value.isoformat()} has no time zone; pass an aware UTC datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


metadata = MetaData()

DEFAULT_SOURCE = "api"
BATCH_SOURCE = "batch"
SHADOW_SOURCE = "shadow"  # a shadow version's answer to a live request (environment "shadow"), never returned

predictions = Table(
    "predictions",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("environment", String(32), nullable=False),
    Column("model_version", String(64), nullable=False),
    Column("text", Text, nullable=True),  # None when SENTIMENT_MLOPS_LOG_TEXT=false
    Column("text_sha256", String(64), nullable=False),
    Column("text_length", Integer, nullable=False),
    Column("sentiment", String(32), nullable=False),
    Column("confidence", Float, nullable=False),
    Column("probabilities", JSON, nullable=False),
    Column("latency_ms", Float, nullable=True),
    Column("route", String(64), nullable=True),
    # Who asked: "api" (the server) or "batch" (``score --log``). Added after the first release: databases
    # created before it get the column (default 'api') from ``Database._create_tables``.
    Column("source", String(16), nullable=True, server_default=DEFAULT_SOURCE),
    # A shadow row names the live prediction it shadowed (same text): live vs shadow pairs join on it.
    Column("shadow_of", String(32), nullable=True),
    Index("ix_predictions_environment_created_at", "environment", "created_at"),
    Index("ix_predictions_model_version_created_at", "model_version", "created_at"),
    # Serves the unfiltered "newest first" read and the oldest-first keyset pages of the export.
    Index("ix_predictions_created_at_id", "created_at", "id"),
)

# Running totals of the predictions table per (environment, model version, sentiment), changed in the same
# transaction as every insert and every prune (store.totals): /health reads a few rows, never the log.
prediction_totals = Table(
    "prediction_totals",
    metadata,
    Column("environment", String(32), primary_key=True),
    Column("model_version", String(64), primary_key=True),
    Column("sentiment", String(32), primary_key=True),
    Column("count", BigInteger, nullable=False),
    Column("confidence_sum", Float, nullable=False),
)

feedback = Table(
    "feedback",
    metadata,
    Column("prediction_id", String(32), ForeignKey("predictions.id"), primary_key=True),
    Column("label", String(32), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("actor", String(255), nullable=True),  # who gave the current label (None: before actors were kept)
)

# Every label ever given, append-only: relabelling changes ``feedback`` and keeps the earlier label here.
feedback_history = Table(
    "feedback_history",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("prediction_id", String(32), ForeignKey("predictions.id"), nullable=False),
    Column("label", String(32), nullable=False),
    Column("actor", String(255), nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_feedback_history_prediction_id", "prediction_id", "id"),
)

# Per-installation secrets (e.g. the key of the text digests the dashboard shows), made on first use.
installation_secrets = Table(
    "installation_secrets",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", String(128), nullable=False),
)

deployment_events = Table(
    "deployment_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("environment", String(32), nullable=False),
    Column("action", String(64), nullable=False),
    Column("from_version", String(64), nullable=True),
    Column("to_version", String(64), nullable=True),
    Column("actor", String(255), nullable=True),
    Column("reason", Text, nullable=True),
    Column("report", JSON, nullable=True),
    Index("ix_deployment_events_environment_id", "environment", "id"),
)

alerts = Table(
    "alerts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("rule", String(128), nullable=False),
    Column("severity", String(32), nullable=False),
    Column("environment", String(32), nullable=True),
    Column("model_version", String(64), nullable=True),
    Column("status", String(16), nullable=False),
    Column("message", Text, nullable=False),
    Column("details", JSON, nullable=True),
    Column("resolved_at", UTCDateTime, nullable=True),
    Index("ix_alerts_rule_environment_status", "rule", "environment", "status"),
    Index("ix_alerts_status_id", "status", "id"),
)


@cache
def column_names(table: Table) -> tuple[str, ...]:
    """The table's column names, in order (computed once: the prediction writer asks for every row)."""
    return tuple(table.c.keys())


def row_fields(table: Table, fields: dict[str, Any], *, what: str) -> dict[str, Any]:
    """``fields`` checked against the table's columns, so a typo fails loudly instead of vanishing."""
    names = column_names(table)
    unknown = sorted(fields.keys() - set(names))
    if unknown:
        raise TypeError(f"unknown {what} field(s) {', '.join(unknown)}; expected some of {', '.join(names)}")
    return dict(fields)
