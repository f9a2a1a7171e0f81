"""Request and response bodies of the HTTP API (DESIGN.md, "HTTP API").

Length limits are settings, so they are checked by ``limits.py`` and written into the OpenAPI document
by ``app.py``; the models here check types and shapes.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from sentiment_mlops.layout import LABELS

Label = Literal["negative", "neutral", "positive"]
if tuple(Label.__args__) != LABELS:  # type: ignore[attr-defined]
    raise RuntimeError("schemas.Label is out of step with layout.LABELS")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _has_content(value: str) -> str:
    if not value.strip():
        raise ValueError("must contain at least one non-whitespace character")
    return value


class PredictRequest(_Strict):
    text: str = Field(description="The text to classify (1 to max_text_length characters, not only whitespace).")

    _content = field_validator("text")(_has_content)


class BatchRequest(_Strict):
    texts: list[str] = Field(description="Texts to classify, scored by one model version.")

    @field_validator("texts")
    @classmethod
    def _each_has_content(cls, values: list[str]) -> list[str]:
        for position, value in enumerate(values):
            if not value.strip():
                raise ValueError(f"texts[{position}] must contain at least one non-whitespace character")
        return values


class TokenContribution(BaseModel):
    token: str
    contribution: float = Field(description="tf-idf weight x (log P(token|class) - mean over classes).")


class Explanation(BaseModel):
    label: str = Field(description="The class the contributions push toward (the predicted one).")
    tokens: list[TokenContribution]
    note: str | None = None


class Prediction(BaseModel):
    id: str = Field(description="Send it back with POST /feedback to record the true label.")
    sentiment: str
    confidence: float
    probabilities: dict[str, float]
    model_version: str
    environment: str
    explanation: Explanation | None = None


class BatchPrediction(BaseModel):
    predictions: list[Prediction]
    model_version: str


class MonitoringSummary(BaseModel):
    total_predictions: int
    sentiment_distribution: dict[str, int]
    mean_confidence: float | None


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    model_version: str | None
    environment: str
    monitoring: MonitoringSummary | None
    canary_version: str | None = None
    canary_percent: float = 0.0
    reason: str | None = None


class FeedbackItem(_Strict):
    id: str = Field(min_length=1, max_length=64)
    label: Label


class FeedbackRequest(BaseModel):
    """Either one ``{"id", "label"}`` or ``{"items": [{"id", "label"}, ...]}``."""

    model_config = ConfigDict(extra="forbid")
    id: str | None = Field(default=None, min_length=1, max_length=64)
    label: Label | None = None
    items: list[FeedbackItem] | None = Field(default=None, min_length=1, max_length=1000)

    @model_validator(mode="after")
    def _one_form(self) -> FeedbackRequest:
        single = self.id is not None or self.label is not None
        if self.items is not None and single:
            raise ValueError("send either {id, label} or {items: [...]}, not both")
        if self.items is None and (self.id is None or self.label is None):
            raise ValueError("both id and label are required (or items: [{id, label}, ...])")
        return self

    def pairs(self) -> list[FeedbackItem]:
        if self.items is not None:
            return self.items
        return [FeedbackItem(id=self.id or "", label=self.label or "neutral")]


class FeedbackResponse(BaseModel):
    recorded: int
    ids: list[str]


class ReloadResponse(BaseModel):
    changed: bool
    model_version: str | None
    canary_version: str | None
    canary_percent: float
    status: Literal["ok", "degraded"]
    reason: str | None = None


class ErrorResponse(BaseModel):
    detail: str
    errors: list[dict[str, object]] | None = None
