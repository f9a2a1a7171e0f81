"""Promote and roll back: move registry aliases, append the history, mirror it as MLflow tags.

The decisions (is the candidate good enough? which version came before?) are pure functions in
``policy`` and ``history``; this module only gathers inputs and applies the outcome, in this order:
take the store's deployment lock (one change at a time), check everything that can fail, move the alias
only if it still points where the decision saw it (compare and set), append the event (undoing the alias
move if the store refuses), then mirror tags on the versions.
"""

from __future__ import annotations

import getpass
import os
import socket
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sentiment_mlops.config import ALIASES, ENVIRONMENTS, SHADOW_ALIAS
from sentiment_mlops.deployment.comparison import ReplayRules
from sentiment_mlops.deployment.gate import gather_gate_evidence
from sentiment_mlops.deployment.history import DeploymentAction, previous_version, read_history
from sentiment_mlops.deployment.policy import GateReport, GateRules, evaluate_gate, force_report
from sentiment_mlops.deployment.replay import TrafficChecks, gather_traffic_evidence, with_traffic_evidence
from sentiment_mlops.errors import (
    ConfigurationError,
    ConflictError,
    ModelNotFoundError,
    PromotionRefusedError,
    SentimentMLOpsError,
)
from sentiment_mlops.layout import TRAINING_INCOMPLETE, TRAINING_STATUS_TAG
from sentiment_mlops.registry.client import CANARY_ALIAS, CANARY_PERCENT_TAG, SHADOW_PERCENT_TAG, ModelRegistry
from sentiment_mlops.store import PredictionStore
from sentiment_mlops.store.deployments import LOOP_ENVIRONMENT, LoopStep
from sentiment_mlops.store.locks import deployment_lock

if TYPE_CHECKING:
    from sentiment_mlops.registry import LoadedModel

PROMOTE_TARGETS = ENVIRONMENTS
ROLLBACK_TARGETS = ALIASES
BOOTSTRAP_ACTOR = "serve --bootstrap"


@dataclass(frozen=True)
class PromotionPlan:
    """Which version a ``promote`` moves, and how: a plain promotion, or starting or finishing a canary."""

    candidate: str
    action: DeploymentAction


@dataclass(frozen=True)
class DeploymentResult:
    """What a promote or rollback did (``changed`` is False when there was nothing to do)."""

    environment: str
    action: str
    from_version: str | None
    to_version: str | None
    changed: bool
    message: str
    event_id: int | None = None
    report: GateReport | None = None
    warnings: tuple[str, ...] = ()


def default_actor() -> str:
    """``user@host``, or the GitHub user when running in GitHub Actions."""
    if os.environ.get("GITHUB_ACTIONS") == "true" and os.environ.get("GITHUB_ACTOR"):
        return f"{os.environ['GITHUB_ACTOR']}@github-actions"
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry, e.g. an arbitrary uid in a container
        user = str(os.getuid())
    return f"{user}@{socket.gethostname()}"


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _check_choice(value: str, choices: tuple[str, ...], what: str) -> None:
    if value not in choices:
        raise ConfigurationError(f"{what} must be one of {', '.join(choices)}, got {value!r}")


def _alias(registry: ModelRegistry, alias: str) -> str | None:
    info = registry.alias_version(alias)
    return info.version if info is not None else None


def _require_version(registry: ModelRegistry, version: str) -> str:
    """The version as the registry spells it; a clear error when it does not exist."""
    if not str(version).isdigit():
        raise ConfigurationError(f"a model version is a number, got {version!r}")
    try:
        return registry.version(str(version)).version
    except ModelNotFoundError:
        known = ", ".join(v.version for v in registry.versions()[:10]) or "none"
        raise ModelNotFoundError(f"version {version} of {registry.model_name} does not exist "
                                 f"(latest versions: {known})") from None


def _mirror_tags(registry: ModelRegistry, *, environment: str, action: str, from_version: str | None,
                 to_version: str | None, actor: str, when: datetime, verdict: str | None) -> list[str]:
    """Write the event onto the versions' MLflow tags; a failure here is a warning, the history has the event."""
    stamp = when.isoformat(timespec="seconds")
    tags: list[tuple[str, str, str]] = []
    if to_version is not None:
        tags += [(to_version, f"deployed.{environment}.at", stamp), (to_version, f"deployed.{environment}.by", actor),
                 (to_version, "last_action", f"{action} {environment} {stamp}")]
        if verdict is not None:
            tags.append((to_version, f"gate.{environment}", verdict))
    if from_version is not None and from_version != to_version:
        replaced = f": replaced by v{to_version}" if to_version is not None else ""
        tags += [(from_version, f"left.{environment}.at", stamp),
                 (from_version, "last_action", f"{action} {environment}{replaced} {stamp}")]
    warnings = []
    for version, key, value in tags:
        try:
            registry.set_version_tag(version, key, value)
        except SentimentMLOpsError as exc:
            warnings.append(f"could not tag version {version} with {key}: {exc}")
    return warnings


def _record(registry: ModelRegistry, store: PredictionStore, *, environment: str, action: str,
            from_version: str | None, to_version: str | None, actor: str, reason: str | None,
            report: dict[str, Any] | None, undo: Callable[[], None], tag_from: bool = True,
            tag_to: bool = True) -> tuple[int, list[str]]:
    """Append the event; if the store refuses, undo the registry change so history and aliases agree."""
    when = _now()
    try:
        event_id = store.record_deployment(created_at=when, environment=environment, action=action,
                                           from_version=from_version, to_version=to_version, actor=actor,
                                           reason=reason, report=report)
    except SentimentMLOpsError:
        undo()
        raise
    verdict = report.get("verdict") if isinstance(report, dict) else None
    # A canary event names production's version as "from" (start) or "to" (abort) for the reader, but
    # that version never entered or left the canary: only the canary version is tagged.
    warnings = _mirror_tags(registry, environment=environment, action=action,
                            from_version=from_version if tag_from else None,
                            to_version=to_version if tag_to else None, actor=actor, when=when, verdict=verdict)
    return event_id, warnings


def _require_complete(registry: ModelRegistry, version: str) -> None:
    """Refuse a version whose training run never finished publishing (killed after registering)."""
    if registry.version(version).tags.get(TRAINING_STATUS_TAG) == TRAINING_INCOMPLETE:
        raise ConfigurationError(f"version {version} never finished training (tag {TRAINING_STATUS_TAG}="
                                 f"{TRAINING_INCOMPLETE}: its run stopped before publishing and verifying its "
                                 "artifacts); train again and promote the new version")


def _check_alias(registry: ModelRegistry, alias: str, *, expected: str | None) -> None:
    """Compare: refuse when ``alias`` no longer points where the decision saw it (moved by someone else)."""
    current = _alias(registry, alias)
    if current != expected:
        raise ConflictError(f"{alias} moved from {expected or 'none'} to {current or 'none'} while this command "
                            "ran; nothing was changed: run again")


def _move_alias(registry: ModelRegistry, alias: str, *, expected: str | None, version: str) -> None:
    """Compare and set: move ``alias`` to ``version`` only if it still points at ``expected``.

    The deployment lock serialises this project's commands; the comparison also catches a move made
    around them (the MLflow UI, another tool) between the decision and the move.
    """
    _check_alias(registry, alias, expected=expected)
    registry.set_alias(alias, version)


def _restore_alias(registry: ModelRegistry, alias: str, version: str | None) -> None:
    if version is None:
        registry.delete_alias(alias)
    else:
        registry.set_alias(alias, version)


def run_gate(registry: ModelRegistry, candidate: str, incumbent: str | None, *, rules: GateRules,
             eval_path: Path | None, force: bool, reason: str | None,
             traffic: TrafficChecks | None = None) -> GateReport:
    """Gather evidence in a temporary directory, apply the policy, honour ``--force``, refuse on failure.

    ``traffic`` adds the replay of logged texts and the shadow's evidence (``deployment.replay``)."""
    loaded: dict[str, LoadedModel] = {}
    with tempfile.TemporaryDirectory(prefix="sentiment-gate-") as tmp:
        evidence, incumbent_evidence = gather_gate_evidence(registry, candidate, incumbent,
                                                            eval_path=eval_path, cache_dir=Path(tmp), keep=loaded)
        replayed, shadowed = gather_traffic_evidence(traffic, loaded, candidate, incumbent) if traffic else (None, None)
    report = evaluate_gate(evidence, incumbent_evidence, rules)
    if traffic is not None:
        report = with_traffic_evidence(report, traffic.rules, replayed, shadowed)
    if force:
        report = force_report(report, reason or "")
    if not report.passed:
        raise PromotionRefusedError(f"version {candidate} refused: {report.summary()}", report)
    return report


def _validate_promote(to: str, canary_percent: float | None, force: bool, reason: str | None) -> None:
    _check_choice(to, PROMOTE_TARGETS, "--to")
    if canary_percent is not None:
        if to != "production":
            raise ConfigurationError("--canary only applies to --to production (it splits production traffic)")
        if not 0 < canary_percent <= 100:
            raise ConfigurationError(f"--canary must be a percentage above 0 and at most 100, got {canary_percent:g}")
    if force and not (reason and reason.strip()):
        raise ConfigurationError('--force needs --reason "why": an override is recorded in the history')


def _pick_candidate(registry: ModelRegistry, *, version: str | None, to: str, canary_running: str | None,
                    canary_percent: float | None, force: bool) -> PromotionPlan:
    """The plan for a promotion, enforcing "production only takes staging's version"."""
    if to == "staging":
        if version is not None:
            return PromotionPlan(_require_version(registry, version), DeploymentAction.PROMOTE)
        return PromotionPlan(_newest_version(registry), DeploymentAction.PROMOTE)
    if canary_running is not None and canary_percent is None:
        # `promote --to production` while a canary runs completes that rollout, and nothing else.
        if version is not None and _require_version(registry, version) != canary_running:
            raise ConfigurationError(f"a canary of version {canary_running} is running; finish it with "
                                     "`promote --to production` or abort it with `rollback --env canary` first")
        return PromotionPlan(canary_running, DeploymentAction.CANARY_FINISH)
    staged = _alias(registry, "staging")
    candidate = _require_version(registry, version) if version is not None else staged
    if candidate is None:
        raise ConfigurationError("nothing is in staging; production only takes the staging version: "
                                 "run `sentiment-mlops promote VERSION --to staging` first")
    if candidate != staged and not force:
        raise ConfigurationError(f"production only takes the version in staging ({staged or 'none'}), got "
                                 f"{candidate}; promote it to staging first, or override with "
                                 '--force --reason "why"')
    if canary_percent is not None:
        if canary_running is not None and canary_running != candidate:
            raise ConfigurationError(f"a canary of version {canary_running} is already running; "
                                     "abort it with `rollback --env canary` first")
        return PromotionPlan(candidate, DeploymentAction.CANARY_START)
    return PromotionPlan(candidate, DeploymentAction.PROMOTE)


def _newest_version(registry: ModelRegistry) -> str:
    versions = registry.versions()
    if not versions:
        raise ModelNotFoundError(f"no versions of {registry.model_name} yet; run: sentiment-mlops train")
    return versions[0].version


def promote(registry: ModelRegistry, store: PredictionStore, *, version: str | None, to: str,
            canary_percent: float | None = None,
            force: bool = False, reason: str | None = None, eval_path: Path | None = None,
            actor: str | None = None, rules: GateRules | None = None, replay_size: int = 0,
            replay_rules: ReplayRules | None = None, shadow_percent: float | None = None) -> DeploymentResult:
    """Gate ``version`` (default: latest for staging, staging's for production) and move ``to``'s alias.

    ``canary_percent`` starts a canary instead: alias ``canary`` on the candidate plus the registered
    model tag ``canary_percent``; ``shadow_percent`` starts a shadow of production the same way (alias
    ``shadow``, tag ``shadow_percent``). ``replay_size`` adds the replay of ``to``'s last logged texts to the
    gate (0 skips); promoting production's shadow adds its evidence. Raises ``PromotionRefusedError`` (with
    the report) when the gate fails.
    """
    _validate_promote(to, canary_percent, force, reason)
    _validate_traffic(to, replay_size, shadow_percent, canary_percent)
    traffic = TrafficChecks(store, to, replay_size, replay_rules or ReplayRules())
    with deployment_lock(store.source_url):
        if shadow_percent is not None:
            return _start_shadow(registry, store, version=version, percent=shadow_percent, force=force,
                                 reason=reason, eval_path=eval_path, actor=actor or default_actor(),
                                 rules=rules or GateRules(), traffic=traffic)
        return _promote(registry, store, version=version, to=to, canary_percent=canary_percent, force=force,
                        reason=reason, eval_path=eval_path, actor=actor or default_actor(),
                        rules=rules or GateRules(), traffic=traffic)


def _validate_traffic(to: str, replay_size: int, shadow_percent: float | None, canary_percent: float | None) -> None:
    if replay_size < 0:
        raise ConfigurationError(f"--replay must be a number of logged texts (0 skips the replay), got {replay_size}")
    if shadow_percent is None:
        return
    if to != "production":
        raise ConfigurationError(f"--shadow only applies to --to production (it shadows production's requests), "
                                 f"got --to {to}")
    if not 0 < shadow_percent <= 100:
        raise ConfigurationError(f"--shadow must be a percentage above 0 and at most 100, got {shadow_percent:g}")
    if canary_percent is not None:
        raise ConfigurationError("--shadow and --canary do not go together: start one, then the other")


def _promote(registry: ModelRegistry, store: PredictionStore, *, version: str | None, to: str,
             canary_percent: float | None, force: bool, reason: str | None, eval_path: Path | None, actor: str,
             rules: GateRules, traffic: TrafficChecks) -> DeploymentResult:
    canary_running = _alias(registry, CANARY_ALIAS) if to == "production" else None
    shadow_running = _alias(registry, SHADOW_ALIAS) if to == "production" else None
    plan = _pick_candidate(registry, version=version, to=to, canary_running=canary_running,
                           canary_percent=canary_percent, force=force)
    candidate, action = plan.candidate, plan.action
    _require_complete(registry, candidate)
    incumbent = _alias(registry, to)
    if action is DeploymentAction.CANARY_START:
        return _start_canary(registry, store, candidate=candidate, incumbent=incumbent, percent=float(canary_percent
                             or 0), running=canary_running, rules=rules, eval_path=eval_path, force=force,
                             reason=reason, actor=actor, traffic=traffic)
    if candidate == incumbent:
        return DeploymentResult(to, action, incumbent, candidate, False,
                                f"version {candidate} is already in {to}; nothing to do")
    from_shadow = action is DeploymentAction.PROMOTE and shadow_running is not None and shadow_running == candidate
    report = run_gate(registry, candidate, incumbent, rules=rules, eval_path=eval_path, force=force, reason=reason,
                      traffic=replace(traffic, shadow_version=shadow_running))
    _move_alias(registry, to, expected=incumbent, version=candidate)
    if from_shadow:
        return _finish_shadow(registry, store, candidate=candidate, incumbent=incumbent, report=report,
                              action=action, actor=actor, reason=reason)
    if action is DeploymentAction.CANARY_FINISH:
        percent = registry.model_tags().get(CANARY_PERCENT_TAG)

        def undo() -> None:
            _restore_alias(registry, to, incumbent)
            registry.set_alias(CANARY_ALIAS, candidate)

        registry.delete_alias(CANARY_ALIAS)
        _delete_tag(registry, CANARY_PERCENT_TAG)
        message = f"canary finished: production {incumbent or 'none'} → {candidate} (was at {percent or '?'}%)"
    else:
        def undo() -> None:
            _restore_alias(registry, to, incumbent)

        message = f"{to}: {incumbent or 'none'} → {candidate}"
    event_id, warnings = _record(registry, store, environment=to, action=action, from_version=incumbent,
                                 to_version=candidate, actor=actor, reason=reason, report=report.to_dict(),
                                 undo=undo)
    return DeploymentResult(to, action, incumbent, candidate, True, message, event_id, report, tuple(warnings))


def _delete_tag(registry: ModelRegistry, tag: str) -> None:
    if tag in registry.model_tags():
        registry.delete_model_tag(tag)


def _start_canary(registry: ModelRegistry, store: PredictionStore, *, candidate: str, incumbent: str | None,
                  percent: float,
                  running: str | None, rules: GateRules, eval_path: Path | None, force: bool, reason: str | None,
                  actor: str, traffic: TrafficChecks | None = None) -> DeploymentResult:
    if incumbent is None:
        raise ConfigurationError("production is empty, so there is no traffic to split; promote to production "
                                 "without --canary for the first version")
    if candidate == incumbent:
        raise ConfigurationError(f"version {candidate} is already in production; nothing to canary")
    previous_percent = registry.model_tags().get(CANARY_PERCENT_TAG)
    report = None
    if running is None:
        report = run_gate(registry, candidate, incumbent, rules=rules, eval_path=eval_path, force=force,
                          reason=reason, traffic=traffic)
    # The tag goes first: a server that sees the alias without a percentage routes nothing to it.
    _check_alias(registry, "production", expected=incumbent)
    registry.set_model_tag(CANARY_PERCENT_TAG, f"{percent:g}")
    _move_alias(registry, CANARY_ALIAS, expected=running, version=candidate)

    def undo() -> None:
        if running is None:
            registry.delete_alias(CANARY_ALIAS)
            _delete_tag(registry, CANARY_PERCENT_TAG)
        else:
            registry.set_model_tag(CANARY_PERCENT_TAG, previous_percent or "0")

    if running is None:
        message = f"canary started: {percent:g}% of production traffic → {candidate} (production stays {incumbent})"
        recorded_reason = reason
    else:
        message = f"canary of {candidate}: {previous_percent or '?'}% → {percent:g}% of production traffic"
        recorded_reason = reason or f"canary_percent {previous_percent or '?'} → {percent:g}"
    event_id, warnings = _record(registry, store, environment=CANARY_ALIAS, action=DeploymentAction.CANARY_START,
                                 from_version=incumbent, to_version=candidate, actor=actor, reason=recorded_reason,
                                 report=report.to_dict() if report else None, undo=undo, tag_from=False)
    return DeploymentResult(CANARY_ALIAS, DeploymentAction.CANARY_START, incumbent, candidate, True, message,
                            event_id, report, tuple(warnings))


def rollback(registry: ModelRegistry, store: PredictionStore, *, environment: str,
             to_version: str | None = None, action: DeploymentAction = DeploymentAction.ROLLBACK,
             reason: str | None = None, evidence: dict[str, Any] | None = None,
             actor: str | None = None) -> DeploymentResult:
    """Put ``environment`` back on the version it had before (from the history) or on ``to_version``.

    ``environment="canary"`` aborts a running canary (alias and tag removed). ``action="auto-rollback"``
    is what the monitor passes, with the ``evidence`` that triggered it; no gate runs on the way back.
    """
    _check_choice(environment, ROLLBACK_TARGETS, "--env")
    if action not in (DeploymentAction.ROLLBACK, DeploymentAction.AUTO_ROLLBACK):
        raise ConfigurationError(f"action must be one of rollback, auto-rollback, got {action!r}")
    with deployment_lock(store.source_url):
        return _rollback(registry, store, environment=environment, to_version=to_version,
                         action=DeploymentAction(action), reason=reason,
                         report={"evidence": evidence} if evidence is not None else None,
                         actor=actor or default_actor())


def _rollback(registry: ModelRegistry, store: PredictionStore, *, environment: str, to_version: str | None,
              action: DeploymentAction, reason: str | None, report: dict[str, Any] | None,
              actor: str) -> DeploymentResult:
    if environment == SHADOW_ALIAS:
        return _end_shadow(registry, store, to_version=to_version, action=action, reason=reason, report=report,
                           actor=actor)
    if environment == CANARY_ALIAS:
        return _abort_canary(registry, store, to_version=to_version, action=action, reason=reason, report=report,
                             actor=actor)
    current = _alias(registry, environment)
    target: str | None
    if to_version is not None:
        target = _require_version(registry, to_version)
    else:
        target = previous_version(read_history(store, environment), environment, current)
        if target is None:
            raise ConfigurationError(f"{environment} has no earlier version in the deployment history "
                                     f"(now: {current or 'none'}); choose one with --to VERSION")
    if target == current:
        return DeploymentResult(environment, action, current, target, False,
                                f"{environment} is already on version {target}; nothing to do")
    _move_alias(registry, environment, expected=current, version=target)
    event_id, warnings = _record(registry, store, environment=environment, action=action, from_version=current,
                                 to_version=target, actor=actor, reason=reason, report=report,
                                 undo=lambda: _restore_alias(registry, environment, current))
    message = f"{environment}: {current or 'none'} → {target} ({action})"
    return DeploymentResult(environment, action, current, target, True, message, event_id, None, tuple(warnings))


def _abort_canary(registry: ModelRegistry, store: PredictionStore, *, to_version: str | None,
                  action: DeploymentAction, reason: str | None,
                  report: dict[str, Any] | None, actor: str) -> DeploymentResult:
    if to_version is not None:
        raise ConfigurationError("--to does not apply to --env canary: aborting sends all traffic back to "
                                 "production's version")
    running = _alias(registry, CANARY_ALIAS)
    if running is None:
        raise ConfigurationError("no canary is running (alias 'canary' is not set); nothing to abort")
    percent = registry.model_tags().get(CANARY_PERCENT_TAG)
    production = _alias(registry, "production")
    # Alias first: a server that still sees a percentage without an alias routes nothing to a canary.
    registry.delete_alias(CANARY_ALIAS)
    _delete_tag(registry, CANARY_PERCENT_TAG)

    def undo() -> None:
        if percent is not None:
            registry.set_model_tag(CANARY_PERCENT_TAG, percent)
        registry.set_alias(CANARY_ALIAS, running)

    recorded = DeploymentAction.CANARY_ABORT if action is DeploymentAction.ROLLBACK else action
    event_id, warnings = _record(registry, store, environment=CANARY_ALIAS, action=recorded, from_version=running,
                                 to_version=production, actor=actor, reason=reason, report=report, undo=undo,
                                 tag_to=False)
    message = f"canary of {running} aborted ({percent or '?'}%): all production traffic → {production or 'none'}"
    return DeploymentResult(CANARY_ALIAS, recorded, running, production, True, message, event_id, None,
                            tuple(warnings))


def bootstrap_staging(registry: ModelRegistry, store: PredictionStore) -> DeploymentResult | None:
    """``serve --bootstrap`` on a fresh install: point an empty ``staging`` at the newest version, recorded
    like any promotion (history event, version tags). None when staging already has a version.

    No gate runs: there is no incumbent to compare with, and the version was evaluated when it was trained.
    """
    with deployment_lock(store.source_url):
        if _alias(registry, "staging") is not None:
            return None
        newest = _newest_version(registry)
        _move_alias(registry, "staging", expected=None, version=newest)
        event_id, warnings = _record(registry, store, environment="staging", action=DeploymentAction.PROMOTE,
                                     from_version=None, to_version=newest, actor=BOOTSTRAP_ACTOR,
                                     reason="staging was empty on first serve", report=None,
                                     undo=lambda: registry.delete_alias("staging"))
        return DeploymentResult("staging", DeploymentAction.PROMOTE, None, newest, True,
                                f"staging was empty: pointed it at version {newest}", event_id, None,
                                tuple(warnings))


# -- shadow -------------------------------------------------------------------------------------------------


def _start_shadow(registry: ModelRegistry, store: PredictionStore, *, version: str | None, percent: float,
                  force: bool, reason: str | None, eval_path: Path | None, actor: str, rules: GateRules,
                  traffic: TrafficChecks) -> DeploymentResult:
    """Make the candidate a shadow of production: alias ``shadow`` plus the tag ``shadow_percent``.

    The gate runs as for a canary (with the replay): a shadow answers nobody, but it runs in every production
    server. Changing the share of a running shadow runs no gate.
    """
    plan = _pick_candidate(registry, version=version, to="production", canary_running=None, canary_percent=None,
                           force=force)
    candidate = plan.candidate
    _require_complete(registry, candidate)
    incumbent = _alias(registry, "production")
    if incumbent is None:
        raise ConfigurationError("production is empty, so there are no requests to shadow; promote to production "
                                 "without --shadow for the first version")
    if candidate == incumbent:
        raise ConfigurationError(f"version {candidate} is already in production; nothing to shadow")
    running = _alias(registry, SHADOW_ALIAS)
    if running is not None and running != candidate:
        raise ConfigurationError(f"a shadow of version {running} is already running; end it with "
                                 "`rollback --env shadow` first")
    previous_percent = registry.model_tags().get(SHADOW_PERCENT_TAG)
    report = None
    if running is None:
        report = run_gate(registry, candidate, incumbent, rules=rules, eval_path=eval_path, force=force,
                          reason=reason, traffic=replace(traffic, environment="production"))
    _check_alias(registry, "production", expected=incumbent)
    # The tag goes first: a server that sees the alias without a share shadows nothing.
    registry.set_model_tag(SHADOW_PERCENT_TAG, f"{percent:g}")
    _move_alias(registry, SHADOW_ALIAS, expected=running, version=candidate)

    def undo() -> None:
        if running is None:
            registry.delete_alias(SHADOW_ALIAS)
            _delete_tag(registry, SHADOW_PERCENT_TAG)
        else:
            registry.set_model_tag(SHADOW_PERCENT_TAG, previous_percent or "0")

    if running is None:
        message = (f"shadow started: version {candidate} also scores {percent:g}% of production's requests "
                   f"(answers never returned; production stays {incumbent})")
        recorded_reason = reason
    else:
        message = f"shadow of {candidate}: {previous_percent or '?'}% → {percent:g}% of production's requests"
        recorded_reason = reason or f"shadow_percent {previous_percent or '?'} → {percent:g}"
    event_id, warnings = _record(registry, store, environment=SHADOW_ALIAS, action=DeploymentAction.SHADOW_START,
                                 from_version=incumbent, to_version=candidate, actor=actor, reason=recorded_reason,
                                 report=report.to_dict() if report else None, undo=undo, tag_from=False)
    return DeploymentResult(SHADOW_ALIAS, DeploymentAction.SHADOW_START, incumbent, candidate, True, message,
                            event_id, report, tuple(warnings))


def _finish_shadow(registry: ModelRegistry, store: PredictionStore, *, candidate: str, incumbent: str | None,
                   report: GateReport, action: DeploymentAction, actor: str, reason: str | None) -> DeploymentResult:
    """Production has just moved to its shadow: end the shadow and record both changes."""
    percent = registry.model_tags().get(SHADOW_PERCENT_TAG)
    registry.delete_alias(SHADOW_ALIAS)
    _delete_tag(registry, SHADOW_PERCENT_TAG)

    def undo() -> None:
        _restore_alias(registry, "production", incumbent)
        if percent is not None:
            registry.set_model_tag(SHADOW_PERCENT_TAG, percent)
        registry.set_alias(SHADOW_ALIAS, candidate)

    event_id, warnings = _record(registry, store, environment="production", action=action, from_version=incumbent,
                                 to_version=candidate, actor=actor, reason=reason, report=report.to_dict(), undo=undo)
    _, more = _record(registry, store, environment=SHADOW_ALIAS, action=DeploymentAction.SHADOW_END,
                      from_version=candidate, to_version=None, actor=actor,
                      reason=f"promoted to production (event {event_id})", report=None, undo=lambda: None,
                      tag_from=False)
    message = f"production: {incumbent or 'none'} → {candidate} (from its shadow at {percent or '?'}%; shadow ended)"
    return DeploymentResult("production", action, incumbent, candidate, True, message, event_id, report,
                            tuple([*warnings, *more]))


def _end_shadow(registry: ModelRegistry, store: PredictionStore, *, to_version: str | None,
                action: DeploymentAction, reason: str | None, report: dict[str, Any] | None,
                actor: str) -> DeploymentResult:
    if to_version is not None:
        raise ConfigurationError("--to does not apply to --env shadow: ending it leaves production as it is")
    running = _alias(registry, SHADOW_ALIAS)
    if running is None:
        raise ConfigurationError("no shadow is running (alias 'shadow' is not set); nothing to end")
    percent = registry.model_tags().get(SHADOW_PERCENT_TAG)
    # Alias first: a server that still sees a share without an alias shadows nothing.
    registry.delete_alias(SHADOW_ALIAS)
    _delete_tag(registry, SHADOW_PERCENT_TAG)

    def undo() -> None:
        if percent is not None:
            registry.set_model_tag(SHADOW_PERCENT_TAG, percent)
        registry.set_alias(SHADOW_ALIAS, running)

    recorded = DeploymentAction.SHADOW_END if action is DeploymentAction.ROLLBACK else action
    event_id, warnings = _record(registry, store, environment=SHADOW_ALIAS, action=recorded, from_version=running,
                                 to_version=None, actor=actor, reason=reason, report=report, undo=undo,
                                 tag_to=False)
    message = f"shadow of {running} ended ({percent or '?'}% of production's requests); production unchanged"
    return DeploymentResult(SHADOW_ALIAS, recorded, running, None, True, message, event_id, None, tuple(warnings))


def record_loop_step(store: PredictionStore, step: LoopStep, *, from_version: str | None, to_version: str | None,
                     reason: str, report: dict[str, Any], actor: str) -> int:
    """Append a step of the retraining loop to the history (environment ``loop``). It moves no alias, so it
    takes no lock; the alias changes the loop makes go through ``promote`` and ``rollback`` above."""
    return store.record_deployment(created_at=_now(), environment=LOOP_ENVIRONMENT, action=step,
                                   from_version=from_version, to_version=to_version, actor=actor, reason=reason,
                                   report=report)
