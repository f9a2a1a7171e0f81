"""Deployment events: an append-only history of every alias change, with its evidence."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from sqlalchemy import select

from sentiment_mlops.store.database import Database, dicts
from sentiment_mlops.store.schema import deployment_events, row_fields, utcnow


class DeploymentAction(StrEnum):
    """What a deployment event did; the value is what the history stores."""

    PROMOTE = "promote"
    ROLLBACK = "rollback"
    AUTO_ROLLBACK = "auto-rollback"
    CANARY_START = "canary-start"
    CANARY_FINISH = "canary-finish"
    CANARY_ABORT = "canary-abort"


# Actions that put a version into an environment, and those that undo the last such change.
DEPLOYING_ACTIONS = frozenset({DeploymentAction.PROMOTE, DeploymentAction.CANARY_FINISH})
UNDOING_ACTIONS = frozenset({DeploymentAction.ROLLBACK, DeploymentAction.AUTO_ROLLBACK})
ACTIONS = tuple(action.value for action in DeploymentAction)


class DeploymentLog(Database):
    """Append and read deployment events; events are never updated or deleted."""

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
            rows = dicts(connection.execute(query))
        return rows[::-1]
