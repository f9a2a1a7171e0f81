"""Which texts drove a drift report: the window's texts furthest from the reference, for an operator to read.

A report says that a window differs and, through the word checks, in which words. An operator deciding
whether to retrain wants to read a few of the texts themselves: the new topic, a bot, another language.
A text's distance from the reference is counted first in the words that drift on their own (the
``top_words`` of the new-terms and known-terms checks) that it contains, then in its share of tokens the
model has never seen. Repeats of one text (a retweet burst) are one driver with a count.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from sentiment_mlops.data.text_stats import make_tokenizer
from sentiment_mlops.monitoring.drift.result import CheckResult

TOP_DRIVERS = 5
WORD_CHECKS = ("new_terms", "known_terms")


@dataclass(frozen=True)
class DriftDriver:
    """One of the window's texts furthest from the reference."""

    position: int  # its first position in the window (0-based)
    text: str
    drifting_words: list[str]  # the words that drift on their own which it contains
    oov_rate: float
    repeats: int  # how many times it is in the window

    def to_dict(self) -> dict[str, Any]:
        return {"position": self.position, "text": self.text, "drifting_words": self.drifting_words,
                "oov_rate": round(self.oov_rate, 4), "repeats": self.repeats}


def drifting_words(checks: Sequence[CheckResult]) -> list[str]:
    """The words the word checks found drifting on their own, most significant first."""
    words: list[str] = []
    for check in checks:
        if check.name in WORD_CHECKS and check.drift:
            words.extend(str(w["word"]) for w in check.details.get("top_words", []) if w["word"] not in words)
    return words


def drift_drivers(texts: Sequence[str], oov_rates: np.ndarray, checks: Sequence[CheckResult],
                  tokenizer: dict[str, Any], *, top: int = TOP_DRIVERS) -> list[DriftDriver]:
    """The ``top`` distinct texts of the window furthest from the reference, furthest first.

    ``oov_rates`` are the texts' shares of unseen tokens; ``tokenizer`` the reference's settings, so that a
    word is found in a text exactly where the checks counted it.
    """
    words = drifting_words(checks)
    hits = np.zeros(len(texts), dtype=np.int64)
    found: dict[int, list[str]] = {}
    if words:
        # A cheap prefilter (any word as a substring, case-folded) before tokenizing exactly.
        prefilter = re.compile("|".join(re.escape(w) for w in words), re.IGNORECASE)
        tokenize = make_tokenizer(**tokenizer)
        wanted = set(words)
        for i, text in enumerate(texts):
            if not text.isascii() or prefilter.search(text):  # accents are stripped before matching
                present = wanted.intersection(tokenize(text))
                if present:
                    hits[i] = len(present)
                    found[i] = [w for w in words if w in present]
    # Most drifting words first, then the highest share of unseen tokens, then the earliest position.
    order = np.lexsort((np.arange(len(texts)), -np.asarray(oov_rates, dtype=np.float64), -hits))
    counts: dict[str, int] = {}
    for text in texts:
        counts[text] = counts.get(text, 0) + 1
    drivers: list[DriftDriver] = []
    seen: set[str] = set()
    for i in order.tolist():
        text = texts[i]
        if text in seen:
            continue
        seen.add(text)
        drivers.append(DriftDriver(position=i, text=text, drifting_words=found.get(i, []),
                                   oov_rate=float(oov_rates[i]), repeats=counts[text]))
        if len(drivers) == top:
            break
    return drivers
