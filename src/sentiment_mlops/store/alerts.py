"""Alerts: firing and resolved, the newest of a rule, resolution."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, literal, select, update

from sentiment_mlops.errors import DataError, NotFoundError
from sentiment_mlops.store.database import Database, dicts
from sentiment_mlops.store.schema import UTCDateTime, alerts, row_fields, utcnow

ALERT_STATUSES = ("firing", "resolved")


class AlertLog(Database):
    """Alerts raised by the monitor, in the same database as the predictions they are about."""

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
