"""Where alert messages go: the log, and a webhook posted from a background thread.

``WebhookChannel.send`` only puts the message on a bounded queue and returns: a slow or dead receiver can
delay alerts, never a request or the monitor loop. The body is JSON with a Slack-compatible ``text`` field
plus the structured alert, so the same URL works for a Slack incoming webhook and for a custom receiver.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

from sentiment_mlops.config import webhook_display

logger = logging.getLogger("sentiment_mlops.alerts")

WEBHOOK_TIMEOUT_SECONDS = 5.0
WEBHOOK_ATTEMPTS = 4
WEBHOOK_BACKOFF_SECONDS = 0.5  # doubled after each failed attempt: 0.5, 1, 2
WEBHOOK_QUEUE_SIZE = 1000


@dataclass(frozen=True)
class AlertMessage:
    """One notification: an alert that started firing, is still firing, or resolved."""

    rule: str
    status: str  # "firing" | "resolved"
    severity: str
    environment: str | None
    model_version: str | None
    message: str
    alert_id: int | None = None
    created_at: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    reminder: bool = False

    @property
    def text(self) -> str:
        """The one line a person reads in Slack or the log."""
        if self.status == "resolved":
            head = f"[RESOLVED] {self.rule}"
        else:
            head = f"[{'STILL FIRING' if self.reminder else 'FIRING'}:{self.severity.upper()}] {self.rule}"
        return f"{head} ({self.environment}): {self.message}"

    def payload(self) -> dict[str, Any]:
        """The webhook body: Slack's ``text`` plus every field for machines."""
        return {"text": self.text, "rule": self.rule, "status": self.status, "severity": self.severity,
                "environment": self.environment, "model_version": self.model_version, "message": self.message,
                "alert_id": self.alert_id, "created_at": self.created_at, "reminder": self.reminder,
                "details": self.details}


class AlertChannel(Protocol):
    """Anything that can take an alert message without blocking."""

    def send(self, message: AlertMessage) -> None: ...
    def close(self, timeout: float = 5.0) -> None: ...


class LogChannel:
    """Alerts as log records of the ``sentiment_mlops.alerts`` logger (WARNING firing, INFO resolved)."""

    def send(self, message: AlertMessage) -> None:
        level = logging.INFO if message.status == "resolved" else logging.WARNING
        logger.log(level, "%s", message.text)

    def close(self, timeout: float = 5.0) -> None:
        return None


class WebhookChannel:
    """POST each message as JSON to ``url`` from one daemon thread, with retries and a timeout.

    A 2xx response is delivery; a 4xx other than 408/429 is a permanent refusal (logged, not retried);
    anything else (5xx, timeout, refused connection) is retried ``attempts`` times in all with exponential
    backoff. When the queue is full the message is dropped with an error in the log.
    """

    def __init__(self, url: str, *, timeout: float = WEBHOOK_TIMEOUT_SECONDS, attempts: int = WEBHOOK_ATTEMPTS,
                 backoff: float = WEBHOOK_BACKOFF_SECONDS, queue_size: int = WEBHOOK_QUEUE_SIZE) -> None:
        if not url.startswith(("http://", "https://")):
            from sentiment_mlops.errors import ConfigurationError

            raise ConfigurationError(f"SENTIMENT_MLOPS_ALERT_WEBHOOK must be an http(s) URL, got {url!r}")
        if attempts < 1:
            raise ValueError(f"attempts must be at least 1, got {attempts}")
        self.url = url
        self.timeout = timeout
        self.attempts = attempts
        self.backoff = backoff
        self.delivered = 0
        self.failed = 0
        self._queue: queue.Queue[AlertMessage | None] = queue.Queue(maxsize=queue_size)
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="alert-webhook", daemon=True)
        self._thread.start()

    def send(self, message: AlertMessage) -> None:
        try:
            self._queue.put_nowait(message)
        except queue.Full:
            self.failed += 1
            logger.error("alert webhook queue is full (%d); dropped: %s", self._queue.maxsize, message.text)

    def flush(self, timeout: float) -> bool:
        """Wait until every queued message was delivered or given up on; False on timeout."""
        deadline = time.monotonic() + timeout
        while self._queue.unfinished_tasks:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)
        return True

    def close(self, timeout: float = 5.0) -> None:
        """Deliver what is queued (for up to ``timeout`` seconds), then stop the thread."""
        try:
            self._queue.put(None, timeout=timeout)
        except queue.Full:
            pass
        self._thread.join(timeout)
        self._stopping.set()

    def _run(self) -> None:
        with httpx.Client(timeout=self.timeout) as client:
            while True:
                message = self._queue.get()
                try:
                    if message is None:
                        return
                    if self._deliver(client, message):
                        self.delivered += 1
                    else:
                        self.failed += 1
                finally:
                    self._queue.task_done()

    def _deliver(self, client: httpx.Client, message: AlertMessage) -> bool:
        delay = self.backoff
        for attempt in range(1, self.attempts + 1):
            try:
                response = client.post(self.url, json=message.payload())
            except httpx.HTTPError as exc:
                problem = f"{type(exc).__name__}: {exc}"
            else:
                if response.is_success:
                    return True
                problem = f"HTTP {response.status_code}"
                if 400 <= response.status_code < 500 and response.status_code not in (408, 429):
                    logger.error("alert webhook %s refused %s (%s); not retrying", webhook_display(self.url),
                                 message.rule, problem)
                    return False
            if attempt < self.attempts:
                logger.warning("alert webhook attempt %d/%d failed (%s); retrying in %.1f s", attempt,
                               self.attempts, problem, delay)
                if self._stopping.wait(delay):
                    break
                delay *= 2
            else:
                logger.error("alert webhook gave up on %s after %d attempts: %s", message.rule, self.attempts,
                             problem)
        return False


def default_channels(webhook_url: str | None) -> list[AlertChannel]:
    """The log always; the webhook when ``SENTIMENT_MLOPS_ALERT_WEBHOOK`` is set."""
    channels: list[AlertChannel] = [LogChannel()]
    if webhook_url:
        channels.append(WebhookChannel(webhook_url))
    return channels

