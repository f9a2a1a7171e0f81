"""PredictionStore on SQLite and PostgreSQL: what the server writes is what monitoring and the CLI read."""

from __future__ import annotations

import hashlib
import threading
import time
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from sentiment_mlops.errors import ConfigurationError, DataError, NotFoundError, StoreError
from sentiment_mlops.store import PredictionStore
from sentiment_mlops.store.engine import engine_url

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
PROBABILITIES = {"negative": 0.1, "neutral": 0.2, "positive": 0.7}


def prediction(**fields):
    row = {"environment": "production", "model_version": "3", "text": "good service",
           "sentiment": "positive", "confidence": 0.7, "probabilities": PROBABILITIES,
           "latency_ms": 1.5, "route": "/predict"}
    row.update(fields)
    return row


def test_insert_then_get_returns_every_field(store):
    ids = store.insert_predictions([prediction(text="héllo 👋", created_at=T0), prediction(id="fixed")])
    assert len(ids) == 2 and ids[1] == "fixed" and len(ids[0]) == 32
    row = store.get_prediction(ids[0])
    assert row["text"] == "héllo 👋"
    assert row["text_sha256"] == hashlib.sha256("héllo 👋".encode()).hexdigest()
    assert row["text_length"] == len("héllo 👋")
    assert row["created_at"] == T0 and row["created_at"].tzinfo is not None
    assert row["probabilities"] == PROBABILITIES
    assert (row["environment"], row["model_version"], row["sentiment"]) == ("production", "3", "positive")
    assert (row["confidence"], row["latency_ms"], row["route"]) == (0.7, 1.5, "/predict")
    assert store.get_prediction("fixed")["created_at"] > T0  # defaulted to now
    assert store.get_prediction("no-such-id") is None


def test_a_prediction_without_text_keeps_only_hash_and_length(store):
    digest = hashlib.sha256(b"secret").hexdigest()
    (pid,) = store.insert_predictions([prediction(text=None, text_sha256=digest, text_length=6)])
    row = store.get_prediction(pid)
    assert (row["text"], row["text_sha256"], row["text_length"]) == (None, digest, 6)
    with pytest.raises(TypeError, match="text_sha256"):
        store.insert_predictions([prediction(text=None)])
    with pytest.raises(TypeError, match="unknown prediction field.*colour"):
        store.insert_predictions([prediction(colour="red")])
    with pytest.raises(ValueError, match="no time zone"):
        store.insert_predictions([prediction(created_at=datetime(2026, 1, 1))])
    assert store.count_predictions() == 1


def test_a_failing_batch_inserts_nothing(store):
    store.insert_predictions([prediction(id="taken")])
    with pytest.raises(StoreError, match="refused"):
        store.insert_predictions([prediction(id="new-1"), prediction(id="taken"), prediction(id="new-2")])
    assert store.count_predictions() == 1 and store.get_prediction("new-1") is None
    assert store.insert_predictions([]) == []


def test_insert_new_predictions_skips_stored_ids_so_a_replay_never_duplicates(store):
    store.insert_predictions([prediction(id="committed-1"), prediction(id="committed-2")])
    replay = [prediction(id="committed-1"), prediction(id="fresh-1"), prediction(id="committed-2")]
    assert store.insert_new_predictions(replay) == ["fresh-1"]
    assert store.insert_new_predictions(replay) == []
    assert store.count_predictions() == 3 and store.get_prediction("fresh-1") is not None
    assert store.insert_new_predictions([]) == []


def test_recent_predictions_are_newest_first_and_filtered(store):
    rows = [
        prediction(id=f"p{i}", created_at=T0 + timedelta(minutes=i), environment=env, model_version=version)
        for i, (env, version) in enumerate(
            [("staging", "1"), ("production", "1"), ("production", "2"), ("staging", "2"), ("production", "2")]
        )
    ]
    store.insert_predictions(rows)
    assert [r["id"] for r in store.recent_predictions()] == ["p4", "p3", "p2", "p1", "p0"]
    assert [r["id"] for r in store.recent_predictions(limit=2)] == ["p4", "p3"]
    assert [r["id"] for r in store.recent_predictions(environment="production")] == ["p4", "p2", "p1"]
    assert [r["id"] for r in store.recent_predictions(model_version="2")] == ["p4", "p3", "p2"]
    assert [r["id"] for r in store.recent_predictions(environment="staging", model_version="1")] == ["p0"]
    assert [r["id"] for r in store.recent_predictions(since=T0 + timedelta(minutes=3))] == ["p4", "p3"]
    # An aware time in another zone means the same instant.
    since_in_paris = (T0 + timedelta(minutes=3)).astimezone(timezone_plus(1))
    assert [r["id"] for r in store.recent_predictions(since=since_in_paris)] == ["p4", "p3"]
    assert store.recent_predictions(limit=2, columns=["sentiment", "confidence"]) == [
        {"sentiment": "positive", "confidence": 0.7}] * 2
    with pytest.raises(TypeError, match="unknown prediction column.*label"):
        store.recent_predictions(columns=["label"])
    assert store.count_predictions() == 5
    assert store.count_predictions(environment="production", model_version="2") == 2
    assert store.count_predictions(since=T0 + timedelta(minutes=4)) == 1
    with pytest.raises(ValueError, match="no time zone"):
        store.recent_predictions(since=datetime(2026, 1, 1))


def timezone_plus(hours):
    from datetime import timezone

    return timezone(timedelta(hours=hours))


def test_iter_predictions_pages_oldest_first_without_loss_on_equal_times(store):
    # A batch of the background writer shares one timestamp: paging must still visit each row once.
    rows = [prediction(id=f"a{i:02d}", created_at=T0) for i in range(7)]
    rows += [prediction(id=f"b{i:02d}", created_at=T0 + timedelta(seconds=1)) for i in range(4)]
    rows += [prediction(id="early", created_at=T0 - timedelta(days=1), environment="staging")]
    store.insert_predictions(rows)
    seen = [r["id"] for r in store.iter_predictions(batch=3)]
    assert seen == ["early"] + [f"a{i:02d}" for i in range(7)] + [f"b{i:02d}" for i in range(4)]
    assert [r["id"] for r in store.iter_predictions(batch=100, environment="staging")] == ["early"]
    with pytest.raises(ValueError, match="batch"):
        next(store.iter_predictions(batch=0))


def test_summary_is_aggregated_per_environment(store):
    assert store.summary() == {"total_predictions": 0, "sentiment_distribution": {}, "mean_confidence": None}
    store.insert_predictions([
        prediction(sentiment="positive", confidence=0.9),
        prediction(sentiment="positive", confidence=0.7),
        prediction(sentiment="negative", confidence=0.5),
        prediction(sentiment="neutral", confidence=0.4, environment="staging"),
    ])
    overall = store.summary()
    assert overall["total_predictions"] == 4
    assert overall["sentiment_distribution"] == {"negative": 1, "neutral": 1, "positive": 2}
    assert overall["mean_confidence"] == pytest.approx(0.625)
    production = store.summary("production")
    assert production["sentiment_distribution"] == {"negative": 1, "positive": 2}
    assert production["mean_confidence"] == pytest.approx(0.7)
    assert store.summary("canary")["total_predictions"] == 0


def test_feedback_pairs_label_with_prediction(store):
    store.insert_predictions([
        prediction(id="p1", created_at=T0, sentiment="positive", confidence=0.8),
        prediction(id="p2", created_at=T0 + timedelta(minutes=1), sentiment="negative", model_version="4"),
        prediction(id="p3", created_at=T0 + timedelta(minutes=2), environment="staging"),
    ])
    saved = store.add_feedback("p2", "neutral")
    assert saved["label"] == "neutral" and saved["created_at"].tzinfo is not None
    store.add_feedback("p1", " Negative ")  # normalised
    store.add_feedback("p3", "positive")
    pairs = store.feedback_pairs(environment="production")
    assert [(p["prediction_id"], p["predicted"], p["label"]) for p in pairs] == [
        ("p1", "positive", "negative"), ("p2", "negative", "neutral")]
    assert pairs[0]["confidence"] == 0.8 and pairs[0]["created_at"] == T0 and pairs[0]["model_version"] == "3"
    assert [p["prediction_id"] for p in store.feedback_pairs(model_version="4")] == ["p2"]
    assert [p["prediction_id"] for p in store.feedback_pairs(since=T0 + timedelta(minutes=1))] == ["p2", "p3"]
    assert [p["prediction_id"] for p in store.feedback_pairs(limit=2)] == ["p2", "p3"]  # the latest, oldest first
    store.add_feedback("p2", "negative")  # a correction replaces the earlier label
    assert [p["label"] for p in store.feedback_pairs(model_version="4")] == ["negative"]
    with pytest.raises(NotFoundError, match="no-such-id"):
        store.add_feedback("no-such-id", "positive")
    for bad in ("happy", "", 1, None):
        with pytest.raises(DataError, match="negative, neutral, positive"):
            store.add_feedback("p1", bad)
    assert len(store.feedback_pairs()) == 3


def test_deployment_events_are_appended_in_order(store):
    first = store.record_deployment(environment="staging", action="promote", to_version="1", actor="ci")
    second = store.record_deployment(environment="production", action="promote", from_version=None,
                                     to_version="1", reason="gate passed", report={"accuracy": 0.71, "checks": [1]})
    third = store.record_deployment(environment="production", action="rollback", from_version="2", to_version="1",
                                    report={"p_value": np.float64(0.25), "counts": np.array([1, 2])})
    assert first < second < third
    events = store.deployment_events()
    assert [e["id"] for e in events] == [first, second, third]
    assert events[1]["report"] == {"accuracy": 0.71, "checks": [1]} and events[1]["reason"] == "gate passed"
    assert events[0]["actor"] == "ci" and events[0]["created_at"].tzinfo is not None
    assert events[2]["report"] == {"p_value": 0.25, "counts": [1, 2]}  # numpy values from scipy reports
    assert [e["action"] for e in store.deployment_events("production")] == ["promote", "rollback"]
    assert [e["id"] for e in store.deployment_events(limit=2)] == [second, third]
    assert [e["id"] for e in store.deployment_events("staging", limit=5)] == [first]
    with pytest.raises(TypeError, match="unexpected keyword argument 'version'"):
        store.record_deployment(environment="staging", action="promote", version="1")


def test_alerts_fire_and_resolve(store):
    drift = store.record_alert(rule="drift", severity="warning", environment="production", model_version="3",
                               message="vocabulary drift", details={"p_value": 1e-9})
    latency = store.record_alert(rule="latency", severity="critical", environment="production", message="slow")
    global_rule = store.record_alert(rule="no_traffic", severity="info", environment=None, message="quiet")
    assert store.open_alert("drift", "production")["id"] == drift
    assert store.open_alert("drift", "production")["details"] == {"p_value": 1e-9}
    assert store.open_alert("drift", "staging") is None
    assert store.open_alert("no_traffic", None)["id"] == global_rule
    assert [a["id"] for a in store.alerts()] == [global_rule, latency, drift]  # newest first
    assert [a["id"] for a in store.alerts(limit=1)] == [global_rule]

    store.resolve_alert(drift)
    resolved = store.alerts(status="resolved")
    assert [a["id"] for a in resolved] == [drift]
    assert resolved[0]["status"] == "resolved" and resolved[0]["resolved_at"] >= resolved[0]["created_at"]
    first_resolution = resolved[0]["resolved_at"]
    store.resolve_alert(drift)  # resolving twice keeps the first time
    assert store.alerts(status="resolved")[0]["resolved_at"] == first_resolution
    assert store.open_alert("drift", "production") is None
    assert [a["id"] for a in store.alerts(status="firing")] == [global_rule, latency]
    again = store.record_alert(rule="drift", severity="warning", environment="production", message="again")
    assert store.open_alert("drift", "production")["id"] == again

    closed = store.record_alert(rule="error_rate", severity="info", message="seen after the fact", status="resolved")
    assert store.alerts(status="resolved", limit=1)[0]["id"] == closed
    assert store.open_alert("error_rate", None) is None

    with pytest.raises(NotFoundError, match="12345"):
        store.resolve_alert(12345)
    with pytest.raises(DataError, match="firing, resolved"):
        store.alerts(status="open")
    with pytest.raises(DataError, match="firing, resolved"):
        store.record_alert(rule="x", severity="info", message="m", status="pending")


def test_tables_survive_a_second_store_on_the_same_url(store_url):
    with PredictionStore(store_url) as first:
        first.insert_predictions([prediction(id="kept")])
    with PredictionStore(store_url) as second:
        assert second.get_prediction("kept")["id"] == "kept"


def test_sqlite_store_uses_wal_and_creates_its_directory(tmp_path):
    from sqlalchemy import text

    path = tmp_path / "deep" / "er" / "predictions.db"
    with PredictionStore(f"sqlite:///{path}") as store:
        with store._engine.connect() as connection:
            assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert connection.execute(text("PRAGMA busy_timeout")).scalar() >= 1000
    assert path.is_file()


def test_concurrent_writer_and_reader_on_sqlite(tmp_path):
    """A server process writes batches while the CLI reads: neither fails, the reader sees whole batches."""
    url = f"sqlite:///{tmp_path}/predictions.db"
    writer, reader = PredictionStore(url), PredictionStore(url)
    batches, batch_size = 30, 200
    failures: list[BaseException] = []

    def write() -> None:
        try:
            for b in range(batches):
                writer.insert_predictions([prediction(text=f"text {b} {i}") for i in range(batch_size)])
        except BaseException as exc:  # handed to the main thread, which fails the test
            failures.append(exc)

    thread = threading.Thread(target=write)
    thread.start()
    counts = []
    while thread.is_alive():
        counts.append(reader.count_predictions())
        reader.summary()
        # In production the writer is another process; here it is a thread, and a reader that never waits
        # can keep it from the interpreter lock for seconds once other threads exist (33 s in the suite).
        time.sleep(0.001)
    thread.join()
    assert not failures
    assert counts == sorted(counts) and all(c % batch_size == 0 for c in counts)
    assert reader.count_predictions() == batches * batch_size
    writer.close()
    reader.close()


def test_unreachable_database_names_url_without_password():
    with pytest.raises(StoreError) as caught:
        PredictionStore("postgresql://reader:s3cret-pw@127.0.0.1:1/predictions")
    message = str(caught.value)
    assert "postgresql+psycopg://reader:***@127.0.0.1:1/predictions" in message
    assert "s3cret-pw" not in message and "SENTIMENT_MLOPS_STORE_URL" in message


def test_store_directory_that_cannot_be_created(tmp_path):
    (tmp_path / "file").write_text("not a directory")
    with pytest.raises(StoreError, match="cannot create the directory"):
        PredictionStore(f"sqlite:///{tmp_path}/file/predictions.db")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("nonsense", "not a database URL"),
        ("mysql://user:pw@host/db", "unsupported database"),
        ("postgresql+psycopg2://user@host/db", "driver that is not installed"),
    ],
)
def test_bad_store_urls_are_configuration_errors(url, message):
    with pytest.raises(ConfigurationError, match=message) as caught:
        PredictionStore(url)
    assert "pw" not in str(caught.value)


def test_plain_postgresql_urls_use_psycopg3():
    assert engine_url("postgresql://u@h:5432/db").drivername == "postgresql+psycopg"
    assert engine_url("postgres://u@h/db").drivername == "postgresql+psycopg"
    assert engine_url("sqlite:///logs/predictions.db").drivername == "sqlite"


def test_in_memory_sqlite_is_one_database():
    with PredictionStore("sqlite://") as store:
        store.insert_predictions([prediction(id="m")])
        assert store.get_prediction("m") is not None and repr(store) == "PredictionStore('sqlite://')"


def test_an_existing_database_gains_the_columns_and_tables_added_since(tmp_path):
    """A store created before feedback kept its actor is brought up to date in place, rows kept."""
    import sqlite3

    path = tmp_path / "old.db"
    with sqlite3.connect(path) as old:
        old.execute("CREATE TABLE predictions (id VARCHAR(32) PRIMARY KEY, created_at DATETIME NOT NULL, "
                    "environment VARCHAR(32) NOT NULL, model_version VARCHAR(64) NOT NULL, text TEXT, "
                    "text_sha256 VARCHAR(64) NOT NULL, text_length INTEGER NOT NULL, sentiment VARCHAR(32) NOT NULL, "
                    "confidence FLOAT NOT NULL, probabilities JSON NOT NULL, latency_ms FLOAT, route VARCHAR(64))")
        old.execute("CREATE TABLE feedback (prediction_id VARCHAR(32) PRIMARY KEY REFERENCES predictions (id), "
                    "label VARCHAR(32) NOT NULL, created_at DATETIME NOT NULL)")
        old.execute("INSERT INTO predictions VALUES ('a', '2026-01-01 00:00:00', 'local', '1', 'hi', '0', 2, "
                    "'neutral', 0.5, '{}', NULL, NULL)")
        old.execute("INSERT INTO feedback VALUES ('a', 'neutral', '2026-01-01 00:00:01')")
    with PredictionStore(f"sqlite:///{path}") as store:
        assert [p["label"] for p in store.feedback_pairs()] == ["neutral"]
        store.add_feedback("a", "positive", actor="tester")
        assert [(h["label"], h["actor"]) for h in store.label_history("a")] == [("positive", "tester")]
        assert len(store.installation_secret("k")) == 64 and store.installation_secret("k") == \
            store.installation_secret("k")
