"""Ground truth for logged predictions: one label per prediction, the later replacing the earlier."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import String, func, literal, select

from sentiment_mlops.errors import DataError, NotFoundError
from sentiment_mlops.layout import LABELS
from sentiment_mlops.store.database import Database, dicts
from sentiment_mlops.store.predictions import prediction_filters
from sentiment_mlops.store.schema import UTCDateTime, feedback, feedback_history, predictions, utcnow


def _feedback_label(label: object) -> str:
    normalised = label.strip().lower() if isinstance(label, str) else None
    if normalised not in LABELS:
        raise DataError(f"feedback label {label!r} is not one of {', '.join(LABELS)}")
    return normalised


class FeedbackLog(Database):
    """Labels for logged predictions, and the (prediction, label) pairs live accuracy is computed from."""

    def add_feedback(self, prediction_id: str, label: str, *, actor: str | None = None) -> dict[str, Any]:
        """Record the true label of a logged prediction, and who gave it.

        A later label replaces an earlier one as the current label; every label stays in the append-only
        ``feedback_history``. Raises ``DataError`` for a label other than negative/neutral/positive and
        ``NotFoundError`` for an unknown prediction id.
        """
        label = _feedback_label(label)
        now = utcnow()
        # One statement that inserts only when the prediction exists: no read-then-write race.
        source = select(
            predictions.c.id, literal(label, String()), literal(now, UTCDateTime()), literal(actor, String())
        ).where(predictions.c.id == prediction_id)
        insert = self._insert(feedback).from_select(["prediction_id", "label", "created_at", "actor"], source)
        statement = insert.on_conflict_do_update(
            index_elements=[feedback.c.prediction_id],
            set_={"label": insert.excluded.label, "created_at": insert.excluded.created_at,
                  "actor": insert.excluded.actor},
        ).returning(feedback.c.prediction_id)  # rowcount of INSERT … SELECT is not reliable on psycopg
        with self._transaction() as connection:
            written = connection.execute(statement).first()
            if written is not None:
                connection.execute(feedback_history.insert().values(
                    prediction_id=prediction_id, label=label, actor=actor, created_at=now))
        if written is None:
            raise NotFoundError(f"no logged prediction has id {prediction_id!r}")
        return {"prediction_id": prediction_id, "label": label, "created_at": now, "actor": actor}

    def label_history(self, prediction_id: str) -> list[dict[str, Any]]:
        """Every label given for a prediction, oldest first, with who gave it and when."""
        query = (select(feedback_history.c.label, feedback_history.c.actor, feedback_history.c.created_at)
                 .where(feedback_history.c.prediction_id == prediction_id).order_by(feedback_history.c.id))
        with self._transaction() as connection:
            return dicts(connection.execute(query))

    def feedback_pairs(
        self, *, environment: str | None = None, model_version: str | None = None, since: datetime | None = None,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        """Predictions that have feedback, oldest first; with ``limit``, the latest ``limit`` of them.

        Each item: prediction_id, predicted, label, confidence, created_at (of the prediction; ``since``
        filters on it), model_version, environment and feedback_at.
        """
        query = (
            select(
                predictions.c.id.label("prediction_id"),
                predictions.c.sentiment.label("predicted"),
                feedback.c.label,
                predictions.c.confidence,
                predictions.c.created_at,
                predictions.c.model_version,
                predictions.c.environment,
                feedback.c.created_at.label("feedback_at"),
            )
            .join_from(feedback, predictions, feedback.c.prediction_id == predictions.c.id)
            .where(*prediction_filters(environment, model_version, since))
            .order_by(predictions.c.created_at.desc(), predictions.c.id.desc())
            .limit(limit)
        )
        with self._transaction() as connection:
            return dicts(connection.execute(query))[::-1]

    def feedback_labels(self, prediction_ids: Sequence[str]) -> dict[str, str]:
        """``{prediction id: label}`` for those of ``prediction_ids`` that have feedback."""
        if not prediction_ids:
            return {}
        query = select(feedback.c.prediction_id, feedback.c.label).where(feedback.c.prediction_id.in_(prediction_ids))
        with self._transaction() as connection:
            return {str(prediction_id): str(label) for prediction_id, label in connection.execute(query)}

    def labelled_texts(self, *, environment: str | None = None,
                       since: datetime | None = None) -> list[dict[str, Any]]:
        """Every prediction with feedback, oldest first, as training needs it: prediction_id, text (None
        when the server ran with ``SENTIMENT_MLOPS_LOG_TEXT=false``), text_sha256, the current label, the
        actor who gave it, the prediction's environment and created_at (``since`` filters on it), and when the
        current label was given (feedback_at)."""
        query = (
            select(predictions.c.id.label("prediction_id"), predictions.c.text, predictions.c.text_sha256,
                   feedback.c.label, feedback.c.actor, predictions.c.environment, predictions.c.created_at,
                   feedback.c.created_at.label("feedback_at"))
            .join_from(feedback, predictions, feedback.c.prediction_id == predictions.c.id)
            .where(*prediction_filters(environment, None, since))
            .order_by(predictions.c.created_at, predictions.c.id)
        )
        with self._transaction() as connection:
            return dicts(connection.execute(query))

    def count_feedback(self, *, environment: str | None = None, given_after: datetime | None = None) -> int:
        """How many logged predictions (of ``environment``) have a label given after ``given_after``."""
        query = (select(func.count()).select_from(feedback)
                 .join(predictions, feedback.c.prediction_id == predictions.c.id)
                 .where(*prediction_filters(environment, None, None)))
        if given_after is not None:
            query = query.where(feedback.c.created_at > given_after)
        with self._transaction() as connection:
            return int(connection.execute(query).scalar_one())
