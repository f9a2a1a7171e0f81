"""GET /docs (Swagger UI) and /redoc (ReDoc), with their scripts and styles served from this server.

FastAPI's own pages load Swagger UI and ReDoc from a CDN (no integrity hash, and blank offline or behind a
firewall). The same assets come installed with the PyPI package ``fastapi-offline``; these routes serve them
from its folder (read as package data), so the docs make no request outside the server.
"""

from __future__ import annotations

from functools import cache
from importlib.metadata import distribution
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from starlette.responses import FileResponse, HTMLResponse, Response

from sentiment_mlops.errors import NotFoundError

router = APIRouter(tags=["docs"])
ASSETS_PATH = "/docs/assets"
ASSETS = {"swagger-ui-bundle.js": "text/javascript", "swagger-ui.css": "text/css",
          "redoc.standalone.js": "text/javascript", "favicon.png": "image/png"}
OAUTH2_REDIRECT_PATH = "/docs/oauth2-redirect"
# The one absolute URL in ReDoc's bundle: the "API docs by Redocly" logo, fetched from Redocly's CDN.
REDOC_CDN_LOGO = b"https://cdn.redoc.ly/redoc/logo-mini.svg"
CACHE_CONTROL = {"Cache-Control": "public, max-age=86400"}


@cache
def assets_dir() -> Path:
    """The static folder of the installed ``fastapi-offline`` package (located without importing it)."""
    return Path(str(distribution("fastapi-offline").locate_file("fastapi_offline/static")))


@router.get("/docs", include_in_schema=False)
async def swagger_ui(request: Request) -> HTMLResponse:
    root = request.scope.get("root_path", "")
    return get_swagger_ui_html(openapi_url=f"{root}/openapi.json", title=f"{request.app.title} - Swagger UI",
                               oauth2_redirect_url=OAUTH2_REDIRECT_PATH,
                               swagger_js_url=f"{root}{ASSETS_PATH}/swagger-ui-bundle.js",
                               swagger_css_url=f"{root}{ASSETS_PATH}/swagger-ui.css",
                               swagger_favicon_url=f"{root}{ASSETS_PATH}/favicon.png")


@router.get(OAUTH2_REDIRECT_PATH, include_in_schema=False)
async def swagger_ui_redirect() -> HTMLResponse:
    return get_swagger_ui_oauth2_redirect_html()


@router.get("/redoc", include_in_schema=False)
async def redoc(request: Request) -> HTMLResponse:
    root = request.scope.get("root_path", "")
    return get_redoc_html(openapi_url=f"{root}/openapi.json", title=f"{request.app.title} - ReDoc",
                          redoc_js_url=f"{root}{ASSETS_PATH}/redoc.standalone.js",
                          redoc_favicon_url=f"{root}{ASSETS_PATH}/favicon.png", with_google_fonts=False)


@cache
def redoc_bundle() -> bytes:
    """ReDoc's bundle with its logo pointed at the favicon served here (it would otherwise reach a CDN)."""
    return (assets_dir() / "redoc.standalone.js").read_bytes().replace(
        REDOC_CDN_LOGO, f"{ASSETS_PATH}/favicon.png".encode())


@router.get(ASSETS_PATH + "/{name}", include_in_schema=False)
async def asset(name: str) -> Response:
    if name not in ASSETS:
        raise NotFoundError(f"no docs asset named {name!r}; expected one of {', '.join(ASSETS)}")
    if name == "redoc.standalone.js":
        return Response(redoc_bundle(), media_type=ASSETS[name], headers=CACHE_CONTROL)
    return FileResponse(assets_dir() / name, media_type=ASSETS[name], headers=CACHE_CONTROL)
