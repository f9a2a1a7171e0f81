"""Drift for the dashboard: the latest window per environment and the windows before it, computed on demand.

Reports come from ``monitoring.drift`` against the reference profile of the version that answered; a
profile never changes for a version, so it is kept for an hour, the reports for ``TTL_SECONDS``.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sentiment_mlops.config import masked_url
from sentiment_mlops.dashboard.privacy import keyed_digest
from sentiment_mlops.errors import ModelNotFoundError, SentimentMLOpsError
from sentiment_mlops.layout import PROFILE_FILE, RUN_ARTIFACTS
from sentiment_mlops.monitoring.drift.online import WINDOW_COLUMNS

if TYPE_CHECKING:
    from sentiment_mlops.dashboard.resources import DashboardReads
    from sentiment_mlops.monitoring.drift import Reference

TTL_SECONDS = 30.0
PROFILE_TTL_SECONDS = 3600.0
MIN_WINDOW = 50  # fewer texts than this say nothing about drift


def reference_profile_for(res: DashboardReads, version: str) -> dict[str, Any]:
    """The reference profile of ``version`` ("local" = the models directory), cached per version."""
    def load() -> dict[str, Any]:
        if version == "local":
            path = Path(res.settings.models_dir) / PROFILE_FILE
            if not path.is_file():
                raise ModelNotFoundError(f"no {PROFILE_FILE} in {res.settings.models_dir}; run sentiment-mlops train")
            return json.loads(path.read_text())
        if res.tracking_store_missing:
            raise ModelNotFoundError(f"version {version} is not in a registry: {masked_url(res.settings.tracking_uri)} "
                                     "does not exist yet")
        info = res.registry.version(version)
        if info.run_id is None:
            raise ModelNotFoundError(f"version {version} has no training run, so no reference profile")
        from mlflow.exceptions import MlflowException

        with tempfile.TemporaryDirectory() as tmp:
            try:
                local = res.registry.client.download_artifacts(info.run_id, f"{RUN_ARTIFACTS}/{PROFILE_FILE}", tmp)
            except (MlflowException, OSError) as exc:
                raise ModelNotFoundError(f"cannot read the reference profile of version {version}: {exc}") from exc
            return json.loads(Path(local).read_text())

    return res.cache.get_or_compute(("profile", version), load, ttl=PROFILE_TTL_SECONDS)


def _windows(rows: list[dict[str, Any]], window: int) -> list[list[dict[str, Any]]]:
    """Consecutive windows of ``window`` rows, oldest first; a short newest window counts once it has MIN_WINDOW."""
    chunks = [rows[i:i + window] for i in range(0, len(rows), window)]  # rows are newest first
    chunks = [chunk for i, chunk in enumerate(chunks) if len(chunk) == window or (i == 0 and len(chunk) >= MIN_WINDOW)]
    return [list(reversed(chunk)) for chunk in reversed(chunks)]


def _reference(res: DashboardReads, version: str) -> Reference:
    """The drift ``Reference`` of a version, kept with the profile: it caches the vocabulary calibration."""
    from sentiment_mlops.monitoring.drift import as_reference

    return res.cache.get_or_compute(("reference", version), lambda: as_reference(reference_profile_for(res, version)),
                                    ttl=PROFILE_TTL_SECONDS)


def _report(reference: Reference, version: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    from sentiment_mlops.monitoring.drift import drift_report
    from sentiment_mlops.monitoring.drift.online import window_from_rows

    window = window_from_rows(rows)
    report = drift_report(reference, window.texts, window.predicted, window.confidences, model_version=version,
                          lengths=window.lengths)
    return report.to_dict()


def _slice_overview(res: DashboardReads, environment: str, version: str, window: int, history: int) -> dict[str, Any]:
    rows = res.store.recent_predictions(environment=environment, model_version=version, limit=window * history,
                                        columns=(*WINDOW_COLUMNS, "created_at"))
    windows = _windows(rows, window)
    base = {"environment": environment, "model_version": version, "logged": len(rows)}
    if not windows:
        return {**base, "status": "too_few", "message": f"{len(rows)} recent predictions of version {version}; "
                                                        f"a drift report needs at least {MIN_WINDOW}"}
    try:
        reference = _reference(res, version)
        reports = []
        for chunk in windows:
            report = _report(reference, version, chunk)
            report["start"] = chunk[0]["created_at"].isoformat()
            report["end"] = chunk[-1]["created_at"].isoformat()
            reports.append(report)
    except SentimentMLOpsError as exc:
        return {**base, "status": "unavailable", "message": str(exc)}
    latest = reports[-1]
    return {**base, "status": "drift" if latest["drift_detected"] else "ok", "latest": latest, "history": reports}


def _environment_overview(res: DashboardReads, environment: str, window: int, history: int) -> list[dict[str, Any]]:
    """One entry per version that answered in the environment's newest window (a canary beside production)."""
    newest = res.store.recent_predictions(environment=environment, limit=window, columns=("model_version",))
    if not newest:
        return [{"environment": environment, "status": "no_traffic", "message": "no predictions yet"}]
    counts = Counter(str(row["model_version"]) for row in newest)
    return [_slice_overview(res, environment, version, window, history) for version, _ in counts.most_common()]


def drift_overview(res: DashboardReads, *, environment: str | None, window: int, history: int) -> dict[str, Any]:
    """``{"window", "environments": [...]}``: an entry per environment and version that served recently."""
    if environment is not None:
        environments = [environment]
    else:
        environments = sorted({row["environment"] for row in res.store.traffic_slices()})
    return {"window": window, "environments": [entry for env in environments
                                               for entry in _environment_overview(res, env, window, history)]}


def without_words(overview: dict[str, Any], digest_key: str) -> dict[str, Any]:
    """A copy of ``drift_overview`` without what it quotes from the logged texts: the words of the word checks,
    and the texts that drove the report, which keep only their keyed digest (as ``/api/predictions/recent``
    gives them: equal texts, equal digests)."""
    def hide(report: dict[str, Any]) -> dict[str, Any]:
        checks = [{**check, "details": {**check["details"], "top_words": [], "top_words_hidden": True}}
                  if check.get("details", {}).get("top_words") else check for check in report["checks"]]
        drivers = [{**{k: v for k, v in driver.items() if k not in ("text", "drifting_words")},
                    "text_digest": keyed_digest(digest_key, hashlib.sha256(driver["text"].encode("utf-8")).hexdigest()),
                    "drifting_words": len(driver["drifting_words"])}
                   for driver in report.get("drivers", [])]
        return {**report, "checks": checks, "drivers": drivers}

    environments = []
    for entry in overview["environments"]:
        if "latest" in entry:
            entry = {**entry, "latest": hide(entry["latest"]), "history": [hide(r) for r in entry["history"]]}
        environments.append(entry)
    return {**overview, "environments": environments}


def calibrations(res: DashboardReads, slices: list[dict[str, Any]]) -> dict[str, Any]:
    """Each served version's confidence calibration (from its reference profile), for the accuracy estimate.

    A version whose profile cannot be read is estimated from raw confidences rather than failing the page.
    """
    from sentiment_mlops.monitoring.performance import profile_calibration

    found: dict[str, Any] = {}
    for version in {row["model_version"] for row in slices}:
        try:
            found[version] = profile_calibration(reference_profile_for(res, version)).apply
        except SentimentMLOpsError:
            continue
    return found
