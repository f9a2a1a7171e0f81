"""The dashboard's JSON routes under ``/api/``: one per chart or table, every query parameter validated."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel

from sentiment_mlops.config import Environment
from sentiment_mlops.dashboard import drift_view, experiments, shadow_view
from sentiment_mlops.dashboard.drift_worker import DriftWorker
from sentiment_mlops.dashboard.privacy import keyed_digest
from sentiment_mlops.dashboard.resources import Resources, admin_authorized, resources
from sentiment_mlops.errors import NotFoundError, RegistryError
from sentiment_mlops.registry.client import CANARY_PERCENT_TAG, parse_canary_percent
from sentiment_mlops.store import live

T = TypeVar("T")


class ApiError(BaseModel):
    """The error body the app's handlers send: one readable line, plus the validation errors for a 422."""

    detail: str
    errors: list[dict[str, object]] | None = None


router = APIRouter(prefix="/api", tags=["dashboard"], responses={
    status: {"model": ApiError, "description": description} for status, description in (
        (401, "a wrong admin token"), (404, "an unknown run or version"),
        (422, "an invalid query parameter"), (503, "the MLflow tracking store cannot be read"))})

Res = Annotated[Resources, Depends(resources)]
VERSION_PATTERN = r"^(local|[0-9]{1,9})$"
RUN_IDS_PATTERN = r"^[0-9a-f]{32}(,[0-9a-f]{32}){0,19}$"
VERSIONS_PATTERN = r"^[0-9]{1,9}(,[0-9]{1,9}){0,19}$"
MLFLOW_TTL_SECONDS = 5.0
LIVE_TTL_SECONDS = 2.0


def _registry(what: str, read: Callable[[], T]) -> T:
    """An MLflow failure says which of the dashboard's reads it broke (the app's error mapping answers 503)."""
    try:
        return read()
    except RegistryError as exc:
        raise RegistryError(f"{what}: {exc}") from exc


def _versions(res: Resources) -> list[dict[str, Any]]:
    if res.tracking_store_missing:
        return []
    return res.cache.get_or_compute(("versions",), lambda: experiments.list_versions(res.registry),
                                    ttl=MLFLOW_TTL_SECONDS)


@router.get("/experiments")
def get_experiments(res: Res, include_trials: bool = False) -> dict[str, Any]:
    """Every training run of the experiment (newest first) with params, metrics and registered versions."""
    def read() -> dict[str, Any]:
        if res.tracking_store_missing:
            return {"experiment": res.settings.experiment_name, "runs": [], "max_runs": experiments.MAX_RUNS}
        versions = _versions(res)
        runs = experiments.list_runs(res.registry, include_trials=include_trials, versions=versions)
        return {"experiment": res.registry.experiment_name, "runs": runs, "max_runs": experiments.MAX_RUNS}

    return _registry("reading the experiment", lambda: res.cache.get_or_compute(
        ("experiments", include_trials), read, ttl=MLFLOW_TTL_SECONDS))


@router.get("/runs")
def get_runs(res: Res, ids: Annotated[str | None, Query(pattern=RUN_IDS_PATTERN)] = None,
             versions: Annotated[str | None, Query(pattern=VERSIONS_PATTERN)] = None) -> dict[str, Any]:
    """The runs to compare side by side, chosen by run id and/or registered version (20 of each at most);
    with neither, nothing is chosen and the list is empty."""
    if ids is None and versions is None:
        return {"runs": []}

    def read() -> dict[str, Any]:
        known = _versions(res)
        wanted = list(dict.fromkeys(ids.split(","))) if ids else []
        if versions:
            run_of = {v["version"]: v["run_id"] for v in known}
            missing = [v for v in versions.split(",") if v not in run_of]
            if missing:
                raise NotFoundError(f"unknown model version(s) {', '.join(missing)}; "
                                    f"registered: {', '.join(run_of) or 'none'}")
            wanted += [run_of[v] for v in versions.split(",") if run_of[v] and run_of[v] not in wanted]
        runs = [] if res.tracking_store_missing else experiments.list_runs(res.registry, run_ids=wanted,
                                                                             versions=known)
        missing_runs = sorted(set(wanted) - {run["run_id"] for run in runs})
        if missing_runs:
            raise NotFoundError(f"unknown run id(s) {', '.join(missing_runs)} in "
                                f"experiment {res.settings.experiment_name}")
        return {"runs": runs}

    return _registry("reading runs", read)


@router.get("/versions")
def get_versions(res: Res) -> dict[str, Any]:
    """Registered versions with aliases, the alias map and the canary share."""
    def read() -> dict[str, Any]:
        versions = _versions(res)
        aliases = {alias: v["version"] for v in versions for alias in v["aliases"]}
        return {"model": res.settings.registered_model_name, "versions": versions, "aliases": aliases,
                "canary_percent": None if not versions else _canary_percent(res)}

    return _registry("reading versions", read)


def _canary_percent(res: Resources) -> float | None:
    try:
        value = res.registry.model_tags().get(CANARY_PERCENT_TAG)
    except RegistryError:
        return None
    return parse_canary_percent(value)


@router.get("/deployments")
def get_deployments(res: Res, environment: Environment | None = None,
                    limit: Annotated[int, Query(ge=1, le=5000)] = 500) -> dict[str, Any]:
    """The deployment history (promotions, rollbacks, canaries), oldest first."""
    events = res.store.deployment_events(environment=environment, limit=limit)
    return {"events": events}


@router.get("/loop")
def get_loop(res: Res, limit: Annotated[int, Query(ge=1, le=100)] = 10) -> dict[str, Any]:
    """The retraining loop's timeline (``monitor --watch --retrain``): the last loops, newest first, each step
    with its time, version and reason."""
    from sentiment_mlops.monitoring.retrain import loop_timeline

    return {"loops": loop_timeline(res.store.deployment_events(), limit=limit)}


@router.get("/live")
def get_live(res: Res, environment: Environment | None = None,
             version: Annotated[str | None, Query(pattern=VERSION_PATTERN)] = None,
             hours: Annotated[float, Query(gt=0, le=24 * 90)] = 24.0,
             bucket: Literal["minute", "hour", "day"] | None = None) -> dict[str, Any]:
    """Volume, labels, confidence, latency and live vs estimated accuracy for one slice of traffic.

    ``bucket`` is the finest one asked for: a window that would need more than ``MAX_BUCKETS`` points in it
    (90 days by the minute) is answered in the finest coarser bucket that fits, named in the ``bucket`` field.
    """
    chosen = live.fitting_bucket(hours, bucket or live.choose_bucket(hours))

    def read() -> dict[str, Any]:
        query = live.LiveQuery(since=live.window_start(hours), bucket_seconds=live.BUCKETS[chosen],
                               environment=environment, version=version)
        slices = res.store.traffic_slices()
        # Calibrations (each a reference profile to load) only for the versions this query can show.
        shown = [s for s in slices if environment in (None, s["environment"])
                 and version in (None, s["model_version"])]
        summary = res.store.live_summary(query, drift_view.calibrations(res, shown))
        summary["bucket"] = chosen
        summary["slices"] = slices
        return summary

    # Dashboards polling the same view share one aggregate query every LIVE_TTL_SECONDS.
    return res.cache.get_or_compute(("live", environment, version, hours, chosen), read, ttl=LIVE_TTL_SECONDS)


@router.get("/shadow")
def get_shadow(res: Res, version: Annotated[str | None, Query(pattern=r"^[0-9]{1,9}$")] = None) -> dict[str, Any]:
    """Production vs its shadow on the same requests (the newest 10,000): agreement, flips, labelled accuracy of
    both, latency; ``version`` picks an earlier shadow (default: the one running)."""
    return shadow_view.shadow_overview(res, version)


@router.get("/drift")
def get_drift(request: Request, res: Res, environment: Environment | None = None,
              window: Annotated[int, Query(ge=50, le=20_000)] = 500,
              history: Annotated[int, Query(ge=1, le=24)] = 8) -> dict[str, Any]:
    """The latest drift report per environment and the verdicts of the windows before it (cached briefly).

    The words of the word checks and the texts that drove the report come from the logged texts, so, like the
    texts, only the admin sees them (others get the texts' keyed digests), and nobody when the server does not
    log texts.
    """
    show_words = admin_authorized(request, res.settings) and res.settings.log_text

    def compute() -> dict[str, Any]:
        if res.settings.dashboard_drift_process:  # off the server's interpreter lock (drift_worker's docstring)
            worker = res.app_singleton("dashboard_drift_worker", lambda: DriftWorker(res.settings))
            return worker.overview(environment=environment, window=window, history=history)
        return drift_view.drift_overview(res, environment=environment, window=window, history=history)

    overview = res.cache.get_or_compute(("drift", environment, window, history), compute,
                                        ttl=drift_view.TTL_SECONDS, exclusive=True)
    return overview if show_words else drift_view.without_words(overview, res.digest_key())


@router.get("/alerts")
def get_alerts(res: Res, status: Literal["firing", "resolved"] | None = None,
               limit: Annotated[int, Query(ge=1, le=5000)] = 500) -> dict[str, Any]:
    """Alerts, newest first, with the open ones counted separately."""
    rows = res.store.alerts(status=status, limit=limit)  # newest first
    return {"alerts": rows, "firing": sum(row["status"] == "firing" for row in rows),
            "resolved": sum(row["status"] == "resolved" for row in rows)}


@router.get("/predictions/recent")
def get_recent_predictions(request: Request, res: Res, environment: Environment | None = None,
                           version: Annotated[str | None, Query(pattern=VERSION_PATTERN)] = None,
                           limit: Annotated[int, Query(ge=1, le=500)] = 50) -> dict[str, Any]:
    """The newest logged predictions; the raw text and its sha256 only for the admin (and the text never when
    texts are not logged). Others get ``text_digest``, an HMAC keyed with the installation's secret: equal
    texts have equal digests, and no dictionary of likely texts reverses it."""
    admin = admin_authorized(request, res.settings)
    show_text = admin and res.settings.log_text
    rows = res.store.recent_predictions(environment=environment, model_version=version, limit=limit)
    if admin:
        shown = [{key: value for key, value in row.items() if key != "text" or show_text} for row in rows]
    else:
        key = res.digest_key()
        shown = [{**{k: v for k, v in row.items() if k not in ("text", "text_sha256")},
                  "text_digest": keyed_digest(key, str(row["text_sha256"]))} for row in rows]
    texts = "not_logged" if not res.settings.log_text else ("shown" if show_text else "hidden")
    return {"predictions": shown, "texts": texts}
