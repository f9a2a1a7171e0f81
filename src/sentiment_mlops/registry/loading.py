"""Load a model for scoring: from ``models/`` or from a registry version, always verified by sha256 first."""

from __future__ import annotations

import json
import pickle
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sentiment_mlops.errors import IntegrityError, ModelNotFoundError
from sentiment_mlops.integrity import MANIFEST_NAME, read_manifest, sha256_file, verify_manifest
from sentiment_mlops.layout import (
    FEEDBACK_HELDOUT_FILE,
    FEEDBACK_TRAINED_FILE,
    HELDOUT_FILE,
    LOCAL_MANIFEST_TAG,
    METRICS_FILE,
    MODEL_FILE,
    PROFILE_FILE,
    RUN_MANIFEST_TAG,
    SKOPS_FILE,
    VECTORIZER_FILE,
)
from sentiment_mlops.registry.client import ModelRegistry
from sentiment_mlops.serialization import load_skops


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

    def _artifact(self, name: str) -> Path | None:
        if self.artifacts_dir is None:
            return None
        path = self.artifacts_dir / name
        return path if path.is_file() else None

    @property
    def heldout_path(self) -> Path | None:
        return self._artifact(HELDOUT_FILE)

    @property
    def feedback_trained_path(self) -> Path | None:
        """The digests of the production feedback texts the version trained on (None: none, or an older version)."""
        return self._artifact(FEEDBACK_TRAINED_FILE)

    @property
    def feedback_heldout_path(self) -> Path | None:
        """The held-out part of the production feedback the version trained with (None: it trained without)."""
        return self._artifact(FEEDBACK_HELDOUT_FILE)


def _read_json(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    with path.open() as handle:
        data = json.load(handle)
    return data if isinstance(data, dict) else None


def _check_seal(manifest_path: Path, recorded: str | None, what: str) -> None:
    """The manifest is the one training sealed: its sha256 is the one recorded on the registered version."""
    if recorded is not None and sha256_file(manifest_path) != recorded:
        raise IntegrityError(f"the manifest of {what} is not the one its training run sealed (sha256 "
                             f"{sha256_file(manifest_path)[:12]}…, the registry recorded {recorded[:12]}…): the "
                             "artifacts were replaced and the manifest re-sealed; retrain or restore them")


def verify_local_seal(models_dir: Path, registry: ModelRegistry) -> None:
    """``models_dir``'s manifest is the one its training run published (``local_manifest_sha256`` on the version
    its metrics name). Nothing to compare for a model never registered (``--no-register``)."""
    version = (_read_json(models_dir / METRICS_FILE) or {}).get("model_version")
    if not version:
        return
    try:
        tags = registry.version(str(version)).tags
    except ModelNotFoundError:
        return  # trained against another tracking store: that store holds its seal
    _check_seal(models_dir / MANIFEST_NAME, tags.get(LOCAL_MANIFEST_TAG), f"{models_dir}/ (version {version})")


def _require_listed(directory: Path, listed: dict[str, str], names: list[str]) -> None:
    """Refuse to read a file the manifest does not vouch for (an entry deleted to slip a file past the check)."""
    unlisted = [name for name in names if (directory / name).exists() and name not in listed]
    if unlisted:
        raise IntegrityError(f"{directory}/ has {', '.join(unlisted)} but its manifest does not list "
                             f"{'it' if len(unlisted) == 1 else 'them'}: the manifest was edited; retrain or restore "
                             "the folder")


def load_local(models_dir: Path, *, allow_pickle: bool = False) -> LoadedModel:
    """Load ``models_dir``'s model after checking every file it reads against the manifest.

    The skops file is loaded (trusted types only). The seed-compatible pickles are written for existing
    users but loaded only with ``allow_pickle`` (``--allow-pickle``): unpickling runs whatever code the
    file holds, so a pickle is trusted only as far as the manifest beside it, which is not signed.
    """
    if not (models_dir / MODEL_FILE).is_file() and not (models_dir / SKOPS_FILE).is_file():
        raise ModelNotFoundError(
            f"no trained model in {models_dir}/ ({SKOPS_FILE} is missing); run: sentiment-mlops train"
        )
    listed = read_manifest(models_dir)
    model_files = [VECTORIZER_FILE, MODEL_FILE] if allow_pickle else [SKOPS_FILE]
    if not allow_pickle and SKOPS_FILE not in listed:
        raise IntegrityError(f"{models_dir}/ has no {SKOPS_FILE} in its manifest (trained by an older version); "
                             "retrain, or pass --allow-pickle to load its pickles")
    _require_listed(models_dir, listed, [*model_files, METRICS_FILE, PROFILE_FILE, HELDOUT_FILE,
                                         FEEDBACK_HELDOUT_FILE, FEEDBACK_TRAINED_FILE])
    verify_manifest(models_dir, listed)
    if allow_pickle:
        from sklearn.pipeline import Pipeline

        with (models_dir / VECTORIZER_FILE).open("rb") as handle:
            vectorizer = pickle.load(handle)  # noqa: S301 - allowed explicitly, verified against the manifest
        with (models_dir / MODEL_FILE).open("rb") as handle:
            classifier = pickle.load(handle)  # noqa: S301
        pipeline = Pipeline([("tfidf", vectorizer), ("clf", classifier)])
    else:
        pipeline = load_skops(models_dir / SKOPS_FILE, what=f"{models_dir}/")
    metrics = _read_json(models_dir / METRICS_FILE) or {}
    version = metrics.get("model_version") or "local"
    return LoadedModel(
        pipeline=pipeline,
        version=str(version),
        source="local",
        run_id=metrics.get("run_id"),
        metrics=metrics,
        profile=_read_json(models_dir / PROFILE_FILE),
        artifacts_dir=models_dir,
    )


def load_version(registry: ModelRegistry, version: str | int, cache_dir: Path | None = None, *,
                 keep_files: bool = True) -> LoadedModel:
    """Download a registered version and its run's artifacts, verify every sha256, load the skops model.

    ``keep_files=False`` removes the download once the model is in memory (``artifacts_dir`` is then None):
    a command or a server that only scores keeps no copy behind, however often it reloads.
    """
    destination = Path(tempfile.mkdtemp(prefix=f"sentiment-v{version}-", dir=cache_dir))
    try:
        loaded = _load_version(registry, version, destination)
    except BaseException:
        shutil.rmtree(destination, ignore_errors=True)
        raise
    if not keep_files:
        shutil.rmtree(destination, ignore_errors=True)
        loaded.artifacts_dir = None
    return loaded


def _load_version(registry: ModelRegistry, version: str | int, destination: Path) -> LoadedModel:
    model_dir, run_dir = (Path(p) for p in registry.download(version, str(destination)))
    manifest_path = run_dir / MANIFEST_NAME
    info = registry.version(version)
    _check_seal(manifest_path, info.tags.get(RUN_MANIFEST_TAG), f"version {version}'s run")
    files = read_manifest(run_dir)
    verify_manifest(run_dir, files)
    with manifest_path.open() as handle:
        registry_model = json.load(handle).get("registry_model") or {}
    if SKOPS_FILE not in registry_model:
        raise IntegrityError(f"the manifest of version {version} records no sha256 for {SKOPS_FILE}")
    verify_manifest(model_dir, registry_model)
    pipeline = load_skops(model_dir / SKOPS_FILE, what=f"version {version}")
    metrics = _read_json(run_dir / METRICS_FILE) or {}
    return LoadedModel(
        pipeline=pipeline,
        version=info.version,
        source="registry",
        run_id=info.run_id,
        metrics=metrics,
        profile=_read_json(run_dir / PROFILE_FILE),
        artifacts_dir=run_dir,
    )
