"""Running totals of the prediction log, kept exact in the transactions that change it.

Every insert batch adds its rows' counts and confidence sums per (environment, model version, sentiment),
and every prune subtracts what it deleted, in the same transaction as the rows themselves; so the
summary behind ``/health`` reads a handful of rows whatever the size of the log. A store created before
the totals existed is backfilled once, under the schema lock, when it is opened.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from sqlalchemy import Connection, Table, exists, func, select

from sentiment_mlops.store.schema import prediction_totals, predictions

TotalKey = tuple[str, str, str]  # environment, model_version, sentiment
Increments = dict[TotalKey, tuple[int, float]]
InsertFactory = Callable[[Table], Any]  # postgresql.insert or sqlite.insert: both have on_conflict_do_update


def increments(rows: Iterable[Mapping[str, Any]], sign: int = 1) -> Increments:
    """Counts and confidence sums of ``rows`` per key, times ``sign`` (-1 for rows deleted)."""
    totals: Increments = {}
    for row in rows:
        key = (str(row["environment"]), str(row["model_version"]), str(row["sentiment"]))
        count, confidence = totals.get(key, (0, 0.0))
        totals[key] = (count + sign, confidence + sign * float(row["confidence"]))
    return totals


def apply_increments(connection: Connection, insert: InsertFactory, changes: Increments) -> None:
    """Add ``changes`` to the totals (one upsert; keys in sorted order, so concurrent writers never deadlock)
    and drop keys that no row has any more."""
    if not changes:
        return
    values = [{"environment": key[0], "model_version": key[1], "sentiment": key[2], "count": count,
               "confidence_sum": confidence} for key, (count, confidence) in sorted(changes.items())]
    statement = insert(prediction_totals).values(values)
    statement = statement.on_conflict_do_update(
        index_elements=[prediction_totals.c.environment, prediction_totals.c.model_version,
                        prediction_totals.c.sentiment],
        set_={"count": prediction_totals.c["count"] + statement.excluded["count"],
              "confidence_sum": prediction_totals.c.confidence_sum + statement.excluded.confidence_sum})
    connection.execute(statement)
    if any(count < 0 for count, _ in changes.values()):
        connection.execute(prediction_totals.delete().where(prediction_totals.c["count"] <= 0))


def backfill_if_missing(connection: Connection) -> None:
    """Fill the totals from the log when the log has rows and the totals none (a store from before them).

    Runs under the schema lock (``Database._create_tables``); on PostgreSQL it also holds writers off
    the log while it counts, so no batch is counted twice or missed.
    """
    has_totals = connection.execute(select(exists().select_from(prediction_totals))).scalar()
    if has_totals or not connection.execute(select(exists().select_from(predictions))).scalar():
        return
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql("LOCK TABLE predictions IN SHARE MODE")
    aggregate = select(predictions.c.environment, predictions.c.model_version, predictions.c.sentiment,
                       func.count(), func.sum(predictions.c.confidence)).group_by(
        predictions.c.environment, predictions.c.model_version, predictions.c.sentiment)
    connection.execute(prediction_totals.insert().from_select(
        ["environment", "model_version", "sentiment", "count", "confidence_sum"], aggregate))


def summary_from_totals(connection: Connection, environment: str | None,
                        model_version: str | None) -> list[tuple[str, int, float]]:
    """(sentiment, count, confidence sum) per sentiment, from the totals."""
    conditions = []
    if environment is not None:
        conditions.append(prediction_totals.c.environment == environment)
    if model_version is not None:
        conditions.append(prediction_totals.c.model_version == str(model_version))
    query = (select(prediction_totals.c.sentiment, func.sum(prediction_totals.c["count"]),
                    func.sum(prediction_totals.c.confidence_sum))
             .where(*conditions).group_by(prediction_totals.c.sentiment).order_by(prediction_totals.c.sentiment))
    return [(str(label), int(count), float(total or 0.0)) for label, count, total in connection.execute(query)]
