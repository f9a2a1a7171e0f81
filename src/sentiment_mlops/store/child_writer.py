"""The prediction log's inserts in a child process, so that a server's interpreter lock serves requests only.

A server is bound by its interpreter lock: one core's worth of Python. Inserting a logged prediction costs the
writer thread ~20 us of Python per row in a quiet process and ~50 us in a server under load (its lock
hand-overs with the event loop), all of it taken from the requests; README "Measured figures" has the
numbers. ``ChildWriter`` hands each batch to ``python -m sentiment_mlops.store.child_writer``, its own
process with its own ``PredictionStore``: the writer thread pickles the batch (C code, ~1-2 us a row), writes
it to the child's stdin and waits, without the lock, for the answer on its stdout. The child runs the same
``PredictionStore.insert_predictions`` the thread ran, so the rows, totals and transactions are the same.

What the writer thread promised still holds (``serving.prediction_log``): a failed insert comes back as a
``StoreError`` with the store's message and the writer journals the batch; a child that died (killed, out of
memory) is one too, and the next batch starts a new child; a batch the child committed just before dying is
replayed from the journal without duplicates (ids are skipped). The child ignores SIGINT and SIGTERM (the
server drains it on shutdown; a terminal's Ctrl-C or a whole process group's SIGTERM reaches both), and
exits when its stdin closes: when the server closes it or dies, ``kill -9`` included, after the batch it was
writing. The store URL goes through the pipe, never the command line (``ps`` would show its password).

The pipe carries pickles between this package's two ends only; nothing from a client is unpickled.
"""

from __future__ import annotations

import logging
import os
import pickle
import signal
import struct
import subprocess
import sys
import threading
from collections.abc import Sequence
from typing import IO, TYPE_CHECKING, Any

from sentiment_mlops.errors import StoreError

if TYPE_CHECKING:
    from sqlalchemy.engine import URL

logger = logging.getLogger(__name__)

_LENGTH = struct.Struct("!Q")
# The child yields the CPU to the server (and to anything else at normal priority) when cores are short: its
# batches are not latency-bound, and the queue, the journal and their gauges cover a child that falls behind.
NICENESS = 10
# How long a writer whose pipe broke waits for the child's exit status.
EXIT_WAIT_SECONDS = 2.0
# How long close() lets the child finish the batch it holds before killing it.
CLOSE_SECONDS = 10.0


def _send(stream: IO[bytes], message: Any) -> None:
    payload = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_LENGTH.pack(len(payload)))
    stream.write(payload)
    stream.flush()


def _receive(stream: IO[bytes]) -> Any:
    """The next message, or EOFError when the other end closed the pipe."""
    header = stream.read(_LENGTH.size)
    if len(header) < _LENGTH.size:
        raise EOFError
    (length,) = _LENGTH.unpack(header)
    payload = stream.read(length)
    if len(payload) < length:
        raise EOFError
    return pickle.loads(payload)  # noqa: S301 - our own parent's message on a private pipe


def writes_in_child(url: str | URL) -> bool:
    """Whether a child can write to ``url``: not an in-memory SQLite database, which only this process sees."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    return not (parsed.get_backend_name() == "sqlite" and (not parsed.database or "memory" in parsed.database))


class ChildWriter:
    """``insert_predictions`` through a child process (see the module docstring). One caller at a time: the
    prediction log's writer thread."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.restarts = 0
        self._process: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()  # close() against a write in flight
        self._closed = False

    def _start(self) -> subprocess.Popen[bytes]:
        process = subprocess.Popen([sys.executable, "-m", "sentiment_mlops.store.child_writer"],
                                   stdin=subprocess.PIPE, stdout=subprocess.PIPE, close_fds=True)
        assert process.stdin is not None and process.stdout is not None
        _send(process.stdin, {"url": self.url})
        return process

    def insert_predictions(self, rows: Sequence[dict[str, Any]]) -> None:
        """Insert ``rows`` in the child's store, in one transaction; StoreError when it could not."""
        with self._lock:
            if self._closed:
                raise StoreError("the prediction store writer is closed")
            if self._process is None or self._process.poll() is not None:
                if self._process is not None:
                    self.restarts += 1
                    logger.warning("the prediction store writer process exited (code %s); starting another",
                                   self._process.returncode)
                self._process = self._start()
            process = self._process
        assert process.stdin is not None and process.stdout is not None
        try:
            _send(process.stdin, list(rows))
            status, detail = _receive(process.stdout)
        except (EOFError, OSError, ValueError) as exc:  # the child died, or close() ended it under us
            try:
                code = process.wait(EXIT_WAIT_SECONDS)  # a pipe closes a moment before its process is reaped
            except subprocess.TimeoutExpired:  # alive but out of step with us: the next batch gets a new child
                process.kill()
                raise StoreError(f"the prediction store writer process failed: {exc!r}") from exc
            raise StoreError(f"the prediction store writer process exited (code {code}) before answering") from exc
        if status != "ok":
            raise StoreError(str(detail))

    def close(self, timeout: float = CLOSE_SECONDS) -> None:
        """Close the child's stdin (it exits after the batch it holds); kill it after ``timeout`` seconds."""
        with self._lock:
            self._closed = True
            process, self._process = self._process, None
        if process is None:
            return
        try:
            if process.stdin is not None:
                process.stdin.close()
        except OSError:
            pass
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            logger.error("the prediction store writer process did not stop within %.0f s; killing it", timeout)
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


def main() -> int:
    """The child: read the store URL, then insert each batch the parent sends and answer how it went."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    os.nice(NICENESS)
    incoming, outgoing = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # anything printed by a library goes to the server's log, not into the pipe
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s (store writer): %(message)s")
    try:
        config = _receive(incoming)
    except EOFError:
        return 0
    from sentiment_mlops.store import PredictionStore
    from sentiment_mlops.store.rows import finish_rows

    store = None
    while True:
        try:
            rows = _receive(incoming)
        except EOFError:
            break
        try:
            if store is None:
                store = PredictionStore(config["url"])
            store.insert_predictions(finish_rows(rows))
            answer: tuple[str, Any] = ("ok", len(rows))
        except Exception as exc:  # the parent journals the batch and reports the reason
            answer = ("error", str(exc) if isinstance(exc, StoreError) else f"{type(exc).__name__}: {exc}")
            if store is not None:
                store.close()
                store = None  # a fresh connection for the next batch (a restarted server, a freed disk)
        try:
            _send(outgoing, answer)
        except (BrokenPipeError, OSError):
            break
    if store is not None:
        store.close()
    return 0


if __name__ == "__main__":
    os._exit(main())
