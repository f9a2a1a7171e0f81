"""A small fitted pipeline and its held-out texts, shared by the serving unit tests."""

from __future__ import annotations

from typing import Any

import pytest

from support.serving import corpus_slice


@pytest.fixture(scope="session")
def corpus_split() -> tuple[list[str], list[str], list[str], list[str]]:
    from sklearn.model_selection import train_test_split

    data = corpus_slice()
    x_train, x_test, y_train, y_test = train_test_split(data.texts, data.labels, test_size=0.2, random_state=42,
                                                        stratify=data.labels)
    return list(x_train), list(x_test), list(y_train), list(y_test)


@pytest.fixture(scope="session")
def mnb_pipeline(corpus_split: Any) -> Any:
    from sentiment_mlops.training.pipeline import build_pipeline

    x_train, _, y_train, _ = corpus_split
    return build_pipeline("mnb").fit(x_train, y_train)
