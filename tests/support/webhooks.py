"""A real HTTP server on loopback that records alert webhooks; it can fail or stall on chosen requests."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Receiver:
    """Answers each POST with the next status of ``plan`` (then 200); ``stall`` holds a request open."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.attempts = 0
        self.plan: list[int] = []
        self.stall_first: float = 0.0
        self.release = threading.Event()
        self.arrived = threading.Condition()
        self.url = ""

    def wait_for(self, count: int, timeout: float = 10.0) -> bool:
        with self.arrived:
            return self.arrived.wait_for(lambda: len(self.received) >= count, timeout)


@contextmanager
def webhook_receiver() -> Iterator[Receiver]:
    receiver = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the http.server API
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            receiver.attempts += 1
            attempt = receiver.attempts
            if attempt == 1 and receiver.stall_first:
                receiver.release.wait(receiver.stall_first)
                return  # the client timed out long ago; this attempt does not count as delivered
            status = receiver.plan.pop(0) if receiver.plan else 200
            if status == 200:
                with receiver.arrived:
                    receiver.received.append(body)
                    receiver.arrived.notify_all()
            try:
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")
            except OSError:  # the client gave up on a stalled request
                pass

        def log_message(self, *_args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/alerts"
    try:
        yield receiver
    finally:
        receiver.release.set()
        server.shutdown()
        server.server_close()
        thread.join(5)
