"""Log a training run to MLflow and register its model version."""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from sentiment_mlops.config import masked_url
from sentiment_mlops.errors import RegistryError
from sentiment_mlops.layout import MODEL_ARTIFACT, RUN_ARTIFACTS
from sentiment_mlops.registry.client import quiet_mlflow
from sentiment_mlops.serialization import SKOPS_TRUSTED_TYPES, vocabularies_as_arrays


def git_commit(cwd: Path | None = None) -> str | None:
    """The checked-out commit, or None outside a git work tree."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True,
                             timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def _pip_requirements() -> list[str]:
    from importlib.metadata import version

    return [f"{dist}=={version(dist)}" for dist in ("scikit-learn", "skops", "numpy", "scipy", "vaderSentiment")]


@contextlib.contextmanager
def _deserialization_disallowed() -> Iterator[None]:
    key = "MLFLOW_ALLOW_PICKLE_DESERIALIZATION"
    previous = os.environ.get(key)
    os.environ[key] = "false"
    model_logger = logging.getLogger("mlflow.models.model")
    level = model_logger.level
    model_logger.setLevel(logging.ERROR)  # the skipped check logs a warning that would alarm users
    try:
        yield
    finally:
        model_logger.setLevel(level)
        if previous is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = previous


class RunTracker:
    """One MLflow training run: params, metrics, artifacts, the skops model, and registration."""

    def __init__(self, tracking_uri: str, experiment_name: str, model_name: str) -> None:
        quiet_mlflow()
        import mlflow

        self.mlflow = mlflow
        self.tracking_uri = tracking_uri
        self.experiment_name = experiment_name
        self.model_name = model_name
        try:
            mlflow.set_tracking_uri(tracking_uri)
            mlflow.set_registry_uri(tracking_uri)
            mlflow.set_experiment(experiment_name)
        except Exception as exc:  # a bad URI, an unreachable server or a locked database
            raise RegistryError(f"cannot use MLflow at {masked_url(tracking_uri)}: {str(exc).splitlines()[0]}") from exc

    @contextlib.contextmanager
    def run(self, run_name: str | None = None, *, nested: bool = False,
            tags: Mapping[str, str] | None = None) -> Iterator[str]:
        """Start a run and yield its id; the run ends FAILED if the block raises."""
        run_id = self.start_run(run_name, nested=nested, tags=tags)
        try:
            yield run_id
        except BaseException:
            self.end_run("FAILED")
            raise
        self.end_run("FINISHED")

    def start_run(self, run_name: str | None = None, *, nested: bool = False,
                  tags: Mapping[str, str] | None = None) -> str:
        return str(self.mlflow.start_run(run_name=run_name, nested=nested, tags=dict(tags or {})).info.run_id)

    def end_run(self, status: str = "FINISHED") -> None:
        self.mlflow.end_run(status=status)

    def log_params(self, params: Mapping[str, Any]) -> None:
        # MLflow caps a param value at 6,000 characters; ours are short, str() keeps tuples readable.
        self.mlflow.log_params({k: str(v)[:500] for k, v in params.items()})

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        self.mlflow.log_metrics({k: float(v) for k, v in metrics.items()}, step=step)

    def log_artifacts(self, directory: Path) -> None:
        self.mlflow.log_artifacts(str(directory), artifact_path=RUN_ARTIFACTS)

    def log_model(self, pipeline: Any, example_texts: list[str]) -> str:
        """Log the fitted pipeline in skops format with a signature; returns the model URI."""
        import numpy as np
        from mlflow.models import infer_signature

        example = np.array(example_texts[:3], dtype=object)
        signature = infer_signature(example, pipeline.predict(list(example)))
        # MLflow re-loads a freshly logged model to check the input example (seconds for a skops file)
        # unless deserialization is disallowed; serving verifies and smoke-tests every version it loads.
        with _deserialization_disallowed(), vocabularies_as_arrays(pipeline):
            info = self._log_skops(pipeline, signature, example)
        return str(info.model_uri)

    def _log_skops(self, pipeline: Any, signature: Any, example: Any) -> Any:
        return self.mlflow.sklearn.log_model(
            pipeline,
            name=MODEL_ARTIFACT,
            serialization_format="skops",
            skops_trusted_types=SKOPS_TRUSTED_TYPES,
            signature=signature,
            input_example=example,
            pip_requirements=_pip_requirements(),
        )

    def register(self, model_uri: str, tags: Mapping[str, str]) -> str:
        """Create a new version of the registered model; returns its number."""
        try:
            mv = self.mlflow.register_model(model_uri, self.model_name, await_registration_for=0,
                                            tags={k: str(v) for k, v in tags.items()})
        except Exception as exc:
            raise RegistryError(f"registering {self.model_name} failed: {str(exc).splitlines()[0]}") from exc
        return str(mv.version)

    def set_version_tag(self, version: str, key: str, value: str) -> None:
        """Tag a registered version (``training_status=complete`` once its artifacts are published)."""
        try:
            self.mlflow.MlflowClient().set_model_version_tag(self.model_name, version, key, value)
        except Exception as exc:
            raise RegistryError(f"tagging {self.model_name} version {version} failed: "
                                f"{str(exc).splitlines()[0]}") from exc

    def model_digest(self, model_uri: str) -> dict[str, str]:
        """sha256 of the logged model's serialized file, recorded in the run's manifest."""
        import tempfile

        from sentiment_mlops.integrity import sha256_file
        from sentiment_mlops.layout import SKOPS_FILE

        with tempfile.TemporaryDirectory() as tmp:
            local = self.mlflow.artifacts.download_artifacts(artifact_uri=model_uri, dst_path=tmp)
            return {SKOPS_FILE: sha256_file(Path(local) / SKOPS_FILE)}
