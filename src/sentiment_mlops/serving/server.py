"""``sentiment-mlops serve``: check the model before binding the port, then run uvicorn."""

from __future__ import annotations

import errno
import functools
import logging
import os
import socket
import tempfile
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI

from sentiment_mlops.config import Settings, masked_url
from sentiment_mlops.errors import ConfigurationError, ModelNotFoundError
from sentiment_mlops.serving.limits import HttpLimits
from sentiment_mlops.serving.metrics import MULTIPROC_ENV
from sentiment_mlops.serving.model_holder import ModelSnapshot, ServedModel
from sentiment_mlops.serving.model_source import ModelSource, source_for

ENVIRONMENT_ENV = "SENTIMENT_MLOPS_SERVE_ENVIRONMENT"
AppFactory = Callable[..., FastAPI]
logger = logging.getLogger(__name__)


def _module_available(name: str) -> bool:
    from importlib.util import find_spec

    return find_spec(name) is not None


def http_limits(settings: Settings) -> HttpLimits:
    """The per-request limits of ``settings`` that the HTTP protocol enforces (``serving.http_guard``)."""
    return HttpLimits(max_header_bytes=settings.max_header_bytes, max_header_count=settings.max_header_count,
                      request_timeout=settings.request_timeout_seconds)


def uvicorn_options(host: str, port: int, workers: int, limits: HttpLimits | None = None) -> dict[str, Any]:
    """uvloop when installed, httptools behind ``http_guard``'s limits; no access log (Prometheus counts
    requests, at no I/O cost)."""
    limits = limits or HttpLimits()
    options: dict[str, Any] = {
        "host": host, "port": port, "workers": workers, "loop": "uvloop" if _module_available("uvloop") else "asyncio",
        "access_log": False, "log_level": "info", "timeout_graceful_shutdown": 30}
    if _module_available("httptools"):
        from sentiment_mlops.serving.http_guard import GuardedHttpToolsProtocol

        options["http"] = functools.partial(GuardedHttpToolsProtocol, limits=limits)
    else:  # h11 bounds the head itself (with a plain-text 400) but has no request deadline
        options.update(http="h11", h11_max_incomplete_event_size=limits.max_header_bytes)
    return options


def preload(settings: Settings, environment: str, *, require_model: bool) -> tuple[ModelSource, ModelSnapshot]:
    """Resolve and load (verifying sha256) what ``environment`` serves; one clear error when it cannot."""
    source = source_for(settings, environment)
    target = source.resolve()
    if target.primary is None:
        if require_model:
            source.close()
            raise ModelNotFoundError(target.missing_reason or f"nothing to serve for {environment}")
        logger.warning("%s; serving 503 on prediction routes until a model appears", target.missing_reason)
        return source, ModelSnapshot()
    try:
        served = ServedModel.from_loaded(source.load(target.primary), target.primary)
    except BaseException:
        source.close()
        raise
    return source, ModelSnapshot(served)


def serve(settings: Settings, *, environment: str, host: str, port: int, workers: int, require_model: bool,
          app_factory: AppFactory, worker_factory: str, echo: Callable[[str], None] = print,
          before_load: Callable[[], None] | None = None) -> None:
    """Run the service until SIGTERM / SIGINT; the lifespan flushes the prediction log on the way out.

    ``app_factory`` builds the app (``sentiment_mlops.service.create_service``: the API with the dashboard
    and the monitor), ``worker_factory`` names the factory each of several workers imports, and
    ``before_load`` runs once the port is known to be free, before the model is resolved (``--bootstrap``).
    """
    import uvicorn

    if workers < 1:
        raise ConfigurationError(f"--workers must be at least 1, got {workers}")
    check_port_free(host, port)
    if before_load is not None:
        before_load()
    source, snapshot = preload(settings, environment, require_model=require_model)
    version = snapshot.primary.version if snapshot.primary else "none"
    echo(f"serving {environment} (model version {version}, {source.description}) on http://{host}:{port} "
         f"with {workers} worker{'s' if workers > 1 else ''}; prediction log: {masked_url(settings.store_url)}")
    options = uvicorn_options(host, port, workers, http_limits(settings))
    if workers == 1:
        app = app_factory(settings, environment=environment, model_source=source, initial_snapshot=snapshot)
        uvicorn.run(app, **options)
        return
    source.close()  # each worker resolves and loads for itself
    os.environ[ENVIRONMENT_ENV] = environment
    with tempfile.TemporaryDirectory(prefix="sentiment-prometheus-") as metrics_dir:
        os.environ.setdefault(MULTIPROC_ENV, metrics_dir)
        uvicorn.run(worker_factory, factory=True, **options)


def check_port_free(host: str, port: int) -> None:
    """Fail before loading anything when uvicorn could not bind ``host:port`` (bound the way uvicorn binds).

    Otherwise the app would start, load the model and the monitor, and only then stop on uvicorn's
    ``address already in use``.
    """
    if port == 0:
        return
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family=family) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                raise ConfigurationError(
                    f"http://{host}:{port} is already in use (another server is running there): stop it, "
                    "or pass another --port (make run PORT=8001)") from None
            raise ConfigurationError(f"cannot listen on {host}:{port}: {error.strerror or error}") from None
