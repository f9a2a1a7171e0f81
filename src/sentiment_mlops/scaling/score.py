"""``score``: read the inputs in partitions, skip the ones already written, score the rest on an engine,
write each as a Parquet part, and (``--log``) record its rows in the prediction store as ``batch``."""

from __future__ import annotations

import hashlib
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pandas as pd

from sentiment_mlops.integrity import text_digest
from sentiment_mlops.scaling.engine import Engine, Partition
from sentiment_mlops.scaling.inputs import InputFile, read_chunks, text_values
from sentiment_mlops.scaling.output import ScoreOutput, write_part
from sentiment_mlops.scaling.partition import ScoringModel, probability_column
from sentiment_mlops.scaling.parts import RunOptions, accept, plan_runs, score_run
from sentiment_mlops.store.schema import BATCH_SOURCE

DEFAULT_PARTITION_ROWS = 50_000
LOG_ROUTE = "score"


class PredictionSink(Protocol):
    """Where ``--log`` writes: ``PredictionStore`` in production, a list in tests."""

    def insert_new_predictions(self, rows: Sequence[dict[str, Any]]) -> list[str]: ...


@dataclass(frozen=True)
class ScoreJob:
    """What to score and where to write it."""

    files: list[InputFile]
    out: Path
    text_column: str = "text"
    id_column: str | None = None  # the input column copied to the output's ``id`` (None: none)
    partition_rows: int = DEFAULT_PARTITION_ROWS

    def output(self, model_version: str) -> ScoreOutput:
        identity = {"inputs": [f.identity() for f in self.files], "text_column": self.text_column,
                    "id_column": self.id_column, "partition_rows": self.partition_rows,
                    "model_version": model_version}
        return ScoreOutput(self.out, identity)


@dataclass(frozen=True)
class BatchLog:
    """How ``--log`` records rows: the store, the environment named on them, and whether texts are kept."""

    sink: PredictionSink
    environment: str
    log_text: bool = True


@dataclass
class ScoreSummary:
    rows_scored: int = 0
    rows_empty: int = 0
    partitions_written: int = 0
    partitions_skipped: int = 0
    rows_logged: int = 0
    seconds: float = 0.0
    reader: str = "client"  # who read and wrote the partitions: "client" (this process) or "workers"


@dataclass(frozen=True)
class _Pending:
    part: Path
    file_index: int
    first_row: int
    texts: list[str]


def _partitions(job: ScoreJob, output: ScoreOutput, summary: ScoreSummary, pending: deque[_Pending],
                on_progress: Callable[[int], None]) -> Iterator[Partition]:
    columns = [job.text_column] + ([job.id_column] if job.id_column else [])
    for file_index, file in enumerate(job.files):
        first_row = 0
        for chunk_index, frame in enumerate(read_chunks(file, columns, job.partition_rows)):
            part = output.part(file_index, chunk_index)
            rows = len(frame)
            if part.is_file():
                summary.partitions_skipped += 1
                on_progress(rows)
            else:
                texts = text_values(frame[job.text_column].tolist(), file, first_row)
                ids = frame[job.id_column].tolist() if job.id_column else None
                pending.append(_Pending(part, file_index, first_row, texts))
                yield texts, first_row, file.path.name, ids
            first_row += rows


def _log_rows(log: BatchLog, output: ScoreOutput, pending: _Pending, scored: pd.DataFrame,
              seconds: float, classes: list[str]) -> list[dict[str, Any]]:
    latency_ms = seconds * 1000.0 / max(len(scored), 1)
    probabilities = scored[[probability_column(c) for c in classes]].to_numpy().tolist()
    rows = []
    prefix = f"{output.job_key}:{pending.file_index}:"
    for offset, (text, sentiment, confidence, version) in enumerate(
            zip(pending.texts, scored["sentiment"], scored["confidence"], scored["model_version"], strict=True)):
        if not text:
            continue
        row = pending.first_row + offset
        # The id follows from the job and the row: a resumed job re-logging a partition adds nothing twice.
        prediction_id = hashlib.sha256(f"{prefix}{row}".encode()).hexdigest()[:32]
        rows.append({"id": prediction_id, "environment": log.environment, "model_version": version,
                     "text": text if log.log_text else None,
                     "text_sha256": text_digest(text),
                     "text_length": len(text), "sentiment": sentiment, "confidence": float(confidence),
                     "probabilities": dict(zip(classes, probabilities[offset], strict=True)),
                     "latency_ms": latency_ms, "route": LOG_ROUTE, "source": BATCH_SOURCE})
    return rows


def score_files(job: ScoreJob, model: ScoringModel, engine: Engine, *, log: BatchLog | None = None,
                on_progress: Callable[[int], None] = lambda rows: None) -> ScoreSummary:
    """Score every partition of ``job`` not written yet; each part is written whole or not at all.

    Parquet inputs without ``--log`` are read and written by the workers themselves when they see the same
    files (``Engine.sees``); otherwise this process reads the partitions, ships them and writes the results.
    """
    started = time.perf_counter()
    output = job.output(model.version)
    output.prepare()
    if log is None and all(f.kind == "parquet" for f in job.files) and engine.sees(job.out, job.files):
        summary = _score_on_workers(job, model, engine, output, on_progress)
    else:
        summary = _score_here(job, model, engine, output, log, on_progress)
    summary.seconds = time.perf_counter() - started
    return summary


def _score_on_workers(job: ScoreJob, model: ScoringModel, engine: Engine, output: ScoreOutput,
                      on_progress: Callable[[int], None]) -> ScoreSummary:
    summary = ScoreSummary(reader="workers")
    runs, skipped = plan_runs(job.files, output, job.partition_rows, engine.workers)
    for rows in skipped:
        summary.partitions_skipped += 1
        on_progress(rows)
    options = RunOptions(job.text_column, job.id_column, job.partition_rows)
    for written in engine.run(score_run, runs, model, options):
        for part in written:
            accept(part)
            summary.partitions_written += 1
            summary.rows_scored += part.rows
            summary.rows_empty += part.empty
            on_progress(part.rows)
    return summary


def _score_here(job: ScoreJob, model: ScoringModel, engine: Engine, output: ScoreOutput, log: BatchLog | None,
                on_progress: Callable[[int], None]) -> ScoreSummary:
    summary = ScoreSummary()
    pending: deque[_Pending] = deque()
    for scored, seconds in engine.score(model, _partitions(job, output, summary, pending, on_progress)):
        done = pending.popleft()
        if log is not None:
            rows = _log_rows(log, output, done, scored, seconds, model.classes)
            log.sink.insert_new_predictions(rows)  # before the part: a rerun re-logs (ids dedupe), never skips
            summary.rows_logged += len(rows)
        write_part(done.part, scored)
        summary.partitions_written += 1
        summary.rows_scored += len(scored)
        summary.rows_empty += int(scored["sentiment"].isna().sum())
        on_progress(len(scored))
    return summary
