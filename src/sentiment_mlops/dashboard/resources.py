"""What the dashboard reads, taken from the app's lifespan state (``request.state``).

``create_app``'s lifespan yields ``{"serving": ServingState}``, whose ``settings`` and ``store`` the
dashboard uses (plain ``settings`` / ``store`` / ``registry`` keys in the state work as well). A registry
missing from the state is opened from the settings once per app; the short-lived caches (drift reports,
reference profiles, MLflow reads) live on ``app.state`` so that two apps in one process never share them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, TypeVar

from fastapi import Request

from sentiment_mlops.config import Settings
from sentiment_mlops.dashboard.cache import TTLCache
from sentiment_mlops.errors import StoreError
from sentiment_mlops.registry.client import ModelRegistry
from sentiment_mlops.serving.auth import bearer_token, require_admin_token
from sentiment_mlops.store import PredictionStore

T = TypeVar("T")
_LOCK = threading.Lock()


class DashboardReads(Protocol):
    """What the dashboard's computations read: a request's ``Resources``, or the drift worker's own
    (``dashboard.drift_worker``)."""

    settings: Settings
    store: PredictionStore
    cache: TTLCache

    @property
    def tracking_store_missing(self) -> bool: ...

    @property
    def registry(self) -> ModelRegistry: ...


def tracking_store_missing(settings: Settings) -> bool:
    """True for a SQLite tracking URI whose file does not exist: nothing was ever tracked, and opening it
    would create a database (MLflow migrates a new one for seconds) just to list nothing."""
    uri = settings.tracking_uri
    if not uri.startswith("sqlite:///"):
        return False
    path = uri[len("sqlite:///"):].split("?", 1)[0]
    return path not in ("", ":memory:") and not Path(path).exists()


class Resources:
    """The settings, prediction store, registry and caches one request works with.

    The registry and the aggregate-query engine are opened on first use: the Alerts page should not wait
    for MLflow, and a server without a tracking store should not create one.
    """

    def __init__(self, request: Request, settings: Settings, store: PredictionStore) -> None:
        self._request = request
        self.settings = settings
        self.store = store
        self.cache: TTLCache = _app_singleton(request, "dashboard_cache", TTLCache)

    @property
    def tracking_store_missing(self) -> bool:
        return tracking_store_missing(self.settings)

    @property
    def registry(self) -> ModelRegistry:
        found = _state(self._request, "registry")
        if found is not None:
            return found  # type: ignore[no-any-return]
        settings = self.settings
        return _app_singleton(self._request, "dashboard_registry", lambda: ModelRegistry.from_settings(settings))

    def app_singleton(self, name: str, build: Callable[[], T]) -> T:
        """One ``build()`` result per app (kept on ``app.state`` under ``name``)."""
        return _app_singleton(self._request, name, build)

    def digest_key(self) -> str:
        """The installation's key for text digests (read from the store once per app)."""
        return _app_singleton(self._request, "dashboard_digest_key", lambda: _digest_key(self))


def _digest_key(resources: Resources) -> str:
    from sentiment_mlops.store.secrets import DIGEST_KEY

    return resources.store.installation_secret(DIGEST_KEY)


def _state(request: Request, name: str) -> Any:
    serving = getattr(request.state, "serving", None)
    value = getattr(serving, name, None)
    return value if value is not None else getattr(request.state, name, None)


def _app_singleton(request: Request, name: str, build: Callable[[], T]) -> T:
    """One ``build()`` result per app, kept on ``app.state``; built outside the lock, so a slow MLflow
    client never holds up the cache (two racing builds keep the first, the other is dropped)."""
    value = getattr(request.app.state, name, None)
    if value is not None:
        return value  # type: ignore[no-any-return]
    built = build()
    with _LOCK:
        value = getattr(request.app.state, name, None)
        if value is None:
            setattr(request.app.state, name, built)
            value = built
    return value  # type: ignore[no-any-return]


def resources(request: Request) -> Resources:
    """FastAPI dependency: the dashboard's view of the app's shared resources."""
    settings = _state(request, "settings")
    store = _state(request, "store")
    if settings is None or store is None:
        raise StoreError("the dashboard is not wired: no settings or store in the app state")
    return Resources(request, settings, store)


def admin_authorized(request: Request, settings: Settings) -> bool:
    """True when the request carries the admin token, False when it carries none; a wrong one is refused
    like on the admin routes (401, or 403 when the server has no token configured).

    Raw texts are shown only to the admin, and never when the server does not log texts.
    """
    header = request.headers.get("authorization")
    if header is None:
        return False
    require_admin_token(bearer_token(header), settings.admin_token)
    return True
