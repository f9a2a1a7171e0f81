"""POST /predict and POST /predict/batch: score, answer, and queue one log row per text."""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from sentiment_mlops.serving.limits import check_batch, check_text
from sentiment_mlops.serving.model_holder import ServedModel
from sentiment_mlops.serving.prediction_log import prediction_row
from sentiment_mlops.serving.responses import OrjsonResponse
from sentiment_mlops.serving.schemas import BatchPrediction, BatchRequest, ErrorResponse, Prediction, PredictRequest
from sentiment_mlops.serving.state import ServingState, serving_state
from sentiment_mlops.store.rows import new_prediction_id

router = APIRouter(tags=["predict"])

ERRORS: dict[int | str, dict[str, Any]] = {
    413: {"model": ErrorResponse, "description": "Body over SENTIMENT_MLOPS_MAX_BODY_BYTES."},
    422: {"model": ErrorResponse, "description": "Invalid input; `detail` names the field and the limit."},
    503: {"model": ErrorResponse, "description": "No model loaded; `detail` says how to train and promote one."},
}


def _score(state: ServingState, model: ServedModel, texts: list[str], route: str,
           started: float) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Response items and log rows for ``texts``, all scored by ``model``."""
    classes = model.classes
    matrix = model.scorer.predict_proba(texts)
    latency_ms = (time.perf_counter() - started) * 1000.0 / len(texts)
    items: list[dict[str, Any]] = []
    rows: list[dict[str, Any]] = []
    log_text = state.settings.log_text
    for text, probabilities in zip(texts, matrix.tolist(), strict=True):
        best = max(range(len(probabilities)), key=probabilities.__getitem__)
        by_label = dict(zip(classes, probabilities, strict=True))
        prediction_id = new_prediction_id()
        items.append({"id": prediction_id, "sentiment": classes[best], "confidence": probabilities[best],
                      "probabilities": by_label, "model_version": model.version,
                      "environment": state.environment})
        if state.writer is not None:
            rows.append(prediction_row(prediction_id=prediction_id, text=text, log_text=log_text,
                                       environment=state.environment, model_version=model.version,
                                       sentiment=classes[best], confidence=probabilities[best],
                                       probabilities=by_label, latency_ms=latency_ms, route=route))
    state.metrics.observe_predictions(model.version, [i["sentiment"] for i in items],
                                      [i["confidence"] for i in items])
    return items, rows


@router.post("/predict", response_model=Prediction, responses=ERRORS, summary="Classify one text")
async def predict(body: PredictRequest, request: Request,
                  explain: Annotated[bool, Query(description="Add the tokens that pushed the decision most.")] = False,
                  ) -> Response:
    started = time.perf_counter()
    state = serving_state(request)
    check_text(body.text, state.settings.max_text_length)
    model = state.holder.choose()
    items, rows = _score(state, model, [body.text], "/predict", started)
    item = items[0]
    if explain:
        explanation = model.scorer.explain(body.text)
        item["explanation"] = {"label": explanation.label, "note": explanation.note,
                               "tokens": [{"token": t.token, "contribution": t.contribution}
                                          for t in explanation.tokens]}
    if state.shadow is not None:  # a mark on the rows or a queue put: the shadow scores elsewhere, after this answer
        state.shadow.offer(state.holder.snapshot, [body.text], [item["id"]], "/predict", rows)
    await state.log(rows)
    return OrjsonResponse(item)


@router.post("/predict/batch", response_model=BatchPrediction, responses=ERRORS,
             summary="Classify up to max_batch_size texts with one model version")
async def predict_batch(body: BatchRequest, request: Request) -> Response:
    started = time.perf_counter()
    state = serving_state(request)
    check_batch(body.texts, state.settings.max_batch_size, state.settings.max_text_length)
    model = state.holder.choose()  # one reference for the whole batch, whatever the poller swaps meanwhile
    if len(body.texts) > 32:  # a large batch takes milliseconds of CPU: keep the event loop answering
        items, rows = await run_in_threadpool(_score, state, model, body.texts, "/predict/batch", started)
    else:
        items, rows = _score(state, model, body.texts, "/predict/batch", started)
    if state.shadow is not None:
        state.shadow.offer(state.holder.snapshot, body.texts, [item["id"] for item in items], "/predict/batch", rows)
    await state.log(rows)
    return OrjsonResponse({"predictions": items, "model_version": model.version})
