"""MLflow tracking and model registry: log runs, register versions, move aliases, load verified models."""

from __future__ import annotations

from sentiment_mlops.registry.client import ModelRegistry, VersionInfo
from sentiment_mlops.registry.loading import LoadedModel, load_local, load_version

__all__ = ["LoadedModel", "ModelRegistry", "VersionInfo", "load_local", "load_version"]
