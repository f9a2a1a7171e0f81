"""The retraining loop's policy file (``monitor --watch --retrain POLICY.yml``) and its pure decisions.

Three questions, each a pure function of facts the loop gathered:
- ``should_retrain``: enough new labels, the cooldown over, and drift or an accuracy drop as required?
- ``judge_canary``: after watching a canary (``rollout: canary``), promote it, roll it back, or keep watching?
- ``judge_shadow``: after watching production's shadow (``rollout: shadow``), the same question on the shadow's
  answers to the same live requests.

>>> policy = RetrainPolicy(min_new_labels=100, require=Trigger.DRIFT)
>>> facts = TriggerFacts(new_labels=150, minutes_since_last=None, drift_detected=True)
>>> should_retrain(policy, facts).start
True
>>> should_retrain(policy, TriggerFacts(new_labels=150, minutes_since_last=None, drift_detected=False)).reasons
['no drift detected (the policy requires drift)']
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sentiment_mlops.config import CANARY_ALIAS, SHADOW_ALIAS
from sentiment_mlops.errors import ConfigurationError


class Trigger(StrEnum):
    """What must be seen, beside enough new labels, before the loop retrains."""

    DRIFT = "drift"
    ACCURACY_DROP = "accuracy_drop"
    DRIFT_OR_ACCURACY_DROP = "drift_or_accuracy_drop"
    NONE = "none"  # new labels alone


class Promotion(StrEnum):
    """How a canary that held up ends: promoted by the loop, or left waiting for ``promote --approve``."""

    AUTO = "auto"
    APPROVAL = "approval"


class Rollout(StrEnum):
    """How the loop puts a gated candidate in front of production's traffic before promoting it: a canary answers a
    share of the requests; a shadow scores a share of them too, but its answers are logged, never returned."""

    CANARY = "canary"
    SHADOW = "shadow"

    @property
    def alias(self) -> str:
        """The registry alias the rollout runs under (``rollback --env ALIAS`` ends it)."""
        return CANARY_ALIAS if self is Rollout.CANARY else SHADOW_ALIAS


# The fields that only mean something for one rollout: setting one for the other is a mistake worth a line.
ROLLOUT_FIELDS = {
    Rollout.CANARY: ("canary_percent", "canary_minutes", "min_canary_predictions", "min_canary_labels",
                     "max_canary_accuracy_drop"),
    Rollout.SHADOW: ("shadow_percent", "shadow_minutes", "min_shadow_pairs", "min_shadow_labels",
                     "max_shadow_accuracy_drop"),
}


class TrainingPolicy(BaseModel):
    """How the loop trains a candidate: ``train --with-feedback`` with these options."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    data: str = "builtin"
    text_column: str = "text"
    label_column: str = "sentiment"
    model: str = "mnb"
    seed: int = 42
    test_size: float = Field(default=0.2, ge=0.05, le=0.5)
    feedback_weight: float = Field(default=1.0, gt=0)
    models_dir: Path = Path("models-loop")


class RetrainPolicy(BaseModel):
    """The policy file, validated; every field has a default, unknown fields are refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    environment: str = Field(default="production", pattern="^production$")
    min_new_labels: int = Field(default=200, ge=1)
    require: Trigger = Trigger.DRIFT_OR_ACCURACY_DROP
    accuracy_drop: float = Field(default=0.05, gt=0, le=1)
    min_labelled_for_accuracy: int = Field(default=50, ge=1)
    cooldown_minutes: float = Field(default=60.0, ge=0)
    canary_percent: float = Field(default=10.0, gt=0, le=100)
    canary_minutes: float = Field(default=30.0, ge=0)
    min_canary_predictions: int = Field(default=100, ge=1)
    min_canary_labels: int = Field(default=0, ge=0)
    max_canary_accuracy_drop: float = Field(default=0.05, ge=0, le=1)
    rollout: Rollout = Rollout.CANARY
    shadow_percent: float = Field(default=100.0, gt=0, le=100)
    shadow_minutes: float = Field(default=30.0, ge=0)
    min_shadow_pairs: int = Field(default=200, ge=1)
    min_shadow_labels: int = Field(default=0, ge=0)
    max_shadow_accuracy_drop: float = Field(default=0.05, ge=0, le=1)
    promotion: Promotion = Promotion.AUTO
    training: TrainingPolicy = TrainingPolicy()


def load_policy(path: Path) -> RetrainPolicy:
    """Read and validate a policy file; one line naming the file, the field and the problem otherwise."""
    import yaml

    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigurationError(f"cannot read the retrain policy {path}: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" (line {where.line + 1})" if where is not None else ""
        raise ConfigurationError(f"{path} is not valid YAML{line}: {getattr(exc, 'problem', None) or exc}") from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigurationError(f"{path} must be a mapping of policy fields, got {type(raw).__name__}")
    try:
        policy = RetrainPolicy.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        field_name = ".".join(str(part) for part in first["loc"]) or "(top level)"
        given = f" (got {first['input']!r})" if "input" in first and not isinstance(first["input"], dict) else ""
        raise ConfigurationError(f"{path}: {field_name}: {first['msg']}{given}") from None
    for rollout, names in ROLLOUT_FIELDS.items():
        stray = [name for name in names if name in raw]
        if rollout is not policy.rollout and stray:
            raise ConfigurationError(f"{path}: {stray[0]} applies to rollout: {rollout.value}, but this policy has "
                                     f"rollout: {policy.rollout.value}; remove it, or set rollout: {rollout.value}")
    return policy


@dataclass(frozen=True)
class TriggerFacts:
    """What the loop measured before deciding whether to retrain."""

    new_labels: int
    minutes_since_last: float | None  # since the last loop started; None: never
    drift_detected: bool | None = None
    live_accuracy: float | None = None
    reference_accuracy: float | None = None
    labelled: int = 0


@dataclass(frozen=True)
class Decision:
    """A decision with the reasons behind it and the evidence, as recorded in the history."""

    start: bool
    reasons: list[str]
    evidence: dict[str, Any] = field(default_factory=dict)


def accuracy_dropped(policy: RetrainPolicy, facts: TriggerFacts) -> bool | None:
    """Live accuracy ``policy.accuracy_drop`` or more under the version's held-out accuracy (None: too few labels)."""
    if facts.live_accuracy is None or facts.reference_accuracy is None \
            or facts.labelled < policy.min_labelled_for_accuracy:
        return None
    return facts.reference_accuracy - facts.live_accuracy >= policy.accuracy_drop


def should_retrain(policy: RetrainPolicy, facts: TriggerFacts) -> Decision:
    """Start a loop when every condition of the policy holds; the reasons name each one."""
    dropped = accuracy_dropped(policy, facts)
    evidence = {"new_labels": facts.new_labels, "min_new_labels": policy.min_new_labels,
                "drift_detected": facts.drift_detected, "live_accuracy": facts.live_accuracy,
                "reference_accuracy": facts.reference_accuracy, "labelled": facts.labelled,
                "accuracy_drop": dropped, "require": policy.require.value,
                "minutes_since_last": facts.minutes_since_last}
    blockers = []
    if facts.new_labels < policy.min_new_labels:
        blockers.append(f"{facts.new_labels} new labels, {policy.min_new_labels} needed")
    if facts.minutes_since_last is not None and facts.minutes_since_last < policy.cooldown_minutes:
        blockers.append(f"cooldown: the last loop started {facts.minutes_since_last:.1f} min ago, "
                        f"{policy.cooldown_minutes:g} min needed")
    drift, drop = bool(facts.drift_detected), bool(dropped)
    if policy.require is Trigger.DRIFT and not drift:
        blockers.append("no drift detected (the policy requires drift)")
    elif policy.require is Trigger.ACCURACY_DROP and not drop:
        blockers.append("no accuracy drop (the policy requires one)")
    elif policy.require is Trigger.DRIFT_OR_ACCURACY_DROP and not (drift or drop):
        blockers.append("neither drift nor an accuracy drop")
    if blockers:
        return Decision(False, blockers, evidence)
    seen = [what for what, present in (("drift", drift), ("accuracy drop", drop)) if present]
    reasons = [f"{facts.new_labels} new labels (≥ {policy.min_new_labels})", *seen]
    return Decision(True, reasons, evidence)


def _still_waiting(minutes_running: float, minutes: float, counts: list[tuple[int, int, str]]) -> list[str]:
    """What a rollout still waits for: its running time, then each (have, need, what) count short of its need."""
    waiting = [f"running {minutes_running:.1f} of {minutes:g} min"] if minutes_running < minutes else []
    return waiting + [f"{have} of {need} {what}" for have, need, what in counts if have < need]

@dataclass(frozen=True)
class CanaryFacts:
    """What the canary and production served (and how well, where labelled) since the canary started."""

    minutes_running: float
    canary_predictions: int
    canary_labelled: int = 0
    canary_correct: int = 0
    production_labelled: int = 0
    production_correct: int = 0


class RolloutVerdict(StrEnum):
    """What a watched canary or shadow comes to: keep watching, promote it, or end it (production unchanged)."""

    WAIT = "wait"
    PROMOTE = "promote"
    ROLL_BACK = "roll-back"


def judge_canary(policy: RetrainPolicy, facts: CanaryFacts) -> tuple[RolloutVerdict, list[str], dict[str, Any]]:
    """Keep watching until the canary ran ``canary_minutes`` and served ``min_canary_predictions`` (and got
    ``min_canary_labels`` labels); then promote unless its labelled accuracy trails production's by more than
    ``max_canary_accuracy_drop``.

    >>> policy = RetrainPolicy(canary_minutes=1, min_canary_predictions=10)
    >>> judge_canary(policy, CanaryFacts(2, 40, 30, 27, 30, 15))[0].value
    'promote'
    >>> judge_canary(policy, CanaryFacts(2, 40, 30, 12, 30, 27))[0].value
    'roll-back'
    """
    canary_acc = facts.canary_correct / facts.canary_labelled if facts.canary_labelled else None
    prod_acc = facts.production_correct / facts.production_labelled if facts.production_labelled else None
    evidence = {"minutes_running": round(facts.minutes_running, 2), "canary_predictions": facts.canary_predictions,
                "canary_labelled": facts.canary_labelled, "canary_accuracy": canary_acc,
                "production_labelled": facts.production_labelled, "production_accuracy": prod_acc,
                "max_canary_accuracy_drop": policy.max_canary_accuracy_drop}
    waiting = _still_waiting(facts.minutes_running, policy.canary_minutes,
                             [(facts.canary_predictions, policy.min_canary_predictions, "predictions"),
                              (facts.canary_labelled, policy.min_canary_labels, "labels")])
    if waiting:
        return RolloutVerdict.WAIT, waiting, evidence
    if canary_acc is not None and prod_acc is not None and prod_acc - canary_acc > policy.max_canary_accuracy_drop:
        return (RolloutVerdict.ROLL_BACK, [f"canary accuracy {canary_acc:.3f} trails production's {prod_acc:.3f} by "
                                          f"more than {policy.max_canary_accuracy_drop:g}"], evidence)
    how = (f"canary accuracy {canary_acc:.3f} vs production {prod_acc:.3f}" if canary_acc is not None
           and prod_acc is not None else "no labelled comparison")
    return RolloutVerdict.PROMOTE, [f"{facts.canary_predictions} predictions served; {how}"], evidence


@dataclass(frozen=True)
class ShadowFacts:
    """Production's shadow against production on the same live requests since the shadow started: ``pairs``
    requests both answered (``agreed`` alike), ``labelled`` of them with feedback, and how many each got right."""

    minutes_running: float
    pairs: int
    agreed: int = 0
    labelled: int = 0
    shadow_correct: int = 0
    live_correct: int = 0


def judge_shadow(policy: RetrainPolicy, facts: ShadowFacts) -> tuple[RolloutVerdict, list[str], dict[str, Any]]:
    """Keep watching until the shadow ran ``shadow_minutes`` and answered ``min_shadow_pairs`` live requests (and
    ``min_shadow_labels`` of them were labelled); then end it if its labelled accuracy trails production's on the
    same requests by more than ``max_shadow_accuracy_drop``, else promote it (through the gate, which weighs the
    shadow's agreement and accuracy again under the replay rules).

    >>> policy = RetrainPolicy(rollout="shadow", shadow_minutes=1, min_shadow_pairs=10)
    >>> judge_shadow(policy, ShadowFacts(2, 40, 20, 30, 27, 15))[0].value
    'promote'
    >>> judge_shadow(policy, ShadowFacts(2, 40, 20, 30, 12, 27))[1]
    ["shadow accuracy 0.400 trails production's 0.900 on the same 30 labelled requests by more than 0.05"]
    >>> judge_shadow(policy, ShadowFacts(0.5, 4))[1]
    ['running 0.5 of 1 min', '4 of 10 shadowed requests']
    """
    shadow_acc = facts.shadow_correct / facts.labelled if facts.labelled else None
    live_acc = facts.live_correct / facts.labelled if facts.labelled else None
    evidence = {"minutes_running": round(facts.minutes_running, 2), "shadow_pairs": facts.pairs,
                "agreement": round(facts.agreed / facts.pairs, 4) if facts.pairs else None,
                "shadow_labelled": facts.labelled, "shadow_accuracy": shadow_acc, "production_accuracy": live_acc,
                "max_shadow_accuracy_drop": policy.max_shadow_accuracy_drop}
    waiting = _still_waiting(facts.minutes_running, policy.shadow_minutes,
                             [(facts.pairs, policy.min_shadow_pairs, "shadowed requests"),
                              (facts.labelled, policy.min_shadow_labels, "labels")])
    if waiting:
        return RolloutVerdict.WAIT, waiting, evidence
    if shadow_acc is not None and live_acc is not None and live_acc - shadow_acc > policy.max_shadow_accuracy_drop:
        return (RolloutVerdict.ROLL_BACK, [f"shadow accuracy {shadow_acc:.3f} trails production's {live_acc:.3f} on "
                                          f"the same {facts.labelled} labelled requests by more than "
                                          f"{policy.max_shadow_accuracy_drop:g}"], evidence)
    how = (f"shadow accuracy {shadow_acc:.3f} vs production {live_acc:.3f} on {facts.labelled} labelled"
           if shadow_acc is not None and live_acc is not None else "no labelled requests")
    return RolloutVerdict.PROMOTE, [f"{facts.pairs} requests shadowed, agreement {evidence['agreement']:.3f}; {how}"], \
        evidence
