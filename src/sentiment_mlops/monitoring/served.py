"""What an environment serves, read from the registry: the version behind its alias, its reference profile,
and the drift of its logged predictions against that profile.

``monitor`` (once or ``--watch``) follows the environment's alias (or ``models/`` for ``local``), loads and
verifies each new version once to read its reference profile (a failure is the ``model_failed_to_load``
condition), and keeps only the profile.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sentiment_mlops.config import Settings
from sentiment_mlops.errors import DataError, SentimentMLOpsError
from sentiment_mlops.monitoring.drift import DriftReport
from sentiment_mlops.monitoring.snapshot import ServedModelInfo
from sentiment_mlops.monitoring.watch import server_load_error
from sentiment_mlops.registry import LoadedModel, ModelRegistry, load_local, load_version
from sentiment_mlops.registry.uri import ModelReference, load_model
from sentiment_mlops.store import PredictionStore


def require_profile(loaded: LoadedModel) -> dict[str, Any]:
    """The version's reference profile; a clear error for a version trained before profiles existed."""
    if not loaded.profile:
        raise DataError(f"model version {loaded.version} ({loaded.source}) has no reference profile "
                        "(reference_profile.json); retrain it with: sentiment-mlops train")
    return dict(loaded.profile)


@dataclass
class RegistryModelInfo:
    """The version behind an environment's alias and its profile, loaded once per version."""

    settings: Settings
    environment: str
    store: PredictionStore
    registry: ModelRegistry | None = None
    _cache: dict[str, ServedModelInfo] = field(default_factory=dict)

    def __call__(self) -> ServedModelInfo:
        if self.environment == "local":
            return self._local()
        try:
            info = self.open_registry().alias_version(self.environment)
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

    def open_registry(self) -> ModelRegistry:
        """The registry of the settings, opened on first use."""
        if self.registry is None:
            self.registry = ModelRegistry.from_settings(self.settings)
        return self.registry

    def _load(self, version: str) -> ServedModelInfo:
        # Only the profile is kept (in memory): the download goes, whether the load worked or not.
        with tempfile.TemporaryDirectory(prefix="sentiment-monitor-") as scratch:
            try:
                loaded = load_version(self.open_registry(), version, cache_dir=Path(scratch))
            except SentimentMLOpsError as exc:
                return ServedModelInfo(self.environment, version, None, str(exc))
        return ServedModelInfo(self.environment, loaded.version, loaded.profile)

    def _local(self) -> ServedModelInfo:
        try:
            loaded = load_local(self.settings.models_dir, allow_pickle=self.settings.allow_pickle)
        except SentimentMLOpsError as exc:
            return ServedModelInfo(self.environment, None, None, str(exc))
        return ServedModelInfo(self.environment, loaded.version, loaded.profile)


def monitor_report(settings: Settings, *, env: str, window: int, store: PredictionStore | None = None,
                   loaded: LoadedModel | None = None) -> tuple[DriftReport, LoadedModel]:
    """Drift of the last ``window`` logged predictions of ``env``'s current version: ``(report, model)``.

    Pass an open ``store`` and an already loaded model to avoid opening and reloading them.
    """
    from sentiment_mlops.monitoring.drift.online import logged_drift_report

    if loaded is None:
        loaded = load_model(settings, ModelReference.for_environment(env))
    profile = require_profile(loaded)
    if store is not None:
        return logged_drift_report(store, profile, environment=env, model_version=loaded.version,
                                   window=window), loaded
    with PredictionStore(settings.store_url) as opened:
        report = logged_drift_report(opened, profile, environment=env, model_version=loaded.version, window=window)
    return report, loaded
