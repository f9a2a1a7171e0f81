"""``router``: the dashboard pages under ``/dashboard`` and their JSON under ``/api/`` (see ``service``)."""

from __future__ import annotations

from fastapi import APIRouter

from sentiment_mlops.dashboard import api, pages

router = APIRouter()
router.include_router(pages.router)
router.include_router(api.router)

__all__ = ["router"]
