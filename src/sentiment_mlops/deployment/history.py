"""The deployment history: typed events read from the store, and what "the version before" means.

The store's ``deployment_events`` table is append-only; everything here is derived from it by pure
functions, so the answer to "what was in production before?" never depends on mutable state.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sentiment_mlops.store import PredictionStore

from sentiment_mlops.store.deployments import ACTIONS, DEPLOYING_ACTIONS, UNDOING_ACTIONS, DeploymentAction

__all__ = ["ACTIONS", "DEPLOYING_ACTIONS", "UNDOING_ACTIONS", "DeploymentAction", "DeploymentEvent", "previous_version",
           "read_history", "version_stack"]



@dataclass(frozen=True)
class DeploymentEvent:
    """One row of the history."""

    id: int | None
    created_at: datetime | None
    environment: str
    action: str
    from_version: str | None
    to_version: str | None
    actor: str | None
    reason: str | None
    report: dict[str, Any] | None

    @property
    def gate_verdict(self) -> str | None:
        """``pass``, ``fail`` or ``forced`` when the event carries a gate report, else None."""
        if isinstance(self.report, dict):
            verdict = self.report.get("verdict")
            return str(verdict) if verdict is not None else None
        return None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> DeploymentEvent:
        report = row.get("report")
        if isinstance(report, str):
            # A store that keeps JSON as text (or an older row) hands back a string.
            try:
                report = json.loads(report)
            except ValueError:
                report = {"text": report}
        return cls(
            id=row.get("id"),
            created_at=row.get("created_at"),
            environment=str(row.get("environment")),
            action=str(row.get("action")),
            from_version=None if row.get("from_version") is None else str(row["from_version"]),
            to_version=None if row.get("to_version") is None else str(row["to_version"]),
            actor=row.get("actor"),
            reason=row.get("reason"),
            report=report if isinstance(report, dict) or report is None else {"value": report},
        )


def read_history(store: PredictionStore, environment: str | None = None,
                 limit: int | None = None) -> list[DeploymentEvent]:
    """Events oldest first, optionally for one environment and only the last ``limit``."""
    rows = store.deployment_events(environment=environment, limit=limit)
    return [DeploymentEvent.from_row(row) for row in rows]


def version_stack(events: Iterable[DeploymentEvent], environment: str) -> list[str]:
    """The versions ``environment`` went through, oldest first, with undone ones removed.

    A promotion pushes its version; a rollback pops back down to its target (or pushes a target that was
    never there, e.g. ``rollback --to 1`` when 1 came in before the history began). So three promotions
    1, 2, 3 and then two rollbacks walk 3 → 2 → 1 instead of flip-flopping between 3 and 2.

    >>> e = [DeploymentEvent(None, None, "production", a, f, t, None, None, None)
    ...      for a, f, t in [("promote", None, "1"), ("promote", "1", "2"), ("promote", "2", "3"),
    ...                      ("rollback", "3", "2")]]
    >>> version_stack(e, "production")
    ['1', '2']
    """
    stack: list[str] = []
    for event in events:
        if event.environment != environment or event.to_version is None:
            continue
        if event.action in DEPLOYING_ACTIONS:
            if not stack or stack[-1] != event.to_version:
                stack.append(event.to_version)
        elif event.action in UNDOING_ACTIONS:
            if event.to_version in stack:
                while stack[-1] != event.to_version:
                    stack.pop()
            else:
                stack.append(event.to_version)
    return stack


def previous_version(events: Sequence[DeploymentEvent], environment: str, current: str | None) -> str | None:
    """The version ``environment`` had before ``current``, according to the history; None when there is none.

    When the alias was moved outside this tool (so ``current`` is not the last recorded version), the last
    recorded version is the one to go back to.
    """
    stack = version_stack(events, environment)
    if not stack:
        return None
    if stack[-1] != current:
        return stack[-1]
    return stack[-2] if len(stack) >= 2 else None


def recorded_version(events: Sequence[DeploymentEvent], environment: str) -> str | None:
    """The version the history says ``environment``'s alias points at now (None: unset).

    >>> e = [DeploymentEvent(None, None, env, a, f, t, None, None, None)
    ...      for env, a, f, t in [("production", "promote", None, "1"), ("canary", "canary-start", "1", "2"),
    ...                           ("production", "canary-finish", "1", "2")]]
    >>> recorded_version(e, "production"), recorded_version(e, "canary")
    ('2', None)
    """
    recorded: str | None = None
    for event in events:
        if environment == "canary":
            if event.environment == "canary":
                recorded = event.to_version if event.action == DeploymentAction.CANARY_START else None
            elif event.action == DeploymentAction.CANARY_FINISH:
                recorded = None
        elif event.environment == environment:
            recorded = event.to_version
    return recorded


@dataclass(frozen=True)
class AliasDisagreement:
    """An alias whose registry value differs from what the deployment history recorded last."""

    environment: str
    registry_version: str | None
    history_version: str | None

    def __str__(self) -> str:
        return (f"{self.environment}: the registry says {self.registry_version or 'unset'}, the history says "
                f"{self.history_version or 'unset'}")


def verify_history(events: Sequence[DeploymentEvent],
                   aliases: dict[str, str | None]) -> list[AliasDisagreement]:
    """Every alias in ``aliases`` (name -> the registry's version) that the history disagrees with.

    An environment with no event at all is only compared when its alias is set (a store that never saw a
    deployment and a registry without aliases agree).
    """
    found = []
    for environment, registry_version in aliases.items():
        history_version = recorded_version(events, environment)
        if registry_version != history_version:
            found.append(AliasDisagreement(environment, registry_version, history_version))
    return found
