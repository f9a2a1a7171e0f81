"""Every URL the project prints has its password masked: the ``serve`` start line and ``models``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from support.polling import free_port


def test_serve_prints_the_store_url_without_its_password(settings_factory: Any, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn

    from sentiment_mlops.serving.server import serve

    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: None)
    settings = settings_factory(models_dir=tmp_path / "none",
                                store_url="postgresql://alice:s3cret-pw@db.internal:5432/sentiment")
    lines: list[str] = []
    serve(settings, environment="local", host="127.0.0.1", port=free_port(), workers=1, require_model=False,
          app_factory=lambda *args, **kwargs: None, worker_factory="unused", echo=lines.append)
    assert len(lines) == 1 and "prediction log: postgresql://alice:***@db.internal:5432/sentiment" in lines[0]
    assert "s3cret" not in lines[0]


def test_models_masks_the_tracking_uri_password(cli_run: Any, isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://alice:s3cret-pw@127.0.0.1:{free_port()}")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "5")
    code, out, err = cli_run("models")
    assert code == 1 and "alice:***@127.0.0.1" in err, err
    assert "s3cret" not in out + err
