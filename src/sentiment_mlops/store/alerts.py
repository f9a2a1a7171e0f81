"""Alerts: firing and resolved, the newest of a rule, resolution."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import func, literal, select, update

from sentiment_mlops.errors import DataError, NotFoundError
from sentiment_mlops.store.database import Database, dicts
from sentiment_mlops.store.schema import UTCDateTime, alerts, utcnow

ALERT_STATUSES = ("firing", "resolved")
# The rule a server records when its model fails to load, and the monitor reads back (they share no code but this).
MODEL_LOAD_FAILED = "model_load_failed"


class AlertLog(Database):
    """Alerts raised by the monitor, in the same database as the predictions they are about."""

    def record_alert(self, *, rule: str, severity: str, message: str, environment: str | None = None,
                     model_version: str | None = None, status: str = "firing",
                     details: Mapping[str, object] | None = None, created_at: datetime | None = None,
                     resolved_at: datetime | None = None) -> int:
        """Record an alert and return its id; a 'resolved' one without ``resolved_at`` resolved when created."""
        if status not in ALERT_STATUSES:
            raise DataError(f"alert status {status!r} is not one of {', '.join(ALERT_STATUSES)}")
        created_at = created_at or utcnow()
        if status == "resolved" and resolved_at is None:
            resolved_at = created_at
        values = {"rule": rule, "severity": severity, "message": message, "environment": environment,
                  "model_version": model_version, "status": status, "details": details,
                  "created_at": created_at, "resolved_at": resolved_at}
        if details is None:
            del values["details"]  # SQL NULL, not JSON null
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
            return dicts(connection.execute(query))

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
