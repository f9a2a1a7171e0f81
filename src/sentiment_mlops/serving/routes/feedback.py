"""POST /feedback: the true label of a logged prediction, single ``{id, label}`` or ``{items: [...]}``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from sentiment_mlops.errors import NotFoundError
from sentiment_mlops.serving.auth import bearer_token, feedback_actor
from sentiment_mlops.serving.responses import OrjsonResponse
from sentiment_mlops.serving.schemas import (
    ErrorResponse,
    FeedbackRequest,
    FeedbackResponse,
    feedback_pairs,
)
from sentiment_mlops.serving.state import ServingState, serving_state

router = APIRouter(tags=["feedback"])
FLUSH_TIMEOUT_SECONDS = 5.0


def _record(state: ServingState, pairs: list[tuple[str, str]], actor: str) -> None:
    missing = [pid for pid, _ in pairs if state.store.get_prediction(pid) is None]
    if missing and state.writer is not None:
        # The id may still sit in the log queue (the response leaves before the row is written).
        state.writer.flush(FLUSH_TIMEOUT_SECONDS)
        missing = [pid for pid in missing if state.store.get_prediction(pid) is None]
    if missing:
        shown = ", ".join(missing[:5]) + (" …" if len(missing) > 5 else "")
        raise NotFoundError(f"no logged prediction with id {shown}; use the id a /predict response returned")
    for prediction_id, label in pairs:
        state.store.add_feedback(prediction_id, label, actor=actor)


@router.post("/feedback", response_model=FeedbackResponse, summary="Record the true label of a prediction",
             responses={401: {"model": ErrorResponse}, 403: {"model": ErrorResponse},
                        404: {"model": ErrorResponse}, 413: {"model": ErrorResponse},
                        422: {"model": ErrorResponse}})
async def feedback(body: Annotated[FeedbackRequest, Body()], request: Request) -> Response:
    """Needs ``Authorization: Bearer $SENTIMENT_MLOPS_FEEDBACK_TOKEN`` (or the admin token) unless the server
    runs with ``SENTIMENT_MLOPS_FEEDBACK_OPEN=true``; the label records which token gave it."""
    state = serving_state(request)
    actor = feedback_actor(bearer_token(request.headers.get("authorization")), state.settings)
    pairs: list[tuple[str, str]] = [(item.id, str(item.label)) for item in feedback_pairs(body)]
    await run_in_threadpool(_record, state, pairs, actor)
    return OrjsonResponse({"recorded": len(pairs), "ids": [pid for pid, _ in pairs]})
