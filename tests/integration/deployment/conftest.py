"""Deployment tests share registered versions trained once per session (see tests/fixtures_deployment.py)."""

from __future__ import annotations

from support.deployment import (  # noqa: F401
    deployment_template,
    registry,
    store,
    store_url,
    tracking_uri,
)
