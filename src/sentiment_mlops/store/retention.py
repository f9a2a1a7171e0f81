"""Retention: delete predictions older than an age, after archiving them to Parquet when asked.

``logs prune --older-than 30d [--archive out.parquet]`` and the server's ``SENTIMENT_MLOPS_RETENTION_DAYS``
both call ``prune``. The archive is written completely (temporary file, fsync, rename) before a single
row is deleted, and only rows the archive holds are deleted; the running totals behind ``/health`` are
adjusted in the same transactions as the deletes.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from sentiment_mlops.errors import ConfigurationError, StoreError
from sentiment_mlops.store.prediction_store import PredictionStore
from sentiment_mlops.store.predictions import PruneKey
from sentiment_mlops.store.schema import utcnow

ARCHIVE_BATCH = 5000
_AGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}


def parse_age(text: str) -> timedelta:
    """``30d`` → 30 days (units s, m, h, d, w).

    >>> parse_age("30d")
    datetime.timedelta(days=30)
    >>> parse_age("12h")
    datetime.timedelta(seconds=43200)
    """
    match = _AGE.match(text)
    if match is None or float(match.group(1)) <= 0:
        raise ConfigurationError(f"--older-than {text!r} is not an age; expected a positive number and a unit "
                                 "(s, m, h, d, w), e.g. 30d or 12h")
    return timedelta(seconds=float(match.group(1)) * _UNIT_SECONDS[match.group(2)])


@dataclass(frozen=True)
class PruneResult:
    """What a prune did: the cutoff, how many rows went, and the archive that holds them (if any)."""

    cutoff: datetime
    deleted: int
    archived: int
    archive: Path | None


def prune(store: PredictionStore, older_than: timedelta, *, archive: Path | None = None,
          now: datetime | None = None) -> PruneResult:
    """Delete predictions (with their feedback) created more than ``older_than`` before ``now``."""
    cutoff = (now or utcnow()) - older_than
    if archive is None:
        return PruneResult(cutoff, store.delete_predictions(cutoff), 0, None)
    archived, last = archive_parquet(store, archive, before=cutoff)
    deleted = store.delete_predictions(cutoff, through=last) if last is not None else 0
    return PruneResult(cutoff, deleted, archived, archive)


def _archive_columns(rows: list[dict[str, Any]], labels: dict[str, str]) -> dict[str, list[Any]]:
    return {
        "id": [row["id"] for row in rows],
        "created_at": [row["created_at"] for row in rows],
        "environment": [row["environment"] for row in rows],
        "model_version": [row["model_version"] for row in rows],
        "text": [row["text"] for row in rows],
        "text_sha256": [row["text_sha256"] for row in rows],
        "text_length": [row["text_length"] for row in rows],
        "sentiment": [row["sentiment"] for row in rows],
        "confidence": [row["confidence"] for row in rows],
        "probabilities": [orjson.dumps(row["probabilities"]).decode() for row in rows],
        "latency_ms": [row["latency_ms"] for row in rows],
        "route": [row["route"] for row in rows],
        "feedback_label": [labels.get(row["id"]) for row in rows],
    }


def _pages(rows: Iterator[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    page: list[dict[str, Any]] = []
    for row in rows:
        page.append(row)
        if len(page) == size:
            yield page
            page = []
    if page:
        yield page


def archive_parquet(store: PredictionStore, out: Path, *, before: datetime,
                    batch: int = ARCHIVE_BATCH) -> tuple[int, PruneKey | None]:
    """Write the predictions created before ``before``, oldest first, with their feedback label, to the
    Parquet file ``out`` (atomically); return the count and the (created_at, id) of the last one."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema([("id", pa.string()), ("created_at", pa.timestamp("us", tz="UTC")),
                        ("environment", pa.string()), ("model_version", pa.string()), ("text", pa.string()),
                        ("text_sha256", pa.string()), ("text_length", pa.int64()), ("sentiment", pa.string()),
                        ("confidence", pa.float64()), ("probabilities", pa.string()), ("latency_ms", pa.float64()),
                        ("route", pa.string()), ("feedback_label", pa.string())])
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
    except OSError as exc:
        raise StoreError(f"cannot write the archive to {out}: {exc}") from exc
    written = 0
    last: PruneKey | None = None
    try:
        with os.fdopen(fd, "wb") as handle, pq.ParquetWriter(handle, schema) as writer:
            for page in _pages(store.iter_predictions(batch=batch, before=before), batch):
                labels = store.feedback_labels([row["id"] for row in page])
                writer.write_table(pa.table(_archive_columns(page, labels), schema=schema))
                written += len(page)
                last = (page[-1]["created_at"], page[-1]["id"])
        with open(tmp, "rb") as synced:
            os.fsync(synced.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, out)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise StoreError(f"cannot write the archive to {out}: {exc}") from exc
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return written, last
