"""Turn rule outcomes into stored alerts and messages: one alert per condition, a resolved message when it clears.

For each (rule, environment):
- firing with no open alert: store a new alert and notify, unless the last alert of that rule resolved less
  than ``cooldown`` ago (a flapping condition notifies once per cooldown, not once per evaluation);
- firing with an open alert: nothing new is stored; a reminder goes out once per ``cooldown``. An open alert
  that another component stored (the serving poller stores ``model_load_failed``) is announced once;
- ok with an open alert: resolve it and send the resolved message (also when another component resolved an
  alert this notifier announced);
- unknown (too little data): leave everything as it is.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Protocol

from sentiment_mlops.errors import SentimentMLOpsError
from sentiment_mlops.monitoring.alerts import RuleOutcome
from sentiment_mlops.monitoring.channels import AlertChannel, AlertMessage
from sentiment_mlops.monitoring.performance import as_utc

logger = logging.getLogger("sentiment_mlops.alerts")


class AlertStore(Protocol):
    """The alert methods of ``store.PredictionStore``."""

    def record_alert(self, *, rule: str, severity: str, message: str, environment: str | None = None,
                     model_version: str | None = None, status: str = "firing",
                     details: Mapping[str, object] | None = None, created_at: datetime | None = None,
                     resolved_at: datetime | None = None) -> int: ...
    def resolve_alert(self, alert_id: int) -> None: ...
    def open_alert(self, rule: str, environment: str | None) -> dict[str, Any] | None: ...
    def latest_alert(self, rule: str, environment: str | None, *, status: str) -> dict[str, Any] | None: ...


@dataclass
class _Announced:
    alert_id: int
    notified_at: datetime


@dataclass(frozen=True)
class Transition:
    """What ``AlertNotifier.process`` did for one outcome (``kind``: fired, reminded, resolved, suppressed)."""

    rule: str
    kind: str
    alert_id: int | None
    message: AlertMessage | None


class AlertNotifier:
    """Deduplicates outcomes with a cooldown, stores every alert, and fans messages out to channels."""

    def __init__(self, store: AlertStore, channels: Sequence[AlertChannel], *, cooldown_seconds: float,
                 clock: Callable[[], datetime] | None = None) -> None:
        self.store = store
        self.channels = list(channels)
        self.cooldown = timedelta(seconds=cooldown_seconds)
        self._clock = clock or (lambda: datetime.now(timezone.utc))
        self._announced: dict[tuple[str, str | None], _Announced] = {}
        self._resolved_at: dict[tuple[str, str | None], datetime] = {}

    def process(self, outcomes: Iterable[RuleOutcome], *, environment: str,
                model_version: str | None) -> list[Transition]:
        """Apply one evaluation's outcomes; returns what changed (empty when nothing did)."""
        now = self._clock()
        transitions: list[Transition] = []
        for outcome in outcomes:
            if outcome.status == "unknown":
                continue
            try:
                step = self._step(outcome, environment, model_version, now)
            except SentimentMLOpsError as exc:  # a store outage must not stop the other rules or the loop
                logger.error("alert %s for %s not processed: %s", outcome.rule, environment, exc)
                continue
            if step is not None:
                transitions.append(step)
                if step.message is not None:
                    self._notify(step.message)
        return transitions

    def close(self, timeout: float = 5.0) -> None:
        for channel in self.channels:
            channel.close(timeout)

    # -- decisions ------------------------------------------------------------------------------------
    def _step(self, outcome: RuleOutcome, environment: str, model_version: str | None,
              now: datetime) -> Transition | None:
        key = (outcome.rule, environment)
        current = self.store.open_alert(outcome.rule, environment)
        announced = self._announced.get(key)
        if outcome.firing:
            if current is None:
                return self._fire(outcome, environment, model_version, now)
            if announced is None or announced.alert_id != current["id"]:
                self._announced[key] = _Announced(current["id"], now)
                return Transition(outcome.rule, "fired", current["id"],
                                  self._message(outcome, "firing", environment, model_version, current))
            if now - announced.notified_at >= self.cooldown:
                announced.notified_at = now
                return Transition(outcome.rule, "reminded", current["id"],
                                  self._message(outcome, "firing", environment, model_version, current,
                                                reminder=True))
            return None
        if current is not None:
            self.store.resolve_alert(current["id"])
            self._announced.pop(key, None)
            self._resolved_at[key] = now
            return Transition(outcome.rule, "resolved", current["id"],
                              self._message(outcome, "resolved", environment, model_version, current))
        if announced is not None:  # resolved by another component (e.g. the poller after a good load)
            self._announced.pop(key, None)
            return Transition(outcome.rule, "resolved", announced.alert_id,
                              self._message(outcome, "resolved", environment, model_version, None,
                                            alert_id=announced.alert_id))
        return None

    def _fire(self, outcome: RuleOutcome, environment: str, model_version: str | None,
              now: datetime) -> Transition:
        recent = None if outcome.event else self._recently_resolved(outcome.rule, environment, now)
        if recent is not None:
            logger.info("alert %s for %s suppressed: the last one resolved at %s, within the %s cooldown",
                        outcome.rule, environment, recent, self.cooldown)
            return Transition(outcome.rule, "suppressed", None, None)
        details = {**outcome.details, "value": outcome.value, "threshold": outcome.threshold}
        alert_id = self.store.record_alert(rule=outcome.rule, severity=outcome.severity, environment=environment,
                                           model_version=model_version, status="firing", message=outcome.message,
                                           details=details, created_at=now)
        self._announced[(outcome.rule, environment)] = _Announced(alert_id, now)
        return Transition(outcome.rule, "fired", alert_id,
                          self._message(outcome, "firing", environment, model_version,
                                        {"id": alert_id, "created_at": now}))

    def _recently_resolved(self, rule: str, environment: str, now: datetime) -> datetime | None:
        # This process's own resolutions first; the store covers a restart or another monitor process.
        mine = self._resolved_at.get((rule, environment))
        if mine is not None:
            return mine if now - mine < self.cooldown else None
        alert = self.store.latest_alert(rule, environment, status="resolved")
        if alert is None or not alert.get("resolved_at"):
            return None
        resolved_at = as_utc(alert["resolved_at"])
        return resolved_at if now - resolved_at < self.cooldown else None

    # -- delivery -------------------------------------------------------------------------------------
    @staticmethod
    def _message(outcome: RuleOutcome, status: str, environment: str, model_version: str | None,
                 alert: dict[str, Any] | None, *, reminder: bool = False, alert_id: int | None = None
                 ) -> AlertMessage:
        created = alert.get("created_at") if alert else None
        return AlertMessage(
            rule=outcome.rule, status=status, severity=outcome.severity, environment=environment,
            model_version=model_version, message=outcome.message,
            alert_id=alert["id"] if alert else alert_id,
            created_at=created.isoformat() if isinstance(created, datetime) else created,
            details={**outcome.details, "value": outcome.value, "threshold": outcome.threshold},
            reminder=reminder,
        )

    def _notify(self, message: AlertMessage) -> None:
        for channel in self.channels:
            try:
                channel.send(message)
            except Exception:  # one broken channel must not silence the others; the log has the traceback
                logger.exception("alert channel %s failed", type(channel).__name__)
