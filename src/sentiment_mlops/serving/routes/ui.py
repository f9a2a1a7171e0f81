"""GET /: the self-contained web UI (one HTML file, no external requests)."""

from __future__ import annotations

from functools import lru_cache
from importlib.resources import files

from fastapi import APIRouter
from starlette.responses import HTMLResponse

router = APIRouter(tags=["ui"])


@lru_cache(maxsize=1)
def ui_page() -> str:
    return files("sentiment_mlops.serving").joinpath("static/index.html").read_text(encoding="utf-8")


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
async def index() -> HTMLResponse:
    return HTMLResponse(ui_page())
