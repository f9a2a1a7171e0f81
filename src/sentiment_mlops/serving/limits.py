"""Input limits that are settings: text length and batch size (checked here, reported as 422 like
pydantic's), and what one HTTP request may take (enforced by ``http_guard``)."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi.exceptions import RequestValidationError


@dataclass(frozen=True)
class HttpLimits:
    """What one request may take: head size and field count, and the time to send the whole request."""

    max_header_bytes: int = 32 * 1024
    max_header_count: int = 100
    request_timeout: float = 10.0


def _error(loc: tuple[str | int, ...], msg: str, kind: str, limit: int) -> RequestValidationError:
    return RequestValidationError([{"type": kind, "loc": loc, "msg": msg, "ctx": {"limit": limit}}])


def check_text(text: str, max_length: int, loc: tuple[str | int, ...] = ("body", "text")) -> None:
    if len(text) > max_length:
        raise _error(loc, f"text has {len(text):,} characters; the limit is {max_length:,} "
                          "(SENTIMENT_MLOPS_MAX_TEXT_LENGTH)", "string_too_long", max_length)


def check_batch(texts: list[str], max_batch: int, max_length: int) -> None:
    if not texts:
        raise _error(("body", "texts"), "texts is empty; send between 1 and "
                                        f"{max_batch:,} texts", "too_short", 1)
    if len(texts) > max_batch:
        raise _error(("body", "texts"), f"texts has {len(texts):,} items; the limit is {max_batch:,} "
                                        "(SENTIMENT_MLOPS_MAX_BATCH_SIZE)", "too_long", max_batch)
    for position, text in enumerate(texts):
        check_text(text, max_length, ("body", "texts", position))
