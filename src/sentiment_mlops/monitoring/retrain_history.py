"""The retraining loop as the deployment history tells it: the current loop's state and each loop's timeline.

The history is the loop's only state (``monitoring.retrain``): these pure functions read it back, for the loop
itself, for ``promote --approve`` in another process, and for the dashboard's timeline.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sentiment_mlops.monitoring.performance import as_utc
from sentiment_mlops.store.deployments import LOOP_CLOSING_STEPS, LOOP_ENVIRONMENT, DeploymentAction, LoopStep

ROLLOUT_STARTS = frozenset({DeploymentAction.CANARY_START, DeploymentAction.SHADOW_START})

# Who records the loop's own steps and alias changes (the approval's are recorded by whoever approved).
LOOP_ACTOR = "sentiment-mlops-retrain-loop"


@dataclass(frozen=True)
class LoopCycle:
    """One loop as the history tells it."""

    triggered_id: int
    triggered_at: datetime
    version: str | None = None
    rollout_started_at: datetime | None = None  # the loop's canary or shadow started
    awaiting_id: int | None = None
    closed_by: str | None = None

    @property
    def closed(self) -> bool:
        return self.closed_by is not None


def _cycle_of(event: Mapping[str, Any]) -> int | None:
    report = event.get("report")
    cycle = report.get("cycle") if isinstance(report, dict) else None
    return int(cycle) if isinstance(cycle, int) else None


def current_cycle(events: Sequence[Mapping[str, Any]]) -> LoopCycle | None:
    """The latest loop in ``events`` (history rows, oldest first), open or closed; None before the first.

    >>> from datetime import timezone
    >>> t = datetime(2026, 11, 30, tzinfo=timezone.utc)
    >>> rows = [{"id": 1, "environment": "loop", "action": "loop-triggered", "created_at": t, "report": {}},
    ...         {"id": 2, "environment": "loop", "action": "loop-trained", "to_version": "2", "created_at": t,
    ...          "report": {"cycle": 1}},
    ...         {"id": 3, "environment": "canary", "action": "canary-start", "to_version": "2", "created_at": t}]
    >>> cycle = current_cycle(rows)
    >>> cycle.version, cycle.rollout_started_at is not None, cycle.closed
    ('2', True, False)
    """
    cycle: LoopCycle | None = None
    for event in events:
        action = event.get("action")
        if event.get("environment") == LOOP_ENVIRONMENT and action == LoopStep.TRIGGERED:
            cycle = LoopCycle(triggered_id=int(event["id"]), triggered_at=as_utc(event["created_at"]))
            continue
        if cycle is None or cycle.closed:
            continue
        if event.get("environment") == LOOP_ENVIRONMENT and _cycle_of(event) == cycle.triggered_id:
            if action == LoopStep.TRAINED:
                cycle = _replace(cycle, version=str(event.get("to_version")))
            elif action == LoopStep.AWAITING_APPROVAL:
                cycle = _replace(cycle, awaiting_id=int(event["id"]))
            elif action in LOOP_CLOSING_STEPS:
                cycle = _replace(cycle, closed_by=str(action))
        elif (action in ROLLOUT_STARTS and cycle.version is not None
              and str(event.get("to_version")) == cycle.version):
            cycle = _replace(cycle, rollout_started_at=as_utc(event["created_at"]))
    return cycle


def loop_timeline(events: Sequence[Mapping[str, Any]], *, limit: int = 10) -> list[dict[str, Any]]:
    """The last ``limit`` loops, newest first, each with its steps in order: the loop's own events and the alias
    changes it made (promote, canary; recorded by the loop's actor or naming the loop in their reason).

    >>> from datetime import timezone
    >>> t = datetime(2026, 11, 30, tzinfo=timezone.utc)
    >>> rows = [{"id": 1, "environment": "loop", "action": "loop-triggered", "created_at": t, "report": {}},
    ...         {"id": 2, "environment": "staging", "action": "promote", "to_version": "2", "created_at": t,
    ...          "actor": LOOP_ACTOR, "reason": "retrain loop 1"},
    ...         {"id": 3, "environment": "loop", "action": "loop-failed", "created_at": t, "report": {"cycle": 1}}]
    >>> [(c["loop"], c["status"], [s["action"] for s in c["steps"]]) for c in loop_timeline(rows)]
    [(1, 'loop-failed', ['loop-triggered', 'promote', 'loop-failed'])]
    """
    loops: list[dict[str, Any]] = []
    for event in events:
        environment, action = event.get("environment"), event.get("action")
        if environment == LOOP_ENVIRONMENT and action == LoopStep.TRIGGERED:
            loops.append({"loop": int(event["id"]), "started_at": event.get("created_at"), "status": "running",
                          "steps": []})
        if not loops:
            continue
        current = loops[-1]
        ours = environment == LOOP_ENVIRONMENT and (action == LoopStep.TRIGGERED or _cycle_of(event) == current["loop"])
        made = environment != LOOP_ENVIRONMENT and (event.get("actor") == LOOP_ACTOR or
                                                    f"retrain loop {current['loop']}" in str(event.get("reason") or ""))
        if current["status"] in LOOP_CLOSING_STEPS or not (ours or made):
            continue
        current["steps"].append({key: event.get(key) for key in ("id", "created_at", "environment", "action",
                                                                 "from_version", "to_version", "actor", "reason")})
        if ours and action in LOOP_CLOSING_STEPS:
            current["status"] = str(action)
        elif ours and action == LoopStep.AWAITING_APPROVAL:
            current["status"] = "awaiting approval"
    return loops[::-1][:limit]


def _replace(cycle: LoopCycle, **changes: Any) -> LoopCycle:
    return replace(cycle, **changes)
