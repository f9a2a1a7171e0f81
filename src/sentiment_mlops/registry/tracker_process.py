"""A ``RunTracker`` in a second process, so MLflow opens on the other core while the model trains.

Importing MLflow, creating or checking the SQLite schema and importing skops cost 4-6 s of pure
Python; on a thread they would only contend for the GIL with training. ``TrackerProcess`` starts a
spawned process at once, which gets MLflow ready while the parent loads data and fits, then serves the
same calls as ``RunTracker`` over a pipe, one at a time and in order. The store itself is opened only
after ``open()`` (once the data is known to be good), so a failed load writes nothing.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import multiprocessing
import os
import sys
from collections.abc import Iterator, Mapping
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from sentiment_mlops.errors import RegistryError, SentimentMLOpsError

_CALLS = frozenset({"start_run", "end_run", "log_params", "log_metrics", "log_artifacts", "log_model",
                    "model_digest", "register", "set_version_tag"})
_READY = "ready"


def _send(conn: Connection, message: Any) -> bool:
    """Send to the parent; False when it has already gone (it failed or exited), which ends the loop."""
    try:
        conn.send(message)
    except OSError:
        return False
    return True


def _reply_error(conn: Connection, exc: BaseException) -> bool:
    if not isinstance(exc, SentimentMLOpsError):
        first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        exc = RegistryError(f"MLflow failed: {first_line}")
    return _send(conn, ("error", exc))


def _warm_up() -> None:
    """Import what logging a skops model needs, while the parent is still training."""
    import mlflow.sklearn  # noqa: F401
    import skops.io  # noqa: F401
    from mlflow.models import infer_signature  # noqa: F401


def _process_main(conn: Connection, tracking_uri: str, experiment_name: str, model_name: str) -> None:
    """The spawned process: ``serve`` with the collector held off while MLflow opens, then a fast exit."""
    # Importing MLflow, SQLAlchemy and skops and creating the schema allocate hundreds of thousands of
    # objects that all live as long as the process; collecting them again and again costs 15-20% of
    # the start-up. ``serve`` turns the collector back on once the store is open.
    gc.disable()
    serve(conn, tracking_uri, experiment_name, model_name, collector_held=True)
    if "coverage" not in sys.modules:  # coverage saves a child's data only at a normal exit
        # Tearing down an interpreter holding MLflow, scikit-learn and pandas takes about a second, and
        # whoever reads the command's output (a pipe, CI, the benchmark) waits for this process to let
        # go of it. Every call has been answered and every store write committed by now.
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)


def serve(conn: Connection, tracking_uri: str, experiment_name: str, model_name: str, *,
          collector_held: bool = False) -> None:
    """The child's loop: import MLflow, open the store when asked, then answer calls until ``None``.

    ``collector_held``: the caller disabled the garbage collector for the start-up; it is frozen and
    turned back on once the store is open.
    """
    try:
        from sentiment_mlops.registry.client import quiet_mlflow
        from sentiment_mlops.registry.tracking import RunTracker

        quiet_mlflow()
        _warm_up()
        # The store is opened (created on first use) only once the parent has validated its data, so
        # that bad data leaves no mlflow.db behind.
        if conn.recv() is None:
            return
        tracker = RunTracker(tracking_uri, experiment_name, model_name)
    except EOFError:
        return
    except BaseException as exc:  # report any failure to the parent instead of dying silently
        _reply_error(conn, exc)
        return
    if collector_held:
        gc.freeze()  # what the imports built stays for good: keep it out of every later collection
        gc.enable()
    alive = _send(conn, (_READY, None))
    while alive:
        try:
            message = conn.recv()
        except EOFError:  # the parent went away
            break
        if message is None:
            break
        method, args, kwargs = message
        try:
            if method not in _CALLS:
                raise RegistryError(f"unknown tracker call {method!r}")
            result = getattr(tracker, method)(*args, **kwargs)
        except BaseException as exc:
            alive = _reply_error(conn, exc)
        else:
            alive = _send(conn, ("ok", result))
    with contextlib.suppress(Exception):
        tracker.mlflow.end_run("FAILED")  # only does something if the parent vanished mid-run
    conn.close()


class TrackerProcess:
    """The ``Tracker`` interface of ``training.run``, served by a ``RunTracker`` in a spawned process."""

    def __init__(self, tracking_uri: str, experiment_name: str, model_name: str) -> None:
        context = multiprocessing.get_context("spawn")  # fork would copy the parent's threads and locks
        self._conn, child = context.Pipe()
        self._process = context.Process(target=_process_main, args=(child, tracking_uri, experiment_name, model_name),
                                        name="sentiment-mlops-tracker", daemon=True)
        self._process.start()
        child.close()
        self._ready = self._opened = False

    def open(self) -> None:
        """Let the child open (or create) the MLflow store; returns at once."""
        if not self._opened:
            self._opened = True
            with contextlib.suppress(OSError):  # a child that already failed reports why on _receive
                self._conn.send(_READY)

    def _receive(self) -> Any:
        try:
            status, value = self._conn.recv()
        except (EOFError, OSError) as exc:
            code = self._process.exitcode
            raise RegistryError(f"the MLflow tracker process stopped unexpectedly (exit code {code})") from exc
        if status == "error":
            raise value
        return value

    def wait_ready(self) -> None:
        """Block until MLflow is open in the child; raises the child's ``RegistryError`` if it could not."""
        if not self._ready:
            self.open()
            self._receive()
            self._ready = True

    def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        self.wait_ready()
        self._conn.send((method, args, kwargs))
        return self._receive()

    @contextlib.contextmanager
    def run(self, run_name: str | None = None, *, nested: bool = False,
            tags: Mapping[str, str] | None = None) -> Iterator[str]:
        """Start a run and yield its id; the run ends FAILED if the block raises."""
        run_id = self._call("start_run", run_name, nested=nested, tags=dict(tags or {}))
        try:
            yield run_id
        except BaseException:
            with contextlib.suppress(SentimentMLOpsError):
                self._call("end_run", "FAILED")
            raise
        self._call("end_run", "FINISHED")

    def log_params(self, params: Mapping[str, Any]) -> None:
        self._call("log_params", dict(params))

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        self._call("log_metrics", dict(metrics), step=step)

    def log_artifacts(self, directory: Path) -> None:
        self._call("log_artifacts", Path(directory))

    def log_model(self, pipeline: Any, example_texts: list[str]) -> str:
        return str(self._call("log_model", pipeline, list(example_texts[:3])))

    def model_digest(self, model_uri: str) -> dict[str, str]:
        return dict(self._call("model_digest", model_uri))

    def register(self, model_uri: str, tags: Mapping[str, str]) -> str:
        return str(self._call("register", model_uri, dict(tags)))

    def set_version_tag(self, version: str, key: str, value: str) -> None:
        self._call("set_version_tag", version, key, value)

    def close(self) -> None:
        """Ask the child to finish; it exits on its own (waiting for its teardown would cost a second)."""
        if not self._opened:
            # Bad data or options: the child is still importing and has not touched the store, so stop
            # it rather than let it finish seconds of imports. Once opened it is never killed: stopped
            # while creating a fresh SQLite store, it would leave a half-migrated schema behind.
            self._process.terminate()
            self._process.join(timeout=5)
        elif not self._ready:
            # Opened but the run failed before using it: let the store finish initialising, or the next
            # command could find a fresh SQLite schema half-migrated by this child.
            with contextlib.suppress(SentimentMLOpsError):
                self._receive()
        with contextlib.suppress(OSError, ValueError):
            self._conn.send(None)
        self._conn.close()

    def __enter__(self) -> TrackerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
