"""The files a batch job reads: a path or glob expanded, checked before any work starts, then read in
chunks of rows so that a file of any size is scored in bounded memory."""

from __future__ import annotations

import glob
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from sentiment_mlops.data.loading import FILE_KINDS
from sentiment_mlops.errors import DataError


@dataclass(frozen=True)
class InputFile:
    """One input file, with what identifies its content for a resumed job (size and modification time)."""

    path: Path
    kind: str
    size: int
    mtime_ns: int

    def identity(self) -> dict[str, object]:
        return {"path": str(self.path.resolve()), "size": self.size, "mtime_ns": self.mtime_ns}


def expand_inputs(pattern: str) -> list[InputFile]:
    """The files ``pattern`` (a path or a glob such as ``tickets/*.parquet``) names, in sorted order."""
    paths = sorted(Path(p) for p in glob.glob(pattern, recursive=True)) if glob.has_magic(pattern) else [Path(pattern)]
    if not paths:
        raise DataError(f"no file matches {pattern!r}")
    files = []
    for path in paths:
        if not path.is_file():
            raise DataError(f"data file not found: {path}" if not path.exists()
                            else f"expected a data file, got a directory: {path}")
        kind = FILE_KINDS.get(path.suffix.lower())
        if kind is None:
            raise DataError(f"unsupported file type {path.suffix or '(none)'!r} for {path}; "
                            "expected .csv, .tsv, .jsonl (.ndjson, .json) or .parquet")
        stat = path.stat()
        if stat.st_size == 0:
            raise DataError(f"data file is empty: {path}")
        files.append(InputFile(path=path, kind=kind, size=stat.st_size, mtime_ns=stat.st_mtime_ns))
    return files


def _csv_options(file: InputFile) -> dict[str, object]:
    # As data.loading reads CSV: rows end at "\n" only, every value a string, nothing turned into NaN.
    return {"sep": "\t" if file.path.suffix.lower() == ".tsv" else ",", "dtype": object,
            "keep_default_na": False, "lineterminator": "\n", "encoding_errors": "replace"}


def columns_of(file: InputFile) -> list[str]:
    """The column names of ``file``, read from its header, first line or schema."""
    try:
        if file.kind == "csv":
            return [str(c).strip() for c in pd.read_csv(file.path, nrows=0, **_csv_options(file)).columns]
        if file.kind == "parquet":
            import pyarrow.parquet as pq

            return list(pq.ParquetFile(file.path).schema_arrow.names)
        with file.path.open(encoding="utf-8", errors="replace") as handle:
            first = json.loads(handle.readline())
        if not isinstance(first, dict):
            raise ValueError(f"the first line is a JSON {type(first).__name__}, not an object")
        return [str(c) for c in first]
    except Exception as exc:  # pandas, pyarrow and json raise many types for a malformed file
        detail = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise DataError(f"cannot read {file.path} as {file.kind}: {detail}") from exc


def check_columns(files: list[InputFile], text_column: str, id_column: str) -> bool:
    """Fail before any work when a file lacks ``text_column``; True when every file has ``id_column``."""
    has_id = True
    for file in files:
        columns = columns_of(file)
        if text_column not in columns:
            raise DataError(f"column {text_column!r} not found in {file.path}; columns found: "
                            f"{', '.join(columns)} (choose it with --text-column)")
        has_id = has_id and id_column in columns
    return has_id


def parquet_rows(files: list[InputFile]) -> int | None:
    """The total number of rows when every file is Parquet (known from metadata), else None."""
    if not all(f.kind == "parquet" for f in files):
        return None
    import pyarrow.parquet as pq

    return sum(pq.ParquetFile(f.path).metadata.num_rows for f in files)


def read_chunks(file: InputFile, columns: list[str], rows: int) -> Iterator[pd.DataFrame]:
    """``file``'s ``columns`` in frames of at most ``rows`` rows, in file order."""
    try:
        if file.kind == "parquet":
            yield from parquet_chunks(file, columns, rows)
        elif file.kind == "csv":
            with pd.read_csv(file.path, chunksize=rows, **_csv_options(file)) as reader:
                for frame in reader:
                    frame.columns = [str(c).strip() for c in frame.columns]
                    yield frame[columns]
        else:
            with pd.read_json(file.path, lines=True, chunksize=rows, dtype=False) as reader:
                for frame in reader:
                    yield frame[columns]
    except DataError:
        raise
    except Exception as exc:  # a file that turns out malformed half way through
        detail = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise DataError(f"cannot read {file.path} as {file.kind}: {detail}") from exc


def parquet_row_groups(file: InputFile) -> list[int]:
    """The row count of each row group of a Parquet file, from its metadata."""
    import pyarrow.parquet as pq

    return _group_sizes(pq.ParquetFile(file.path))


def _group_sizes(parquet: Any) -> list[int]:
    return [parquet.metadata.row_group(group).num_rows for group in range(parquet.metadata.num_row_groups)]


def parquet_chunks(file: InputFile, columns: list[str], rows: int, first_chunk: int = 0,
                   chunks: int | None = None) -> Iterator[pd.DataFrame]:
    """``_parquet_chunks``, with a file that turns out malformed half way through as one ``DataError`` (on a
    Dask worker too)."""
    try:
        yield from _parquet_chunks(file, columns, rows, first_chunk, chunks)
    except Exception as exc:  # pyarrow raises ArrowInvalid, OSError and others for a damaged file
        detail = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise DataError(f"cannot read {file.path} as parquet: {detail}") from exc


def _parquet_chunks(file: InputFile, columns: list[str], rows: int, first_chunk: int,
                    chunks: int | None) -> Iterator[pd.DataFrame]:
    """Chunks ``first_chunk``, ``first_chunk + 1``, … (``chunks`` of them, or to the end) of a Parquet file:
    chunk k is rows [k·rows, (k+1)·rows), the same rows whichever chunk the reading starts from, so a Dask
    worker that reads from chunk k gets what reading the file from its start would give at chunk k.

    Reading starts at the row group holding chunk k's first row: the rows of that group before it are
    read and dropped, nothing before that group is read."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    # pre_buffer=False: with pyarrow's default the reader kept every row group it had read in its cache, so
    # memory grew with the file (reading a 5,000,000-row file in chunks of 50,000: 620 MB of RSS at the end
    # against 260 MB without it).
    parquet = pq.ParquetFile(file.path, pre_buffer=False)
    start, group, group_start = first_chunk * rows, 0, 0
    sizes = _group_sizes(parquet)
    while group < len(sizes) and group_start + sizes[group] <= start:
        group_start += sizes[group]
        group += 1
    skip, held, held_rows, given = start - group_start, [], 0, 0
    for batch in parquet.iter_batches(batch_size=rows, row_groups=range(group, len(sizes)), columns=columns):
        if skip >= batch.num_rows:
            skip -= batch.num_rows
            continue
        batch, skip = batch.slice(skip), 0
        held.append(batch)
        held_rows += batch.num_rows
        while held_rows >= rows:
            table = pa.Table.from_batches(held)
            yield table.slice(0, rows).to_pandas()
            given += 1
            if chunks is not None and given >= chunks:
                return
            rest = table.slice(rows)
            held, held_rows = rest.to_batches(), rest.num_rows
    if held_rows:
        yield pa.Table.from_batches(held).to_pandas()


def text_values(values: list[object], file: InputFile, first_row: int) -> list[str]:
    """Texts stripped, missing values as "" (left unscored); any other non-text value is a DataError."""
    texts: list[str] = []
    for offset, value in enumerate(values):
        if isinstance(value, str):
            texts.append(value.strip())
        elif value is None or (isinstance(value, float) and value != value):
            texts.append("")
        else:
            raise DataError(f"the text column of {file.path} must hold text, but row {first_row + offset} is "
                            f"{type(value).__name__} {value!r}")
    return texts
