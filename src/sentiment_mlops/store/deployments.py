"""Deployment events: an append-only history of every alias change, with its evidence."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import select

from sentiment_mlops.config import LOOP_ENVIRONMENT
from sentiment_mlops.store.database import Database, dicts
from sentiment_mlops.store.schema import deployment_events, utcnow


class DeploymentAction(StrEnum):
    """What a deployment event did; the value is what the history stores."""

    PROMOTE = "promote"
    ROLLBACK = "rollback"
    AUTO_ROLLBACK = "auto-rollback"
    CANARY_START = "canary-start"
    CANARY_FINISH = "canary-finish"
    CANARY_ABORT = "canary-abort"
    SHADOW_START = "shadow-start"
    SHADOW_END = "shadow-end"


class LoopStep(StrEnum):
    """A step of the retraining loop (``monitor --watch --retrain``), recorded in the history under the
    environment ``LOOP_ENVIRONMENT`` so that no alias's history (bake windows, rollback targets) sees it.
    The alias changes the loop makes are ordinary promote / canary events beside them."""

    TRIGGERED = "loop-triggered"
    TRAINED = "loop-trained"
    AWAITING_APPROVAL = "loop-awaiting-approval"
    APPROVED = "loop-approved"
    PROMOTED = "loop-promoted"
    ROLLED_BACK = "loop-rolled-back"
    FAILED = "loop-failed"


# Steps after which a loop is over (the next one may start once the cooldown has passed).
LOOP_CLOSING_STEPS = frozenset({LoopStep.APPROVED, LoopStep.PROMOTED, LoopStep.ROLLED_BACK, LoopStep.FAILED})

# Actions that put a version into an environment, and those that undo the last such change.
DEPLOYING_ACTIONS = frozenset({DeploymentAction.PROMOTE, DeploymentAction.CANARY_FINISH})
UNDOING_ACTIONS = frozenset({DeploymentAction.ROLLBACK, DeploymentAction.AUTO_ROLLBACK})
ACTIONS = tuple(action.value for action in DeploymentAction)


__all__ = ["ACTIONS", "DEPLOYING_ACTIONS", "LOOP_CLOSING_STEPS", "LOOP_ENVIRONMENT", "UNDOING_ACTIONS",
           "DeploymentAction", "DeploymentLog", "LoopStep"]


class DeploymentLog(Database):
    """Append and read deployment events; events are never updated or deleted."""

    def record_deployment(self, *, environment: str, action: str, from_version: str | None = None,
                          to_version: str | None = None, actor: str | None = None, reason: str | None = None,
                          report: Mapping[str, object] | None = None, created_at: datetime | None = None) -> int:
        """Append a deployment event and return its id; ``report`` is the gate's or rollback's evidence (JSON).
        Events are never updated or deleted."""
        values = {"environment": environment, "action": action, "from_version": from_version,
                  "to_version": to_version, "actor": actor, "reason": reason, "report": report,
                  "created_at": created_at or utcnow()}
        if report is None:
            del values["report"]  # SQL NULL, not JSON null
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
