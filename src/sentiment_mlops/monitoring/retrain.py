"""The retraining loop, opt-in: ``monitor --watch --retrain POLICY.yml``.

After every pass of the monitor, ``RetrainLoop.step`` reads the deployment history and moves the current loop
one step on. When no loop is open and the policy's conditions hold (``retrain_policy.should_retrain``):

    triggered → trained with feedback → staging (gated) → canary (gated) → watched → promoted (gated)
                                                                                    | awaiting approval
                                                                                    | rolled back

Each step is a history event (environment ``loop``; the alias changes are the ordinary promote and canary
events of ``deployment.actions``, which hold the lock, run the gate and compare-and-set) and a webhook alert.
The history is the loop's only state: another process (``promote --approve``) can answer a waiting step, and a
restarted loop picks up where it was. Only one process steps the loop per store: ``step`` first takes the store's
named lock ``retrain-ENV`` (``store.locks.named_lock``: an advisory lock on PostgreSQL, a file lock beside a SQLite
store) and keeps it while the process runs; another ``monitor --watch --retrain`` on the same store follows (says
so each pass) and takes over when the holder exits.

A step that fails records ``loop-failed`` with the error, alerts, and aborts the loop's canary if one runs:
production keeps its version.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Protocol

from sentiment_mlops.config import Settings
from sentiment_mlops.errors import ConfigurationError, PromotionRefusedError, SentimentMLOpsError, UnauthorizedError
from sentiment_mlops.monitoring.channels import AlertChannel, AlertMessage
from sentiment_mlops.monitoring.retrain_history import LOOP_ACTOR, LoopCycle, current_cycle, loop_timeline
from sentiment_mlops.monitoring.retrain_policy import (
    CanaryFacts,
    CanaryVerdict,
    Promotion,
    RetrainPolicy,
    TriggerFacts,
    judge_canary,
    should_retrain,
)
from sentiment_mlops.store.deployments import LoopStep
from sentiment_mlops.store.locks import LeaderLock, named_lock

if TYPE_CHECKING:
    from sentiment_mlops.monitoring.alerts import MonitorSnapshot
    from sentiment_mlops.store import PredictionStore

logger = logging.getLogger(__name__)

__all__ = ["LOOP_ACTOR", "RULE", "LoopAlerts", "LoopCycle", "LoopDeployer", "RetrainLoop", "StepOutcome",
           "TrainedCandidate", "approve", "current_cycle", "loop_lock", "loop_timeline", "train_candidate"]

RULE = "retrain_loop"


@dataclass(frozen=True)
class StepOutcome:
    """What a deployment action did, as the loop records it."""

    event_id: int | None
    message: str
    report: dict[str, Any] | None = None


class LoopDeployer(Protocol):
    """The deployment actions the loop uses (``service.ActionsDeployer`` wires ``deployment.actions``)."""

    def alias(self, name: str) -> str | None: ...
    def promote(self, version: str, *, to: str, canary_percent: float | None, reason: str) -> StepOutcome: ...
    def abort_canary(self, *, reason: str, evidence: dict[str, Any]) -> StepOutcome: ...
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


class LoopAlerts:
    """One stored alert and one message per loop decision (rule ``retrain_loop``)."""

    def __init__(self, store: PredictionStore, channels: Sequence[AlertChannel], environment: str) -> None:
        self.store = store
        self.channels = list(channels)
        self.environment = environment

    def send(self, step: str, message: str, *, severity: str = "info", version: str | None = None,
             event_id: int | None = None, details: Mapping[str, Any] | None = None) -> None:
        now = datetime.now(timezone.utc)
        body = {"step": step, "event_id": event_id, **(details or {})}
        failure = severity != "info"
        try:
            # A decision is a one-off event: stored resolved at once, except failures, which stay open until a
            # later loop completes.
            alert_id = self.store.record_alert(rule=RULE, severity=severity, environment=self.environment,
                                               model_version=version, status="firing" if failure else "resolved",
                                               message=message, details=body, created_at=now,
                                               resolved_at=None if failure else now)
        except SentimentMLOpsError as exc:
            logger.error("retrain loop alert not stored: %s", exc)
            alert_id = None
        text = AlertMessage(rule=RULE, status="firing", severity=severity, environment=self.environment,
                            model_version=version, message=message, alert_id=alert_id,
                            created_at=now.isoformat(), details=body)
        for channel in self.channels:
            try:
                channel.send(text)
            except Exception:  # one broken channel must not silence the others; the log has the traceback
                logger.exception("alert channel %s failed", type(channel).__name__)

    def resolve_failures(self) -> None:
        open_alert = self.store.open_alert(RULE, self.environment)
        while open_alert is not None:
            self.store.resolve_alert(int(open_alert["id"]))
            open_alert = self.store.open_alert(RULE, self.environment)

    def close(self, timeout: float = 5.0) -> None:
        for channel in self.channels:
            channel.close(timeout)


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

    # -- one pass ---------------------------------------------------------------------------------------
    def step(self, snapshot: MonitorSnapshot) -> str:
        """Advance the open loop, or start one when the policy's conditions hold; one line saying what happened.

        Without the loop's lock (another process holds it) nothing is read or done: this process follows."""
        if self.lock is not None and not self.lock.try_acquire():
            return (f"retrain: following: another process steps the retraining loop on this store (lock "
                    f"{loop_lock_name(self.policy.environment)}); this one takes over when it stops")
        try:
            cycle = current_cycle(self.store.deployment_events())
            if cycle is not None and not cycle.closed:
                return self._advance(cycle)
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
        return self._train_and_canary(cycle, production)

    def _train_and_canary(self, cycle: int, production: str | None) -> str:
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
            staged = self.deployer.promote(version, to="staging", canary_percent=None, reason=f"retrain loop {cycle}")
            self.alerts.send("staged", f"version {version} passed the gate into staging ({staged.message})",
                             version=version, event_id=staged.event_id)
            step = "canary"
            canary = self.deployer.promote(version, to=self.policy.environment,
                                           canary_percent=self.policy.canary_percent, reason=f"retrain loop {cycle}")
            self.alerts.send("canary", f"{canary.message}; watching it for at least "
                             f"{self.policy.canary_minutes:g} min", version=version, event_id=canary.event_id)
            return f"retrain: loop {cycle}: version {version} trained, gated, canary at {self.policy.canary_percent:g}%"
        except SentimentMLOpsError as exc:
            return self._fail(cycle, step, exc, version=version, production=production)

    def _advance(self, cycle: LoopCycle) -> str:
        now = self._clock()
        canary = self.deployer.alias("canary")
        production = self.deployer.alias(self.policy.environment)
        if cycle.version is None or cycle.canary_started_at is None:
            return self._fail(cycle.triggered_id, "resume", ConfigurationError(
                "the loop stopped before its canary started (the process was stopped or restarted)"),
                version=cycle.version, production=production)
        if canary != cycle.version:
            return self._fail(cycle.triggered_id, "watch", ConfigurationError(
                f"the canary of version {cycle.version} was ended outside the loop (canary now "
                f"{canary or 'none'}, production {production or 'none'})"), version=cycle.version,
                production=production, abort=False)
        if cycle.awaiting_id is not None:
            return (f"retrain: loop {cycle.triggered_id}: version {cycle.version} waits for approval: "
                    f"sentiment-mlops promote --approve {cycle.awaiting_id}")
        facts = self._canary_facts(cycle, production, now)
        verdict, reasons, evidence = judge_canary(self.policy, facts)
        reason = "; ".join(reasons)
        if verdict is CanaryVerdict.WAIT:
            return f"retrain: loop {cycle.triggered_id}: watching the canary of version {cycle.version}: {reason}"
        try:
            if verdict is CanaryVerdict.ROLL_BACK:
                aborted = self.deployer.abort_canary(reason=f"retrain loop {cycle.triggered_id}: {reason}",
                                                     evidence=evidence)
                event = self.deployer.record(LoopStep.ROLLED_BACK, from_version=cycle.version, to_version=production,
                                             reason=reason, report={"cycle": cycle.triggered_id, "evidence": evidence,
                                                                    "canary_event": aborted.event_id})
                self.alerts.send(LoopStep.ROLLED_BACK, f"canary of version {cycle.version} rolled back: {reason}",
                                 severity="warning", version=cycle.version, event_id=event)
                return f"retrain: loop {cycle.triggered_id}: canary rolled back: {reason}"
            if self.policy.promotion is Promotion.APPROVAL:
                event = self.deployer.record(
                    LoopStep.AWAITING_APPROVAL, from_version=production, to_version=cycle.version, reason=reason,
                    report={"cycle": cycle.triggered_id, "evidence": evidence,
                            "approver_sha256": token_digest(self.admin_token or "")})
                self.alerts.send(LoopStep.AWAITING_APPROVAL, f"canary of version {cycle.version} held up ({reason}); "
                                 f"approve with: sentiment-mlops promote --approve {event}", version=cycle.version,
                                 event_id=event)
                return f"retrain: loop {cycle.triggered_id}: waiting for approval (event {event})"
            return self._promote(cycle, production, reason, evidence, approved_by=None)
        except SentimentMLOpsError as exc:
            return self._fail(cycle.triggered_id, "promote", exc, version=cycle.version, production=production)

    def _promote(self, cycle: LoopCycle, production: str | None, reason: str, evidence: dict[str, Any], *,
                 approved_by: int | None) -> str:
        version = str(cycle.version)
        finished = self.deployer.promote(version, to=self.policy.environment, canary_percent=None,
                                         reason=f"retrain loop {cycle.triggered_id}: {reason}")
        step = LoopStep.APPROVED if approved_by is not None else LoopStep.PROMOTED
        report: dict[str, Any] = {"cycle": cycle.triggered_id, "evidence": evidence, "canary_event": finished.event_id}
        if approved_by is not None:
            report["approves"] = approved_by
        event = self.deployer.record(step, from_version=production, to_version=version, reason=reason, report=report)
        self.alerts.send(step, f"version {version} promoted to {self.policy.environment}: {finished.message}",
                         version=version, event_id=event)
        self.alerts.resolve_failures()
        return f"retrain: loop {cycle.triggered_id}: {finished.message}"

    def _canary_facts(self, cycle: LoopCycle, production: str | None, now: datetime) -> CanaryFacts:
        started = cycle.canary_started_at or now
        environment = self.policy.environment

        def labelled(version: str | None) -> tuple[int, int]:
            if version is None:
                return 0, 0
            pairs = self.store.feedback_pairs(environment=environment, model_version=version, since=started)
            return len(pairs), sum(1 for pair in pairs if pair["predicted"] == pair["label"])

        canary_labelled, canary_correct = labelled(cycle.version)
        production_labelled, production_correct = labelled(production)
        return CanaryFacts(minutes_running=(now - started).total_seconds() / 60,
                           canary_predictions=self.store.count_predictions(environment=environment,
                                                                           model_version=cycle.version, since=started),
                           canary_labelled=canary_labelled, canary_correct=canary_correct,
                           production_labelled=production_labelled, production_correct=production_correct)

    def _fail(self, cycle: int, step: str, error: SentimentMLOpsError, *, version: str | None,
              production: str | None, abort: bool = True) -> str:
        """Record and alert a failed step; abort the loop's canary if it runs. Production keeps its version."""
        report: dict[str, Any] = {"cycle": cycle, "step": step, "error": str(error)}
        if isinstance(error, PromotionRefusedError) and hasattr(error.report, "to_dict"):
            report["gate"] = error.report.to_dict()
        notes = []
        if abort and version is not None:
            try:
                if self.deployer.alias("canary") == version:
                    aborted = self.deployer.abort_canary(reason=f"retrain loop {cycle} failed at {step}",
                                                         evidence={"error": str(error)})
                    report["canary_event"] = aborted.event_id
                    notes.append("its canary was aborted")
            except SentimentMLOpsError as exc:
                notes.append(f"aborting its canary failed too: {exc}")
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
        """Promote the canary a person approved (``approve`` checked the token)."""
        production = self.deployer.alias(self.policy.environment)
        if self.deployer.alias("canary") != cycle.version:
            raise ConfigurationError(f"the canary of version {cycle.version} is no longer running; nothing to approve")
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
