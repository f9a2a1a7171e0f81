"""A prediction as the serving writer hands it over, checked and completed into a full table row."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime
from typing import Any

from sentiment_mlops.store.schema import DEFAULT_SOURCE, column_names, predictions, row_fields


def prediction_values(row: dict[str, Any], now: datetime) -> dict[str, Any]:
    """A full predictions row: id (uuid4 hex), created_at (``now``) and the text's sha256 and length
    filled in when absent; a typo in a field name or a naive time fails here, before the database."""
    row_fields(predictions, row, what="prediction")
    values = {name: row.get(name) for name in column_names(predictions)}
    if values["text_sha256"] is None or values["text_length"] is None:
        text = values["text"]
        if text is None:
            raise TypeError("a prediction without its text needs text_sha256 and text_length")
        if values["text_sha256"] is None:
            values["text_sha256"] = hashlib.sha256(text.encode("utf-8")).hexdigest()
        if values["text_length"] is None:
            values["text_length"] = len(text)
    if values["source"] is None:
        values["source"] = DEFAULT_SOURCE
    if values["id"] is None:
        values["id"] = uuid.uuid4().hex
    created_at = values["created_at"] or now
    if created_at.tzinfo is None:
        raise ValueError(f"datetime {created_at.isoformat()} has no time zone; pass an aware UTC datetime")
    values["created_at"] = created_at.astimezone(UTC)
    return values
