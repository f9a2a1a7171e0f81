"""POST /admin/reload: re-resolve the alias now (Bearer SENTIMENT_MLOPS_ADMIN_TOKEN)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from sentiment_mlops.serving.auth import require_admin_token
from sentiment_mlops.serving.responses import OrjsonResponse
from sentiment_mlops.serving.schemas import ErrorResponse, ReloadResponse
from sentiment_mlops.serving.state import serving_state

router = APIRouter(prefix="/admin", tags=["admin"])
_bearer = HTTPBearer(auto_error=False)


def require_admin(request: Request,
                  credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> None:
    """401 for a missing or wrong token; 403 when the server has no token configured at all."""
    # HTTPBearer parses the header (and documents the scheme in OpenAPI); the check is the app's one.
    given = credentials.credentials if credentials is not None else ""
    require_admin_token(given, serving_state(request).settings.admin_token)


@router.post("/reload", response_model=ReloadResponse, dependencies=[Depends(require_admin)],
             responses={401: {"model": ErrorResponse}, 403: {"model": ErrorResponse}},
             summary="Re-resolve the alias now and swap if it moved")
async def reload(request: Request) -> Response:
    state = serving_state(request)
    result = await run_in_threadpool(state.poller.refresh, force=True)
    return OrjsonResponse({
        "changed": result.changed, "model_version": result.model_version,
        "canary_version": result.canary_version, "canary_percent": result.canary_percent,
        "status": "degraded" if result.degraded_reason else "ok", "reason": result.degraded_reason,
    })
