"""Running totals stay exact through inserts, backfill and prunes; prune archives to Parquet before deleting."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pyarrow.parquet as pq
import pytest
from sqlalchemy import func, select

from sentiment_mlops.errors import ConfigurationError
from sentiment_mlops.store import PredictionStore
from sentiment_mlops.store.retention import parse_age, prune
from sentiment_mlops.store.schema import prediction_totals, predictions

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
LABELS = ("negative", "neutral", "positive")


def rows(count: int, *, days_ago: float, seed: int) -> list[dict]:
    rng = random.Random(seed)
    return [{"environment": rng.choice(("staging", "production")), "model_version": rng.choice("12"),
             "text": f"text {seed} {i}", "sentiment": rng.choice(LABELS), "confidence": rng.uniform(0.34, 1.0),
             "probabilities": {}, "created_at": NOW - timedelta(days=days_ago, seconds=i)} for i in range(count)]


def summary_from_the_log(store: PredictionStore, environment: str | None = None) -> dict:
    """What the summary was before the totals: an aggregate over the whole predictions table."""
    query = select(predictions.c.sentiment, func.count(), func.sum(predictions.c.confidence)).group_by(
        predictions.c.sentiment)
    if environment is not None:
        query = query.where(predictions.c.environment == environment)
    with store.engine.connect() as connection:
        groups = connection.execute(query).all()
    total = sum(count for _, count, _ in groups)
    return {"total_predictions": total, "sentiment_distribution": {label: count for label, count, _ in sorted(groups)},
            "mean_confidence": sum(value for _, _, value in groups) / total if total else None}


def assert_totals_match(store: PredictionStore) -> None:
    for environment in (None, "staging", "production"):
        expected = summary_from_the_log(store, environment)
        got = store.summary(environment)
        assert got["total_predictions"] == expected["total_predictions"]
        assert got["sentiment_distribution"] == expected["sentiment_distribution"]
        assert got["mean_confidence"] == pytest.approx(expected["mean_confidence"], rel=1e-9)


def test_totals_follow_inserts_and_prunes(store):
    store.insert_predictions(rows(300, days_ago=40, seed=1))
    store.insert_predictions(rows(200, days_ago=1, seed=2))
    assert_totals_match(store)
    result = prune(store, timedelta(days=30), now=NOW)
    assert result.deleted == 300 and result.archive is None
    assert store.count_predictions() == 200
    assert_totals_match(store)
    assert prune(store, timedelta(hours=1), now=NOW).deleted == 200
    assert store.summary() == {"total_predictions": 0, "sentiment_distribution": {}, "mean_confidence": None}
    with store.engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(prediction_totals)).scalar() == 0


def test_prune_archives_to_parquet_then_deletes_with_feedback(store, tmp_path):
    old = store.insert_predictions(rows(120, days_ago=31, seed=3))
    kept = store.insert_predictions(rows(30, days_ago=2, seed=4))
    store.add_feedback(old[0], "neutral")
    store.add_feedback(kept[0], "positive")
    archive = tmp_path / "archive" / "old.parquet"
    result = prune(store, parse_age("30d"), archive=archive, now=NOW)
    assert (result.archived, result.deleted) == (120, 120)
    table = pq.read_table(archive)
    assert table.num_rows == 120 and sorted(table.column("id").to_pylist()) == sorted(old)
    labels = dict(zip(table.column("id").to_pylist(), table.column("feedback_label").to_pylist(), strict=True))
    assert labels[old[0]] == "neutral" and sum(label is not None for label in labels.values()) == 1
    created = table.column("created_at").to_pylist()
    assert created == sorted(created) and max(created) < NOW - timedelta(days=30)
    assert store.get_prediction(old[0]) is None and store.get_prediction(kept[0]) is not None
    assert store.feedback_labels([old[0], kept[0]]) == {kept[0]: "positive"}
    assert_totals_match(store)
    assert not [p for p in archive.parent.iterdir() if p.name.endswith(".tmp")]


def test_a_store_from_before_the_totals_is_backfilled_when_opened(store_url):
    with PredictionStore(store_url) as store:
        store.insert_predictions(rows(250, days_ago=3, seed=5))
        with store.engine.begin() as connection:
            prediction_totals.drop(connection)
    with PredictionStore(store_url) as reopened:
        assert_totals_match(reopened)
        assert reopened.summary()["total_predictions"] == 250


@pytest.mark.parametrize("text", ["30", "d", "-3d", "0d", "30 days", "3y"])
def test_an_age_that_is_not_one_names_the_expected_form(text):
    with pytest.raises(ConfigurationError, match="e.g. 30d or 12h"):
        parse_age(text)


def test_logs_prune_command(isolated, cli_run, monkeypatch):
    url = f"sqlite:///{isolated / 'logs' / 'predictions.db'}"
    monkeypatch.setenv("SENTIMENT_MLOPS_STORE_URL", url)
    now = datetime.now(UTC)
    with PredictionStore(url) as store:
        for row in rows(40, days_ago=45, seed=6) + rows(10, days_ago=0, seed=7):
            row["created_at"] += now - NOW
            store.insert_predictions([row])
    code, out, err = cli_run("logs", "prune", "--older-than", "30d", "--archive", "old.parquet")
    assert code == 0, err
    assert "archived 40 predictions to old.parquet" in out and "deleted 40 predictions created before" in out
    assert pq.read_table(isolated / "old.parquet").num_rows == 40
    with PredictionStore(url) as store:
        assert store.summary()["total_predictions"] == 10
    code, _, err = cli_run("logs", "prune", "--older-than", "a month")
    assert code == 1 and "e.g. 30d or 12h" in err


def test_the_server_retention_loop_prunes(store):
    from sentiment_mlops.serving.retention import RetentionLoop

    now = datetime.now(UTC)
    store.insert_predictions([dict(row, created_at=row["created_at"] + (now - NOW))
                              for row in rows(20, days_ago=8, seed=8) + rows(5, days_ago=0, seed=9)])
    assert RetentionLoop(store, timedelta(days=7)).prune_once() == 20
    assert_totals_match(store)
