"""Where partitions are scored: in this process (``local``) or on a Dask cluster (``dask``).

Both engines take the same partitions and give back the same frames in the same order, with at most a
few partitions in flight so that memory stays bounded whatever the input size. The Dask engine sends the
verified, compiled model to every worker once; no worker resolves or loads a model itself (workers that
each opened one SQLite MLflow store raced creating its tables).
"""

from __future__ import annotations

import importlib
import logging
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, Protocol, TypeVar

import pandas as pd

from sentiment_mlops.errors import ClusterError, ConfigurationError
from sentiment_mlops.scaling.inputs import InputFile
from sentiment_mlops.scaling.kinds import EngineKind
from sentiment_mlops.scaling.partition import ScoringModel, score_partition
from sentiment_mlops.scaling.parts import probe_paths, sees_paths

INSTALL_HINT = "pip install 'sentiment-mlops[dask]'"
CONNECT_TIMEOUT_SECONDS = 10.0


# One partition to score: (texts, first row, file name, ids or None).
Partition = tuple[list[str], int, str, list[object] | None]
Scored = tuple[pd.DataFrame, float]
Result = TypeVar("Result")


class Engine(Protocol):
    """Scores partitions with one model and yields the results in submission order."""

    description: str
    workers: int

    def score(self, model: ScoringModel, partitions: Iterable[Partition]) -> Iterator[Scored]: ...
    def run(self, task: Callable[..., Result], items: Iterable[Any], *shared: Any) -> Iterator[Result]: ...
    def sees(self, out: Path, files: list[InputFile]) -> bool: ...
    def close(self) -> None: ...


class LocalEngine:
    """Everything in this process, one partition at a time."""

    description = "local (this process)"
    workers = 1

    def score(self, model: ScoringModel, partitions: Iterable[Partition]) -> Iterator[Scored]:
        for texts, first_row, file, ids in partitions:
            yield score_partition(model, texts, first_row, file, ids)

    def run(self, task: Callable[..., Result], items: Iterable[Any], *shared: Any) -> Iterator[Result]:
        """``task(item, *shared)`` for each item, in order."""
        for item in items:
            yield task(item, *shared)

    def sees(self, out: Path, files: list[InputFile]) -> bool:
        """Whether the partitions should be read and written where they are scored: no, this process reads
        them as it scores them."""
        return False

    def close(self) -> None:
        pass


def _import_distributed() -> Any:
    try:
        import distributed
    except ImportError as exc:
        raise ConfigurationError(f"--engine dask needs dask and distributed, which are not installed: "
                                 f"{INSTALL_HINT}") from exc
    return distributed


# What a worker imports to unpickle a compiled model and run the scoring and training tasks. Imported when
# the engine starts, on every worker at once, not in the first task (scikit-learn alone takes ~1.5 s).
WORKER_MODULES = ("sklearn.feature_extraction.text", "pyarrow.parquet", "sentiment_mlops.scaling.parts",
                  "sentiment_mlops.scaling.training_tasks")


def prepare_worker() -> None:
    for module in WORKER_MODULES:
        importlib.import_module(module)


class DaskEngine:
    """A Dask client: on an existing scheduler, or on a LocalCluster it starts (and stops) itself."""

    def __init__(self, scheduler: str | None = None, workers: int | None = None, *, trim_memory: bool = True) -> None:
        distributed = _import_distributed()
        self._cluster: Any = None
        if scheduler is None:
            n_workers = workers or os.cpu_count() or 1
            # Processes, not threads: scoring holds the interpreter lock for most of its time. Without the
            # workers' statistical profiler (a stack sample every 10 ms, for a dashboard this cluster does not
            # serve). ``trim_memory=False`` also drops Dask's MALLOC_TRIM_THRESHOLD_ = 64 KiB, which fixes
            # glibc's mmap threshold so that every large temporary array is mapped and unmapped again: ~10%
            # of a scoring worker's time (benchmarks/batch_scoring.py, peak RSS within budget). Training keeps
            # it: its workers' peak memory was measured with it.
            import dask

            settings: dict[str, Any] = {"distributed.worker.profile.enabled": False}
            if not trim_memory:
                settings["distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_"] = None
            with dask.config.set(settings):
                self._cluster = distributed.LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                                                         host="127.0.0.1", dashboard_address=None,
                                                         silence_logs=logging.ERROR)
            address = self._cluster.scheduler_address
        else:
            address = scheduler
        try:
            self.client = distributed.Client(address, timeout=CONNECT_TIMEOUT_SECONDS, set_as_default=False)
        except (OSError, TimeoutError) as exc:
            self.close()
            detail = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise ClusterError(f"cannot reach the Dask scheduler at {address}: {detail}") from exc
        self.workers = max(len(self.client.scheduler_info(n_workers=-1).get("workers", {})), 1)
        try:
            self.client.run(prepare_worker)
        except Exception as exc:  # an import error on a worker as much as a lost connection
            self.close()
            raise ClusterError(f"the Dask workers at {address} failed to start: {exc}") from exc
        where = "LocalCluster on 127.0.0.1" if scheduler is None else scheduler
        self.description = f"dask ({where}, {self.workers} workers)"

    def score(self, model: ScoringModel, partitions: Iterable[Partition]) -> Iterator[Scored]:
        [shipped] = self.client.scatter([model], broadcast=True, hash=False)
        submissions = ((score_partition, shipped, texts, first_row, file, ids)
                       for texts, first_row, file, ids in partitions)
        return self._ordered(submissions, "scoring")

    def run(self, task: Callable[..., Result], items: Iterable[Any], *shared: Any) -> Iterator[Result]:
        """``task(item, *shared)`` for each item on the workers, in order; ``shared`` goes to each worker once."""
        shipped = self.client.scatter(list(shared), broadcast=True, hash=False) if shared else []
        return self._ordered(((task, item, *shipped) for item in items), task.__name__)

    def sees(self, out: Path, files: list[InputFile]) -> bool:
        """Whether every worker reads a file the client has just written to ``out`` and sees ``files`` with
        the client's sizes and modification times: always on a LocalCluster, on an existing cluster only
        with a shared file system. Then the workers read, score and write the partitions themselves."""
        try:
            probe, token = probe_paths(out)
        except OSError:  # --out is read-only here: the client path reads and writes (a finished job resumes)
            return False
        try:
            answers = self.client.run(sees_paths, str(probe), token,
                                      [(str(f.path.resolve()), f.size, f.mtime_ns) for f in files])
        except (OSError, TimeoutError) as exc:
            raise ClusterError(f"the Dask cluster failed to check its workers' files: {exc}") from exc
        finally:
            probe.unlink(missing_ok=True)
        return bool(answers) and all(answers.values())

    def _ordered(self, submissions: Iterable[tuple[Any, ...]], what: str) -> Iterator[Any]:
        in_flight: deque[Any] = deque()
        window = 2 * self.workers  # enough to keep every worker busy while one result travels back
        try:
            for function, *args in submissions:
                in_flight.append(self.client.submit(function, *args, pure=False))
                if len(in_flight) >= window:
                    yield self._result(in_flight.popleft(), what)
            while in_flight:
                yield self._result(in_flight.popleft(), what)
        finally:
            for future in in_flight:
                future.cancel()

    @staticmethod
    def _result(future: Any, what: str) -> Any:
        from distributed import KilledWorker
        from distributed.client import FutureCancelledError

        try:
            return future.result()
        except (OSError, TimeoutError) as exc:
            raise ClusterError(f"the Dask cluster failed a {what} task: {exc}") from exc
        except KilledWorker as exc:
            raise ClusterError(f"the Dask workers running a {what} task died (out of memory or killed): rerun "
                               "the same command to resume") from exc
        except FutureCancelledError as exc:
            raise ClusterError(f"the Dask cluster dropped a {what} task (a worker died or the scheduler "
                               "restarted): rerun the same command to resume") from exc

    def close(self) -> None:
        client = getattr(self, "client", None)
        if client is not None:
            client.close()
            self.client = None
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None


def open_engine(kind: EngineKind, scheduler: str | None = None, workers: int | None = None, *,
                trim_memory: bool = True) -> Engine:
    """The engine ``--engine`` names; ``--scheduler`` only means something to Dask."""
    if kind is EngineKind.LOCAL:
        if scheduler is not None:
            raise ConfigurationError("--scheduler needs --engine dask")
        return LocalEngine()
    return DaskEngine(scheduler, workers, trim_memory=trim_memory)
