"""GET /health: the served version, whether the server is degraded (and why), and the store's summary."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from sentiment_mlops.errors import SentimentMLOpsError
from sentiment_mlops.serving.responses import OrjsonResponse
from sentiment_mlops.serving.schemas import Health
from sentiment_mlops.serving.state import serving_state

router = APIRouter(tags=["health"])
logger = logging.getLogger(__name__)


@router.get("/health", response_model=Health, summary="Served version, status and prediction summary")
async def health(request: Request) -> Response:
    state = serving_state(request)
    snapshot = state.holder.snapshot
    reason = state.holder.degraded_reason
    if snapshot.primary is None and reason is None:
        reason = "no model is loaded"
    if state.writer is not None and state.writer.failure is not None:
        journal = state.writer.journal
        where = f"; rows go to the journal in {journal.directory}" if journal is not None else ""
        reason = f"{reason}; " if reason else ""
        reason += f"prediction log: {state.writer.failure}{where}"
    monitoring = None
    try:
        monitoring = await run_in_threadpool(state.store.summary, state.environment)
    except SentimentMLOpsError as exc:
        logger.warning("store summary failed: %s", exc)
        reason = f"{reason}; " if reason else ""
        reason += f"prediction store unavailable: {exc}"
    return OrjsonResponse({
        "status": "degraded" if reason else "ok",
        "model_version": snapshot.primary.version if snapshot.primary else None,
        "environment": state.environment,
        "monitoring": monitoring,
        "canary_version": snapshot.canary.version if snapshot.canary else None,
        "canary_percent": snapshot.canary_percent,
        "reason": reason,
    })
