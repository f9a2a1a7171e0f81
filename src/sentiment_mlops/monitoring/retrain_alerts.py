"""The retraining loop's alerts: one stored alert and one message per decision (rule ``retrain_loop``)."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from sentiment_mlops.errors import SentimentMLOpsError
from sentiment_mlops.monitoring.channels import AlertChannel, AlertMessage

if TYPE_CHECKING:
    from sentiment_mlops.store import PredictionStore

logger = logging.getLogger(__name__)

RULE = "retrain_loop"


class LoopAlerts:
    """One stored alert and one message per loop decision (rule ``retrain_loop``)."""

    def __init__(self, store: PredictionStore, channels: Sequence[AlertChannel], environment: str) -> None:
        self.store = store
        self.channels = list(channels)
        self.environment = environment

    def send(self, step: str, message: str, *, severity: str = "info", version: str | None = None,
             event_id: int | None = None, details: Mapping[str, Any] | None = None) -> None:
        now = datetime.now(timezone.utc)
        body = {"step": step, "event_id": event_id, **(details or {})}
        failure = severity != "info"
        try:
            # A decision is a one-off event: stored resolved at once, except failures, which stay open until a
            # later loop completes.
            alert_id = self.store.record_alert(rule=RULE, severity=severity, environment=self.environment,
                                               model_version=version, status="firing" if failure else "resolved",
                                               message=message, details=body, created_at=now,
                                               resolved_at=None if failure else now)
        except SentimentMLOpsError as exc:
            logger.error("retrain loop alert not stored: %s", exc)
            alert_id = None
        text = AlertMessage(rule=RULE, status="firing", severity=severity, environment=self.environment,
                            model_version=version, message=message, alert_id=alert_id,
                            created_at=now.isoformat(), details=body)
        for channel in self.channels:
            try:
                channel.send(text)
            except Exception:  # one broken channel must not silence the others; the log has the traceback
                logger.exception("alert channel %s failed", type(channel).__name__)

    def resolve_failures(self) -> None:
        open_alert = self.store.open_alert(RULE, self.environment)
        while open_alert is not None:
            self.store.resolve_alert(int(open_alert["id"]))
            open_alert = self.store.open_alert(RULE, self.environment)

    def close(self, timeout: float = 5.0) -> None:
        for channel in self.channels:
            channel.close(timeout)
