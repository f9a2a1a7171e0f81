"""A thin wrapper over ``MlflowClient`` speaking this project's names (experiment, model, aliases)."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from sentiment_mlops.config import CANARY_ALIAS, Settings, mask_passwords, masked_url
from sentiment_mlops.errors import ModelNotFoundError, RegistryError, VersionNotFoundError
from sentiment_mlops.layout import RUN_ARTIFACTS

__all__ = ["CANARY_ALIAS", "CANARY_PERCENT_TAG", "SHADOW_PERCENT_TAG", "ModelRegistry", "VersionInfo",
           "parse_canary_percent", "quiet_mlflow"]

# A partial rollout: alias ``canary`` names the candidate and this registered-model tag its traffic share.
CANARY_PERCENT_TAG = "canary_percent"
# A shadow of production: alias ``shadow`` names the version and this tag the share of requests it also scores.
SHADOW_PERCENT_TAG = "shadow_percent"

_QUIET_LOGGERS = ("mlflow", "alembic", "mlflow.store.db.utils", "mlflow.tracking.fluent")


def quiet_mlflow() -> None:
    """Silence MLflow's INFO chatter (database migrations, 'Created version'): the CLI prints its own."""
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("DO_NOT_TRACK", "true")
    for name in _QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


def parse_canary_percent(value: str | None) -> float | None:
    """The registered-model tag ``canary_percent`` as a share in [0, 100]; None when unset or not a number.

    >>> parse_canary_percent("20"), parse_canary_percent("250"), parse_canary_percent("nan"), parse_canary_percent(None)
    (20.0, 100.0, None, None)
    """
    if value is None:
        return None
    try:
        percent = float(value)
    except ValueError:
        return None
    return min(max(percent, 0.0), 100.0) if percent == percent else None


@dataclass(frozen=True)
class VersionInfo:
    """One registered model version as this project describes it."""

    version: str
    run_id: str | None
    created: datetime
    aliases: list[str]
    tags: dict[str, str] = field(default_factory=dict)
    source: str | None = None

    def metric(self, name: str) -> float | None:
        value = self.tags.get(name)
        try:
            return float(value) if value is not None else None
        except ValueError:
            return None


class ModelRegistry:
    """Registry operations on one registered model (``SentimentAnalysisModel`` by default)."""

    def __init__(self, tracking_uri: str, model_name: str, experiment_name: str = "sentiment-analysis") -> None:
        quiet_mlflow()
        from mlflow.tracking import MlflowClient

        self.tracking_uri = tracking_uri
        self.display_uri = masked_url(tracking_uri)  # for messages: the password masked
        self.model_name = model_name
        self.experiment_name = experiment_name
        try:
            self.client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
        except Exception as exc:  # MLflow raises several types for a bad URI
            raise RegistryError(f"cannot open the MLflow store at {masked_url(tracking_uri)}: {exc}") from exc

    @classmethod
    def from_settings(cls, settings: Settings) -> ModelRegistry:
        """The registry the settings name (tracking URI, registered model, experiment)."""
        return cls(settings.tracking_uri, settings.registered_model_name, settings.experiment_name)

    def _call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        from mlflow.exceptions import MlflowException

        try:
            return fn(*args, **kwargs)
        except MlflowException as exc:
            code = getattr(exc, "error_code", "")
            if code in {"RESOURCE_DOES_NOT_EXIST", "NOT_FOUND"}:
                raise VersionNotFoundError(f"{what}: {mask_passwords(exc.message)}") from exc
            raise RegistryError(f"{what} failed at {self.display_uri}: {mask_passwords(exc.message)}") from exc

    def _info(self, mv: Any) -> VersionInfo:
        return VersionInfo(
            version=str(mv.version),
            run_id=mv.run_id,
            created=datetime.fromtimestamp(mv.creation_timestamp / 1000, tz=timezone.utc),
            aliases=sorted(getattr(mv, "aliases", []) or []),
            tags=dict(mv.tags or {}),
            source=mv.source,
        )

    def versions(self) -> list[VersionInfo]:
        """All versions, newest first; empty when nothing is registered yet."""
        from mlflow.exceptions import MlflowException

        try:
            found = self.client.search_model_versions(f"name='{self.model_name}'")
        except MlflowException as exc:
            if getattr(exc, "error_code", "") == "RESOURCE_DOES_NOT_EXIST":
                return []
            raise RegistryError(f"listing versions failed at {self.display_uri}: "
                                f"{mask_passwords(exc.message)}") from exc
        infos = [self._info(self.client.get_model_version(self.model_name, mv.version)) for mv in found]
        return sorted(infos, key=lambda v: int(v.version), reverse=True)

    def version(self, version: str | int) -> VersionInfo:
        mv = self._call(f"version {version} of {self.model_name}", self.client.get_model_version,
                        self.model_name, str(version))
        return self._info(mv)

    def alias_version(self, alias: str) -> VersionInfo | None:
        """The version behind ``alias``, or None when the alias is not set."""
        from mlflow.exceptions import MlflowException

        try:
            mv = self.client.get_model_version_by_alias(self.model_name, alias)
        except MlflowException as exc:
            if getattr(exc, "error_code", "") in {"RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"}:
                return None
            raise RegistryError(f"reading alias {alias!r} failed at {self.display_uri}: "
                                f"{mask_passwords(exc.message)}") from exc
        return self._info(mv)

    def set_alias(self, alias: str, version: str | int) -> None:
        self._call(f"setting alias {alias!r}", self.client.set_registered_model_alias,
                   self.model_name, alias, str(version))

    def delete_alias(self, alias: str) -> None:
        self._call(f"deleting alias {alias!r}", self.client.delete_registered_model_alias, self.model_name, alias)

    def set_version_tag(self, version: str | int, key: str, value: str) -> None:
        self._call(f"tagging version {version}", self.client.set_model_version_tag,
                   self.model_name, str(version), key, value)

    def model_tags(self) -> dict[str, str]:
        """Tags of the registered model itself (``canary_percent`` lives here); empty before registration."""
        from mlflow.exceptions import MlflowException

        try:
            model = self.client.get_registered_model(self.model_name)
        except MlflowException as exc:
            if getattr(exc, "error_code", "") == "RESOURCE_DOES_NOT_EXIST":
                return {}
            raise RegistryError(f"reading {self.model_name} failed at {self.display_uri}: "
                                f"{mask_passwords(exc.message)}") from exc
        return dict(model.tags or {})

    def set_model_tag(self, key: str, value: str) -> None:
        self._call(f"tagging {self.model_name}", self.client.set_registered_model_tag, self.model_name, key, value)

    def delete_model_tag(self, key: str) -> None:
        self._call(f"removing tag {key!r} of {self.model_name}", self.client.delete_registered_model_tag,
                   self.model_name, key)

    def download(self, version: str | int, destination: str) -> tuple[str, str]:
        """Download the model and its run's artifacts; returns ``(model_dir, run_artifacts_dir)``."""
        import mlflow.artifacts

        info = self.version(version)
        # The version's own artifact location, not a models:/ URI: MLflow resolves those through the
        # process-wide registry URI, which is not this registry's in a process that never set it.
        location = self._call(f"locating version {version}", self.client.get_model_version_download_uri,
                              self.model_name, info.version)
        model_dir = self._call(f"downloading version {version}", mlflow.artifacts.download_artifacts,
                               artifact_uri=location,
                               dst_path=os.path.join(destination, "model"), tracking_uri=self.tracking_uri,
                               registry_uri=self.tracking_uri)
        if info.run_id is None:
            raise ModelNotFoundError(f"version {version} of {self.model_name} has no training run")
        run_dir = self._call(f"downloading run {info.run_id}", mlflow.artifacts.download_artifacts,
                             run_id=info.run_id, artifact_path=RUN_ARTIFACTS,
                             dst_path=os.path.join(destination, "run"), tracking_uri=self.tracking_uri)
        return model_dir, run_dir
