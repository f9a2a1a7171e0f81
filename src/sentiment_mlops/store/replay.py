"""Logged traffic read back for comparing versions: the texts a promotion replays, and live vs shadow pairs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select

from sentiment_mlops.config import SHADOW_ALIAS
from sentiment_mlops.store.database import Database, dicts
from sentiment_mlops.store.schema import feedback, predictions


class ReplayLog(Database):
    """Reads for ``deployment.replay`` and the shadow evidence (no writes)."""

    def replay_rows(self, environment: str, limit: int) -> list[dict[str, Any]]:
        """The newest ``limit`` predictions of ``environment``, newest first, with their feedback label.

        Each item: id, text (None when the server did not keep texts), text_sha256, sentiment (what was
        answered), model_version, label (None without feedback) and actor (who gave it).
        """
        query = (
            select(predictions.c.id, predictions.c.text, predictions.c.text_sha256, predictions.c.sentiment,
                   predictions.c.model_version, feedback.c.label, feedback.c.actor)
            .outerjoin(feedback, feedback.c.prediction_id == predictions.c.id)
            .where(predictions.c.environment == environment)
            .order_by(predictions.c.created_at.desc())
            .limit(limit)
        )
        with self._transaction() as connection:
            return dicts(connection.execute(query))

    def shadow_pairs(self, shadow_version: str | None = None, *, since: datetime | None = None,
                     limit: int | None = 10_000, with_text: bool = False) -> list[dict[str, Any]]:
        """Shadow rows joined to the live prediction they shadowed (same text), newest first.

        Each item: live_version, live_sentiment, live_latency_ms, shadow_version, shadow_sentiment,
        shadow_latency_ms, label (feedback given on the live prediction; None without), actor (who gave it),
        created_at; with
        ``with_text``, text (the live row's; None when only its digest was logged).
        """
        live = predictions.alias("live")
        shadow = predictions.alias("shadow")
        query = (
            select(live.c.model_version.label("live_version"), live.c.sentiment.label("live_sentiment"),
                   live.c.latency_ms.label("live_latency_ms"), shadow.c.model_version.label("shadow_version"),
                   shadow.c.sentiment.label("shadow_sentiment"), shadow.c.latency_ms.label("shadow_latency_ms"),
                   feedback.c.label, feedback.c.actor, shadow.c.created_at,
                   *([live.c.text] if with_text else []))
            .join_from(shadow, live, live.c.id == shadow.c.shadow_of)
            .outerjoin(feedback, feedback.c.prediction_id == live.c.id)
            .where(shadow.c.environment == SHADOW_ALIAS)
            .order_by(shadow.c.created_at.desc())
            .limit(limit)
        )
        if shadow_version is not None:
            query = query.where(shadow.c.model_version == str(shadow_version))
        if since is not None:
            query = query.where(shadow.c.created_at >= since)
        with self._transaction() as connection:
            return dicts(connection.execute(query))
