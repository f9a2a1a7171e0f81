"""The retraining loop, opt-in: ``monitor --watch --retrain POLICY.yml``.

After every pass of the monitor, ``RetrainLoop.step`` reads the deployment history and moves the current loop
one step on. When no loop is open and the policy's conditions hold (``retrain_policy.should_retrain``):

    triggered → trained with feedback → staging (gated) → canary or shadow (gated) → watched → promoted (gated)
                                                                                              | awaiting approval
                                                                                              | rolled back

The policy's ``rollout`` says whether the candidate serves a share of production's traffic (canary) or scores a
share of it unseen (production's shadow); ``retrain_rollout`` judges what it showed. A shadow is promoted through
the ordinary gate, which then weighs the shadow's evidence: a refusal ends the shadow like a bad verdict.
Each step is a history event (environment ``loop``; the alias changes are the ordinary promote, canary and shadow
events of ``deployment.actions``, which hold the lock, run the gate and compare-and-set) and a webhook alert.
The history is the loop's only state: another process (``promote --approve``) can answer a waiting step, and a
restarted loop picks up where it was. Only one process steps the loop per store: ``step`` first takes the store's
named lock ``retrain-ENV`` (``store.locks.named_lock``: an advisory lock on PostgreSQL, a file lock beside a SQLite
store) and keeps it while the process runs; another ``monitor --watch --retrain`` on the same store follows (says
so each pass) and takes over when the holder exits.

``promote --approve`` moves the candidate into production before it records ``loop-approved``; a loop that sees
the canary finished in between waits for that record (``APPROVAL_RECORD_GRACE``) instead of failing the loop.

A step that fails records ``loop-failed`` with the error, alerts, and ends the loop's canary or shadow if one
runs: production keeps its version.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Protocol

from sentiment_mlops.config import Settings
from sentiment_mlops.errors import ConfigurationError, PromotionRefusedError, SentimentMLOpsError, UnauthorizedError
from sentiment_mlops.monitoring.performance import as_utc
from sentiment_mlops.monitoring.retrain_alerts import RULE, LoopAlerts
from sentiment_mlops.monitoring.retrain_history import LOOP_ACTOR, LoopCycle, current_cycle, loop_timeline
from sentiment_mlops.monitoring.retrain_policy import (
    Promotion,
    RetrainPolicy,
    Rollout,
    RolloutVerdict,
    TriggerFacts,
    should_retrain,
)
from sentiment_mlops.monitoring.retrain_rollout import judge_rollout
from sentiment_mlops.store.deployments import DEPLOYING_ACTIONS, LoopStep
from sentiment_mlops.store.locks import LeaderLock, named_lock

if TYPE_CHECKING:
    from sentiment_mlops.monitoring.alerts import MonitorSnapshot
    from sentiment_mlops.store import PredictionStore

logger = logging.getLogger(__name__)

# How long the loop waits for ``promote --approve`` (another process) to record its approval once it has moved
# the candidate into production; past it, a promotion nobody recorded is treated like any change made outside.
APPROVAL_RECORD_GRACE = timedelta(minutes=2)

__all__ = ["LOOP_ACTOR", "RULE", "LoopAlerts", "LoopCycle", "LoopDeployer", "RetrainLoop", "StepOutcome",
           "TrainedCandidate", "approve", "current_cycle", "loop_lock", "loop_timeline", "train_candidate"]


@dataclass(frozen=True)
class StepOutcome:
    """What a deployment action did, as the loop records it."""

    event_id: int | None
    message: str
    report: dict[str, Any] | None = None


class LoopDeployer(Protocol):
    """The deployment actions the loop uses (``service.ActionsDeployer`` wires ``deployment.actions``)."""

    def alias(self, name: str) -> str | None: ...
    def promote(self, version: str, *, to: str, reason: str, canary_percent: float | None = None,
                shadow_percent: float | None = None) -> StepOutcome: ...
    def end_rollout(self, rollout: Rollout, *, reason: str, evidence: dict[str, Any]) -> StepOutcome: ...
    def record(self, step: LoopStep, *, from_version: str | None, to_version: str | None, reason: str,
               report: dict[str, Any]) -> int: ...


@dataclass(frozen=True)
class TrainedCandidate:
    """The version a loop trained, with what it learned from."""

    version: str
    run_id: str | None
    macro_f1: float
    feedback: dict[str, Any]


Trainer = Callable[[RetrainPolicy], TrainedCandidate]


def train_candidate(settings: Settings, store: PredictionStore, policy: RetrainPolicy) -> TrainedCandidate:
    """``train --with-feedback`` as the policy says: its base data plus the environment's labelled predictions."""
    from sentiment_mlops.data import load_dataset
    from sentiment_mlops.registry.tracking import RunTracker, git_commit
    from sentiment_mlops.training.feedback import read_feedback
    from sentiment_mlops.training.run import TrainOptions, train

    training = policy.training
    dataset = load_dataset(training.data, text_column=training.text_column, label_column=training.label_column)
    feedback = read_feedback(store, base_texts=dataset.texts, test_size=training.test_size,
                             weight=training.feedback_weight, environment=policy.environment)
    tracker = RunTracker(settings.tracking_uri, settings.experiment_name, settings.registered_model_name)
    result = train(dataset, TrainOptions(model=training.model, test_size=training.test_size, seed=training.seed),
                   models_dir=training.models_dir, tracker=tracker, feedback=feedback, commit=git_commit())
    if result.model_version is None:
        raise ConfigurationError("the loop's training run registered no version")
    fed = result.feedback_evaluation
    return TrainedCandidate(version=str(result.model_version), run_id=result.run_id,
                            macro_f1=result.evaluation.macro_f1,
                            feedback={**feedback.record(), "macro_f1": fed.macro_f1 if fed else None})


def loop_lock_name(environment: str) -> str:
    """The store lock whose holder alone steps the retraining loop of ``environment``."""
    return f"retrain-{environment}"


def loop_lock(store_url: str, environment: str) -> LeaderLock:
    """The retraining loop's lock on this store (see the module docstring)."""
    return named_lock(store_url, loop_lock_name(environment))


def token_digest(token: str) -> str:
    """What a waiting step records of the admin token that may approve it (never the token itself)."""
    return hashlib.sha256(token.encode()).hexdigest()


class RetrainLoop:
    """Moves the current loop one step per monitor pass (see the module docstring)."""

    def __init__(self, policy: RetrainPolicy, *, store: PredictionStore, deployer: LoopDeployer,
                 trainer: Trainer | None, alerts: LoopAlerts, admin_token: str | None = None,
                 clock: Callable[[], datetime] | None = None, lock: LeaderLock | None = None) -> None:
        if policy.promotion is Promotion.APPROVAL and not admin_token:
            raise ConfigurationError("a policy with promotion: approval needs SENTIMENT_MLOPS_ADMIN_TOKEN: only its "
                                     "holder can approve a waiting step (promote --approve EVENT_ID)")
        self.policy = policy
        self.store = store
        self.deployer = deployer
        self.trainer = trainer
        self.alerts = alerts
        self.admin_token = admin_token
        self._clock = clock or (lambda: datetime.now(timezone.utc))
        self.lock = lock
        self._approval_noticed: dict[int, datetime] = {}

    # -- one pass ---------------------------------------------------------------------------------------
    def step(self, snapshot: MonitorSnapshot) -> str:
        """Advance the open loop, or start one when the policy's conditions hold; one line saying what happened.

        Without the loop's lock (another process holds it) nothing is read or done: this process follows."""
        if self.lock is not None and not self.lock.try_acquire():
            return (f"retrain: following: another process steps the retraining loop on this store (lock "
                    f"{loop_lock_name(self.policy.environment)}); this one takes over when it stops")
        try:
            events = self.store.deployment_events()
            cycle = current_cycle(events)
            if cycle is not None and not cycle.closed:
                return self._advance(cycle, events)
            return self._maybe_start(snapshot, cycle)
        except SentimentMLOpsError as exc:  # the store or registry is down: try again next pass
            return f"retrain: could not read the history: {exc}"

    def close(self) -> None:
        """Release the loop's lock (another watcher takes over) and flush the alert channels."""
        if self.lock is not None:
            self.lock.release()
        self.alerts.close()

    def _maybe_start(self, snapshot: MonitorSnapshot, last: LoopCycle | None) -> str:
        now = self._clock()
        environment = self.policy.environment
        drift = snapshot.drift.get("drift_detected") if snapshot.drift else None
        facts = TriggerFacts(
            new_labels=self.store.count_feedback(environment=environment,
                                                 given_after=last.triggered_at if last else None),
            minutes_since_last=(now - last.triggered_at).total_seconds() / 60 if last else None,
            drift_detected=bool(drift) if drift is not None else None, live_accuracy=snapshot.live_accuracy,
            reference_accuracy=snapshot.reference_accuracy, labelled=snapshot.labelled)
        decision = should_retrain(self.policy, facts)
        if not decision.start:
            return "retrain: not yet: " + "; ".join(decision.reasons)
        production = self.deployer.alias(environment)
        reason = "; ".join(decision.reasons)
        cycle = self.deployer.record(LoopStep.TRIGGERED, from_version=production, to_version=None, reason=reason,
                                     report={"evidence": decision.evidence,
                                             "policy": self.policy.model_dump(mode="json")})
        self.alerts.send(LoopStep.TRIGGERED, f"retraining started (loop {cycle}): {reason}", version=production,
                         event_id=cycle, details={"evidence": decision.evidence})
        return self._train_and_roll_out(cycle, production)

    def _train_and_roll_out(self, cycle: int, production: str | None) -> str:
        step = "train"
        version: str | None = None
        try:
            if self.trainer is None:
                raise ConfigurationError("this loop was built without a trainer; it can only answer approvals")
            candidate = self.trainer(self.policy)
            version = candidate.version
            reason = (f"trained with {candidate.feedback['rows']:,} feedback rows: base macro-F1 "
                      f"{candidate.macro_f1:.4f}, held-out feedback {candidate.feedback['macro_f1']:.4f}")
            event = self.deployer.record(LoopStep.TRAINED, from_version=production, to_version=version, reason=reason,
                                         report={"cycle": cycle, "evidence": {"run_id": candidate.run_id,
                                                                              "macro_f1": candidate.macro_f1,
                                                                              "feedback": candidate.feedback}})
            self.alerts.send(LoopStep.TRAINED, f"version {version} {reason}", version=version, event_id=event)
            step = "staging"
            staged = self.deployer.promote(version, to="staging", reason=f"retrain loop {cycle}")
            self.alerts.send("staged", f"version {version} passed the gate into staging ({staged.message})",
                             version=version, event_id=staged.event_id)
            step = self.policy.rollout.value
            return self._start_rollout(cycle, version)
        except SentimentMLOpsError as exc:
            return self._fail(cycle, step, exc, version=version, production=production)

    def _start_rollout(self, cycle: int, version: str) -> str:
        policy = self.policy
        if policy.rollout is Rollout.SHADOW:
            shadow = self.deployer.promote(version, to=policy.environment, shadow_percent=policy.shadow_percent,
                                           reason=f"retrain loop {cycle}")
            self.alerts.send("shadow", f"{shadow.message}; watching it for at least {policy.shadow_minutes:g} min",
                             version=version, event_id=shadow.event_id)
            return (f"retrain: loop {cycle}: version {version} trained, gated, shadow of {policy.environment} at "
                    f"{policy.shadow_percent:g}%")
        canary = self.deployer.promote(version, to=policy.environment, canary_percent=policy.canary_percent,
                                       reason=f"retrain loop {cycle}")
        self.alerts.send("canary", f"{canary.message}; watching it for at least {policy.canary_minutes:g} min",
                         version=version, event_id=canary.event_id)
        return f"retrain: loop {cycle}: version {version} trained, gated, canary at {policy.canary_percent:g}%"

    def _being_approved(self, cycle: LoopCycle, events: list[dict[str, Any]], now: datetime) -> bool:
        """Whether ``promote --approve`` has just moved the waiting candidate into production and is about to record
        its approval: the loop then waits instead of calling the finished canary a change made outside."""
        if cycle.awaiting_id is None:
            return False
        moved = [e for e in events if e.get("environment") == self.policy.environment
                 and e.get("action") in DEPLOYING_ACTIONS and str(e.get("to_version")) == cycle.version
                 and int(e.get("id") or 0) > cycle.awaiting_id]
        # The alias moves a moment before its event is written: until then the grace counts from this first look.
        since = as_utc(moved[-1]["created_at"]) if moved else self._approval_noticed.setdefault(cycle.triggered_id, now)
        return now - since < APPROVAL_RECORD_GRACE

    def _advance(self, cycle: LoopCycle, events: list[dict[str, Any]]) -> str:
        now = self._clock()
        rollout = self.policy.rollout
        running = self.deployer.alias(rollout.alias)
        production = self.deployer.alias(self.policy.environment)
        if cycle.version is None or cycle.rollout_started_at is None:
            return self._fail(cycle.triggered_id, "resume", ConfigurationError(
                f"the loop stopped before its {rollout.value} started (the process was stopped or restarted)"),
                version=cycle.version, production=production)
        if running != cycle.version and production == cycle.version and self._being_approved(cycle, events, now):
            return (f"retrain: loop {cycle.triggered_id}: version {cycle.version} was approved into "
                    f"{self.policy.environment}; waiting for the approval to be recorded")
        if running != cycle.version:
            return self._fail(cycle.triggered_id, "watch", ConfigurationError(
                f"the {rollout.value} of version {cycle.version} was ended outside the loop ({rollout.value} now "
                f"{running or 'none'}, production {production or 'none'})"), version=cycle.version,
                production=production, abort=False)
        if cycle.awaiting_id is not None:
            return (f"retrain: loop {cycle.triggered_id}: version {cycle.version} waits for approval: "
                    f"sentiment-mlops promote --approve {cycle.awaiting_id}")
        verdict, reasons, evidence = judge_rollout(self.policy, self.store, candidate=cycle.version,
                                                   production=production, started=cycle.rollout_started_at, now=now)
        reason = "; ".join(reasons)
        if verdict is RolloutVerdict.WAIT:
            return (f"retrain: loop {cycle.triggered_id}: watching the {rollout.value} of version {cycle.version}: "
                    f"{reason}")
        try:
            if verdict is RolloutVerdict.ROLL_BACK:
                return self._end_rollout(cycle, production, reason, {"evidence": evidence})
            if self.policy.promotion is Promotion.APPROVAL:
                event = self.deployer.record(
                    LoopStep.AWAITING_APPROVAL, from_version=production, to_version=cycle.version, reason=reason,
                    report={"cycle": cycle.triggered_id, "evidence": evidence,
                            "approver_sha256": token_digest(self.admin_token or "")})
                self.alerts.send(LoopStep.AWAITING_APPROVAL, f"{rollout.value} of version {cycle.version} held up "
                                 f"({reason}); approve with: sentiment-mlops promote --approve {event}",
                                 version=cycle.version, event_id=event)
                return f"retrain: loop {cycle.triggered_id}: waiting for approval (event {event})"
            return self._promote(cycle, production, reason, evidence, approved_by=None)
        except SentimentMLOpsError as exc:
            return self._fail(cycle.triggered_id, "promote", exc, version=cycle.version, production=production)

    def _end_rollout(self, cycle: LoopCycle, production: str | None, reason: str, report: dict[str, Any]) -> str:
        """A bad verdict: end the canary or the shadow (production keeps its version) and record why."""
        rollout = self.policy.rollout
        ended = self.deployer.end_rollout(rollout, reason=f"retrain loop {cycle.triggered_id}: {reason}",
                                          evidence=dict(report.get("evidence") or {}))
        event = self.deployer.record(LoopStep.ROLLED_BACK, from_version=cycle.version, to_version=production,
                                     reason=reason, report={"cycle": cycle.triggered_id, **report,
                                                            f"{rollout.value}_event": ended.event_id})
        done = "rolled back" if rollout is Rollout.CANARY else "ended"
        self.alerts.send(LoopStep.ROLLED_BACK, f"{rollout.value} of version {cycle.version} {done}: {reason}",
                         severity="warning", version=cycle.version, event_id=event)
        return f"retrain: loop {cycle.triggered_id}: {rollout.value} {done}: {reason}"

    def _promote(self, cycle: LoopCycle, production: str | None, reason: str, evidence: dict[str, Any], *,
                 approved_by: int | None) -> str:
        """Promote the candidate through the gate: a canary finishes; a shadow's evidence joins the gate, and a
        refusal is the shadow's verdict (it ends, with the gate report), not a failure of the loop."""
        version = str(cycle.version)
        try:
            finished = self.deployer.promote(version, to=self.policy.environment,
                                             reason=f"retrain loop {cycle.triggered_id}: {reason}")
        except PromotionRefusedError as exc:
            if self.policy.rollout is not Rollout.SHADOW:
                raise
            report: dict[str, Any] = {"evidence": evidence}
            if hasattr(exc.report, "to_dict"):
                report["gate"] = exc.report.to_dict()
            return self._end_rollout(cycle, production, f"the gate refused it: {exc}", report)
        step = LoopStep.APPROVED if approved_by is not None else LoopStep.PROMOTED
        report = {"cycle": cycle.triggered_id, "evidence": evidence, f"{self.policy.rollout.value}_event":
                  finished.event_id}
        if approved_by is not None:
            report["approves"] = approved_by
        event = self.deployer.record(step, from_version=production, to_version=version, reason=reason, report=report)
        self.alerts.send(step, f"version {version} promoted to {self.policy.environment}: {finished.message}",
                         version=version, event_id=event)
        self.alerts.resolve_failures()
        return f"retrain: loop {cycle.triggered_id}: {finished.message}"

    def _fail(self, cycle: int, step: str, error: SentimentMLOpsError, *, version: str | None,
              production: str | None, abort: bool = True) -> str:
        """Record and alert a failed step; end the loop's canary or shadow if it runs. Production keeps its
        version."""
        rollout = self.policy.rollout
        report: dict[str, Any] = {"cycle": cycle, "step": step, "error": str(error)}
        if isinstance(error, PromotionRefusedError) and hasattr(error.report, "to_dict"):
            report["gate"] = error.report.to_dict()
        notes = []
        if abort and version is not None:
            try:
                if self.deployer.alias(rollout.alias) == version:
                    ended = self.deployer.end_rollout(rollout, reason=f"retrain loop {cycle} failed at {step}",
                                                      evidence={"error": str(error)})
                    report[f"{rollout.value}_event"] = ended.event_id
                    notes.append(f"its {rollout.value} was ended")
            except SentimentMLOpsError as exc:
                notes.append(f"ending its {rollout.value} failed too: {exc}")
        try:
            event = self.deployer.record(LoopStep.FAILED, from_version=production, to_version=version,
                                         reason=f"{step}: {error}", report=report)
        except SentimentMLOpsError as exc:
            logger.error("retrain loop %s failed at %s (%s) and the failure could not be recorded: %s", cycle, step,
                         error, exc)
            event = None
        note = f" ({'; '.join(notes)})" if notes else ""
        kept = f"; production stays on version {production}" if production else ""
        self.alerts.send(LoopStep.FAILED, f"retraining loop {cycle} failed at {step}: {error}{note}{kept}",
                         severity="critical", version=version, event_id=event)
        return f"retrain: loop {cycle} failed at {step}: {error}{note}{kept}"

    def complete_approved(self, cycle: LoopCycle, waiting: Mapping[str, Any]) -> str:
        """Promote the canary or shadow a person approved (``approve`` checked the token)."""
        production = self.deployer.alias(self.policy.environment)
        rollout = self.policy.rollout
        if self.deployer.alias(rollout.alias) != cycle.version:
            raise ConfigurationError(f"the {rollout.value} of version {cycle.version} is no longer running; nothing "
                                     "to approve")
        evidence = dict((waiting.get("report") or {}).get("evidence") or {})
        return self._promote(cycle, production, f"approved (event {waiting['id']})", evidence,
                             approved_by=int(waiting["id"]))


def approve(store: PredictionStore, deployer: LoopDeployer, alerts: LoopAlerts, event_id: int,
            admin_token: str | None) -> str:
    """Complete the step waiting at ``event_id`` (``promote --approve``): ``admin_token`` must be the admin token
    the loop ran with; the canary is then promoted through the gate like any promotion, and the loop (which
    reads the history) closes."""
    events = store.deployment_events()
    waiting = next((e for e in events if e.get("id") == event_id), None)
    if waiting is None or waiting.get("action") != LoopStep.AWAITING_APPROVAL:
        raise ConfigurationError(f"event {event_id} is not a retraining step waiting for approval; see "
                                 "sentiment-mlops history --env loop")
    cycle = current_cycle(events)
    if cycle is None or cycle.awaiting_id != event_id or cycle.closed:
        answered = cycle.closed_by if cycle is not None and cycle.closed else "a later loop started"
        raise ConfigurationError(f"event {event_id} was already answered ({answered}); nothing to approve")
    if not admin_token:
        raise ConfigurationError("promote --approve needs SENTIMENT_MLOPS_ADMIN_TOKEN, the admin token the "
                                 "retraining loop runs with")
    recorded = str((waiting.get("report") or {}).get("approver_sha256", ""))
    if not hmac.compare_digest(token_digest(admin_token), recorded):
        raise UnauthorizedError(f"SENTIMENT_MLOPS_ADMIN_TOKEN is not the admin token the retraining loop runs with; "
                                f"event {event_id} stays waiting")
    triggered = next(e for e in events if e.get("id") == cycle.triggered_id)
    policy = RetrainPolicy.model_validate((triggered.get("report") or {}).get("policy") or {})
    loop = RetrainLoop(policy, store=store, deployer=deployer, trainer=None, alerts=alerts, admin_token=admin_token)
    return loop.complete_approved(cycle, waiting)
