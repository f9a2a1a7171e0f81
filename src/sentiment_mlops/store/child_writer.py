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

It also answers production's shadow (``serving.shadow``): a live row arrives marked with the model to answer
its text with too (``store.rows.SHADOW_WITH``), and the shadow row is made here (``store.rows.shadow_row``);
the server's compiled scorer of that verified version goes over the pipe once (``("model", key, version,
scorer)``; the last ``MAX_SHADOW_MODELS`` are kept), and each batch's shadow rows are scored together before
the insert, so a shadow costs the server only a mark on the rows it queues anyway. A shadow row the process
cannot score is left out and logged; the live rows beside it are inserted all the same. (A server without this
process scores its shadow in a thread with the same ``score_shadow_rows``, on rows it made, ``SCORE_WITH``.)

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
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from typing import IO, TYPE_CHECKING, Any, Protocol

from sentiment_mlops.errors import StoreError
from sentiment_mlops.store.rows import SCORE_WITH, SHADOW_WITH, shadow_row

if TYPE_CHECKING:
    from sqlalchemy.engine import URL

logger = logging.getLogger(__name__)

_LENGTH = struct.Struct("!Q")
# The child yields the CPU to the server (and to anything else at normal priority) when cores are short: its
# batches are not latency-bound, and the queue, the journal and their gauges cover a child that falls behind.
# +10, not the lowest +19: what the server's queue holds when it is killed (-9) is what is lost, and at +19 a
# child on a machine whose cores are busy at normal priority fell behind far enough that a kill lost rows
# answered 1.45 s before it (tests/faults/test_prediction_log_faults.py, 2 of 7 runs beside the other tests)
# instead of about one flush interval. At +10 the shadow at 100% costs -0.5% of throughput and -4.2% p99 on a
# store of 500,000 rows (benchmarks/shadow.py, 2026-11-30 18:02 UTC), within its budget as at +19.
NICENESS = 10
# Shadow models the process keeps (a shadow moves to a new version now and then; the old one goes).
MAX_SHADOW_MODELS = 2
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


def _expect_ok(answer: tuple[str, Any]) -> None:
    if answer[0] != "ok":
        raise StoreError(str(answer[1]))


class ShadowModel(Protocol):
    """What a shadow row to be scored carries (``serving.model_holder.ServedModel``)."""

    @property
    def key(self) -> str: ...
    @property
    def version(self) -> str: ...
    @property
    def scorer(self) -> Any: ...


def models_by_key(rows: Sequence[dict[str, Any]]) -> dict[str, ShadowModel]:
    """The shadow models the live rows of ``rows`` are marked with (``SHADOW_WITH``), by key; each row then names
    its model by key only."""
    models: dict[str, ShadowModel] = {}
    for row in rows:
        model = row.get(SHADOW_WITH)
        if model is not None and not isinstance(model, str):
            models[model.key] = model
            row[SHADOW_WITH] = model.key
    return models


def score_shadow_rows(rows: list[dict[str, Any]], models: Mapping[str, tuple[str, Any]]) -> tuple[
        list[dict[str, Any]], dict[str, int]]:
    """Answer the shadow work in ``rows`` with its models (``models``: key -> (version, scorer)), in one batch
    per model: the shadow rows still to be scored, and a new shadow row for each live row marked
    ``SHADOW_WITH`` (call before ``finish_rows``). Returns the rows to insert and the rows scored per version.
    A shadow row whose model is missing or fails is left out (logged): the live rows beside it are inserted all
    the same."""
    pending: dict[str, list[dict[str, Any]]] = {}
    kept = []
    for row in rows:
        key = row.get(SCORE_WITH)
        if key is not None:
            pending.setdefault(str(key), []).append(row)
            continue
        kept.append(row)
        key = row.pop(SHADOW_WITH, None)
        if key is not None:
            pending.setdefault(str(key), []).append(shadow_row(row, str(key)))
    scored: dict[str, int] = {}
    for key, group in pending.items():
        if key not in models:
            logger.error("no shadow model %s in the store writer process; %d shadow rows left out", key,
                         len(group))
            continue
        version, scorer = models[key]
        started = time.perf_counter()
        try:
            matrix = scorer.predict_proba([row["text"] for row in group]).tolist()
        except Exception:  # a shadow that cannot score must not cost the live rows their insert
            logger.exception("the shadow version %s failed to score %d texts", version, len(group))
            continue
        latency_ms = (time.perf_counter() - started) * 1000.0 / len(group)
        classes = list(scorer.classes)
        for row, probabilities in zip(group, matrix, strict=True):
            best = max(range(len(probabilities)), key=probabilities.__getitem__)
            del row[SCORE_WITH]
            row.update(model_version=version, sentiment=classes[best], confidence=probabilities[best],
                       latency_ms=latency_ms,
                       probabilities=dict(zip(classes, probabilities, strict=True)))
            kept.append(row)
        scored[version] = scored.get(version, 0) + len(group)
    return kept, scored


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
        # Told how many shadow rows each batch scored, per model version (``serving.shadow`` counts them).
        self.on_shadow_scored: Callable[[str, int], None] | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._models_sent: set[str] = set()  # the shadow models the current process holds
        self._lock = threading.Lock()  # close() against a write in flight
        self._io = threading.Lock()  # one exchange on the pipe at a time: the writer's batches, a preload
        self._closed = False

    def _start(self) -> subprocess.Popen[bytes]:
        process = subprocess.Popen([sys.executable, "-m", "sentiment_mlops.store.child_writer"],
                                   stdin=subprocess.PIPE, stdout=subprocess.PIPE, close_fds=True)
        assert process.stdin is not None and process.stdout is not None
        _send(process.stdin, {"url": self.url})
        return process

    def _running(self) -> subprocess.Popen[bytes]:
        """The process, started (again) if it is not running; StoreError once closed."""
        with self._lock:
            if self._closed:
                raise StoreError("the prediction store writer is closed")
            if self._process is None or self._process.poll() is not None:
                if self._process is not None:
                    self.restarts += 1
                    logger.warning("the prediction store writer process exited (code %s); starting another",
                                   self._process.returncode)
                self._process = self._start()
                self._models_sent = set()
            return self._process

    def start(self) -> None:
        """Start the process now (it opens the store while the server is still starting), rather than with the
        first batch, when rows would wait for it."""
        self._running()

    def preload(self, model: ShadowModel) -> None:
        """Send a shadow model before its first rows (unpickling it imports scikit-learn and scipy there, a second
        or two in which batches would wait and the shadow's rows be dropped); a failure is only logged."""
        try:
            process = self._running()
            with self._io:
                self._send_model(process, model)
        except (StoreError, EOFError, OSError, ValueError) as exc:
            logger.warning("could not send shadow version %s to the store writer process ahead (%s); its first "
                           "batch sends it", model.version, exc)

    def _send_model(self, process: subprocess.Popen[bytes], model: ShadowModel) -> None:
        """Send ``model`` unless the process holds it already (call with ``_io`` held)."""
        if model.key in self._models_sent:
            return
        assert process.stdin is not None and process.stdout is not None
        _send(process.stdin, ("model", model.key, model.version, model.scorer))
        _expect_ok(_receive(process.stdout))
        self._models_sent.add(model.key)

    def insert_predictions(self, rows: Sequence[dict[str, Any]]) -> None:
        """Insert ``rows`` in the child's store, in one transaction; StoreError when it could not."""
        process = self._running()
        assert process.stdin is not None and process.stdout is not None
        models = models_by_key(rows)
        try:
            with self._io:
                for model in models.values():
                    self._send_model(process, model)
                _send(process.stdin, ("rows", list(rows)))
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
        if self.on_shadow_scored is not None:
            for version, count in detail["shadow"].items():
                self.on_shadow_scored(version, count)

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


class _Child:
    """The child's state: its store (opened again after a failed batch) and the shadow models it was sent."""

    def __init__(self, config: dict[str, Any]) -> None:
        from sentiment_mlops.store import PredictionStore

        self.url = str(config["url"])
        self.open_store = PredictionStore
        self.models: OrderedDict[str, tuple[str, Any]] = OrderedDict()  # the most recent last
        self.store: Any = None
        try:
            self.store = self.open_store(self.url)
        except Exception as exc:  # unreachable now: every batch tries again, and the server journals meanwhile
            logger.warning("cannot open the prediction store yet: %s", exc)

    def answer(self, message: tuple[Any, ...]) -> tuple[str, Any]:
        if message[0] == "model":  # a shadow version's compiled scorer, verified and loaded by the server
            _, key, version, scorer = message
            self.models[key] = (version, scorer)
            self.models.move_to_end(key)
            while len(self.models) > MAX_SHADOW_MODELS:
                self.models.popitem(last=False)
            return ("ok", None)
        from sentiment_mlops.store.rows import finish_rows

        try:
            rows, scored = score_shadow_rows(message[1], self.models)
            if self.store is None:
                self.store = self.open_store(self.url)
            self.store.insert_predictions(finish_rows(rows))
            return ("ok", {"rows": len(rows), "shadow": scored})
        except Exception as exc:  # the parent journals the batch and reports the reason
            self.close()  # a fresh connection for the next batch (a restarted server, a freed disk)
            return ("error", str(exc) if isinstance(exc, StoreError) else f"{type(exc).__name__}: {exc}")

    def close(self) -> None:
        if self.store is not None:
            self.store.close()
            self.store = None


def main() -> int:
    """The child: read the store URL, then insert each batch the parent sends and answer how it went."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    os.nice(NICENESS)
    incoming, outgoing = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # anything printed by a library goes to the server's log, not into the pipe
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s (store writer): %(message)s")
    try:
        child = _Child(_receive(incoming))
    except EOFError:
        return 0
    while True:
        try:
            message = _receive(incoming)
        except EOFError:
            break
        try:
            _send(outgoing, child.answer(message))
        except (BrokenPipeError, OSError):
            break
    child.close()
    return 0


if __name__ == "__main__":
    os._exit(main())
