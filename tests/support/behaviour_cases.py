"""Behavioural cases (CheckList style) shared by tests/unit/training/test_behaviour.py and benchmarks/quality.py.

Each capability is a set of sentences generated from templates and fillers written for this suite, not
taken from the corpus and not tuned on any one sentence: statements of fact, negation, intensifiers,
contrast, emoji and all caps, with the labels a reader would give them. A case passes when the model's
label is one of the case's accepted labels (negating a negative word may give a positive or a neutral
reading, as in CheckList).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import product

THINGS = ["food", "service", "movie", "hotel room", "phone", "book", "concert", "staff", "camera", "app"]
POSITIVE = ["good", "great", "excellent", "wonderful", "amazing", "pleasant", "helpful", "enjoyable"]
NEGATIVE = ["bad", "terrible", "awful", "horrible", "disappointing", "rude", "boring", "poor"]
FACTS = [
    "The meeting is at 3pm.", "The store opens at 9am on Mondays.", "The package was shipped on Tuesday.",
    "The report has twelve pages.", "The train leaves from platform 4.", "Our office is on the third floor.",
    "The library closes at 8pm.", "The conference takes place in Chicago in May.",
    "The document was updated yesterday.", "The bus comes every twenty minutes.",
    "The new version was released this morning.", "Water boils at 100 degrees Celsius.",
    "The museum is located downtown.", "She moved to Denver last year.", "The update includes three changes.",
    "The lecture starts at noon.", "The recipe calls for two eggs.", "The road will be repaved next week.",
    "Tickets are sold at the front desk.", "The warehouse ships orders on weekdays.",
    "The city council meets on Thursday evening.", "The manual is available in four languages.",
    "He is flying to Boston tomorrow.", "The building has six floors.",
]
POSITIVE_EMOJI = ["😍", "😀", "😊", "👍", "❤️"]
NEGATIVE_EMOJI = ["😡", "😢", "😞", "👎", "😠"]
NEUTRAL_EVENTS = ["Just got my new phone", "Picked up the tickets", "The results came in today",
                  "Finished the book last night", "Tried the new place downtown"]


@dataclass(frozen=True)
class Case:
    """One sentence and the labels that count as right for it."""

    text: str
    accepted: frozenset[str]


def _cases(texts: Sequence[str], *labels: str) -> list[Case]:
    return [Case(text, frozenset(labels)) for text in texts]


def _neutral_facts() -> list[Case]:
    return _cases(FACTS, "neutral")


def _negation() -> list[Case]:
    things = THINGS[:5]
    negated_positive = [f"The {t} was not {a}." for t, a in product(things, POSITIVE[:4])]
    negated_positive += [f"I didn't like the {t}." for t in things]
    negated_negative = [f"The {t} was not {a} at all." for t, a in product(things, NEGATIVE[:4])]
    negated_negative += [f"I was never disappointed by the {t}." for t in things]
    return _cases(negated_positive, "negative") + _cases(negated_negative, "positive", "neutral")


def _intensifiers() -> list[Case]:
    things = THINGS[5:]
    positive = [f"The {t} was {i} {a}." for t, i, a in product(things, ["really", "extremely"], POSITIVE[4:])]
    negative = [f"The {t} was {i} {a}." for t, i, a in product(things, ["really", "extremely"], NEGATIVE[4:])]
    return _cases(positive, "positive") + _cases(negative, "negative")


def _contrast() -> list[Case]:
    pairs = [("food", "service"), ("movie", "ending"), ("hotel room", "view"), ("phone", "battery")]
    fillers = list(product(pairs, POSITIVE[:3], NEGATIVE[:3]))
    to_negative = [f"The {a} was {p} but the {b} was {n}." for (a, b), p, n in fillers]
    to_positive = [f"The {a} was {n} but the {b} was {p}." for (a, b), p, n in fillers]
    return _cases(to_negative, "negative") + _cases(to_positive, "positive")


def _emoji() -> list[Case]:
    positive = [f"{event} {e}" for event, e in product(NEUTRAL_EVENTS, POSITIVE_EMOJI)]
    negative = [f"{event} {e}" for event, e in product(NEUTRAL_EVENTS, NEGATIVE_EMOJI)]
    return _cases(positive, "positive") + _cases(negative, "negative")


def _all_caps() -> list[Case]:
    positive = [f"THE {t.upper()} WAS {a.upper()}!" for t, a in product(THINGS[:5], POSITIVE[:4])]
    negative = [f"THE {t.upper()} WAS {a.upper()}!" for t, a in product(THINGS[:5], NEGATIVE[:4])]
    return _cases(positive, "positive") + _cases(negative, "negative")


CAPABILITIES: dict[str, Callable[[], list[Case]]] = {
    "neutral fact": _neutral_facts,
    "negation": _negation,
    "intensifier": _intensifiers,
    "contrast": _contrast,
    "emoji": _emoji,
    "all caps": _all_caps,
}


def behaviour_cases() -> dict[str, list[Case]]:
    """Every capability's cases."""
    return {name: make() for name, make in CAPABILITIES.items()}


def pass_rates(predict: Callable[[list[str]], Sequence[str]]) -> dict[str, float]:
    """Share of each capability's cases whose predicted label is accepted."""
    rates = {}
    for name, cases in behaviour_cases().items():
        predicted = predict([case.text for case in cases])
        rates[name] = sum(label in case.accepted for case, label in zip(cases, predicted, strict=True)) / len(cases)
    return rates
