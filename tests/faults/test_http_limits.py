"""A real ``sentiment-mlops serve``: no single connection can stall it. Oversized heads get a 431 at once, a
request that never completes is cut off by the deadline, bad framing gets a JSON 400, and ``/health``
answers quickly while an attack is in flight. Bounds are generous (2 shared cores); the figures are in
``benchmarks/http_limits.py``."""

from __future__ import annotations

import json
import socket
import statistics
import subprocess
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from support.polling import free_port, wait_for
from support.processes import CLI, child_env, stop

pytestmark = pytest.mark.fault
REQUEST_TIMEOUT = 1.5  # SENTIMENT_MLOPS_REQUEST_TIMEOUT_SECONDS for this server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    """``serve`` with no model (health, docs and metrics answer; predictions 503) and a short deadline."""
    root = tmp_path_factory.mktemp("http-limits")
    port = free_port()
    env = child_env(SENTIMENT_MLOPS_STORE_URL=f"sqlite:///{root / 'logs.db'}",
                    SENTIMENT_MLOPS_MODELS_DIR=str(root / "models"), MLFLOW_TRACKING_URI=f"sqlite:///{root / 'm.db'}",
                    SENTIMENT_MLOPS_REQUEST_TIMEOUT_SECONDS=str(REQUEST_TIMEOUT))
    log = (root / "serve.log").open("w")
    process = subprocess.Popen([CLI, "serve", "--port", str(port)], env=env, cwd=root, stdout=log,
                               stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200,
                 timeout=90, what="serve to answer /health")
        yield "127.0.0.1", port
    finally:
        stop(process)
        log.close()


def _read_response(sock: socket.socket, timeout: float = 10.0) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body of the one response on ``sock`` (read until the server closes)."""
    sock.settimeout(timeout)
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except (ConnectionResetError, BrokenPipeError):
        pass
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines[1:] if ": " in line)
    return int(lines[0].split()[1]), headers, body


def _send_quietly(sock: socket.socket, data: bytes) -> None:
    """Send as much of ``data`` as the server takes before it answers and closes."""
    try:
        sock.sendall(data)
    except OSError:  # reset, broken pipe, or closed by the test once the answer came
        pass


def test_a_64_mb_header_gets_a_json_431_at_once(server: tuple[str, int]) -> None:
    started = time.monotonic()
    with socket.create_connection(server, timeout=10) as sock:
        sender = threading.Thread(target=_send_quietly, daemon=True, args=(
            sock, b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (64 * 1024 * 1024) + b"\r\n\r\n"))
        sender.start()
        status, headers, body = _read_response(sock)
        elapsed = time.monotonic() - started
        sender.join(timeout=10)
    assert status == 431 and headers["content-type"] == "application/json"
    assert "SENTIMENT_MLOPS_MAX_HEADER_BYTES" in json.loads(body)["detail"]
    assert elapsed < 3.0, f"431 took {elapsed:.2f} s"


def test_too_many_header_fields_get_a_431(server: tuple[str, int]) -> None:
    fields = b"".join(b"X-F%d: v\r\n" % i for i in range(150))
    with socket.create_connection(server, timeout=10) as sock:
        _send_quietly(sock, b"GET /health HTTP/1.1\r\nHost: x\r\n" + fields + b"\r\n")
        status, _, body = _read_response(sock)
    assert status == 431 and "more than 100 header fields" in json.loads(body)["detail"]


def test_a_head_at_the_limit_is_still_served(server: tuple[str, int]) -> None:
    response = httpx.get(f"http://{server[0]}:{server[1]}/health", headers={"X-Pad": "a" * 30_000}, timeout=10)
    assert response.status_code == 200


@pytest.mark.parametrize("framing", [
    b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n{}",
    b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n{}",
    b"GET /health HTTP/9.9 extra\r\n\r\n",
])
def test_bad_framing_gets_a_json_400(server: tuple[str, int], framing: bytes) -> None:
    with socket.create_connection(server, timeout=10) as sock:
        _send_quietly(sock, framing)
        status, headers, body = _read_response(sock)
    assert status == 400 and headers["content-type"] == "application/json"
    assert json.loads(body)["detail"].startswith("malformed HTTP request")


@pytest.mark.parametrize("partial", [
    b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ",  # a head that never ends
    b"POST /feedback HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{",
])
def test_an_incomplete_request_is_cut_off_by_the_deadline(server: tuple[str, int], partial: bytes) -> None:
    started = time.monotonic()
    with socket.create_connection(server, timeout=15) as sock:
        sock.sendall(partial)
        for _ in range(3):  # keep dribbling, slowloris-style: each byte must not extend the deadline
            time.sleep(0.3)
            _send_quietly(sock, b"a")
        status, _, body = _read_response(sock, timeout=15)
    elapsed = time.monotonic() - started
    assert status == 408 and "SENTIMENT_MLOPS_REQUEST_TIMEOUT_SECONDS" in json.loads(body)["detail"]
    assert REQUEST_TIMEOUT * 0.9 <= elapsed < REQUEST_TIMEOUT + 5, f"closed after {elapsed:.2f} s"


def test_health_stays_fast_while_attacks_are_in_flight(server: tuple[str, int]) -> None:
    stop_attack = threading.Event()
    oversized = b"GET / HTTP/1.1\r\nX-Big: " + b"a" * (64 * 1024 * 1024)  # built once: the GIL stays free

    def oversized_heads() -> None:
        while not stop_attack.is_set():
            with socket.create_connection(server, timeout=10) as sock:
                _send_quietly(sock, oversized)

    def slowloris() -> None:
        while not stop_attack.is_set():
            with socket.create_connection(server, timeout=10) as sock:
                _send_quietly(sock, b"GET /health HTTP/1.1\r\n")
                while not stop_attack.is_set():
                    time.sleep(0.2)
                    try:
                        sock.sendall(b"X: y\r\n")
                    except OSError:
                        break  # cut off by the deadline: open the next one

    attackers = [threading.Thread(target=target, daemon=True) for target in (oversized_heads, slowloris, slowloris)]
    for thread in attackers:
        thread.start()
    latencies = []
    try:
        with httpx.Client(base_url=f"http://{server[0]}:{server[1]}", timeout=10) as client:
            for _ in range(60):
                started = time.perf_counter()
                assert client.get("/health").status_code == 200
                latencies.append(time.perf_counter() - started)
                time.sleep(0.02)
    finally:
        stop_attack.set()
        for thread in attackers:
            thread.join(timeout=15)
    worst = max(latencies)
    assert statistics.median(latencies) < 0.25 and worst < 2.0, f"median {statistics.median(latencies):.3f} s, " \
                                                                 f"worst {worst:.3f} s"


def test_a_client_that_half_closes_after_its_request_still_gets_the_response(server: tuple[str, int]) -> None:
    """``shutdown(SHUT_WR)`` right after the request: the server's transport closes when it reads the end of
    the stream, and the response written in that same turn of the event loop still goes out first."""
    for _ in range(20):
        with socket.create_connection(server, timeout=10) as sock:
            sock.sendall(b"GET /no-such-page HTTP/1.1\r\nHost: test\r\n\r\n")
            sock.shutdown(socket.SHUT_WR)
            status, headers, body = _read_response(sock)
        assert status == 404 and len(body) == int(headers["content-length"]) and json.loads(body)["detail"]
