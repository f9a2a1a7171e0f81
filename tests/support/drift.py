"""A real topic shift on the built-in corpus, shared by the drift tests and the drift benchmarks.

The corpus concatenates topical collections (airline tweets, #deflategate, driverless cars, Apple,
allergy chatter, the Coachella festival). Every Coachella tweet names it, so one keyword separates the
topic reliably. The model is trained without it; the kept topics' remaining rows are split in two: one
part builds the reference profile (as training does with its held-out split) and the other supplies the
same-distribution windows, so false alarms are measured on rows the profile never saw.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.model_selection import train_test_split

LEFT_OUT_TOPIC = "coachella"
TOPIC_PATTERN = re.compile(r"coachella", re.IGNORECASE)
SEED = 0


@dataclass(frozen=True)
class TopicShift:
    """A model trained without one topic, its reference profile, and the pools windows are drawn from."""

    pipeline: Any
    profile: dict[str, Any]
    profile_texts: list[str]  # kept topics, the rows the reference profile was built on
    same_pool: list[str]  # kept topics, rows used neither for training nor for the profile
    new_pool: list[str]  # the left-out topic
    train_size: int
    profile_size: int

    def score(self, texts: list[str]) -> tuple[list[str], np.ndarray]:
        """Predicted labels and confidences, as the CLI or the server would log them."""
        probabilities = self.pipeline.predict_proba(texts)
        classes = [str(c) for c in self.pipeline.classes_]
        return [classes[i] for i in probabilities.argmax(axis=1)], probabilities.max(axis=1)


def build_topic_shift(*, max_train: int | None = None, topic: re.Pattern[str] = TOPIC_PATTERN) -> TopicShift:
    """Train on the kept topics (60%), profile on 20%, keep 20% for same-distribution windows.

    ``topic`` selects the tweets left out (the Coachella festival by default).
    """
    from sentiment_mlops.data import load_dataset
    from sentiment_mlops.training.pipeline import build_pipeline
    from sentiment_mlops.training.profile import reference_profile

    dataset = load_dataset()
    texts = np.array(dataset.texts, dtype=object)
    labels = np.array(dataset.labels)
    is_new = np.array([bool(topic.search(t)) for t in dataset.texts])
    kept = np.flatnonzero(~is_new)
    train_idx, rest = train_test_split(kept, test_size=0.4, random_state=SEED, stratify=labels[kept])
    profile_idx, same_idx = train_test_split(rest, test_size=0.5, random_state=SEED, stratify=labels[rest])
    if max_train is not None:
        train_idx = train_idx[:max_train]
    pipeline = build_pipeline("mnb", seed=SEED).fit(list(texts[train_idx]), list(labels[train_idx]))
    profile = reference_profile(pipeline, list(texts[profile_idx]))
    return TopicShift(pipeline=pipeline, profile=profile, profile_texts=list(texts[profile_idx]),
                      same_pool=list(texts[same_idx]),
                      new_pool=list(texts[is_new]), train_size=len(train_idx), profile_size=len(profile_idx))


def draw_windows(shift: TopicShift, *, size: int, new_share: float, count: int, seed: int) -> list[list[str]]:
    """``count`` windows of ``size`` texts, ``new_share`` of them from the left-out topic, each shuffled."""
    rng = np.random.default_rng(seed)
    n_new = int(round(size * new_share))
    windows = []
    for _ in range(count):
        same = rng.choice(len(shift.same_pool), size - n_new, replace=False)
        new = rng.choice(len(shift.new_pool), n_new, replace=False)
        window = [shift.same_pool[i] for i in same] + [shift.new_pool[i] for i in new]
        windows.append([window[i] for i in rng.permutation(size)])
    return windows


def spread_topic(shift: TopicShift, topic: re.Pattern[str]) -> TopicShift:
    """The shift with the tokens holding ``topic``'s selecting keywords removed from the left-out texts.

    Every text of a keyword-selected topic holds a word the model never saw, which the new-terms check finds
    at once; what is left after removing it spreads over the topic's other words, as a new topic in real
    traffic may (benchmarks/drift_topics.py --spread).
    """
    keyword_tokens = re.compile(r"\S*(?:" + topic.pattern + r")\S*", re.IGNORECASE)
    return dataclasses.replace(shift, new_pool=[keyword_tokens.sub("", text) for text in shift.new_pool])
