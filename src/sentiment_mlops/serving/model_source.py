"""Where a server's model comes from: the local ``models/`` folder or the registry alias of its environment."""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from sentiment_mlops.config import SERVING_ENVIRONMENTS, SHADOW_ALIAS, Settings
from sentiment_mlops.errors import ConfigurationError, RegistryError
from sentiment_mlops.integrity import MANIFEST_NAME
from sentiment_mlops.layout import HELDOUT_FILE, METRICS_FILE, MODEL_FILE, PROFILE_FILE, SKOPS_FILE, VECTORIZER_FILE
from sentiment_mlops.registry.client import CANARY_ALIAS, CANARY_PERCENT_TAG, SHADOW_PERCENT_TAG
from sentiment_mlops.registry.client import parse_canary_percent as parse_canary_tag

if TYPE_CHECKING:
    from sentiment_mlops.registry import LoadedModel, ModelRegistry

__all__ = ["SERVING_ENVIRONMENTS", "LocalSource", "ModelSource", "RegistrySource", "Target", "parse_canary_percent",
           "source_for"]


@dataclass(frozen=True)
class Target:
    """What the source says should be served: keys a ``load`` call understands."""

    primary: str | None
    canary: str | None = None
    canary_percent: float = 0.0
    missing_reason: str | None = None
    shadow: str | None = None
    shadow_percent: float = 0.0


class ModelSource(Protocol):
    """Resolves what to serve (cheap, polled) and loads it (slow, verified)."""

    description: str

    def resolve(self) -> Target: ...
    def load(self, key: str) -> LoadedModel: ...
    def close(self) -> None: ...


def parse_canary_percent(value: str | None) -> float:
    """The registered-model tag ``canary_percent`` as a share in [0, 100]; anything else means no canary (0)."""
    return parse_canary_tag(value) or 0.0


LOADED_FILES = (SKOPS_FILE, MODEL_FILE, VECTORIZER_FILE, METRICS_FILE, PROFILE_FILE, HELDOUT_FILE)


class LocalSource:
    """The seed-compatible artifacts of a folder; a retrain shows up as a new manifest digest."""

    def __init__(self, models_dir: Path, *, allow_pickle: bool = False,
                 check_seal: Callable[[Path], None] | None = None) -> None:
        self.models_dir = models_dir
        self.allow_pickle = allow_pickle
        self.check_seal = check_seal
        self.description = f"{models_dir}/" + (" (pickles allowed)" if allow_pickle else "")

    def resolve(self) -> Target:
        manifest = self.models_dir / MANIFEST_NAME
        if not (self.models_dir / MODEL_FILE).is_file() or not manifest.is_file():
            return Target(None, missing_reason=f"no trained model in {self.models_dir}/; run: sentiment-mlops train")
        # The manifest's bytes and every model file's size and mtime: an artifact replaced without touching
        # the manifest is a change too, which the reload then verifies (and refuses).
        digest = hashlib.sha256(manifest.read_bytes())
        for name in LOADED_FILES:
            path = self.models_dir / name
            if path.exists():
                stat = path.stat()
                digest.update(f"{name}:{stat.st_size}:{stat.st_mtime_ns};".encode())
        return Target("local:" + digest.hexdigest()[:16])

    def load(self, key: str) -> LoadedModel:
        from sentiment_mlops.registry import load_local

        if self.check_seal is not None:
            self.check_seal(self.models_dir)
        return load_local(self.models_dir, allow_pickle=self.allow_pickle)

    def close(self) -> None:
        return None


class RegistrySource:
    """The version behind the environment's alias (and, in production, the canary alias and its share)."""

    def __init__(self, registry: ModelRegistry, environment: str) -> None:
        self.registry = registry
        self.environment = environment
        self.description = f"models:/{registry.model_name}@{environment}"
        self._cache = Path(tempfile.mkdtemp(prefix="sentiment-serving-"))

    def _canary_percent(self, tag: str = CANARY_PERCENT_TAG) -> float:
        from mlflow.exceptions import MlflowException

        try:
            model = self.registry.client.get_registered_model(self.registry.model_name)
        except MlflowException as exc:
            raise RegistryError(f"reading {self.registry.model_name} failed: {exc.message}") from exc
        return parse_canary_percent((model.tags or {}).get(tag))

    def _shadow(self, production: str) -> tuple[str | None, float]:
        """Production's shadow version and its share of requests ((None, 0) when there is none)."""
        shadow = self.registry.alias_version(SHADOW_ALIAS)
        if shadow is None or shadow.version == production:
            return None, 0.0
        percent = self._canary_percent(SHADOW_PERCENT_TAG)  # the same tag format: a share in [0, 100]
        return (shadow.version, percent) if percent > 0 else (None, 0.0)

    def resolve(self) -> Target:
        info = self.registry.alias_version(self.environment)
        if info is None:
            return Target(None, missing_reason=(
                f"no version has alias {self.environment!r} in {self.registry.model_name}; promote one with: "
                f"sentiment-mlops promote VERSION --to {self.environment}"))
        if self.environment != "production":
            return Target(info.version)
        canary = self.registry.alias_version(CANARY_ALIAS)
        shadow, shadow_percent = self._shadow(info.version)
        if canary is None or canary.version == info.version:
            return Target(info.version, shadow=shadow, shadow_percent=shadow_percent)
        percent = self._canary_percent()
        return Target(info.version, canary.version if percent > 0 else None, percent, shadow=shadow,
                      shadow_percent=shadow_percent)

    def load(self, key: str) -> LoadedModel:
        from sentiment_mlops.registry import load_version

        # Serving keeps the model in memory only: each reload leaves no download behind.
        return load_version(self.registry, key, cache_dir=self._cache, keep_files=False)

    def close(self) -> None:
        shutil.rmtree(self._cache, ignore_errors=True)


def source_for(settings: Settings, environment: str) -> ModelSource:
    """The source an environment serves from: ``local`` reads ``models/``, others the registry alias."""
    if environment not in SERVING_ENVIRONMENTS:
        raise ConfigurationError(f"unknown environment {environment!r}; expected one of "
                                 f"{', '.join(SERVING_ENVIRONMENTS)}")
    if environment == "local":
        from sentiment_mlops.registry.uri import check_local_seal

        return LocalSource(Path(settings.models_dir), allow_pickle=settings.allow_pickle,
                           check_seal=lambda models_dir: check_local_seal(settings, models_dir))
    from sentiment_mlops.registry import ModelRegistry

    registry = ModelRegistry.from_settings(settings)
    return RegistrySource(registry, environment)
