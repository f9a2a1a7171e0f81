"""What the lifespan hands every request (``request.state``): the shared resources of one server process."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from sentiment_mlops.config import Settings
from sentiment_mlops.serving.metrics import ServingMetrics
from sentiment_mlops.serving.model_holder import ModelHolder
from sentiment_mlops.serving.poller import ModelPoller
from sentiment_mlops.serving.prediction_log import PredictionLogWriter
from sentiment_mlops.serving.shadow import ShadowScorer

if TYPE_CHECKING:
    from sentiment_mlops.store import PredictionStore


@dataclass
class ServingState:
    """Shared resources of one app, built in ``create_app``'s lifespan."""

    settings: Settings
    environment: str
    holder: ModelHolder
    poller: ModelPoller
    store: PredictionStore
    metrics: ServingMetrics
    writer: PredictionLogWriter | None  # None when SENTIMENT_MLOPS_LOG_PREDICTIONS=false
    shadow: ShadowScorer | None = None  # scores production's shadow off the request path (serving.shadow)

    async def log(self, rows: list[dict[str, Any]]) -> None:
        """Queue rows for the writer; wait in a worker thread (not the event loop) when the queue is full."""
        if self.writer is None:
            return
        rest = self.writer.try_put_many(rows)
        if rest:
            self.metrics.backpressure_waits.inc()
            await run_in_threadpool(self.writer.put_many, rest)


def serving_state(request: Request) -> ServingState:
    return request.state.serving  # type: ignore[no-any-return]
