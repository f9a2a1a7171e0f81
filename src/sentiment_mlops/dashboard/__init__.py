"""The dashboard: experiments, model versions, live traffic, drift and alerts, served by the inference app.

``routes.router`` holds the pages under ``/dashboard`` and their JSON under ``/api/``; ``create_app``
includes it.
"""

from __future__ import annotations

__all__ = ["router"]


def __getattr__(name: str) -> object:
    # Lazy so that importing the package does not import FastAPI and MLflow.
    if name == "router":
        from sentiment_mlops.dashboard.routes import router

        return router
    raise AttributeError(name)
