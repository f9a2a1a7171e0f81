"""Docker HEALTHCHECK: healthy only while the server's /health answers 200 with status "ok".

The address is read from the running `sentiment-mlops serve` command line (its --host and --port), so
the check follows `docker run IMAGE serve --port 9000`; "degraded" (a failed reload, no model) and any
error exit 1, with one line that `docker inspect` shows in the health log.
"""

from __future__ import annotations

import json
import sys
import urllib.request
from pathlib import Path

DEFAULT_HOST, DEFAULT_PORT = "127.0.0.1", 8000
ANY_ADDRESS = {"0.0.0.0", "::", ""}


def option(argv: list[str], name: str) -> str | None:
    """The value of ``--name VALUE`` or ``--name=VALUE`` in ``argv`` (the last one wins, as in click)."""
    value = None
    for index, arg in enumerate(argv):
        if arg == name and index + 1 < len(argv):
            value = argv[index + 1]
        elif arg.startswith(name + "="):
            value = arg.split("=", 1)[1]
    return value


def serve_command() -> list[str] | None:
    """argv of the oldest process running `sentiment-mlops serve` (or `python -m sentiment_mlops serve`)."""
    pids = sorted(int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit())
    for pid in pids:
        try:
            argv = (Path("/proc") / str(pid) / "cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue
        for index, arg in enumerate(argv[:-1]):
            if (arg.endswith("sentiment-mlops") or arg == "sentiment_mlops") and argv[index + 1] == "serve":
                return argv[index + 2:]
    return None


def main() -> int:
    argv = serve_command()
    if argv is None:
        print("unhealthy: no `sentiment-mlops serve` process in this container")
        return 1
    host = option(argv, "--host") or DEFAULT_HOST
    host = "127.0.0.1" if host in ANY_ADDRESS else host
    host = f"[{host}]" if ":" in host else host
    url = f"http://{host}:{option(argv, '--port') or DEFAULT_PORT}/health"
    try:
        with urllib.request.urlopen(url, timeout=4) as response:
            status = json.load(response).get("status")
    except Exception as exc:  # refused, timed out, an HTTP error status, not JSON: all unhealthy
        print(f"unhealthy: {url}: {exc}")
        return 1
    print(f"{url}: {status}")
    return 0 if status == "ok" else 1


if __name__ == "__main__":
    sys.exit(main())
