"""Real processes for the deployment end-to-end tests: ``sentiment-mlops serve`` and ``mlflow server`` on loopback.

Every process is started by the test, bounded in time, and stopped by its own pid (SIGTERM, then SIGKILL).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from support import POSTGRES_ENV
from support.polling import free_port, wait_for

BIN = Path(sys.executable).parent
CLI = str(BIN / "sentiment-mlops")
START_TIMEOUT = 120.0


def child_env(**overrides: str) -> dict[str, str]:
    """The test's environment without any of the user's project settings, plus ``overrides``."""
    kept = (POSTGRES_ENV, "SENTIMENT_MLOPS_GATE_LATENCY_SAMPLES")  # the suite's own settings (tests/conftest.py)
    env = {k: v for k, v in os.environ.items()
           if not (k.startswith("SENTIMENT_MLOPS_") and k not in kept) and k != "MLFLOW_TRACKING_URI"}
    env.update({"PYTHONUNBUFFERED": "1", "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"})
    src = Path(__file__).resolve().parents[2] / "src"
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(src), env.get("PYTHONPATH", "")) if p)
    env.update(overrides)
    return env


def stop(process: subprocess.Popen[Any], timeout: float = 20.0) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def run_cli(*args: str, env: dict[str, str], cwd: Path, timeout: float = 300.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CLI, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)


@contextmanager
def serve(environment: str, *, env: dict[str, str], cwd: Path, log_name: str = "serve") -> Iterator[str]:
    """``sentiment-mlops serve --env ENV`` on a free loopback port; yields its base URL once /health answers."""
    port = free_port()
    log = (cwd / f"{log_name}-{port}.log").open("w")
    process = subprocess.Popen([CLI, "serve", "--env", environment, "--host", "127.0.0.1", "--port", str(port)],
                               env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        def healthy() -> bool:
            if process.poll() is not None:
                raise AssertionError(f"serve exited with {process.returncode}: {(cwd / log.name).read_text()[-2000:]}")
            return httpx.get(f"{url}/health", timeout=2).status_code == 200

        wait_for(healthy, timeout=START_TIMEOUT, what=f"serve --env {environment} on port {port}")
        yield url
    finally:
        stop(process)
        log.close()


@contextmanager
def mlflow_server(backend_store_uri: str, artifacts: Path, *, cwd: Path) -> Iterator[str]:
    """``mlflow server`` with the given backend store and proxied artifacts, on a free loopback port."""
    port = free_port()
    log = (cwd / f"mlflow-server-{port}.log").open("w")
    process = subprocess.Popen(
        [str(BIN / "mlflow"), "server", "--backend-store-uri", backend_store_uri, "--artifacts-destination",
         str(artifacts), "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
        env=child_env(), cwd=cwd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        def up() -> bool:
            if process.poll() is not None:
                raise AssertionError(f"mlflow server exited with {process.returncode}: "
                                     f"{Path(log.name).read_text()[-2000:]}")
            return httpx.get(f"{url}/health", timeout=2).status_code == 200

        wait_for(up, timeout=START_TIMEOUT, what=f"mlflow server on port {port}")
        yield url
    finally:
        # mlflow server runs its web server as a child: stop the whole session it leads, and only it.
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        log.close()


def health(url: str) -> dict[str, Any]:
    return httpx.get(f"{url}/health", timeout=5).json()


def exit_abruptly(*args: Any) -> None:
    """Stand-in for a child process's task that dies mid-way (``os._exit``: no exception, no answer)."""
    os._exit(3)
