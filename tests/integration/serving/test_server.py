"""``serve``'s checks before it binds a port: options, preloading, and one clear error for each mistake."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi import APIRouter, Request  # at module level: the route's string annotations resolve here

from sentiment_mlops.errors import ConfigurationError, IntegrityError, ModelNotFoundError
from sentiment_mlops.service import serve, worker_app
from sentiment_mlops.serving.server import preload, uvicorn_options


def test_uvicorn_uses_uvloop_and_guarded_httptools_without_access_log() -> None:
    from sentiment_mlops.serving.http_guard import GuardedHttpToolsProtocol
    from sentiment_mlops.serving.limits import HttpLimits

    limits = HttpLimits(max_header_bytes=4096, max_header_count=20, request_timeout=3.0)
    options = uvicorn_options("127.0.0.1", 8123, 2, limits)
    assert options["loop"] == "uvloop"
    assert options["http"].func is GuardedHttpToolsProtocol and options["http"].keywords == {"limits": limits}
    assert options["access_log"] is False and options["workers"] == 2


def test_preload_local_loads_and_compiles(settings_factory: Any, local_models: Path) -> None:
    source, snapshot = preload(settings_factory(models_dir=local_models), "local", require_model=True)
    assert snapshot.primary is not None and snapshot.primary.version == "local"
    assert snapshot.primary.scorer.compiled and snapshot.primary.key.startswith("local:")
    source.close()


def test_preload_without_a_model(settings_factory: Any, tmp_path: Path) -> None:
    settings = settings_factory(models_dir=tmp_path / "nothing")
    with pytest.raises(ModelNotFoundError, match="sentiment-mlops train"):
        preload(settings, "local", require_model=True)
    _, snapshot = preload(settings, "local", require_model=False)
    assert snapshot.primary is None


def test_preload_refuses_tampered_artifacts(settings_factory: Any, local_models: Path, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "tampered"
    shutil.copytree(local_models, copy)
    with (copy / "sentiment_model.pkl").open("ab") as handle:
        handle.write(b"x")
    with pytest.raises(IntegrityError):
        preload(settings_factory(models_dir=copy), "local", require_model=True)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"environment": "dev"}, "unknown environment 'dev'; expected one of local, staging, production"),
    ({"workers": 0}, "--workers must be at least 1"),
    ({"bootstrap": True}, "--bootstrap only applies to --env staging"),
])
def test_serve_refuses_bad_options(settings_factory: Any, kwargs: dict[str, Any], message: str) -> None:
    options: dict[str, Any] = {"environment": "local", "host": "127.0.0.1", "port": 0, "workers": 1,
                               "require_model": True}
    options.update(kwargs)
    with pytest.raises(ConfigurationError, match=message):
        serve(settings_factory(), **options)


def test_serve_refuses_a_port_in_use_before_loading_anything(settings_factory: Any, tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        # No model exists either: the port is what it reports, before any loading.
        with pytest.raises(ConfigurationError, match=f"http://127.0.0.1:{port} is already in use"):
            serve(settings_factory(models_dir=tmp_path / "nothing"), environment="local", host="127.0.0.1",
                  port=port, workers=1, require_model=True)
    with pytest.raises(ConfigurationError, match="cannot listen on 192.0.2.1"):  # an address this host lacks
        serve(settings_factory(), environment="local", host="192.0.2.1", port=port, workers=1, require_model=True)


def test_worker_app_reads_settings_and_environment(settings_factory: Any, local_models: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENTIMENT_MLOPS_MODELS_DIR", str(local_models))
    monkeypatch.setenv("SENTIMENT_MLOPS_SERVE_ENVIRONMENT", "local")
    app = worker_app()
    assert app.title == "sentiment-mlops"


def test_create_app_refuses_an_unknown_environment(settings_factory: Any) -> None:
    from sentiment_mlops.serving.app import create_app

    with pytest.raises(ConfigurationError, match="unknown environment 'prod'"):
        create_app(settings_factory(), environment="prod")


def test_extra_routers_reach_the_shared_state(settings_factory: Any, local_models: Path) -> None:
    from fastapi.testclient import TestClient

    from sentiment_mlops.serving.app import create_app
    from sentiment_mlops.serving.state import serving_state

    router = APIRouter()

    @router.get("/api/served")
    async def served(request: Request) -> dict[str, Any]:
        state = serving_state(request)
        return {"version": state.holder.version, "environment": state.environment}

    app = create_app(settings_factory(models_dir=local_models), environment="local", extra_routers=[router])
    with TestClient(app) as client:
        assert client.get("/api/served").json() == {"version": "local", "environment": "local"}
