"""Fixtures for the ship tests: the Docker daemon and the image built by `make image`."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from ship_env import DOCKER, IMAGE, ROOT, git_revision


@pytest.fixture(scope="session")
def docker_daemon() -> str:
    """Skip (with the reason) unless /usr/bin/docker reaches a running daemon; .ci/run starts one."""
    if not Path(DOCKER).exists():
        pytest.skip(f"{DOCKER} is missing: apt-get install -y docker.io")
    info = subprocess.run([DOCKER, "info", "--format", "{{.ServerVersion}}"], capture_output=True, text=True,
                          timeout=30)
    if info.returncode != 0:
        pytest.skip("no Docker daemon answers; start one with "
                    f"`dockerd --bridge=none --iptables=false --ip-masq=false` ({info.stderr.strip()[:200]})")
    return info.stdout.strip()


@pytest.fixture(scope="session")
def built_image(docker_daemon: str) -> tuple[str, set[str]]:
    """The image built by `make image` (a local base is made first when no registry is reachable), and the
    git revision before and after the build (someone may commit to the work tree while it builds)."""
    before = git_revision()
    build = subprocess.run(["make", "-C", str(ROOT), "image", f"IMAGE={IMAGE}", f"DOCKER={DOCKER}"],
                           capture_output=True, text=True, timeout=1500)
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    return IMAGE, {before, git_revision()}


@pytest.fixture(scope="session")
def image(built_image: tuple[str, set[str]]) -> str:
    return built_image[0]


@pytest.fixture
def container_names() -> Iterator[list[str]]:
    """Names of containers a test starts; each is removed afterwards, whatever happened."""
    names: list[str] = []
    yield names
    for name in names:
        subprocess.run([DOCKER, "rm", "-f", name], capture_output=True, timeout=60)
