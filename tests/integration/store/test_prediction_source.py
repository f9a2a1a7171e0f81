"""The ``source`` column: server rows are 'api', ``score --log`` rows 'batch', and a database created before
the column existed gets it (old rows read as 'api') the first time a store opens it."""

from __future__ import annotations

from sqlalchemy import create_engine, text

from sentiment_mlops.store import PredictionStore
from sentiment_mlops.store.engine import engine_url

ROW = {"environment": "production", "model_version": "3", "text": "good service", "sentiment": "positive",
       "confidence": 0.7, "probabilities": {"negative": 0.1, "neutral": 0.2, "positive": 0.7}}


def test_rows_default_to_api_and_keep_batch(store_url):
    with PredictionStore(store_url) as store:
        (api,) = store.insert_predictions([dict(ROW)])
        store.insert_new_predictions([dict(ROW, id="b1", source="batch")])
        assert store.get_prediction(api)["source"] == "api"
        assert store.get_prediction("b1")["source"] == "batch"


def test_inserting_the_same_ids_again_keeps_the_first_rows(store_url):
    with PredictionStore(store_url) as store:
        store.insert_new_predictions([dict(ROW, id="a", text="first"), dict(ROW, id="b")])
        store.insert_new_predictions([dict(ROW, id="a", text="second"), dict(ROW, id="c")])
        assert store.get_prediction("a")["text"] == "first"
        assert store.summary()["total_predictions"] == 3


def test_a_database_from_before_the_source_column_gets_it(tmp_path):
    url = f"sqlite:///{tmp_path}/old.db"
    with PredictionStore(url) as store:
        store.insert_predictions([dict(ROW, id="old")])
    engine = create_engine(engine_url(url))
    with engine.begin() as connection:
        connection.execute(text("ALTER TABLE predictions DROP COLUMN source"))
    engine.dispose()
    with PredictionStore(url) as store:
        assert store.get_prediction("old")["source"] == "api"
        store.insert_predictions([dict(ROW, id="new", source="batch")])
        assert store.get_prediction("new")["source"] == "batch"
