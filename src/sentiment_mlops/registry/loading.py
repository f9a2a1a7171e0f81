"""Load a model for scoring: from ``models/`` or from a registry version, always verified by sha256 first."""

from __future__ import annotations

import json
import pickle
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sentiment_mlops.errors import IntegrityError, ModelNotFoundError
from sentiment_mlops.integrity import MANIFEST_NAME, read_manifest, verify_manifest
from sentiment_mlops.layout import HELDOUT_FILE, METRICS_FILE, MODEL_FILE, PROFILE_FILE, SKOPS_FILE, VECTORIZER_FILE
from sentiment_mlops.registry.client import ModelRegistry
from sentiment_mlops.registry.tracking import SKOPS_TRUSTED_TYPES
from sentiment_mlops.registry.vocabulary import restore_vocabularies


@dataclass
class LoadedModel:
    """A verified pipeline plus what monitoring and the gate need to know about it."""

    pipeline: Any
    version: str
    source: str
    run_id: str | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    profile: dict[str, Any] | None = None
    artifacts_dir: Path | None = None

    @property
    def heldout_path(self) -> Path | None:
        if self.artifacts_dir is None:
            return None
        path = self.artifacts_dir / HELDOUT_FILE
        return path if path.is_file() else None


def _read_json(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    with path.open() as handle:
        data = json.load(handle)
    return data if isinstance(data, dict) else None


def load_local(models_dir: Path) -> LoadedModel:
    """Load the seed-compatible pickles of ``models_dir`` after checking them against its manifest."""
    from sklearn.pipeline import Pipeline

    if not (models_dir / MODEL_FILE).is_file():
        raise ModelNotFoundError(
            f"no trained model in {models_dir}/ ({MODEL_FILE} is missing); run: sentiment-mlops train"
        )
    verify_manifest(models_dir, read_manifest(models_dir))
    with (models_dir / VECTORIZER_FILE).open("rb") as handle:
        vectorizer = pickle.load(handle)  # noqa: S301 - verified against the sha256 manifest just above
    with (models_dir / MODEL_FILE).open("rb") as handle:
        classifier = pickle.load(handle)  # noqa: S301
    metrics = _read_json(models_dir / METRICS_FILE) or {}
    version = metrics.get("model_version") or "local"
    return LoadedModel(
        pipeline=Pipeline([("tfidf", vectorizer), ("clf", classifier)]),
        version=str(version),
        source="local",
        run_id=metrics.get("run_id"),
        metrics=metrics,
        profile=_read_json(models_dir / PROFILE_FILE),
        artifacts_dir=models_dir,
    )


def load_version(registry: ModelRegistry, version: str | int, cache_dir: Path | None = None) -> LoadedModel:
    """Download a registered version and its run's artifacts, verify every sha256, load the skops model."""
    import skops.io

    destination = Path(tempfile.mkdtemp(prefix=f"sentiment-v{version}-", dir=cache_dir))
    model_dir, run_dir = (Path(p) for p in registry.download(version, str(destination)))
    manifest_path = run_dir / MANIFEST_NAME
    files = read_manifest(run_dir)
    verify_manifest(run_dir, files)
    with manifest_path.open() as handle:
        registry_model = json.load(handle).get("registry_model") or {}
    if SKOPS_FILE not in registry_model:
        raise IntegrityError(f"the manifest of version {version} records no sha256 for {SKOPS_FILE}")
    verify_manifest(model_dir, registry_model)
    skops_path = model_dir / SKOPS_FILE
    untrusted = [t for t in skops.io.get_untrusted_types(file=skops_path) if t not in SKOPS_TRUSTED_TYPES]
    if untrusted:
        raise IntegrityError(f"version {version} contains types this project does not load: {untrusted}")
    pipeline = restore_vocabularies(skops.io.load(skops_path, trusted=SKOPS_TRUSTED_TYPES))
    metrics = _read_json(run_dir / METRICS_FILE) or {}
    info = registry.version(version)
    return LoadedModel(
        pipeline=pipeline,
        version=info.version,
        source="registry",
        run_id=info.run_id,
        metrics=metrics,
        profile=_read_json(run_dir / PROFILE_FILE),
        artifacts_dir=run_dir,
    )
