"""GET /metrics: Prometheus text format (all workers in multiprocess mode)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from sentiment_mlops.serving.state import serving_state

router = APIRouter(tags=["metrics"])


@router.get("/metrics", summary="Prometheus metrics", response_class=Response,
            responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}})
async def metrics(request: Request) -> Response:
    state = serving_state(request)
    if state.writer is not None:
        state.metrics.queue_depth.set(state.writer.depth)
    body, content_type = state.metrics.render()
    return Response(body, media_type=content_type)
