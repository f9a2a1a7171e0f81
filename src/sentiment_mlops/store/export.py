"""Export the prediction log to JSON Lines, streamed in batches and written atomically."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import orjson

from sentiment_mlops.errors import StoreError
from sentiment_mlops.store import PredictionStore

DEFAULT_EXPORT_PATH = Path("logs/predictions.jsonl")
EXPORT_FORMATS = ("jsonl",)
EXPORT_BATCH = 5000


def export_record(row: dict[str, Any]) -> dict[str, Any]:
    """The exported form of one stored prediction: the text, or only its hash and length if it was not logged."""
    record: dict[str, Any] = {
        "id": row["id"],
        "timestamp": row["created_at"].isoformat(),
        "environment": row["environment"],
        "model_version": row["model_version"],
    }
    if row["text"] is not None:
        record["text"] = row["text"]
    else:
        record["text_sha256"] = row["text_sha256"]
        record["text_length"] = row["text_length"]
    record["sentiment"] = row["sentiment"]
    record["confidence"] = row["confidence"]
    record["probabilities"] = row["probabilities"]
    return record


def export_jsonl(store: PredictionStore, out: Path = DEFAULT_EXPORT_PATH, *, batch: int = EXPORT_BATCH) -> int:
    """Write every prediction, oldest first, one JSON object per line, to ``out``; return the count.

    The file appears complete or not at all: lines go to a temporary file beside ``out`` that is
    renamed over it at the end, so a reader never sees half an export and a failure keeps the old one.
    """
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
    except OSError as exc:
        raise StoreError(f"cannot write the export to {out}: {exc}") from exc
    written = 0
    try:
        os.fchmod(fd, 0o644)  # mkstemp creates 0600; an export is meant to be read by others
        with os.fdopen(fd, "wb") as handle:
            lines: list[bytes] = []
            for row in store.iter_predictions(batch=batch):
                lines.append(orjson.dumps(export_record(row)))
                if len(lines) >= batch:
                    handle.write(b"\n".join(lines) + b"\n")
                    written += len(lines)
                    lines.clear()
            if lines:
                handle.write(b"\n".join(lines) + b"\n")
                written += len(lines)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, out)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise StoreError(f"cannot write the export to {out}: {exc}") from exc
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return written
