"""``serve``: the inference API, web UI, dashboard and (optionally) the monitor loop on one port."""

from __future__ import annotations

from typing import Annotated

import typer

from sentiment_mlops.cli import context
from sentiment_mlops.cli.context import AllowPickle
from sentiment_mlops.config import Environment


def serve(
    env: Annotated[str | None, typer.Option(help="local (models/), staging or production (registry alias).")] = None,
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to bind.")] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes (metrics aggregate across them).")] = 1,
    bootstrap: Annotated[bool, typer.Option(help="With --env staging: point an empty staging alias at the "
                                                 "newest version first.")] = False,
    allow_pickle: AllowPickle = False,
) -> None:
    """Serve the model behind --env over HTTP (web UI at /, API docs at /docs, metrics at /metrics)."""
    context.allow_pickle(allow_pickle, in_workers=workers > 1)
    from sentiment_mlops.service import serve as run_service

    environment = Environment.parse(env) if env is not None else Environment.LOCAL
    run_service(context.settings(), environment=environment.value, host=host, port=port,
                workers=workers, require_model=env is not None, bootstrap=bootstrap, echo=context.say)
