"""The image built by `make image` and run the way the README says: lean, non-root, labelled, training
into a mounted directory, serving /predict on the host network, and a HEALTHCHECK that tracks /health."""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from pathlib import Path

import httpx
import pytest
from ship_env import docker, free_port

pytestmark = pytest.mark.docker

MAX_IMAGE_BYTES = 500 * 1000 * 1000  # the 500 MB, in docker's decimal units
USER = "10001"


def writable_dir(path: Path) -> Path:
    """A host directory the image's uid 10001 can write, as the README asks of a mounted directory."""
    path.mkdir()
    path.chmod(0o777)
    return path


@pytest.fixture(scope="module")
def trained(image, tmp_path_factory) -> Path:
    """The seed's form: `docker run --rm -v DIR:/app IMAGE train`."""
    work = writable_dir(tmp_path_factory.mktemp("image") / "app")
    started = time.monotonic()
    run = docker("run", "--rm", "--network", "host", "-v", f"{work}:/app", image, "train", timeout=600)
    print(f"train in the container: {time.monotonic() - started:.1f} s")
    assert "registered: SentimentAnalysisModel version 1" in run.stdout, run.stdout + run.stderr
    return work


def test_image_is_lean_non_root_and_labelled_with_the_git_revision(built_image):
    image, revisions = built_image
    (info,) = json.loads(docker("image", "inspect", image).stdout)
    print(f"image size: {info['Size'] / 1e6:.0f} MB")
    assert info["Size"] <= MAX_IMAGE_BYTES, f"{info['Size'] / 1e6:.0f} MB > 500 MB"
    assert info["Config"]["User"].split(":")[0] == USER
    assert docker("run", "--rm", "--network", "host", image, "id", "-u").stdout.strip() == USER
    assert info["Config"]["Labels"]["org.opencontainers.image.revision"] in revisions


def test_seed_form_trains_into_the_mounted_directory(trained):
    assert (trained / "models" / "sentiment_model.pkl").is_file()
    assert (trained / "models" / "sentiment_model_vectorizer.pkl").is_file()
    assert (trained / "mlflow.db").is_file() and (trained / "mlruns").is_dir()
    metrics = json.loads((trained / "models" / "metrics.json").read_text())
    assert str(metrics["model_version"]) == "1" and 0.5 < metrics["accuracy"] <= 1
    assert (trained / "models").stat().st_uid == int(USER)  # written by the image's user, not root


@pytest.mark.skipif(os.geteuid() == int(USER), reason="the test user is the image's user")
def test_an_unwritable_mount_is_reported_with_the_fix(image, tmp_path):
    work = tmp_path / "app"
    work.mkdir(mode=0o755)
    run = docker("run", "--rm", "--network", "host", "-v", f"{work}:/app", image, "train", check=False,
                 timeout=300)
    assert run.returncode != 0
    assert "is not writable by uid 10001" in run.stderr and '--user "$(id -u):$(id -g)"' in run.stderr


def health_state(name: str) -> dict:
    return json.loads(docker("inspect", "--format", "{{json .State.Health}}", name).stdout)


def wait_for_health(name: str, status: str, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        state = health_state(name)
        if state["Status"] == status:
            return state
        if time.monotonic() > deadline:
            logs = docker("logs", name, check=False)
            raise AssertionError(f"{name} not {status} after {timeout} s: {state}\n{logs.stdout[-2000:]}"
                                 f"{logs.stderr[-2000:]}")
        time.sleep(0.5)


def test_serve_answers_predict_and_the_healthcheck_follows_port_and_status(image, trained, container_names):
    port = free_port()  # not 8000: the probe must read the port from the serve command line
    name = f"sentiment-mlops-test-{uuid.uuid4().hex[:8]}"
    container_names.append(name)
    docker("run", "-d", "--name", name, "--network", "host", "-v", f"{trained}:/app",
           "-e", "SENTIMENT_MLOPS_POLL_SECONDS=1",
           # the image's probe, run every second instead of every 30 s
           "--health-interval", "1s", "--health-retries", "2", "--health-start-period", "120s",
           image, "sentiment-mlops", "serve", "--env", "local", "--host", "127.0.0.1", "--port", str(port))
    started = time.monotonic()
    state = wait_for_health(name, "healthy", timeout=120)
    print(f"container healthy after {time.monotonic() - started:.1f} s")
    assert f"http://127.0.0.1:{port}/health: ok" in state["Log"][-1]["Output"]

    answer = httpx.post(f"http://127.0.0.1:{port}/predict", json={"text": "the crew was lovely"}, timeout=10)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["sentiment"] in {"negative", "neutral", "positive"} and body["model_version"] == "1"
    serving = [line.split() for line in docker("top", name, "-o", "pid,uid,args").stdout.splitlines()
               if "sentiment-mlops serve" in line]
    assert serving and all(fields[1] == USER for fields in serving), serving

    # Take the model away: the server keeps answering with the loaded one but says "degraded" ...
    shutil.rmtree(trained / "models")
    deadline = time.monotonic() + 30
    while httpx.get(f"http://127.0.0.1:{port}/health", timeout=5).json()["status"] != "degraded":
        assert time.monotonic() < deadline, "the server never reported degraded"
        time.sleep(0.5)
    # ... and the HEALTHCHECK turns unhealthy on it, although /health still answers 200.
    state = wait_for_health(name, "unhealthy", timeout=30)
    assert f"http://127.0.0.1:{port}/health: degraded" in state["Log"][-1]["Output"]
