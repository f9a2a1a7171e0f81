"""Request and error counts for the error-rate rule, read from the service's Prometheus exposition.

The prediction log holds only predictions that succeeded, so failed requests are counted where they are
seen: the ``sentiment_http_requests_total{route,method,status}`` counter of the serving app. The server's
own monitor loop reads its registry in process; ``monitor --watch --metrics-url URL`` scrapes ``/metrics``.
Counters are cumulative, so the tracker keeps timed samples and answers for a window by difference.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone

from prometheus_client.parser import text_string_to_metric_families

REQUESTS_METRIC = "sentiment_http_requests_total"
# Probes and scrapes would dilute the rate; they are not traffic a user sends.
IGNORED_ROUTES = frozenset({"/metrics", "/health"})
SERVER_ERROR = 500
MAX_SAMPLES = 10_000


@dataclass(frozen=True)
class RequestTotals:
    """Cumulative requests and server errors (HTTP 5xx) at one moment."""

    taken_at: datetime
    requests: int
    errors: int


def parse_request_totals(exposition: str, *, taken_at: datetime | None = None) -> RequestTotals:
    """Sum ``sentiment_http_requests_total`` over routes users call; errors are statuses ≥ 500."""
    requests = errors = 0.0
    for family in text_string_to_metric_families(exposition):
        # The parser names a counter family without its _total suffix.
        if family.name not in (REQUESTS_METRIC, REQUESTS_METRIC.removesuffix("_total")):
            continue
        for sample in family.samples:
            if not sample.name.endswith("_total") or sample.labels.get("route") in IGNORED_ROUTES:
                continue
            requests += sample.value
            status = sample.labels.get("status", "")
            if status.isdigit() and int(status) >= SERVER_ERROR:
                errors += sample.value
    return RequestTotals(taken_at or datetime.now(timezone.utc), int(requests), int(errors))


class RequestRateTracker:
    """Keeps timed samples of the counters; ``since(moment)`` gives requests and errors after ``moment``.

    ``read`` returns the exposition text (the app's registry, or an HTTP GET of ``/metrics``); a counter
    that went down means the server restarted, and the samples before it are dropped.
    """

    def __init__(self, read: Callable[[], str]) -> None:
        self.read = read
        self.samples: deque[RequestTotals] = deque(maxlen=MAX_SAMPLES)

    def sample(self, now: datetime | None = None) -> RequestTotals:
        totals = parse_request_totals(self.read(), taken_at=now)
        if self.samples and totals.requests < self.samples[-1].requests:
            self.samples.clear()
        self.samples.append(totals)
        return totals

    def since(self, moment: datetime | None) -> tuple[int, int] | None:
        """(requests, errors) from the last sample at or before ``moment`` (else the first one) to the latest.

        With a single sample (the monitor just started) the counts since the server started are the best
        evidence there is; None before any sample.
        """
        if not self.samples:
            return None
        latest = self.samples[-1]
        earlier = [s for s in self.samples if s is not latest]
        if not earlier:
            return latest.requests, latest.errors
        before = [s for s in earlier if moment is not None and s.taken_at <= moment]
        base = before[-1] if before else earlier[0]
        return latest.requests - base.requests, latest.errors - base.errors


def scrape(url: str, timeout: float = 5.0) -> Callable[[], str]:
    """A ``read`` function for ``RequestRateTracker`` that GETs a ``/metrics`` URL."""
    import httpx

    def read() -> str:
        response = httpx.get(url, timeout=timeout)
        response.raise_for_status()
        return response.text

    return read
