"""Alert rules: pure functions from one monitoring snapshot and the settings to firing / ok / unknown.

Each rule looks at one number in the snapshot and compares it with one threshold from ``Settings``
(environment variables ``SENTIMENT_MLOPS_*``). "unknown" means there is not enough data to decide (too few
requests or labels); an unknown rule neither fires nor resolves an alert. ``AlertNotifier``
(``monitoring.notifier``) turns outcomes into stored alerts and messages.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Literal

from sentiment_mlops.config import Settings
from sentiment_mlops.store.alerts import MODEL_LOAD_FAILED

Status = Literal["firing", "ok", "unknown"]
Severity = Literal["critical", "warning"]

# Below these counts a rate or an accuracy is mostly noise: 1 error in 20 requests is 5% by luck.
MIN_REQUESTS = 20
MIN_LABELLED = 30
MIN_ESTIMATE_PREDICTIONS = 100

RULES = ("drift", "live_accuracy", "estimated_accuracy_drop", "error_rate", "p95_latency", "no_traffic",
         MODEL_LOAD_FAILED)


@dataclass(frozen=True)
class MonitorSnapshot:
    """Everything the rules look at, measured at ``taken_at`` for one environment's current version.

    Fields are None when they could not be measured (no model, no traffic, no labels).
    """

    environment: str
    model_version: str | None
    taken_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    drift: dict[str, Any] | None = None
    live_accuracy: float | None = None
    live_macro_f1: float | None = None
    labelled: int = 0
    estimated_accuracy: float | None = None
    estimate_predictions: int = 0
    reference_accuracy: float | None = None
    requests: int | None = None
    errors: int | None = None
    p95_latency_ms: float | None = None
    latency_samples: int = 0
    last_prediction_at: datetime | None = None
    model_load_error: str | None = None

    @property
    def error_rate(self) -> float | None:
        if not self.requests:
            return None
        return (self.errors or 0) / self.requests

    def to_dict(self) -> dict[str, Any]:
        data = {name: getattr(self, name) for name in self.__dataclass_fields__}
        data["taken_at"] = self.taken_at.isoformat()
        data["last_prediction_at"] = self.last_prediction_at.isoformat() if self.last_prediction_at else None
        data["error_rate"] = self.error_rate
        return data


@dataclass(frozen=True)
class RuleOutcome:
    """One rule's verdict: status, the value it saw, the threshold, and a sentence a human can act on."""

    rule: str
    status: Status
    severity: Severity
    message: str
    value: float | None = None
    threshold: float | None = None
    details: dict[str, Any] = field(default_factory=dict)
    # A one-off event (an automatic rollback) rather than a condition: never held back by the cooldown.
    event: bool = False

    @property
    def firing(self) -> bool:
        return self.status == "firing"


def _outcome(rule: str, severity: Severity, firing: bool, message: str, **kwargs: Any) -> RuleOutcome:
    return RuleOutcome(rule=rule, status="firing" if firing else "ok", severity=severity, message=message,
                       **kwargs)


def _unknown(rule: str, severity: Severity, why: str) -> RuleOutcome:
    return RuleOutcome(rule=rule, status="unknown", severity=severity, message=why)


def _where(snapshot: MonitorSnapshot) -> str:
    version = f" version {snapshot.model_version}" if snapshot.model_version else ""
    return f"{snapshot.environment}{version}"


def drift_rule(snapshot: MonitorSnapshot, settings: Settings) -> RuleOutcome:
    """The drift report of the current window says drift (checks as in the DESIGN drift report)."""
    report = snapshot.drift
    if not report:
        return _unknown("drift", "warning", "no drift report (no model or too few predictions)")
    drifted = [c["name"] for c in report.get("checks", []) if c.get("drift")]
    detected = bool(report.get("drift_detected"))
    size = report.get("current_size")
    message = (f"drift in {_where(snapshot)}: {', '.join(drifted) or 'combined test'} over the last {size} "
               "predictions" if detected else f"no drift in {_where(snapshot)} over the last {size} predictions")
    return _outcome("drift", "warning", detected, message, value=float(len(drifted)), threshold=0.0,
                    details={"checks": drifted, "current_size": size})


def live_accuracy_rule(snapshot: MonitorSnapshot, settings: Settings) -> RuleOutcome:
    """Accuracy on predictions that received feedback is below ``accuracy_floor``."""
    floor = settings.accuracy_floor
    if snapshot.live_accuracy is None or snapshot.labelled < MIN_LABELLED:
        return _unknown("live_accuracy", "critical",
                        f"{snapshot.labelled} labelled predictions; need {MIN_LABELLED} to judge accuracy")
    value = snapshot.live_accuracy
    firing = value < floor
    verb = "below" if firing else "at or above"
    return _outcome("live_accuracy", "critical", firing,
                    f"live accuracy of {_where(snapshot)} is {value:.1%} on {snapshot.labelled} labelled "
                    f"predictions, {verb} the floor of {floor:.1%}",
                    value=value, threshold=floor, details={"labelled": snapshot.labelled,
                                                           "macro_f1": snapshot.live_macro_f1})


def estimated_accuracy_rule(snapshot: MonitorSnapshot, settings: Settings) -> RuleOutcome:
    """The label-free estimate fell more than ``estimated_accuracy_drop`` below its held-out reference."""
    if snapshot.estimated_accuracy is None or snapshot.reference_accuracy is None \
            or snapshot.estimate_predictions < MIN_ESTIMATE_PREDICTIONS:
        return _unknown("estimated_accuracy_drop", "warning",
                        f"{snapshot.estimate_predictions} predictions; need {MIN_ESTIMATE_PREDICTIONS} "
                        "and a reference profile to estimate accuracy")
    drop = snapshot.reference_accuracy - snapshot.estimated_accuracy
    limit = settings.estimated_accuracy_drop
    firing = drop > limit
    return _outcome("estimated_accuracy_drop", "warning", firing,
                    f"estimated accuracy of {_where(snapshot)} is {snapshot.estimated_accuracy:.1%} "
                    f"({drop * 100:+.1f} points below the held-out {snapshot.reference_accuracy:.1%}; "
                    f"limit {limit * 100:.1f})",
                    value=drop, threshold=limit,
                    details={"estimated_accuracy": snapshot.estimated_accuracy,
                             "reference_accuracy": snapshot.reference_accuracy,
                             "predictions": snapshot.estimate_predictions})


def error_rate_rule(snapshot: MonitorSnapshot, settings: Settings) -> RuleOutcome:
    """Server errors (5xx) as a share of requests exceed ``error_rate_threshold``."""
    rate = snapshot.error_rate
    if rate is None or (snapshot.requests or 0) < MIN_REQUESTS:
        return _unknown("error_rate", "critical", f"{snapshot.requests or 0} requests; need {MIN_REQUESTS}")
    limit = settings.error_rate_threshold
    firing = rate > limit
    return _outcome("error_rate", "critical", firing,
                    f"error rate of {_where(snapshot)} is {rate:.2%} ({snapshot.errors} of {snapshot.requests} "
                    f"requests), {'above' if firing else 'within'} the limit of {limit:.2%}",
                    value=rate, threshold=limit, details={"errors": snapshot.errors, "requests": snapshot.requests})


def latency_rule(snapshot: MonitorSnapshot, settings: Settings) -> RuleOutcome:
    """The 95th percentile of logged prediction latency exceeds ``p95_latency_ms``."""
    if snapshot.p95_latency_ms is None or snapshot.latency_samples < MIN_REQUESTS:
        return _unknown("p95_latency", "warning",
                        f"{snapshot.latency_samples} timed predictions; need {MIN_REQUESTS}")
    value, limit = snapshot.p95_latency_ms, settings.p95_latency_ms
    firing = value > limit
    return _outcome("p95_latency", "warning", firing,
                    f"p95 latency of {_where(snapshot)} is {value:.1f} ms over {snapshot.latency_samples} "
                    f"predictions, {'above' if firing else 'within'} the limit of {limit:.0f} ms",
                    value=value, threshold=limit, details={"samples": snapshot.latency_samples})


def no_traffic_rule(snapshot: MonitorSnapshot, settings: Settings) -> RuleOutcome:
    """No prediction was logged for ``no_traffic_minutes`` (or ever, while a model is served)."""
    limit = settings.no_traffic_minutes
    if snapshot.model_version is None:
        return _unknown("no_traffic", "warning", "no model is served; silence is expected")
    if snapshot.last_prediction_at is None:
        return _outcome("no_traffic", "warning", True, f"{_where(snapshot)} has never logged a prediction",
                        value=None, threshold=limit)
    idle = (snapshot.taken_at - snapshot.last_prediction_at) / timedelta(minutes=1)
    firing = idle > limit
    return _outcome("no_traffic", "warning", firing,
                    f"last prediction in {_where(snapshot)} was {idle:.1f} minutes ago "
                    f"({'over' if firing else 'within'} {limit:g} minutes)",
                    value=idle, threshold=limit,
                    details={"last_prediction_at": snapshot.last_prediction_at.isoformat()})


def model_load_rule(snapshot: MonitorSnapshot, settings: Settings) -> RuleOutcome:
    """The environment's model could not be loaded or verified."""
    error = snapshot.model_load_error
    if error is None:
        return _outcome(MODEL_LOAD_FAILED, "critical", False, f"the model of {_where(snapshot)} loads")
    return _outcome(MODEL_LOAD_FAILED, "critical", True, f"model failed to load in {snapshot.environment}: "
                    f"{error}", details={"error": error})


RULE_FUNCTIONS: tuple[Callable[[MonitorSnapshot, Settings], RuleOutcome], ...] = (
    drift_rule, live_accuracy_rule, estimated_accuracy_rule, error_rate_rule, latency_rule, no_traffic_rule,
    model_load_rule,
)


def evaluate_rules(snapshot: MonitorSnapshot, settings: Settings) -> list[RuleOutcome]:
    """Every rule's outcome for ``snapshot``, in the order of ``RULES``."""
    return [rule(snapshot, settings) for rule in RULE_FUNCTIONS]
