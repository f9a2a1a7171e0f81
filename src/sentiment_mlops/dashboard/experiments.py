"""MLflow reads for the Experiments and Models pages: training runs, their metrics and the registered versions."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sentiment_mlops.config import mask_passwords, masked_url
from sentiment_mlops.errors import RegistryError
from sentiment_mlops.registry.client import ModelRegistry

MAX_RUNS = 500
HEADLINE_METRICS = ("accuracy", "macro_f1")
CLASS_SCORES = ("precision", "recall", "f1")
# Tags worth showing; MLflow's own tags (mlflow.source.name, log-model history...) are noise here.
_SHOWN_TAGS = {"mlflow.runName": "run_name", "mlflow.parentRunId": "parent_run_id", "git_commit": "git_commit"}


def _iso(millis: int | None) -> str | None:
    return datetime.fromtimestamp(millis / 1000, tz=UTC).isoformat() if millis else None


def per_class(metrics: dict[str, float]) -> dict[str, dict[str, float]]:
    """``{label: {precision, recall, f1}}`` from the flat ``{label}_{score}`` metric names training logs."""
    classes: dict[str, dict[str, float]] = {}
    for name, value in metrics.items():
        label, _, score = name.rpartition("_")
        if label and score in CLASS_SCORES and label not in ("macro", "cv_macro"):
            classes.setdefault(label, {})[score] = value
    return {label: scores for label, scores in sorted(classes.items()) if len(scores) == len(CLASS_SCORES)}


def _run_dict(run: Any, versions_by_run: dict[str, list[str]]) -> dict[str, Any]:
    tags = {short: run.data.tags[key] for key, short in _SHOWN_TAGS.items() if key in run.data.tags}
    metrics = {k: float(v) for k, v in sorted(run.data.metrics.items())}
    return {
        "run_id": run.info.run_id,
        "run_name": tags.pop("run_name", run.info.run_name),
        "status": run.info.status,
        "start_time": _iso(run.info.start_time),
        "end_time": _iso(run.info.end_time),
        "parent_run_id": tags.pop("parent_run_id", None),
        "tags": tags,
        "params": dict(sorted(run.data.params.items())),
        "metrics": metrics,
        "per_class": per_class(metrics),
        "versions": versions_by_run.get(run.info.run_id, []),
    }


def _experiment_id(registry: ModelRegistry) -> str | None:
    experiment = registry.client.get_experiment_by_name(registry.experiment_name)
    return None if experiment is None else str(experiment.experiment_id)


def list_versions(registry: ModelRegistry) -> list[dict[str, Any]]:
    """Registered versions, newest first, with aliases and the headline metrics recorded as tags."""
    return [
        {
            "version": v.version,
            "run_id": v.run_id,
            "created": v.created.isoformat(),
            "aliases": v.aliases,
            "metrics": {name: v.metric(name) for name in HEADLINE_METRICS},
            "tags": {k: val for k, val in sorted(v.tags.items()) if k not in HEADLINE_METRICS},
        }
        for v in registry.versions()
    ]


def list_runs(registry: ModelRegistry, *, versions: list[dict[str, Any]], run_ids: list[str] | None = None,
              include_trials: bool = True) -> list[dict[str, Any]]:
    """Runs of the experiment, newest first (at most ``MAX_RUNS``); only ``run_ids`` when given. ``versions``
    (``list_versions``) names the registered versions of each run."""
    from mlflow.exceptions import MlflowException

    try:
        experiment_id = _experiment_id(registry)
        if experiment_id is None:
            return []
        if run_ids is not None:
            quoted = ", ".join(f"'{run_id}'" for run_id in run_ids)
            runs = registry.client.search_runs([experiment_id], filter_string=f"attributes.run_id IN ({quoted})",
                                               max_results=len(run_ids))
        else:
            runs = registry.client.search_runs([experiment_id], max_results=MAX_RUNS,
                                               order_by=["attributes.start_time DESC"])
    except MlflowException as exc:
        raise RegistryError(f"reading runs failed at {masked_url(registry.tracking_uri)}: "
                            f"{mask_passwords(exc.message)}") from exc
    versions_by_run: dict[str, list[str]] = {}
    for version in versions:
        if version["run_id"]:
            versions_by_run.setdefault(version["run_id"], []).append(version["version"])
    found = [_run_dict(run, versions_by_run) for run in runs]
    if not include_trials:
        found = [run for run in found if run["parent_run_id"] is None]
    if run_ids is not None:  # keep the order the caller asked for
        order = {run_id: i for i, run_id in enumerate(run_ids)}
        found.sort(key=lambda run: order[run["run_id"]])
    return found
