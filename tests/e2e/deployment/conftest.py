"""End-to-end deployment tests: real ``serve`` processes following the registry while the test deploys."""

from __future__ import annotations

from support.deployment import (  # noqa: F401
    deployment_template,
    registry,
    store,
    store_url,
    tracking_uri,
)
