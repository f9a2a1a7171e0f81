"""The Live page's shadow panel: production's answers against its shadow's on the same requests."""

from __future__ import annotations

from typing import Any

from sentiment_mlops.config import SHADOW_ALIAS
from sentiment_mlops.dashboard.resources import Resources
from sentiment_mlops.deployment.replay import SHADOW_PAIRS, compare_shadow_pairs
from sentiment_mlops.errors import RegistryError
from sentiment_mlops.registry.client import SHADOW_PERCENT_TAG, parse_canary_percent

START_HINT = "no shadow is running; start one with: sentiment-mlops promote VERSION --to production --shadow [PCT]"


def _running(res: Resources) -> tuple[str | None, float | None, str | None]:
    """(shadow version, its share, production's version) from the registry; Nones when it cannot be read."""
    if res.tracking_store_missing:
        return None, None, None
    try:
        shadow = res.registry.alias_version(SHADOW_ALIAS)
        production = res.registry.alias_version("production")
        percent = parse_canary_percent(res.registry.model_tags().get(SHADOW_PERCENT_TAG)) if shadow else None
    except RegistryError:
        return None, None, None
    return (shadow.version if shadow else None, percent, production.version if production else None)


def shadow_overview(res: Resources, version: str | None = None) -> dict[str, Any]:
    """Agreement, flips, labelled accuracy and latency of the shadow ``version`` (default: the running one)
    against whatever production answered the same requests with."""
    running, percent, production = _running(res)
    wanted = version or running
    payload: dict[str, Any] = {"running_version": running, "shadow_percent": percent, "production_version": production,
                               "shadow_version": wanted}
    if wanted is None:
        return {**payload, "pairs": 0, "comparison": None, "latency_ms": None, "note": START_HINT}
    pairs = res.store.shadow_pairs(wanted, limit=SHADOW_PAIRS)
    evidence = compare_shadow_pairs(pairs, shadow_version=wanted, live_version=None)
    live_versions = sorted({str(pair["live_version"]) for pair in pairs})
    return {**payload, "pairs": len(pairs), "live_versions": live_versions,
            "comparison": evidence.comparison.to_dict() if evidence.comparison else None,
            "latency_ms": evidence.latency_ms, "note": evidence.note}
