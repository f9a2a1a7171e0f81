"""Request and response bodies of the HTTP API (DESIGN.md, "HTTP API").

Length limits are settings, so they are checked by ``limits.py`` and written into the OpenAPI document
by ``app.py``; the models here check types and shapes.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, field_validator

from sentiment_mlops.layout import LABELS

Label = Literal["negative", "neutral", "positive"]
if tuple(Label.__args__) != LABELS:  # type: ignore[attr-defined]
    raise RuntimeError("schemas.Label is out of step with layout.LABELS")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# Every character ``str.isspace`` (and so ``str.strip``) counts as whitespace, spelled out: JSON Schema's
# ``\S`` is ECMAScript's, which differs from Python's (it keeps U+001C-U+001F and U+0085, drops U+FEFF),
# so a text of U+001E matched the schema's ``\S`` and was refused by validation. The test
# ``tests/unit/serving/test_openapi_contract.py`` checks this class against ``str.isspace``.
WHITESPACE_CLASS = (r"\t-\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000")
# A text is valid when it holds a character outside that class: the schema's pattern for every text.
CONTENT_PATTERN = f"[^{WHITESPACE_CLASS}]"


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


class FeedbackBatch(_Strict):
    items: list[FeedbackItem] = Field(min_length=1, max_length=1000)


def _feedback_form(body: object) -> str:
    if isinstance(body, dict):
        return "batch" if "items" in body else "single"
    return "batch" if isinstance(body, FeedbackBatch) else "single"


# Either one ``{"id", "label"}`` or ``{"items": [{"id", "label"}, ...]}``: two exact shapes (no nulls, no
# mixture), so the OpenAPI schema is the validation. The form is chosen by the ``items`` key, and errors
# are reported against that form only.
FeedbackRequest = Annotated[Annotated[FeedbackItem, Tag("single")] | Annotated[FeedbackBatch, Tag("batch")],
                            Discriminator(_feedback_form)]


def feedback_pairs(body: FeedbackItem | FeedbackBatch) -> list[FeedbackItem]:
    return body.items if isinstance(body, FeedbackBatch) else [body]


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
