"""The one place that wires the packages together: the API with the dashboard, the monitor loop (in the
server or in ``monitor --watch``) and automatic rollback through the deployment actions.

``serving`` builds the API and depends on neither the dashboard nor monitoring; ``monitoring`` decides when
to roll back and ``deployment`` knows how (DESIGN.md's import rules). They meet here, above the packages.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from fastapi import APIRouter, FastAPI

from sentiment_mlops.config import Environment, Settings
from sentiment_mlops.errors import ConfigurationError
from sentiment_mlops.monitoring.auto_rollback import AutoRollback
from sentiment_mlops.monitoring.retrain import LOOP_ACTOR, LoopAlerts, RetrainLoop, StepOutcome
from sentiment_mlops.monitoring.retrain_policy import RetrainPolicy, Rollout
from sentiment_mlops.monitoring.snapshot import DEFAULT_WINDOW
from sentiment_mlops.monitoring.watch import MonitorLoop
from sentiment_mlops.registry.client import ModelRegistry
from sentiment_mlops.serving.model_holder import ModelSnapshot
from sentiment_mlops.serving.model_source import ModelSource
from sentiment_mlops.store import PredictionStore
from sentiment_mlops.store.deployments import LoopStep


def create_service(settings: Settings, *, environment: str, store: PredictionStore | None = None,
                   model_source: ModelSource | None = None, initial_snapshot: ModelSnapshot | None = None,
                   poll: bool = True, extra_routers: Sequence[APIRouter] = ()) -> FastAPI:
    """``serving.app.create_app`` (same options) plus the dashboard's routes and the service's own monitor
    loop (run when ``SENTIMENT_MLOPS_MONITOR_IN_SERVER=true``, with automatic rollback when
    ``SENTIMENT_MLOPS_MONITOR_AUTO_ROLLBACK=true``)."""
    from sentiment_mlops.dashboard.routes import router as dashboard_router
    from sentiment_mlops.monitoring.watch import start_server_monitor
    from sentiment_mlops.serving.app import create_app

    monitor = partial(start_server_monitor, auto_rollback=build_auto_rollback)
    return create_app(settings, environment=environment, store=store, model_source=model_source,
                      initial_snapshot=initial_snapshot, poll=poll, extra_routers=[dashboard_router, *extra_routers],
                      server_monitor=monitor)


def worker_app() -> FastAPI:
    """The app factory each of ``serve --workers N`` processes calls (settings and environment from os.environ)."""
    from sentiment_mlops.serving.server import ENVIRONMENT_ENV

    return create_service(Settings(), environment=os.environ.get(ENVIRONMENT_ENV, "local"))


def serve(settings: Settings, *, environment: str, host: str, port: int, workers: int, require_model: bool,
          bootstrap: bool = False, echo: Callable[[str], None] = print) -> None:
    """``serving.server.serve`` with the whole service in every worker; ``bootstrap`` first points an empty
    staging alias at the newest version (recorded in the deployment history like any promotion)."""
    from sentiment_mlops.serving.server import serve as run_server

    if bootstrap and environment != "staging":
        raise ConfigurationError("--bootstrap only applies to --env staging (it points an empty staging "
                                 "alias at the newest version)")
    run_server(settings, environment=environment, host=host, port=port, workers=workers,
               require_model=require_model, app_factory=create_service, worker_factory=f"{__name__}:worker_app",
               echo=echo, before_load=partial(bootstrap_staging, settings, echo) if bootstrap else None)


def bootstrap_staging(settings: Settings, echo: Callable[[str], None]) -> None:
    """``deployment.actions.bootstrap_staging`` on the settings' registry and store, said in one line."""
    from sentiment_mlops.deployment.actions import bootstrap_staging as point_staging

    with PredictionStore(settings.store_url) as store:
        result = point_staging(ModelRegistry.from_settings(settings), store)
    if result is not None:
        echo(result.message)


def build_auto_rollback(settings: Settings, store: PredictionStore, environment: str,
                        registry: ModelRegistry | None = None) -> AutoRollback:
    """``AutoRollback`` wired to ``deployment.actions.rollback`` on the settings' registry."""
    from sentiment_mlops.deployment.actions import DeploymentResult, rollback
    from sentiment_mlops.store.deployments import DeploymentAction

    opened = registry or ModelRegistry.from_settings(settings)

    def act(*, environment: str, action: str, reason: str | None,
            evidence: dict[str, Any] | None) -> DeploymentResult:
        return rollback(opened, store, environment=environment, action=DeploymentAction(action), reason=reason,
                        evidence=evidence, actor="sentiment-mlops-monitor")

    return AutoRollback(store, act, environment=environment, bake_minutes=settings.bake_minutes,
                        accuracy_floor=settings.accuracy_floor, error_rate_threshold=settings.error_rate_threshold)


def build_watch_loop(settings: Settings, store: PredictionStore, *, env: str, window: int = DEFAULT_WINDOW,
                     auto_rollback: bool = False, metrics_url: str | None = None,
                     registry: ModelRegistry | None = None) -> MonitorLoop:
    """The loop ``monitor --watch`` runs in its own process, wired from the settings (also used by tests)."""
    from sentiment_mlops.monitoring.served import RegistryModelInfo
    from sentiment_mlops.monitoring.traffic import RequestRateTracker, scrape

    Environment.parse(env)
    if window < 1:
        raise ConfigurationError(f"--window must be at least 1 prediction, got {window}")
    if auto_rollback and env == "local":
        raise ConfigurationError("--auto-rollback needs --env staging or production (local has no history)")
    model_info = RegistryModelInfo(settings, env, store, registry)
    auto = build_auto_rollback(settings, store, env, model_info.open_registry()) if auto_rollback else None
    return MonitorLoop.from_settings(settings, environment=env, store=store, model_info=model_info,
                                     traffic=RequestRateTracker(scrape(metrics_url)) if metrics_url else None,
                                     auto_rollback=auto, window=window)


@dataclass
class ActionsDeployer:
    """The retraining loop's ``LoopDeployer``: every alias change through ``deployment.actions`` (lock, gate,
    compare-and-set, history), every loop step appended to the same history."""

    settings: Settings
    registry: ModelRegistry
    store: PredictionStore
    actor: str = LOOP_ACTOR

    def alias(self, name: str) -> str | None:
        info = self.registry.alias_version(name)
        return info.version if info is not None else None

    def promote(self, version: str, *, to: str, reason: str, canary_percent: float | None = None,
                shadow_percent: float | None = None) -> StepOutcome:
        from sentiment_mlops.deployment.actions import promote
        from sentiment_mlops.deployment.gate import rules_from_settings
        from sentiment_mlops.deployment.replay import rules_from_settings as traffic_rules

        result = promote(self.registry, self.store, version=version, to=to, canary_percent=canary_percent,
                         shadow_percent=shadow_percent, reason=reason, actor=self.actor,
                         rules=rules_from_settings(self.settings), replay_rules=traffic_rules(self.settings))
        return StepOutcome(result.event_id, result.message, result.report.to_dict() if result.report else None)

    def end_rollout(self, rollout: Rollout, *, reason: str, evidence: dict[str, Any]) -> StepOutcome:
        """``rollback --env canary`` or ``rollback --env shadow``: production keeps its version."""
        from sentiment_mlops.deployment.actions import rollback

        result = rollback(self.registry, self.store, environment=rollout.alias, reason=reason, evidence=evidence,
                          actor=self.actor)
        return StepOutcome(result.event_id, result.message)

    def record(self, step: LoopStep, *, from_version: str | None, to_version: str | None, reason: str,
               report: dict[str, Any]) -> int:
        from sentiment_mlops.deployment.actions import record_loop_step

        return record_loop_step(self.store, step, from_version=from_version, to_version=to_version, reason=reason,
                                report=report, actor=self.actor)


def loop_alerts(settings: Settings, store: PredictionStore, environment: str) -> LoopAlerts:
    """The loop's alerts go where the monitor's go: the log, and the webhook when one is configured."""
    from sentiment_mlops.monitoring.channels import default_channels

    return LoopAlerts(store, default_channels(settings.alert_webhook), environment)


def build_retrain_loop(settings: Settings, store: PredictionStore, policy: RetrainPolicy,
                       registry: ModelRegistry | None = None) -> RetrainLoop:
    """The loop ``monitor --watch --retrain POLICY.yml`` runs after each monitor pass, stepped only while this
    process holds the store's retraining lock (``monitoring.retrain.loop_lock``)."""
    from sentiment_mlops.monitoring.retrain import loop_lock, train_candidate

    deployer = ActionsDeployer(settings, registry or ModelRegistry.from_settings(settings), store)
    return RetrainLoop(policy, store=store, deployer=deployer, trainer=partial(train_candidate, settings, store),
                       alerts=loop_alerts(settings, store, policy.environment), admin_token=settings.admin_token,
                       lock=loop_lock(settings.store_url, policy.environment))


def approve_loop_step(settings: Settings, event_id: int, *, actor: str | None = None) -> str:
    """``promote --approve EVENT_ID``: complete the retraining step waiting there (with the admin token)."""
    from sentiment_mlops.deployment.actions import default_actor
    from sentiment_mlops.monitoring.retrain import approve

    with PredictionStore(settings.store_url) as store:
        deployer = ActionsDeployer(settings, ModelRegistry.from_settings(settings), store,
                                   actor=actor or default_actor())
        alerts = loop_alerts(settings, store, "production")
        try:
            return approve(store, deployer, alerts, event_id, settings.admin_token)
        finally:
            alerts.close()
