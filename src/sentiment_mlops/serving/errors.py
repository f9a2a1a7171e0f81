"""The one place that turns exceptions into HTTP responses: ``{"detail": ...}`` with the right status.

Routes, the dashboard's included, raise the domain errors of ``sentiment_mlops.errors``; the table below
decides their status, so one error has one status across the whole app.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from sentiment_mlops.errors import (
    ConfigurationError,
    ConflictError,
    DataError,
    ForbiddenError,
    IntegrityError,
    InvalidRequestError,
    ModelNotFoundError,
    NotFoundError,
    RegistryError,
    SentimentMLOpsError,
    StoreError,
    UnauthorizedError,
    VersionNotFoundError,
)
from sentiment_mlops.serving.responses import OrjsonResponse

logger = logging.getLogger(__name__)
FASTAPI_BODY_PARSE_ERROR = "There was an error parsing the body"

# Most specific first: the first isinstance match decides.
STATUS_BY_ERROR: tuple[tuple[type[SentimentMLOpsError], int], ...] = (
    (UnauthorizedError, 401),
    (ForbiddenError, 403),
    (NotFoundError, 404),
    (VersionNotFoundError, 404),
    (ModelNotFoundError, 503),
    (IntegrityError, 503),
    (RegistryError, 503),
    (StoreError, 503),
    (ConflictError, 409),
    (DataError, 422),
    (ConfigurationError, 422),
    (InvalidRequestError, 422),
)
# A 401 says how to authenticate (RFC 9110 §11.6.1).
HEADERS_BY_ERROR: tuple[tuple[type[SentimentMLOpsError], dict[str, str]], ...] = (
    (UnauthorizedError, {"WWW-Authenticate": "Bearer"}),
)


def status_for(exc: SentimentMLOpsError) -> int:
    for kind, status in STATUS_BY_ERROR:
        if isinstance(exc, kind):
            return status
    return 500


def headers_for(exc: SentimentMLOpsError) -> dict[str, str] | None:
    for kind, headers in HEADERS_BY_ERROR:
        if isinstance(exc, kind):
            return headers
    return None


def _location(loc: Any) -> str:
    return ".".join(str(part) for part in loc) or "body"


def validation_errors(errors: Any) -> list[dict[str, Any]]:
    """pydantic's errors without the raw input (it can be huge or not JSON-serialisable)."""
    out = []
    for error in errors:
        item: dict[str, Any] = {"loc": [str(p) for p in error.get("loc", ())], "msg": str(error.get("msg", "")),
                                "type": str(error.get("type", ""))}
        ctx = error.get("ctx")
        if ctx:
            item["ctx"] = {k: v if isinstance(v, int | float | str | bool) else str(v) for k, v in ctx.items()}
        out.append(item)
    return out


def _describe(error: dict[str, Any]) -> str:
    if error["type"] == "json_invalid":
        where = error["loc"][1] if len(error["loc"]) > 1 else "?"
        reason = error.get("ctx", {}).get("error", "invalid JSON")
        return f"body: malformed JSON at character {where}: {reason}"
    # pydantic prefixes messages raised by our validators with "Value error, ": noise to a client.
    return f"{_location(error['loc'])}: {error['msg'].removeprefix('Value error, ')}"


def validation_detail(errors: list[dict[str, Any]]) -> str:
    """``body.text: String should have at most 5000 characters`` for each error, joined."""
    return "; ".join(_describe(e) for e in errors) or "invalid request"


def _content_type_hint(request: Request, errors: list[dict[str, Any]]) -> str | None:
    """A body that is not JSON fails as "not an object"; say what the real problem is."""
    content_type = request.headers.get("content-type", "")
    if request.method in ("POST", "PUT", "PATCH") and "json" not in content_type.lower() and any(
            e["loc"] == ["body"] for e in errors):
        return f"body: expected Content-Type: application/json, got {content_type or 'none'!r}"
    return None


async def _on_validation(request: Request, exc: Exception) -> Response:
    errors = validation_errors(exc.errors() if isinstance(exc, RequestValidationError) else [])
    detail = _content_type_hint(request, errors) or validation_detail(errors)
    return OrjsonResponse({"detail": detail, "errors": errors}, status_code=422)


async def _on_http(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, StarletteHTTPException):
        return await _on_bug(request, exc)
    if exc.status_code == 400 and exc.detail == FASTAPI_BODY_PARSE_ERROR:
        # FastAPI answers 400 when the body is not even text (invalid UTF-8); to a client it is malformed JSON.
        return OrjsonResponse({"detail": "body: not valid JSON (it is not UTF-8 text)"}, status_code=422)
    return OrjsonResponse({"detail": str(exc.detail)}, status_code=exc.status_code,
                          headers=getattr(exc, "headers", None))


async def _on_domain(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, SentimentMLOpsError):
        return await _on_bug(request, exc)
    status = status_for(exc)
    if status == 500:
        return await _on_bug(request, exc)
    return OrjsonResponse({"detail": str(exc)}, status_code=status, headers=headers_for(exc))


async def _on_bug(request: Request, exc: Exception) -> Response:
    logger.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return OrjsonResponse({"detail": "internal error; the server log has the traceback"}, status_code=500)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _on_validation)
    app.add_exception_handler(StarletteHTTPException, _on_http)
    app.add_exception_handler(SentimentMLOpsError, _on_domain)
    app.add_exception_handler(Exception, _on_bug)
