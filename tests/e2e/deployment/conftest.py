"""End-to-end deployment tests: real ``serve`` processes following the registry while the test deploys."""

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
