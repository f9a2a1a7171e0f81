from __future__ import annotations

import pytest

from sentiment_mlops.errors import RegistryError
from sentiment_mlops.registry.tracker_process import TrackerProcess


def test_an_unusable_store_is_reported_as_one_registry_error(tmp_path):
    with TrackerProcess("bogus-scheme://nowhere", "sentiment-analysis", "SentimentAnalysisModel") as tracker:
        tracker.open()
        with pytest.raises(RegistryError, match="bogus-scheme"):
            tracker.wait_ready()


def test_closing_before_open_stops_the_child_and_writes_nothing(tmp_path):
    tracker = TrackerProcess(f"sqlite:///{tmp_path / 'mlflow.db'}", "sentiment-analysis", "SentimentAnalysisModel")
    tracker.close()
    tracker._process.join(timeout=10)
    assert not tracker._process.is_alive()
    assert list(tmp_path.iterdir()) == []
