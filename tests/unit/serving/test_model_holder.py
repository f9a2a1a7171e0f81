"""The model holder: atomic swaps, the canary share, and 503 with a hint when nothing is loaded."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from sentiment_mlops.errors import ModelNotFoundError
from sentiment_mlops.serving.model_holder import ModelHolder, ModelSnapshot, ServedModel
from sentiment_mlops.serving.model_source import parse_canary_percent


def _served(pipeline: Any, version: str) -> ServedModel:
    return ServedModel.from_loaded(SimpleNamespace(pipeline=pipeline, version=version))


def test_choose_routes_the_canary_share(mnb_pipeline: Any) -> None:
    snapshot = ModelSnapshot(_served(mnb_pipeline, "1"), _served(mnb_pipeline, "2"), 25.0)
    assert snapshot.choose(0.0).version == "2"
    assert snapshot.choose(24.99).version == "2"
    assert snapshot.choose(25.0).version == "1"
    assert snapshot.choose(99.9).version == "1"
    assert ModelSnapshot(_served(mnb_pipeline, "1")).choose(0.0).version == "1"


def test_random_canary_share_is_about_right(mnb_pipeline: Any) -> None:
    import random

    holder = ModelHolder(ModelSnapshot(_served(mnb_pipeline, "1"), _served(mnb_pipeline, "2"), 10.0),
                         rng=random.Random(7))
    share = sum(holder.choose().version == "2" for _ in range(5000)) / 5000
    assert 0.08 < share < 0.12


def test_swap_returns_the_previous_snapshot(mnb_pipeline: Any) -> None:
    holder = ModelHolder()
    assert holder.version is None
    first = ModelSnapshot(_served(mnb_pipeline, "1"))
    assert holder.swap(first).primary is None
    assert holder.swap(ModelSnapshot(_served(mnb_pipeline, "2"))) is first
    assert holder.version == "2"


def test_no_model_raises_with_the_commands_to_run() -> None:
    with pytest.raises(ModelNotFoundError, match="sentiment-mlops train.*sentiment-mlops promote VERSION --to staging"):
        ModelHolder().choose()


@pytest.mark.parametrize(("tag", "expected"), [(None, 0.0), ("10", 10.0), ("12.5", 12.5), ("-3", 0.0),
                                               ("250", 100.0), ("ten", 0.0), ("nan", 0.0)])
def test_canary_percent_tag_is_read_defensively(tag: str | None, expected: float) -> None:
    assert parse_canary_percent(tag) == expected
