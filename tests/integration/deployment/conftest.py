"""Deployment tests share registered versions trained once per session (see tests/fixtures_deployment.py)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from fixtures_deployment import (  # noqa: E402,F401
    deployment_template,
    registry,
    store,
    store_url,
    tracking_uri,
)
