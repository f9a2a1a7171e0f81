"""The lexicon model's (mnb_lexicon) behaviour on CheckList-style cases (tests/behaviour_cases.py), trained on
the built-in corpus.

The floors are what it measured on 2026-11-30 (benchmarks/quality.py: neutral fact 67%, negation
62%, intensifier 94%, contrast 72%, emoji 66%, all caps 90%) less a margin: they catch a regression, they
do not claim the goal of issue 11 (all neutral-fact and negation cases), which is not met yet.
"""

from __future__ import annotations

import pytest

from sentiment_mlops.data import load_dataset  # noqa: E402
from sentiment_mlops.training.pipeline import build_pipeline  # noqa: E402
from support.behaviour_cases import behaviour_cases, pass_rates

FLOORS = {"neutral fact": 0.6, "negation": 0.55, "intensifier": 0.85, "contrast": 0.6, "emoji": 0.55,
          "all caps": 0.8}


@pytest.fixture(scope="module")
def corpus() -> tuple[list[str], list[str]]:
    data = load_dataset("builtin")
    return list(data.texts), list(data.labels)


def test_every_capability_has_cases_with_more_than_one_accepted_reading_only_where_meant() -> None:
    cases = behaviour_cases()
    assert set(cases) == set(FLOORS)
    assert all(len(group) >= 20 for group in cases.values())
    assert all(len(case.accepted) == 1 for name, group in cases.items() if name != "negation" for case in group)


@pytest.fixture(scope="module")
def default_rates(corpus: tuple[list[str], list[str]]) -> dict[str, float]:
    pipeline = build_pipeline("mnb_lexicon").fit(*corpus)
    return pass_rates(lambda texts: list(pipeline.predict(texts)))


def test_the_lexicon_model_keeps_its_behavioural_pass_rates(default_rates: dict[str, float]) -> None:
    rates = default_rates
    below = {name: round(rate, 2) for name, rate in rates.items() if rate < FLOORS[name]}
    assert not below, f"pass rates below their floors {FLOORS}: {below}"


def test_the_lexicon_markers_lift_negation_and_neutral_facts(corpus: tuple[list[str], list[str]],
                                                              default_rates: dict[str, float]) -> None:
    with_lexicon = default_rates
    plain = build_pipeline("mnb").fit(*corpus)
    without = pass_rates(lambda texts: list(plain.predict(texts)))
    assert with_lexicon["negation"] > without["negation"]
    assert with_lexicon["neutral fact"] > without["neutral fact"]
