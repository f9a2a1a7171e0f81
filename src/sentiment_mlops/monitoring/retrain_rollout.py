"""What the loop's canary or shadow showed since it started, read from the prediction log and judged by the
policy (``retrain_policy.judge_canary`` / ``judge_shadow``).

- canary: the predictions the canary served, and labelled accuracy of the canary and of production over the same
  stretch of time (different requests: the canary gets a share of them);
- shadow: production's answers and the shadow's to the same live requests (``PredictionStore.shadow_pairs``),
  agreement, and on the labelled ones the accuracy of each.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sentiment_mlops.monitoring.retrain_policy import (
    CanaryFacts,
    RetrainPolicy,
    Rollout,
    RolloutVerdict,
    ShadowFacts,
    judge_canary,
    judge_shadow,
)

if TYPE_CHECKING:
    from sentiment_mlops.store import PredictionStore

SHADOW_PAIRS_READ = 100_000  # the newest shadowed requests a verdict looks at


def canary_facts(store: PredictionStore, environment: str, *, canary: str, production: str | None,
                 started: datetime, now: datetime) -> CanaryFacts:
    def labelled(version: str | None) -> tuple[int, int]:
        if version is None:
            return 0, 0
        pairs = store.feedback_pairs(environment=environment, model_version=version, since=started)
        return len(pairs), sum(1 for pair in pairs if pair["predicted"] == pair["label"])

    canary_labelled, canary_correct = labelled(canary)
    production_labelled, production_correct = labelled(production)
    return CanaryFacts(minutes_running=(now - started).total_seconds() / 60,
                       canary_predictions=store.count_predictions(environment=environment, model_version=canary,
                                                                  since=started),
                       canary_labelled=canary_labelled, canary_correct=canary_correct,
                       production_labelled=production_labelled, production_correct=production_correct)


def shadow_facts(store: PredictionStore, *, shadow: str, production: str | None, started: datetime,
                 now: datetime) -> ShadowFacts:
    """Only requests production's current version answered count (not a canary's, not an earlier version's)."""
    pairs = [pair for pair in store.shadow_pairs(shadow, since=started, limit=SHADOW_PAIRS_READ)
             if production is not None and str(pair["live_version"]) == production]
    labelled = [pair for pair in pairs if pair["label"] is not None]
    return ShadowFacts(minutes_running=(now - started).total_seconds() / 60, pairs=len(pairs),
                       agreed=sum(1 for pair in pairs if pair["live_sentiment"] == pair["shadow_sentiment"]),
                       labelled=len(labelled),
                       shadow_correct=sum(1 for pair in labelled if pair["shadow_sentiment"] == pair["label"]),
                       live_correct=sum(1 for pair in labelled if pair["live_sentiment"] == pair["label"]))


def judge_rollout(policy: RetrainPolicy, store: PredictionStore, *, candidate: str, production: str | None,
                  started: datetime, now: datetime) -> tuple[RolloutVerdict, list[str], dict[str, Any]]:
    """The policy's verdict on the loop's running canary or shadow of ``candidate``, with reasons and evidence."""
    if policy.rollout is Rollout.SHADOW:
        return judge_shadow(policy, shadow_facts(store, shadow=candidate, production=production, started=started,
                                                 now=now))
    return judge_canary(policy, canary_facts(store, policy.environment, canary=candidate, production=production,
                                             started=started, now=now))
