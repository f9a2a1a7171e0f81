"""Automatic rollback: watch the bake window after a production promotion and undo a version that hurts.

Within ``bake_minutes`` after the latest promotion into the environment (``promote`` or ``canary-finish`` in
the deployment history), production goes back to the previous version when
- the error rate since the promotion exceeds ``error_rate_threshold`` (1% by default), or
- live accuracy from feedback is significantly below ``accuracy_floor`` (one-sided exact binomial test,
  p < ``ROLLBACK_ALPHA``), or
- it is significantly more than ``ROLLBACK_ACCURACY_MARGIN`` under the previous version's on comparable
  traffic (one-sided two-proportion z-test, p < ``ROLLBACK_ALPHA``): the same number of the previous
  version's most recent labelled predictions in that environment before the promotion.
Accuracy rules act on evidence, never on a count alone: a few wrong labels move nothing.
The decision is pure (``decide_rollback``); ``AutoRollback`` gathers the evidence and calls the deployment
action it is given (``deployment.actions.rollback`` with ``action=DeploymentAction.AUTO_ROLLBACK``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Protocol

from sentiment_mlops.monitoring.alerts import MIN_LABELLED, MIN_REQUESTS, RuleOutcome
from sentiment_mlops.monitoring.performance import accuracy_and_macro_f1, as_utc
from sentiment_mlops.monitoring.traffic import RequestRateTracker
from sentiment_mlops.store.deployments import DEPLOYING_ACTIONS, DeploymentAction

if TYPE_CHECKING:
    from sentiment_mlops.store import PredictionStore

ROLLBACK_ACCURACY_MARGIN = 0.05
ROLLBACK_ALPHA = 0.01  # the chance of rolling back a version whose accuracy is in fact fine, per rule
RULE = "auto_rollback"


def below_floor_p_value(correct: int, labelled: int, floor: float) -> float:
    """p-value of "live accuracy is below ``floor``" (exact one-sided binomial test).

    >>> below_floor_p_value(8, 30, 0.55) < 0.01, below_floor_p_value(15, 30, 0.55) < 0.01
    (True, False)
    """
    from scipy.stats import binomtest

    return float(binomtest(correct, labelled, floor, alternative="less").pvalue)


def worse_than_p_value(accuracy: float, labelled: int, previous: float, previous_labelled: int,
                       margin: float) -> float:
    """p-value of "accuracy is more than ``margin`` under ``previous``" (one-sided two-proportion z-test)."""
    from scipy.stats import norm

    variance = accuracy * (1 - accuracy) / labelled + previous * (1 - previous) / previous_labelled
    if variance <= 0:
        return 0.0 if accuracy < previous - margin else 1.0
    z = ((previous - margin) - accuracy) / variance ** 0.5
    return float(norm.sf(z))


@dataclass(frozen=True)
class BakeWindow:
    """The period after a promotion during which the new version can be rolled back automatically."""

    environment: str
    version: str
    previous_version: str | None
    promoted_at: datetime
    ends_at: datetime
    event_id: int | None = None


def current_bake_window(events: Sequence[dict[str, Any]], *, environment: str, bake_minutes: float,
                        now: datetime) -> BakeWindow | None:
    """The bake window open at ``now``: only when the environment's latest event is a promotion."""
    mine = [e for e in events if e.get("environment") == environment]
    if not mine or mine[-1].get("action") not in DEPLOYING_ACTIONS or not mine[-1].get("to_version"):
        return None
    event = mine[-1]
    promoted_at = as_utc(event["created_at"])
    ends_at = promoted_at + timedelta(minutes=bake_minutes)
    if not promoted_at <= now < ends_at:
        return None
    previous = event.get("from_version")
    return BakeWindow(environment=environment, version=str(event["to_version"]),
                      previous_version=str(previous) if previous else None, promoted_at=promoted_at,
                      ends_at=ends_at, event_id=event.get("id"))


@dataclass(frozen=True)
class BakeEvidence:
    """What the new and the previous version did, as the rollback decision sees it."""

    window: BakeWindow
    requests: int | None
    errors: int | None
    labelled: int
    accuracy: float | None
    previous_labelled: int
    previous_accuracy: float | None

    @property
    def error_rate(self) -> float | None:
        return (self.errors or 0) / self.requests if self.requests else None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        window = data.pop("window")
        data.update({k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in window.items()})
        data["error_rate"] = self.error_rate
        return data


@dataclass(frozen=True)
class RollbackDecision:
    """Whether to roll back, why (one sentence per broken condition) and the evidence to record."""

    rollback: bool
    reasons: tuple[str, ...]
    evidence: dict[str, Any]
    summary: str = ""  # the short form recorded as the history's reason


def decide_rollback(evidence: BakeEvidence, *, accuracy_floor: float, error_rate_threshold: float,
                    margin: float = ROLLBACK_ACCURACY_MARGIN, alpha: float = ROLLBACK_ALPHA) -> RollbackDecision:
    """Pure: which of the three conditions hold, each on statistically significant evidence."""
    reasons: list[str] = []
    short: list[str] = []
    version = evidence.window.version
    rate = evidence.error_rate
    if rate is not None and (evidence.requests or 0) >= MIN_REQUESTS and rate > error_rate_threshold:
        reasons.append(f"error rate {rate:.2%} ({evidence.errors}/{evidence.requests} requests) since version "
                       f"{version} was promoted exceeds {error_rate_threshold:.2%}")
        short.append(f"error rate {rate:.2%} > {error_rate_threshold:.2%}")
    p_values: dict[str, float] = {}
    if evidence.accuracy is not None and evidence.labelled >= MIN_LABELLED:
        correct = round(evidence.accuracy * evidence.labelled)
        p_values["below_floor"] = below_floor_p_value(correct, evidence.labelled, accuracy_floor)
        if evidence.accuracy < accuracy_floor and p_values["below_floor"] < alpha:
            reasons.append(f"live accuracy of version {version} is {evidence.accuracy:.1%} on {evidence.labelled} "
                           f"labels, below the floor of {accuracy_floor:.1%} (p={p_values['below_floor']:.2g})")
            short.append(f"live accuracy {evidence.accuracy:.1%} < floor {accuracy_floor:.1%}")
        previous = evidence.previous_accuracy
        if previous is not None and evidence.previous_labelled >= MIN_LABELLED:
            p_values["worse_than_previous"] = worse_than_p_value(evidence.accuracy, evidence.labelled, previous,
                                                                 evidence.previous_labelled, margin)
        if previous is not None and "worse_than_previous" in p_values \
                and evidence.accuracy < previous - margin and p_values["worse_than_previous"] < alpha:
            reasons.append(f"live accuracy of version {version} is {evidence.accuracy:.1%}, "
                           f"{(previous - evidence.accuracy) * 100:.1f} points under version "
                           f"{evidence.window.previous_version}'s {previous:.1%} on {evidence.previous_labelled} "
                           f"comparable labels (limit {margin * 100:.0f}, "
                           f"p={p_values['worse_than_previous']:.2g})")
            short.append(f"{(previous - evidence.accuracy) * 100:.1f} points under version "
                         f"{evidence.window.previous_version}")
    data = {**evidence.to_dict(), "reasons": reasons, "accuracy_floor": accuracy_floor,
            "error_rate_threshold": error_rate_threshold, "accuracy_margin": margin, "alpha": alpha,
            "p_values": p_values}
    return RollbackDecision(rollback=bool(reasons), reasons=tuple(reasons), evidence=data,
                            summary=f"version {version} within its bake window: {'; '.join(short)}" if short else "")


def gather_bake_evidence(store: PredictionStore, window: BakeWindow,
                         traffic: RequestRateTracker | None) -> BakeEvidence:
    """Feedback of the new version since the promotion, the previous version's before it, request counts."""
    pairs = store.feedback_pairs(environment=window.environment, model_version=window.version,
                                 since=window.promoted_at)
    accuracy = accuracy_and_macro_f1([p["predicted"] for p in pairs], [p["label"] for p in pairs])[0] \
        if pairs else None
    previous_accuracy, previous_pairs = None, []
    if window.previous_version is not None:
        before = [p for p in store.feedback_pairs(environment=window.environment,
                                                  model_version=window.previous_version)
                  if as_utc(p["created_at"]) < window.promoted_at]
        previous_pairs = before[-max(len(pairs), MIN_LABELLED):]
        if previous_pairs:
            previous_accuracy = accuracy_and_macro_f1([p["predicted"] for p in previous_pairs],
                                                      [p["label"] for p in previous_pairs])[0]
    counts = traffic.since(window.promoted_at) if traffic is not None else None
    requests, errors = counts if counts is not None else (None, None)
    return BakeEvidence(window=window, requests=requests, errors=errors, labelled=len(pairs), accuracy=accuracy,
                        previous_labelled=len(previous_pairs), previous_accuracy=previous_accuracy)


class RollbackResult(Protocol):
    """What the monitor reads of a rollback's outcome (``deployment.actions.DeploymentResult``)."""

    @property
    def to_version(self) -> str | None: ...
    @property
    def message(self) -> str: ...


class RollbackAction(Protocol):
    """``deployment.actions.rollback`` bound to a registry and store (monitoring cannot import deployment)."""

    def __call__(self, *, environment: str, action: str, reason: str | None,
                 evidence: dict[str, Any] | None) -> RollbackResult: ...


class AutoRollback:
    """Checks the bake window each monitor iteration and rolls back once when the decision says so."""

    def __init__(self, store: PredictionStore, rollback: RollbackAction, *, environment: str, bake_minutes: float,
                 accuracy_floor: float, error_rate_threshold: float) -> None:
        self.store = store
        self.rollback = rollback
        self.environment = environment
        self.bake_minutes = bake_minutes
        self.accuracy_floor = accuracy_floor
        self.error_rate_threshold = error_rate_threshold

    def check(self, traffic: RequestRateTracker | None, now: datetime | None = None
              ) -> tuple[RollbackDecision | None, RollbackResult | None]:
        """(decision or None outside a bake window, the rollback action's result when it ran)."""
        now = now or datetime.now(timezone.utc)
        latest = self.store.deployment_events(self.environment, limit=1)  # the window opens at the latest event
        window = current_bake_window(latest, environment=self.environment, bake_minutes=self.bake_minutes, now=now)
        if window is None:
            return None, None
        decision = decide_rollback(gather_bake_evidence(self.store, window, traffic),
                                   accuracy_floor=self.accuracy_floor, error_rate_threshold=self.error_rate_threshold)
        if not decision.rollback or window.previous_version is None:
            return decision, None
        result = self.rollback(environment=self.environment, action=DeploymentAction.AUTO_ROLLBACK,
                               reason=decision.summary, evidence=decision.evidence)
        return decision, result


def rollback_outcome(decision: RollbackDecision | None, result: RollbackResult | None, environment: str) -> RuleOutcome:
    """The auto-rollback alert: fires when this iteration rolled back; resolves in the bake window of the
    next promotion that holds up; unknown (left as it is) outside any bake window."""
    if decision is None:
        return RuleOutcome(rule=RULE, status="unknown", severity="critical", message="no bake window open")
    version = decision.evidence["version"]
    if decision.rollback and result is None:
        return RuleOutcome(rule=RULE, status="firing", severity="critical",
                           message=f"version {version} in {environment} should be rolled back but no earlier "
                                   f"version is recorded: {'; '.join(decision.reasons)}",
                           details={"evidence": decision.evidence})
    if result is None:
        return RuleOutcome(rule=RULE, status="ok", severity="critical",
                           message=f"version {version} is holding up in {environment}'s bake window")
    to_version = result.to_version
    return RuleOutcome(rule=RULE, status="firing", severity="critical", event=True,
                       message=f"{environment} rolled back automatically from version {version} to {to_version}: "
                               f"{'; '.join(decision.reasons)}",
                       details={"evidence": decision.evidence, "to_version": to_version})
