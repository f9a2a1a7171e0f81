"""Which model a command means: local artifacts, a registered version, or the version behind an alias.

``--env``, ``--version``, ``--models-dir`` and ``--model-uri models:/NAME/3`` / ``models:/NAME@alias`` all
become one ``ModelReference``, which ``load_model`` loads (sha256-verified).

>>> parse_model_uri("models:/SentimentAnalysisModel@production", "SentimentAnalysisModel")
ModelReference(version=None, alias='production', models_dir=None)
>>> parse_model_uri("models:/SentimentAnalysisModel/3", "SentimentAnalysisModel").version
'3'
"""

from __future__ import annotations

import multiprocessing
import sys
from dataclasses import dataclass
from pathlib import Path

from sentiment_mlops.config import Settings
from sentiment_mlops.errors import ConfigurationError, ModelNotFoundError, SentimentMLOpsError
from sentiment_mlops.registry.client import ModelRegistry
from sentiment_mlops.registry.loading import LoadedModel, load_local, load_version

LOCAL = "local"
_PREFIX = "models:/"


@dataclass(frozen=True)
class ModelReference:
    """Exactly one of: a registered ``version``, an ``alias``, or local artifacts (``models_dir``, or the
    settings' when all three are None)."""

    version: str | None = None
    alias: str | None = None
    models_dir: Path | None = None

    @property
    def is_local(self) -> bool:
        return self.version is None and self.alias is None

    @classmethod
    def for_version(cls, version: str) -> ModelReference:
        if not str(version).isdigit():
            raise ConfigurationError(f"--version must be a registered version number, got {version!r}")
        return cls(version=str(version))

    @classmethod
    def for_environment(cls, environment: str) -> ModelReference:
        """``local`` means the artifacts in ``models/``; any other name is a registry alias."""
        return cls() if environment == LOCAL else cls(alias=environment)


def parse_model_uri(model_uri: str, model_name: str) -> ModelReference:
    """``models:/NAME/VERSION`` or ``models:/NAME@ALIAS`` of the registered model ``model_name``."""
    if not model_uri.startswith(_PREFIX):
        raise ConfigurationError(f"--model-uri must look like models:/NAME/VERSION or models:/NAME@ALIAS, "
                                 f"got {model_uri!r}")
    rest = model_uri[len(_PREFIX):]
    name, sep, alias = rest.partition("@")
    if sep:
        reference = ModelReference(alias=alias or None)
    else:
        name, _, version = rest.partition("/")
        if not version.isdigit():
            raise ConfigurationError(f"--model-uri version must be a number, got {model_uri!r}")
        reference = ModelReference(version=version)
    if name != model_name:
        raise ConfigurationError(f"--model-uri names model {name!r}; this project registers {model_name!r}")
    return reference


def choose_model(settings: Settings, *, env: str | None = None, version: str | None = None,
                 model_uri: str | None = None, models_dir: Path | None = None) -> ModelReference:
    """The one model the options name (local artifacts when none does); two at once is a usage error."""
    chosen = [name for name, value in (("--env", env), ("--version", version), ("--model-uri", model_uri),
                                       ("--models-dir", models_dir)) if value is not None]
    if len(chosen) > 1:
        raise ConfigurationError(f"give one of --env, --version, --model-uri or --models-dir, "
                                 f"not {' and '.join(chosen)}")
    if env is not None:
        return ModelReference.for_environment(env)
    if version is not None:
        return ModelReference.for_version(version)
    if model_uri is not None:
        return parse_model_uri(model_uri, settings.registered_model_name)
    return ModelReference(models_dir=models_dir)


def load_model(settings: Settings, reference: ModelReference, registry: ModelRegistry | None = None,
               cache_dir: Path | None = None, *, seal_check_beside_imports: bool = False) -> LoadedModel:
    """Load (and verify) what ``reference`` names.

    ``seal_check_beside_imports``: a command's cold start (the CLI's ``score`` and ``predict``) checks a local
    folder's seal in a child process while it imports the loader (``_check_local_seal_while_importing``).
    """
    if reference.is_local:
        models_dir = reference.models_dir or settings.models_dir
        if seal_check_beside_imports and registry is None and _child_can_check():
            _check_local_seal_while_importing(settings, models_dir)
        else:
            check_local_seal(settings, models_dir, registry)
        return load_local(models_dir, allow_pickle=settings.allow_pickle)
    registry = registry or ModelRegistry.from_settings(settings)
    version = reference.version
    if reference.alias is not None:
        info = registry.alias_version(reference.alias)
        if info is None:
            raise ModelNotFoundError(f"no version has alias {reference.alias!r} in {registry.model_name}; "
                                     f"promote one with: sentiment-mlops promote VERSION --to {reference.alias}")
        version = info.version
    # A command only scores: the download goes once the model is in memory.
    return load_version(registry, str(version), cache_dir=cache_dir, keep_files=cache_dir is not None)


def check_local_seal(settings: Settings, models_dir: Path, registry: ModelRegistry | None = None) -> None:
    """``registry.loading.verify_local_seal`` against the settings' tracking store, when there is one.

    A SQLite tracking store that does not exist is not created for this (nothing was registered there).
    """
    from sentiment_mlops.registry.loading import verify_local_seal

    if registry is None:
        prefix = "sqlite:///"
        uri = settings.tracking_uri
        if uri.startswith(prefix) and not Path(uri[len(prefix):]).is_file():
            return
        registry = ModelRegistry.from_settings(settings)
    verify_local_seal(models_dir, registry)


def _child_can_check() -> bool:
    """A cold start (neither MLflow, the seal check's, nor skops, the loader's, imported yet) in a process that
    may start a spawned child: not a frozen executable, not a daemonic process."""
    return ("mlflow" not in sys.modules and "skops.io" not in sys.modules and not getattr(sys, "frozen", False)
            and not multiprocessing.current_process().daemon)


def _import_loader() -> None:
    import skops.io  # noqa: F401 - imported for load_local; it imports scikit-learn and every estimator


def _check_in_child(settings: Settings, models_dir: Path) -> SentimentMLOpsError | None:
    """The check's verdict: None, or this project's error (which pickles back to the parent)."""
    try:
        check_local_seal(settings, models_dir)
    except SentimentMLOpsError as error:
        return error
    return None


def _check_local_seal_while_importing(settings: Settings, models_dir: Path) -> None:
    """``check_local_seal`` in a child process while this process imports what ``load_local`` needs.

    Each is about 1.3 s of a command's cold start (MLflow and its store; skops, which imports every
    scikit-learn estimator), so on two cores the start is about a second shorter. The child is spawned, a new
    interpreter (not forked: a fork would copy whatever lock another thread holds). Only modules are imported
    here meanwhile: nothing of ``models_dir`` is read before the seal is confirmed. The child's verdict is
    None or one of this project's errors (a re-sealed manifest, an unreachable registry), raised here as it
    came. Anything else (the pool cannot start, the child dies or fails to start, another exception) runs the
    check again here, so it fails exactly as the serial check does.
    """
    from concurrent.futures import ProcessPoolExecutor

    try:
        pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
        verdict = pool.submit(_check_in_child, settings, models_dir)
    except Exception:  # noqa: BLE001 - no child: check here
        check_local_seal(settings, models_dir)
        return
    try:
        _import_loader()
        try:
            # A dead child breaks the pool (BrokenProcessPool): the wait ends; a child still checking a slow
            # remote registry is waited for, as the serial check would wait.
            error, answered = verdict.result(), True
        except Exception:  # noqa: BLE001 - anything: the serial check below gives the one true error
            error, answered = None, False
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    if not answered:
        check_local_seal(settings, models_dir)
    elif error is not None:
        raise error
