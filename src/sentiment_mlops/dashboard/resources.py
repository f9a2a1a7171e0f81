"""What the dashboard reads, taken from the app's lifespan state (``request.state``).

``create_app``'s lifespan yields ``{"serving": ServingState}``, whose ``settings`` and ``store`` the
dashboard uses (plain ``settings`` / ``store`` / ``registry`` keys in the state work as well). A registry
missing from the state is opened from the settings once per app; the short-lived caches (drift reports,
reference profiles, MLflow reads) live on ``app.state`` so that two apps in one process never share them.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from fastapi import HTTPException, Request
from sqlalchemy import Engine

from sentiment_mlops.config import Settings
from sentiment_mlops.dashboard.cache import TTLCache
from sentiment_mlops.monitoring.engine import create_store_engine
from sentiment_mlops.registry.client import ModelRegistry

T = TypeVar("T")
_LOCK = threading.Lock()


@dataclass(frozen=True)
class Resources:
    """The settings, prediction store, registry and caches one request works with."""

    settings: Settings
    store: Any  # monitoring.store.PredictionStore; Any keeps the dashboard importable without it
    registry: ModelRegistry
    cache: TTLCache
    engine: Engine


def _state(request: Request, name: str) -> Any:
    serving = getattr(request.state, "serving", None)
    value = getattr(serving, name, None)
    return value if value is not None else getattr(request.state, name, None)


def _app_singleton(request: Request, name: str, build: Callable[[], T]) -> T:
    with _LOCK:
        value = getattr(request.app.state, name, None)
        if value is None:
            value = build()
            setattr(request.app.state, name, value)
        return value


def resources(request: Request) -> Resources:
    """FastAPI dependency: the dashboard's view of the app's shared resources."""
    settings = _state(request, "settings")
    store = _state(request, "store")
    if settings is None or store is None:
        raise HTTPException(status_code=503, detail="the dashboard is not wired: no settings or store in the app state")
    registry = _state(request, "registry") or _app_singleton(
        request, "dashboard_registry",
        lambda: ModelRegistry(settings.tracking_uri, settings.registered_model_name, settings.experiment_name),
    )
    cache = _app_singleton(request, "dashboard_cache", TTLCache)
    engine = _store_engine(request, store)
    return Resources(settings=settings, store=store, registry=registry, cache=cache, engine=engine)


def _store_engine(request: Request, store: Any) -> Engine:
    """The engine the aggregate queries run on: the store's own when it exposes one, else one on its URL.

    The store's public methods return rows; the Live page needs GROUP BY queries over the same tables.
    """
    engine = getattr(store, "engine", None)
    if isinstance(engine, Engine):
        return engine
    return _app_singleton(request, "dashboard_engine", lambda: create_store_engine(store.url))


def admin_authorized(request: Request, settings: Settings) -> bool:
    """True when the request carries the admin token; 401 when it carries a wrong one.

    Raw texts are shown only to the admin, and never when the server does not log texts.
    """
    header = request.headers.get("authorization")
    if header is None:
        return False
    scheme, _, token = header.partition(" ")
    expected = settings.admin_token
    if scheme.lower() != "bearer" or not token or expected is None \
            or not secrets.compare_digest(token.encode(), expected.encode()):
        raise HTTPException(status_code=401, detail="invalid admin token",
                            headers={"WWW-Authenticate": "Bearer"})
    return True
