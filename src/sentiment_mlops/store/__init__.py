"""The store: one SQL database for the prediction log, feedback, deployment history and alerts.

The only package that writes SQL. SQLite (WAL) by default, PostgreSQL at scale. Import
``PredictionStore`` from here; the modules hold one aggregate each.
"""

from __future__ import annotations

from sentiment_mlops.store.alerts import ALERT_STATUSES
from sentiment_mlops.store.engine import engine_url
from sentiment_mlops.store.prediction_store import PredictionStore
from sentiment_mlops.store.predictions import prediction_filters

__all__ = ["ALERT_STATUSES", "PredictionStore", "engine_url", "prediction_filters"]
