"""``sentiment-mlops monitor --watch``: the monitor loop in its own process, one status line per interval.

Like ``drift_commands``, this sits above the packages: it wires ``monitoring``'s loop to the registry (the
served version and its profile) and to ``deployment`` (the automatic rollback).

It follows the environment's alias in the registry (or ``models/`` for ``--env local``), loads and verifies
each new version once to read its reference profile (a failure is the ``model_failed_to_load`` condition),
and reads request counters from ``--metrics-url`` when given.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.markup import escape

from sentiment_mlops.config import Settings
from sentiment_mlops.errors import ConfigurationError, SentimentMLOpsError
from sentiment_mlops.monitoring.auto_rollback import AutoRollback
from sentiment_mlops.monitoring.snapshot import DEFAULT_WINDOW, ServedModelInfo
from sentiment_mlops.monitoring.watch import Iteration, MonitorLoop, server_load_error

WATCH_ENVIRONMENTS = ("local", "staging", "production")


@dataclass
class RegistryModelInfo:
    """The version behind an environment's alias and its profile, loaded once per version."""

    settings: Settings
    environment: str
    store: Any
    registry: Any = None
    _cache: dict[str, ServedModelInfo] = field(default_factory=dict)

    def __call__(self) -> ServedModelInfo:
        if self.environment == "local":
            return self._local()
        try:
            info = self._registry().alias_version(self.environment)
        except SentimentMLOpsError as exc:
            return ServedModelInfo(self.environment, None, None, f"cannot read the registry: {exc}")
        if info is None:
            return ServedModelInfo(self.environment, None)
        served = self._cache.get(info.version)
        if served is None:
            served = self._load(info.version)
            self._cache.clear()
            self._cache[info.version] = served
        poller_error = server_load_error(self.store, self.environment)
        if poller_error and not served.load_error:
            return ServedModelInfo(served.environment, served.version, served.profile, poller_error)
        return served

    def _registry(self) -> Any:
        if self.registry is None:
            from sentiment_mlops.registry.client import ModelRegistry

            self.registry = ModelRegistry(self.settings.tracking_uri, self.settings.registered_model_name,
                                          self.settings.experiment_name)
        return self.registry

    def _load(self, version: str) -> ServedModelInfo:
        import tempfile
        from pathlib import Path

        from sentiment_mlops.registry.loading import load_version

        # Only the profile is kept (in memory): the download goes, whether the load worked or not.
        with tempfile.TemporaryDirectory(prefix="sentiment-monitor-") as scratch:
            try:
                loaded = load_version(self._registry(), version, cache_dir=Path(scratch))
            except SentimentMLOpsError as exc:
                return ServedModelInfo(self.environment, version, None, str(exc))
        return ServedModelInfo(self.environment, loaded.version, loaded.profile)

    def _local(self) -> ServedModelInfo:
        from sentiment_mlops.registry.loading import load_local

        try:
            loaded = load_local(self.settings.models_dir)
        except SentimentMLOpsError as exc:
            return ServedModelInfo(self.environment, None, None, str(exc))
        return ServedModelInfo(self.environment, loaded.version, loaded.profile)


def _pct(value: float | None) -> str:
    return f"{value:.1%}" if value is not None else "-"


def status_line(iteration: Iteration) -> str:
    """One line per pass: traffic, errors, latency, accuracy live and estimated, drift, firing rules."""
    s = iteration.snapshot
    drift = "-" if s.drift is None else ("YES" if s.drift.get("drift_detected") else "no")
    requests = "-" if s.requests is None else f"{s.requests:,} req {_pct(s.error_rate)} err"
    p95 = "-" if s.p95_latency_ms is None else f"{s.p95_latency_ms:.1f} ms"
    parts = [
        s.taken_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        f"{s.environment} v{s.model_version or '-'}",
        requests,
        f"p95 {p95}",
        f"live acc {_pct(s.live_accuracy)} ({s.labelled})",
        f"est acc {_pct(s.estimated_accuracy)} (ref {_pct(s.reference_accuracy)})",
        f"drift {drift}",
        f"firing: {', '.join(iteration.firing) or 'none'}",
    ]
    return " · ".join(parts)


class ConsoleAlertLog(logging.Handler):
    """Shows the alert log channel (``sentiment_mlops.alerts``) on the terminal, indented under the status."""

    def __init__(self, console: Console) -> None:
        super().__init__(logging.INFO)
        self.console = console

    def emit(self, record: logging.LogRecord) -> None:
        style = "red" if record.levelno >= logging.WARNING else "green"
        self.console.print(f"  [{style}]{escape(record.getMessage())}[/]", highlight=False, soft_wrap=True)


def print_iteration(console: Console, iteration: Iteration) -> None:
    """The status line; the alerts themselves were printed as they were sent (``ConsoleAlertLog``)."""
    console.print(escape(status_line(iteration)), highlight=False, soft_wrap=True)
    if iteration.rollback_result is not None:
        console.print(f"  [bold red]auto-rollback:[/] {escape(str(iteration.rollback_result.message))}",
                      soft_wrap=True)
    for error in iteration.errors:
        console.print(f"  [yellow]{escape(error)}[/]", soft_wrap=True)


def build_auto_rollback(settings: Settings, store: Any, environment: str, registry: Any = None) -> AutoRollback:
    """``AutoRollback`` wired to ``deployment.actions.rollback`` on the settings' registry."""
    from sentiment_mlops.deployment.actions import rollback

    if registry is None:
        from sentiment_mlops.registry.client import ModelRegistry

        registry = ModelRegistry(settings.tracking_uri, settings.registered_model_name, settings.experiment_name)

    def act(**kwargs: Any) -> Any:
        return rollback(registry, store, actor="sentiment-mlops-monitor", **kwargs)

    return AutoRollback(store, act, environment=environment, bake_minutes=settings.bake_minutes,
                        accuracy_floor=settings.accuracy_floor, error_rate_threshold=settings.error_rate_threshold)


def build_watch_loop(settings: Settings, store: Any, *, env: str, window: int = DEFAULT_WINDOW,
                     auto_rollback: bool = False, metrics_url: str | None = None, registry: Any = None
                     ) -> MonitorLoop:
    """The loop ``monitor --watch`` runs, wired from the settings (also used by tests)."""
    from sentiment_mlops.monitoring.channels import default_channels
    from sentiment_mlops.monitoring.notifier import AlertNotifier
    from sentiment_mlops.monitoring.traffic import RequestRateTracker, scrape
    from sentiment_mlops.monitoring.watch import default_drift_reporter

    if env not in WATCH_ENVIRONMENTS:
        raise ConfigurationError(f"--env must be one of {', '.join(WATCH_ENVIRONMENTS)}, got {env!r}")
    if window < 1:
        raise ConfigurationError(f"--window must be at least 1 prediction, got {window}")
    if auto_rollback and env == "local":
        raise ConfigurationError("--auto-rollback needs --env staging or production (local has no history)")
    model_info = RegistryModelInfo(settings, env, store, registry)
    auto = build_auto_rollback(settings, store, env, model_info._registry()) if auto_rollback else None
    notifier = AlertNotifier(store, default_channels(settings.alert_webhook),
                             cooldown_seconds=settings.alert_cooldown_seconds)
    return MonitorLoop(settings=settings, environment=env, store=store, model_info=model_info, notifier=notifier,
                       traffic=RequestRateTracker(scrape(metrics_url)) if metrics_url else None,
                       drift_reporter=default_drift_reporter(), auto_rollback=auto, window=window)


def watch_command(settings: Settings, console: Console, *, env: str, window: int, interval: float,
                  auto_rollback: bool, metrics_url: str | None, iterations: int | None = None) -> None:
    """Run until Ctrl-C (or ``iterations`` passes), printing a status line per pass."""
    from sentiment_mlops.store import PredictionStore

    if interval <= 0:
        raise ConfigurationError(f"--interval must be a positive number of seconds, got {interval:g}")
    store = PredictionStore(settings.store_url)
    loop = build_watch_loop(settings, store, env=env, window=window, auto_rollback=auto_rollback,
                            metrics_url=metrics_url)
    alert_log = logging.getLogger("sentiment_mlops.alerts")
    handler = ConsoleAlertLog(console)
    alert_log.addHandler(handler)
    previous_level, alert_log.propagate = alert_log.level, False
    alert_log.setLevel(logging.INFO)
    guard = f", auto-rollback within {settings.bake_minutes:g} min of a promotion" if auto_rollback else ""
    if iterations == 1:
        console.print(f"checking {env} once (store {store.display_url}{guard})", highlight=False, soft_wrap=True)
    else:
        console.print(f"watching {env} every {interval:g} s (store {store.display_url}{guard}); Ctrl-C stops",
                      highlight=False, soft_wrap=True)
    try:
        loop.run(interval=interval, iterations=iterations, on_iteration=lambda it: print_iteration(console, it))
    except KeyboardInterrupt:
        console.print("stopped")
    finally:
        loop.stop()
        store.close()
        alert_log.removeHandler(handler)
        alert_log.setLevel(previous_level)
        alert_log.propagate = True
