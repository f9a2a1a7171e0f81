"""First run convenience for ``make run``: point ``staging`` at the newest version when staging is empty."""

from __future__ import annotations

from typing import Any

from sentiment_mlops.errors import ModelNotFoundError

BOOTSTRAP_ACTOR = "serve --bootstrap"


def ensure_staging(registry: Any, store: Any = None) -> str | None:
    """Set alias ``staging`` to the newest version if no version has it; return that version, or None
    when staging was already set. The move is recorded in the deployment history when ``store`` is given."""
    if registry.alias_version("staging") is not None:
        return None
    versions = registry.versions()
    if not versions:
        raise ModelNotFoundError(f"no version of {registry.model_name} to serve; run: sentiment-mlops train")
    newest = versions[0].version
    registry.set_alias("staging", newest)
    registry.set_version_tag(newest, "deployment.staging", "bootstrap")
    if store is not None:
        store.record_deployment(environment="staging", action="promote", from_version=None, to_version=newest,
                                actor=BOOTSTRAP_ACTOR, reason="staging was empty on first serve", report=None)
    return newest
