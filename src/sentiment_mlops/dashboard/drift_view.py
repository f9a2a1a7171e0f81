"""Drift for the dashboard: the latest window per environment and the windows before it, computed on demand.

Reports come from ``monitoring.drift`` against the reference profile of the version that answered; a
profile never changes for a version, so it is kept for an hour, the reports for ``TTL_SECONDS``.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sentiment_mlops.errors import ModelNotFoundError, SentimentMLOpsError
from sentiment_mlops.layout import PROFILE_FILE, RUN_ARTIFACTS

if TYPE_CHECKING:
    from sentiment_mlops.dashboard.resources import Resources

TTL_SECONDS = 30.0
PROFILE_TTL_SECONDS = 3600.0
MIN_WINDOW = 50  # fewer texts than this say nothing about drift


def reference_profile_for(res: Resources, version: str) -> dict[str, Any]:
    """The reference profile of ``version`` ("local" = the models directory), cached per version."""
    def load() -> dict[str, Any]:
        if version == "local":
            path = Path(res.settings.models_dir) / PROFILE_FILE
            if not path.is_file():
                raise ModelNotFoundError(f"no {PROFILE_FILE} in {res.settings.models_dir}; run sentiment-mlops train")
            return json.loads(path.read_text())
        info = res.registry.version(version)
        if info.run_id is None:
            raise ModelNotFoundError(f"version {version} has no training run, so no reference profile")
        with tempfile.TemporaryDirectory() as tmp:
            local = res.registry.client.download_artifacts(info.run_id, f"{RUN_ARTIFACTS}/{PROFILE_FILE}", tmp)
            return json.loads(Path(local).read_text())

    return res.cache.get_or_compute(("profile", version), load, ttl=PROFILE_TTL_SECONDS)


def _windows(rows: list[dict[str, Any]], window: int) -> list[list[dict[str, Any]]]:
    """Consecutive windows of ``window`` rows, oldest first; a short newest window counts once it has MIN_WINDOW."""
    chunks = [rows[i:i + window] for i in range(0, len(rows), window)]  # rows are newest first
    chunks = [chunk for i, chunk in enumerate(chunks) if len(chunk) == window or (i == 0 and len(chunk) >= MIN_WINDOW)]
    return [list(reversed(chunk)) for chunk in reversed(chunks)]


def _report(profile: dict[str, Any], rows: list[dict[str, Any]]) -> dict[str, Any]:
    from sentiment_mlops.monitoring.drift import report_for_predictions

    return report_for_predictions(profile, rows)


def _environment_overview(res: Resources, environment: str, window: int, history: int) -> dict[str, Any]:
    newest = res.store.recent_predictions(environment=environment, limit=1)
    if not newest:
        return {"environment": environment, "status": "no_traffic", "message": "no predictions yet"}
    version = str(newest[0]["model_version"])
    rows = res.store.recent_predictions(environment=environment, model_version=version, limit=window * history)
    windows = _windows(rows, window)
    base = {"environment": environment, "model_version": version, "logged": len(rows)}
    if not windows:
        return {**base, "status": "too_few", "message": f"{len(rows)} predictions of version {version} so far; "
                                                        f"drift needs at least {MIN_WINDOW}"}
    try:
        profile = reference_profile_for(res, version)
        reports = []
        for chunk in windows:
            report = _report(profile, chunk)
            report["start"] = chunk[0]["created_at"].isoformat()
            report["end"] = chunk[-1]["created_at"].isoformat()
            reports.append(report)
    except SentimentMLOpsError as exc:
        return {**base, "status": "unavailable", "message": str(exc)}
    latest = reports[-1]
    return {**base, "status": "drift" if latest["drift_detected"] else "ok", "latest": latest, "history": reports}


def drift_overview(res: Resources, *, environment: str | None, window: int, history: int) -> dict[str, Any]:
    """``{"window", "environments": [...]}``: one entry per environment that has served traffic."""
    from sentiment_mlops.dashboard.live import traffic_slices

    if environment is not None:
        environments = [environment]
    else:
        environments = sorted({row["environment"] for row in traffic_slices(res.engine)})
    return {"window": window, "environments": [_environment_overview(res, env, window, history)
                                               for env in environments]}


def calibrations(res: Resources, slices: list[dict[str, Any]]) -> dict[str, Any]:
    """Each served version's confidence calibration (from its reference profile), for the accuracy estimate.

    A version whose profile cannot be read is estimated from raw confidences rather than failing the page.
    """
    try:
        from sentiment_mlops.monitoring.performance import profile_calibration
    except ImportError:  # the performance module arrives with the alerts part
        return {}
    found: dict[str, Any] = {}
    for version in {row["model_version"] for row in slices}:
        try:
            found[version] = profile_calibration(reference_profile_for(res, version)).apply
        except SentimentMLOpsError:
            continue
    return found
