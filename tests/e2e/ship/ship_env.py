"""What the ship tests share: the repository root, free loopback ports, the dev-extras tools, docker.

These tests drive the product only through its command line, its HTTP API and the deployment files;
they import nothing from ``sentiment_mlops``.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
DOCKER = "/usr/bin/docker"  # another `docker` on PATH may be a client with no daemon behind it
IMAGE = os.environ.get("SENTIMENT_MLOPS_TEST_IMAGE", "sentiment-mlops:test")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def tool(name: str) -> str | None:
    """A console script beside this interpreter (the dev extras), else on PATH, else None."""
    for directory in (sysconfig.get_path("scripts"), str(Path(sys.executable).parent)):
        candidate = Path(directory) / name
        if candidate.is_file():
            return str(candidate)
    return shutil.which(name)


def docker(*args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([DOCKER, *args], capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} exited {result.returncode}: {result.stderr[-2000:]}")
    return result


def git_revision() -> str:
    """HEAD, with "-dirty" when the work tree has changes: what `make image` writes into the label."""
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True, check=True).stdout

    return git("rev-parse", "HEAD").strip() + ("-dirty" if git("status", "--porcelain").strip() else "")
