"""The dashboard's HTML pages and static files (its own script and style, and Plotly.js from the installed package)."""

from __future__ import annotations

import hashlib
from functools import lru_cache
from importlib.metadata import distribution
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates

from sentiment_mlops.errors import NotFoundError

router = APIRouter(prefix="/dashboard", include_in_schema=False)

HERE = Path(__file__).parent
PAGES = {
    "experiments": "Experiments",
    "models": "Models",
    "live": "Live",
    "drift": "Drift",
    "alerts": "Alerts",
}
# Static URLs carry a version, so browsers may keep them for a year; a new release changes the URL.
LONG_CACHE = "public, max-age=31536000, immutable"
_OWN_STATIC = {"dashboard.js": "text/javascript", "dashboard.css": "text/css"}


@lru_cache(maxsize=1)
def _templates() -> Jinja2Templates:
    return Jinja2Templates(directory=str(HERE / "templates"))


@lru_cache(maxsize=1)
def plotly_asset() -> tuple[str, Path]:
    """(version, path) of the ``plotly.min.js`` bundled in the ``plotly`` Python package, found without importing it."""
    dist = distribution("plotly")
    path = Path(str(dist.locate_file("plotly/package_data/plotly.min.js")))
    if not path.is_file():
        raise FileNotFoundError(f"plotly {dist.version} is installed without package_data/plotly.min.js")
    return dist.version, path


@lru_cache(maxsize=1)
def _asset_version() -> str:
    """A digest of the dashboard's own script and style: changes exactly when they do."""
    digest = hashlib.sha256()
    for name in sorted(_OWN_STATIC):
        digest.update((HERE / "static" / name).read_bytes())
    return digest.hexdigest()[:12]


@router.get("", response_class=RedirectResponse)
def dashboard_home() -> RedirectResponse:
    return RedirectResponse(url="/dashboard/experiments", status_code=307)


@router.get("/static/plotly-{version}.min.js")
def plotly_js(version: str) -> FileResponse:
    installed, path = plotly_asset()
    if version != installed:
        raise NotFoundError(f"plotly {version} is not served here; this server has {installed}")
    return FileResponse(path, media_type="text/javascript", headers={"Cache-Control": LONG_CACHE})


@router.get("/static/{asset_version}/{name}")
def own_static(asset_version: str, name: str) -> FileResponse:
    if name not in _OWN_STATIC or asset_version != _asset_version():
        raise NotFoundError(f"no dashboard asset {asset_version}/{name}")
    return FileResponse(HERE / "static" / name, media_type=_OWN_STATIC[name], headers={"Cache-Control": LONG_CACHE})


@router.get("/{page}", response_class=HTMLResponse)
def dashboard_page(request: Request, page: str) -> HTMLResponse:
    if page not in PAGES:
        raise NotFoundError(f"no dashboard page {page!r}; pages: {', '.join(PAGES)}")
    return _templates().TemplateResponse(request, f"{page}.html", {
        "page": page,
        "pages": PAGES,
        "plotly_version": plotly_asset()[0],
        "asset_version": _asset_version(),
    })
