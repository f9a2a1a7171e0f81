"""The monitor loop: measure, evaluate the alert rules, guard the bake window, notify; every interval.

Two ways to run it:
- ``sentiment-mlops monitor --env production --watch --interval 60 [--auto-rollback]`` (``watch_command`` in
  ``sentiment_mlops.service.build_watch_loop``), in its own process, reading the registry and the store;
- inside the service (``SENTIMENT_MLOPS_MONITOR_IN_SERVER=true``): ``start_server_monitor`` from the
  app's lifespan. Every worker starts the thread; only the holder of the leader lock evaluates.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from sentiment_mlops.config import Settings
from sentiment_mlops.errors import SentimentMLOpsError
from sentiment_mlops.monitoring.alerts import MonitorSnapshot, RuleOutcome, evaluate_rules
from sentiment_mlops.monitoring.auto_rollback import AutoRollback, RollbackDecision, RollbackResult, rollback_outcome
from sentiment_mlops.monitoring.gauges import MonitorGauges
from sentiment_mlops.monitoring.notifier import AlertNotifier, Transition
from sentiment_mlops.monitoring.snapshot import DEFAULT_WINDOW, DriftReporter, ServedModelInfo, build_snapshot
from sentiment_mlops.monitoring.traffic import RequestRateTracker
from sentiment_mlops.store.alerts import MODEL_LOAD_FAILED
from sentiment_mlops.store.locks import LeaderLock, leader_lock

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from sentiment_mlops.store import PredictionStore

logger = logging.getLogger(__name__)

SERVER_LOAD_ALERT = MODEL_LOAD_FAILED


@dataclass(frozen=True)
class Iteration:
    """What one pass of the loop saw and did."""

    snapshot: MonitorSnapshot
    outcomes: list[RuleOutcome]
    transitions: list[Transition]
    rollback: RollbackDecision | None = None
    rollback_result: RollbackResult | None = None
    errors: list[str] = field(default_factory=list)

    @property
    def firing(self) -> list[str]:
        return [o.rule for o in self.outcomes if o.firing]


def server_load_error(store: PredictionStore, environment: str) -> str | None:
    """The serving poller's open ``model_load_failed`` alert, if any (the poller resolves it on a good load).

    Only the poller's rows count (their details name the ``source``): this monitor's own alert for the rule
    must not keep itself open.
    """
    alert = store.open_alert(SERVER_LOAD_ALERT, environment)
    if alert is not None and "source" in (alert.get("details") or {}):
        return str(alert.get("message"))
    return None


class MonitorLoop:
    """Runs ``run_once`` every ``interval`` seconds on a thread (``start``) or in the caller (``run``)."""

    def __init__(self, *, settings: Settings, environment: str, store: PredictionStore,
                 model_info: Callable[[], ServedModelInfo], notifier: AlertNotifier,
                 traffic: RequestRateTracker | None = None, drift_reporter: DriftReporter | None = None,
                 auto_rollback: AutoRollback | None = None, window: int = DEFAULT_WINDOW,
                 lock: LeaderLock | None = None, gauges: MonitorGauges | None = None) -> None:
        self.settings = settings
        self.environment = environment
        self.store = store
        self.model_info = model_info
        self.notifier = notifier
        self.traffic = traffic
        self.drift_reporter = drift_reporter
        self.auto_rollback = auto_rollback
        self.window = window
        self.lock = lock
        self.gauges = gauges
        self.last: Iteration | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @classmethod
    def from_settings(cls, settings: Settings, *, environment: str, store: PredictionStore,
                      model_info: Callable[[], ServedModelInfo], traffic: RequestRateTracker | None,
                      auto_rollback: AutoRollback | None, window: int = DEFAULT_WINDOW,
                      drift_reporter: DriftReporter | None = None, lock: LeaderLock | None = None,
                      gauges: MonitorGauges | None = None) -> MonitorLoop:
        """The loop with the settings' alert channels and cooldown and the standard drift report: what both
        the server's own monitor and ``monitor --watch`` run."""
        from sentiment_mlops.monitoring.channels import default_channels

        notifier = AlertNotifier(store, default_channels(settings.alert_webhook),
                                 cooldown_seconds=settings.alert_cooldown_seconds)
        return cls(settings=settings, environment=environment, store=store, model_info=model_info,
                   notifier=notifier, traffic=traffic,
                   drift_reporter=drift_reporter if drift_reporter is not None else default_drift_reporter(),
                   auto_rollback=auto_rollback, window=window, lock=lock, gauges=gauges)

    def run_once(self, now: datetime | None = None) -> Iteration:
        """Measure, evaluate and notify once."""
        now = now or datetime.now(timezone.utc)
        errors: list[str] = []
        if self.traffic is not None:
            try:
                self.traffic.sample(now)
            except Exception as exc:  # a metrics endpoint that is down leaves the error rate unknown
                errors.append(f"request counters unavailable: {exc}")
        served = self.model_info()
        snapshot = build_snapshot(self.store, served, window=self.window, drift_reporter=self.drift_reporter,
                                  traffic=self.traffic, now=now)
        if self.gauges is not None:
            self.gauges.update(snapshot)
        outcomes = evaluate_rules(snapshot, self.settings)
        decision = result = None
        if self.auto_rollback is not None:
            try:
                decision, result = self.auto_rollback.check(self.traffic, now)
            except SentimentMLOpsError as exc:  # e.g. the registry refused: say so, alert, keep watching
                errors.append(f"auto-rollback failed: {exc}")
                outcomes.append(RuleOutcome(rule="auto_rollback", status="firing", severity="critical",
                                            event=True, message=f"automatic rollback failed: {exc}"))
            else:
                outcomes.append(rollback_outcome(decision, result, self.environment))
        transitions = self.notifier.process(outcomes, environment=self.environment, model_version=served.version)
        self.last = Iteration(snapshot, outcomes, transitions, decision, result, errors)
        return self.last

    def run(self, *, interval: float, iterations: int | None = None,
            on_iteration: Callable[[Iteration], None] | None = None) -> None:
        """Loop in the calling thread until ``stop()`` (or ``iterations`` passes, for tests and scripts)."""
        done = 0
        while not self._stop.is_set():
            if self.lock is None or self.lock.try_acquire():
                try:
                    iteration = self.run_once()
                except SentimentMLOpsError as exc:  # the store or registry is down: try again next time
                    logger.error("monitor iteration failed: %s", exc)
                else:
                    if on_iteration is not None:
                        on_iteration(iteration)
            done += 1
            if iterations is not None and done >= iterations:
                break
            self._stop.wait(interval)

    def start(self, interval: float) -> MonitorLoop:
        """Run on a daemon thread; returns self."""
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._guarded_run, args=(interval,), name="monitor-loop",
                                            daemon=True)
            self._thread.start()
        return self

    def _guarded_run(self, interval: float) -> None:
        while not self._stop.is_set():
            try:
                self.run(interval=interval)
            except Exception:  # the loop must outlive a bug in one pass; the log has the traceback
                logger.exception("monitor loop failed; restarting in %.0f s", interval)
                self._stop.wait(interval)

    @property
    def is_leader(self) -> bool:
        return self.lock is None or self.lock.held

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the thread, release the lock, flush the webhook."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        if self.lock is not None:
            self.lock.release()
        self.notifier.close(timeout=min(timeout, 5.0))


def start_server_monitor(settings: Settings, *, environment: str, store: PredictionStore,
                         current_model: Callable[[], tuple[str | None, dict[str, Any] | None]],
                         read_metrics: Callable[[], str], metrics_registry: CollectorRegistry | None = None,
                         auto_rollback: Callable[[Settings, PredictionStore, str], AutoRollback] | None = None,
                         drift_reporter: DriftReporter | None = None) -> MonitorLoop | None:
    """Start the service's own monitor thread when ``settings.monitor_in_server``; None otherwise.

    ``current_model()`` returns the served (version, reference profile); ``read_metrics()`` the app's
    Prometheus exposition; ``metrics_registry`` (the app's ``CollectorRegistry``) receives the monitor's
    gauges (``monitoring.gauges``) for ``deploy/prometheus/alerts.yml``. With
    ``settings.monitor_auto_rollback`` the loop also guards the bake window with what
    ``auto_rollback(settings, store, environment)`` builds (``service.build_auto_rollback``, which
    rolls back through the registry and the deployment history).
    """
    if not settings.monitor_in_server:
        return None

    def model_info() -> ServedModelInfo:
        version, profile = current_model()
        return ServedModelInfo(environment, version, profile, server_load_error(store, environment))

    auto = None
    if settings.monitor_auto_rollback and environment != "local":
        if auto_rollback is None:
            logger.warning("SENTIMENT_MLOPS_MONITOR_AUTO_ROLLBACK is set, but this monitor was started without a "
                           "rollback action: it alerts only")
        else:
            auto = auto_rollback(settings, store, environment)
    loop = MonitorLoop.from_settings(
        settings, environment=environment, store=store, model_info=model_info,
        traffic=RequestRateTracker(read_metrics), auto_rollback=auto, drift_reporter=drift_reporter,
        lock=leader_lock(settings.store_url, environment),
        gauges=MonitorGauges(metrics_registry) if metrics_registry is not None else None)
    return loop.start(settings.monitor_interval_seconds)


def default_drift_reporter() -> DriftReporter:
    """The DESIGN drift report (``monitoring.drift``) over a window of logged predictions.

    The ``Reference`` built from a profile caches its resampled thresholds, so it is kept per model version.
    """
    from sentiment_mlops.monitoring.drift import Reference, as_reference, drift_report
    from sentiment_mlops.monitoring.drift.online import window_from_rows

    references: dict[str, Reference] = {}

    def report(rows: Sequence[Mapping[str, Any]], profile: Mapping[str, Any]) -> dict[str, Any]:
        version = str(rows[0]["model_version"])
        reference = references.get(version)
        if reference is None:
            references.clear()  # only the served version matters; drop the one before
            reference = references[version] = as_reference(profile)
        logged = window_from_rows(rows)
        return drift_report(reference, logged.texts, logged.predicted, logged.confidences, model_version=version,
                            lengths=logged.lengths).to_dict()

    return report
