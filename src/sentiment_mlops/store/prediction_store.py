"""The prediction store: every prediction, its feedback, deployment history and alerts, in one database.

>>> store = PredictionStore("sqlite://")
>>> ids = store.insert_predictions([{"environment": "local", "model_version": "1", "text": "great",
...     "sentiment": "positive", "confidence": 0.9,
...     "probabilities": {"negative": 0.05, "neutral": 0.05, "positive": 0.9}}])
>>> store.get_prediction(ids[0])["text_length"]
5
>>> store.summary()["total_predictions"]
1
"""

from __future__ import annotations

from sentiment_mlops.store.alerts import AlertLog
from sentiment_mlops.store.deployments import DeploymentLog
from sentiment_mlops.store.feedback import FeedbackLog
from sentiment_mlops.store.live import LiveAggregates
from sentiment_mlops.store.predictions import PredictionLog
from sentiment_mlops.store.replay import ReplayLog
from sentiment_mlops.store.secrets import InstallationSecrets


class PredictionStore(PredictionLog, FeedbackLog, DeploymentLog, AlertLog, LiveAggregates, InstallationSecrets,
                      ReplayLog):
    """Prediction log, feedback, deployment events and alerts behind one database URL.

    Each aggregate lives in its own module (``store.predictions``, ``store.feedback``,
    ``store.deployments``, ``store.alerts``, ``store.live``); they share one engine (``store.database``).
    """
