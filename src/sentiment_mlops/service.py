"""The whole service ``sentiment-mlops serve`` runs: the inference API with the dashboard and the monitor loop.

``serving`` builds the API and depends on neither the dashboard nor the monitoring loop (DESIGN.md's import
rules); they are put together here, above the packages, as the CLI puts the commands together.
"""

from __future__ import annotations

import os
from typing import Any

from fastapi import FastAPI


def create_service(settings: Any, *, environment: str, **options: Any) -> FastAPI:
    """``serving.app.create_app`` (same options) plus the dashboard's routes and the service's own monitor
    loop (run when ``SENTIMENT_MLOPS_MONITOR_IN_SERVER=true``, with automatic rollback when
    ``SENTIMENT_MLOPS_MONITOR_AUTO_ROLLBACK=true``)."""
    from functools import partial

    from sentiment_mlops.dashboard.routes import router as dashboard_router
    from sentiment_mlops.monitoring.watch import start_server_monitor
    from sentiment_mlops.serving.app import create_app
    from sentiment_mlops.watch_commands import build_auto_rollback

    routers = [dashboard_router, *options.pop("extra_routers", ())]
    monitor = partial(start_server_monitor, auto_rollback=build_auto_rollback)
    return create_app(settings, environment=environment, extra_routers=routers, server_monitor=monitor, **options)


def worker_app() -> FastAPI:
    """The app factory each of ``serve --workers N`` processes calls (settings and environment from os.environ)."""
    from sentiment_mlops.config import Settings
    from sentiment_mlops.serving.server import ENVIRONMENT_ENV

    return create_service(Settings(), environment=os.environ.get(ENVIRONMENT_ENV, "local"))


def serve(settings: Any, **options: Any) -> None:
    """``serving.server.serve`` with the whole service in every worker."""
    from sentiment_mlops.serving.server import serve as run_server

    run_server(settings, app_factory=create_service, worker_factory=f"{__name__}:worker_app", **options)
