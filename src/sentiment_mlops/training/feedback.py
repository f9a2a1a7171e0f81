"""Production feedback as training data: labelled logged texts, cleaned, deduplicated, split, fingerprinted.

``train --with-feedback`` reads every logged prediction that has a label (``store.labelled_texts``) and hands
the rows to ``assemble_feedback`` with the base data's texts. What comes out is a ``FeedbackData``: the rows
to add to training, the rows held out to evaluate on, and what was dropped and why.

The split is by the text's sha256, not random: a text held out by one run is held out by every run with the
same test share, so a version trained on feedback never has its held-out rows in a later candidate's
training rows (or the other way round), and the gate can compare the two on them.

>>> rows = [{"prediction_id": str(i), "text": f"text {i}", "label": "positive" if i % 2 else "negative",
...          "actor": "feedback-token"} for i in range(40)]
>>> data = assemble_feedback(rows, base_texts=["text 0"], test_size=0.25, weight=2.0)
>>> data.duplicate_of_base, len(data.train_texts) + len(data.test_texts)
(1, 39)
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sentiment_mlops.data.loading import fingerprint
from sentiment_mlops.errors import ConfigurationError, DataError
from sentiment_mlops.layout import ADMIN_ACTOR, FEEDBACK_ACTOR, LABELS

# Labels given with a token; open feedback (``anonymous``) can be anyone and never trains a model.
TRUSTED_ACTORS = frozenset({FEEDBACK_ACTOR, ADMIN_ACTOR})
MIN_FEEDBACK_ROWS = 10
DEFAULT_FEEDBACK_WEIGHT = 1.0
LOG_TEXT_SETTING = "SENTIMENT_MLOPS_LOG_TEXT"


class LabelledTexts(Protocol):
    """Where labelled logged predictions come from (``store.PredictionStore.labelled_texts``)."""

    def labelled_texts(self, *, environment: str | None = None,
                       since: datetime | None = None) -> list[dict[str, Any]]: ...


def held_out(text: str, test_size: float) -> bool:
    """Whether ``text`` falls in the held-out part: the first 8 bytes of its sha256 as a share of 2**64.

    >>> held_out("the same text", 0.2) == held_out("the same text", 0.2)
    True
    """
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < test_size


@dataclass(frozen=True)
class FeedbackData:
    """Feedback rows ready to train with, and the count of every row left out, by reason."""

    train_texts: list[str]
    train_labels: list[str]
    test_texts: list[str]
    test_labels: list[str]
    weight: float
    rows_read: int
    without_text: int = 0
    untrusted: int = 0
    duplicate: int = 0
    duplicate_of_base: int = 0
    environment: str | None = None
    since: datetime | None = None
    class_counts: dict[str, int] = field(default_factory=dict)

    @property
    def rows_used(self) -> int:
        return len(self.train_texts) + len(self.test_texts)

    @property
    def fingerprint(self) -> str:
        """sha256 over the rows used (training part, then held-out part), as ``data.fingerprint`` computes it."""
        return fingerprint([*self.train_texts, *self.test_texts], [*self.train_labels, *self.test_labels])

    def record(self) -> dict[str, Any]:
        """What a run records about its feedback (metrics.json ``feedback``, MLflow params and tags)."""
        return {
            "rows": self.rows_used,
            "train_size": len(self.train_texts),
            "test_size": len(self.test_texts),
            "fingerprint": self.fingerprint,
            "weight": self.weight,
            "environment": self.environment or "any",
            "since": self.since.isoformat() if self.since else None,
            "rows_read": self.rows_read,
            "dropped_without_text": self.without_text,
            "dropped_untrusted": self.untrusted,
            "dropped_duplicate": self.duplicate,
            "dropped_in_base_data": self.duplicate_of_base,
        }


@dataclass
class _Cleaned:
    latest: dict[str, str] = field(default_factory=dict)  # text -> its newest label
    without_text: int = 0
    untrusted: int = 0
    duplicate: int = 0


def _clean(rows: list[Mapping[str, Any]]) -> _Cleaned:
    cleaned = _Cleaned()
    for row in rows:
        text = row.get("text")
        if text is None:
            cleaned.without_text += 1
            continue
        text, label = str(text).strip(), str(row.get("label"))
        if row.get("actor") not in TRUSTED_ACTORS or not text or label not in LABELS:
            cleaned.untrusted += 1
            continue
        if text in cleaned.latest:
            cleaned.duplicate += 1
        cleaned.latest[text] = label
    return cleaned


def assemble_feedback(rows: Iterable[Mapping[str, Any]], *, base_texts: Sequence[str], test_size: float,
                      weight: float = DEFAULT_FEEDBACK_WEIGHT, environment: str | None = None,
                      since: datetime | None = None) -> FeedbackData:
    """Clean ``rows`` (``store.labelled_texts``) into a ``FeedbackData``.

    Left out, and counted: rows whose text was not logged, rows labelled without a token, a text already
    seen among the feedback (the newest label wins: rows come oldest first) or in ``base_texts``. Raises
    ``DataError`` when nothing usable is left, naming the setting that keeps texts when none were logged.
    """
    if not weight > 0:
        raise ConfigurationError(f"--feedback-weight must be above 0, got {weight:g}")
    rows = list(rows)
    where = f" for {environment}" if environment else ""
    if not rows:
        after = f" since {since.date().isoformat()}" if since else ""
        raise DataError(f"no labelled feedback{where}{after} in the prediction store; label logged predictions "
                        "with POST /feedback first")
    cleaned = _clean(rows)
    if cleaned.without_text == len(rows):
        raise DataError(f"the {len(rows):,} labelled predictions{where} were logged without their text "
                        f"({LOG_TEXT_SETTING}=false keeps only a digest); serve with {LOG_TEXT_SETTING}=true (the "
                        "default) to train on feedback")
    base = set(base_texts)
    latest = {text: label for text, label in cleaned.latest.items() if text not in base}
    in_base = len(cleaned.latest) - len(latest)
    if len(latest) < MIN_FEEDBACK_ROWS:
        raise DataError(f"only {len(latest)} usable feedback rows{where} (of {len(rows):,} labelled: "
                        f"{cleaned.without_text} without text, {cleaned.untrusted} not given with a token, "
                        f"{cleaned.duplicate} repeated, {in_base} already in the base data); at least "
                        f"{MIN_FEEDBACK_ROWS} are needed")
    test = {text: label for text, label in latest.items() if held_out(text, test_size)}
    train = {text: label for text, label in latest.items() if text not in test}
    if not test or not train:
        raise DataError(f"the {len(latest)} usable feedback rows{where} all fell in one part of the split; label "
                        "more predictions")
    return FeedbackData(train_texts=list(train), train_labels=list(train.values()), test_texts=list(test),
                        test_labels=list(test.values()), weight=weight, rows_read=len(rows),
                        without_text=cleaned.without_text, untrusted=cleaned.untrusted, duplicate=cleaned.duplicate,
                        duplicate_of_base=in_base, environment=environment, since=since,
                        class_counts=dict(sorted(Counter(latest.values()).items())))


def read_feedback(source: LabelledTexts, *, base_texts: Sequence[str], test_size: float,
                  weight: float = DEFAULT_FEEDBACK_WEIGHT, environment: str | None = None,
                  since: datetime | None = None) -> FeedbackData:
    """``assemble_feedback`` over the labelled predictions ``source`` holds for ``environment`` since ``since``."""
    rows = source.labelled_texts(environment=environment, since=since)
    return assemble_feedback(rows, base_texts=base_texts, test_size=test_size, weight=weight,
                             environment=environment, since=since)
