"""Partitions read, scored and written where they are scored: the Dask path when the workers see the files.

A ``PartRun`` is a run of consecutive partitions of one Parquet file that are not written yet. The worker
reads them itself (``inputs.parquet_chunks``: chunk k is the same rows whichever chunk reading starts at),
scores them with the shipped model and writes each to a temporary file beside its part, which the client
renames into place; only the run's description goes out and a few numbers come back. The client neither
reads the inputs nor receives the scored rows; with two workers on two cores it would otherwise take a
third of a core from them (issue 13's measurement).
"""

from __future__ import annotations

import dataclasses
import math
import os
import secrets
import socket
from dataclasses import dataclass
from pathlib import Path

from sentiment_mlops.errors import ClusterError, DataError
from sentiment_mlops.scaling.inputs import InputFile, parquet_chunks, parquet_row_groups, text_values
from sentiment_mlops.scaling.output import ScoreOutput, write_temporary
from sentiment_mlops.scaling.partition import ScoringModel, score_partition


@dataclass(frozen=True)
class PartRun:
    """Partitions ``first_chunk`` … ``first_chunk + len(parts) - 1`` of ``file``, to be written to ``parts``."""

    file: InputFile
    first_chunk: int
    parts: tuple[Path, ...]


@dataclass(frozen=True)
class RunOptions:
    text_column: str
    id_column: str | None
    partition_rows: int


@dataclass(frozen=True)
class PartWritten:
    rows: int
    empty: int
    seconds: float  # scoring only
    temporary: Path  # the scored rows, renamed to ``part`` by the client when it takes the result
    part: Path


def score_run(run: PartRun, model: ScoringModel, options: RunOptions) -> list[PartWritten]:
    """Read and score one run of partitions (on a worker), each written to a temporary file beside its part.

    The client renames each into place (``accept``) when it takes the result: a run still going on a worker
    after the client stopped (a cancelled Dask task is not interrupted) writes no part into a directory that
    a new job may own by then."""
    if not run.file.path.is_file():
        raise ClusterError(f"a Dask worker ({socket.gethostname()}) does not see {run.file.path}: a worker that "
                           "joined after the check took a run; rerun the same command to resume")
    columns = [options.text_column] + ([options.id_column] if options.id_column else [])
    written = []
    chunks = parquet_chunks(run.file, columns, options.partition_rows, run.first_chunk, len(run.parts))
    for offset, (part, frame) in enumerate(zip(run.parts, chunks, strict=False)):
        first_row = (run.first_chunk + offset) * options.partition_rows
        texts = text_values(frame[options.text_column].tolist(), run.file, first_row)
        ids = frame[options.id_column].tolist() if options.id_column else None
        scored, seconds = score_partition(model, texts, first_row, run.file.path.name, ids)
        temporary = write_temporary(part, scored)
        written.append(PartWritten(len(scored), int(scored["sentiment"].isna().sum()), seconds, temporary, part))
    if len(written) != len(run.parts):
        raise DataError(f"{run.file.path} ended before partition {run.first_chunk + len(written)}: it holds fewer "
                        "rows than its metadata says")
    return written


def accept(written: PartWritten) -> None:
    """Put a part a worker wrote into place (atomic: readers see the whole part or none)."""
    os.replace(written.temporary, written.part)


def plan_runs(files: list[InputFile], output: ScoreOutput, rows: int,
              workers: int) -> tuple[list[PartRun], list[int]]:
    """The runs of unwritten partitions, and the row count of each partition already written (skipped).

    A run is as long as the files' largest row group (a run that starts inside a row group reads and drops
    that group's earlier rows: the longer the runs, the less is read twice), but short enough for every
    worker to get about four runs."""
    missing: list[tuple[InputFile, int, int]] = []  # (file, file index, chunk)
    skipped: list[int] = []
    largest_group = 1
    for file_index, file in enumerate(files):
        groups = parquet_row_groups(file)
        largest_group = max([largest_group, *groups])
        total = sum(groups)
        for chunk in range(math.ceil(total / rows)):
            if output.part(file_index, chunk).is_file():
                skipped.append(min(rows, total - chunk * rows))
            else:
                missing.append((file, file_index, chunk))
    length = max(1, min(math.ceil(largest_group / rows), math.ceil(len(missing) / (4 * max(workers, 1)))))
    runs: list[PartRun] = []
    current: list[tuple[InputFile, int, int]] = []
    for item in missing:
        follows = current and current[-1][1] == item[1] and current[-1][2] + 1 == item[2]
        if current and (not follows or len(current) == length):
            runs.append(_run(output, current))
            current = []
        current.append(item)
    if current:
        runs.append(_run(output, current))
    return runs, skipped


def _run(output: ScoreOutput, items: list[tuple[InputFile, int, int]]) -> PartRun:
    file, file_index, first = items[0]
    # Absolute paths: a worker's working directory is not the client's. absolute(), not resolve(): the
    # output's ``file`` column keeps the name the user gave (a symlink's, say).
    file = dataclasses.replace(file, path=file.path.absolute())
    return PartRun(file, first, tuple(output.part(file_index, chunk).absolute() for _, _, chunk in items))


def probe_paths(out: Path) -> tuple[Path, str]:
    """A file with a random token in ``out``: a worker that reads the token back sees the client's ``out``."""
    token = secrets.token_hex(16)
    probe = out.absolute() / f".probe-{token[:8]}"
    probe.write_text(token)
    return probe, token


def sees_paths(probe: str, token: str, files: list[tuple[str, int, int]]) -> bool:
    """On a worker: whether it reads the client's probe, can write beside it, and sees every input file as
    the client does."""
    try:
        if Path(probe).read_text() != token:
            return False
        mine = Path(f"{probe}.{os.getpid()}.{secrets.token_hex(4)}")
        mine.write_text(token)
        mine.unlink()
        for path, size, mtime_ns in files:
            stat = os.stat(path)
            if (stat.st_size, stat.st_mtime_ns) != (size, mtime_ns):
                return False
    except OSError:
        return False
    return True
