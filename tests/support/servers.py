"""Real ``sentiment-mlops serve`` processes for the fault tests, a load that records every id served, and
a loopback TCP proxy that can make a PostgreSQL server disappear."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from support.polling import free_port

STARTUP_SECONDS = 60
CLI = [sys.executable, "-c", "import sys; from sentiment_mlops.cli import main; main(sys.argv[1:])"]
TEXTS = ["the flight was great", "lost my bag again, worst airline ever", "is the lounge open?",
         "thanks for the upgrade, lovely crew", "delayed three hours and nobody told us"]


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    base: str
    log: Path

    def metric(self, name: str) -> float:
        for line in httpx.get(f"{self.base}/metrics", timeout=5).text.splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        raise KeyError(name)

    def health(self) -> dict[str, object]:
        return dict(httpx.get(f"{self.base}/health", timeout=5).json())

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def start_server(workdir: Path, models_dir: Path, env: dict[str, str],
                 preexec_fn: Callable[[], None] | None = None) -> Server:
    port = free_port()
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("SENTIMENT_MLOPS_")}
    full_env.update({"SENTIMENT_MLOPS_MODELS_DIR": str(models_dir), "MLFLOW_TRACKING_URI": f"sqlite:///{workdir}/m.db",
                     "PYTHONPATH": os.pathsep.join(p for p in sys.path if p.endswith("src"))})
    full_env.update(env)
    log = workdir / f"server-{port}.log"
    with log.open("wb") as handle:
        process = subprocess.Popen([*CLI, "serve", "--env", "local", "--port", str(port)], cwd=workdir,
                                   env=full_env, stdout=handle, stderr=subprocess.STDOUT, preexec_fn=preexec_fn)
    server = Server(process, f"http://127.0.0.1:{port}", log)
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited {process.returncode}: {server.output()}")
        try:
            if httpx.get(f"{server.base}/health", timeout=1).status_code == 200:
                return server
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"server did not answer /health in time: {server.output()}")


def stop_server(server: Server, timeout: float = 30) -> float:
    """SIGTERM, wait for the exit; returns the seconds it took."""
    started = time.monotonic()
    if server.process.poll() is None:
        server.process.send_signal(signal.SIGTERM)
    try:
        server.process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()
        raise
    return time.monotonic() - started


@dataclass
class Load:
    """Clients posting /predict until stopped; ``served`` maps each id returned to when its answer arrived."""

    base: str
    clients: int = 4
    served: dict[str, float] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    failures: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> Load:
        for number in range(self.clients):
            thread = threading.Thread(target=self._client, args=(number,), daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def _client(self, number: int) -> None:
        with httpx.Client(base_url=self.base, timeout=30) as client:
            i = number
            while not self._stop.is_set():
                started = time.monotonic()
                try:
                    response = client.post("/predict", json={"text": f"{TEXTS[i % len(TEXTS)]} {i}"})
                except httpx.TransportError:  # the server was killed under us
                    with self._lock:
                        self.failures += 1
                    time.sleep(0.01)
                    continue
                answered = time.monotonic()
                i += self.clients
                with self._lock:
                    if response.status_code == 200:
                        self.served[response.json()["id"]] = answered
                        self.latencies.append(answered - started)
                    else:
                        self.failures += 1

    def stop(self) -> Load:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)
        return self

    def latencies_since(self, index: int) -> list[float]:
        with self._lock:
            return sorted(self.latencies[index:])


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


class TcpProxy:
    """127.0.0.1:<port> → ``upstream``; ``stop`` closes the listener and cuts every connection (the database
    has vanished), ``start`` listens again on the same port."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.port = free_port()
        self._listener: socket.socket | None = None
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()

    def start(self) -> TcpProxy:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        return self

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.upstream)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets.update((client, server))
            for source, target in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(source, target), daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                target.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, target):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def stop(self) -> None:
        if self._listener is not None:
            try:
                self._listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
            except OSError:
                pass
            self._listener.close()
            self._listener = None
        with self._lock:
            sockets, self._sockets = self._sockets, set()
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()
