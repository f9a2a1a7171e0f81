"""The admin check: one bearer token (``SENTIMENT_MLOPS_ADMIN_TOKEN``), compared in constant time.

The admin routes and the dashboard's admin-only fields both ask ``require_admin_token``; the statuses come
from the one error mapping (401 for a missing or wrong token, 403 when the server has none configured).
"""

from __future__ import annotations

import secrets

from fastapi.security.utils import get_authorization_scheme_param

from sentiment_mlops.errors import ForbiddenError, UnauthorizedError


def bearer_token(authorization: str | None) -> str:
    """The token of an ``Authorization: Bearer TOKEN`` header ("" for another scheme or no header)."""
    scheme, token = get_authorization_scheme_param(authorization)
    return token if scheme.lower() == "bearer" else ""


def require_admin_token(given: str, expected: str | None) -> None:
    """Return when ``given`` is the configured admin token; raise ``ForbiddenError`` when none is configured,
    ``UnauthorizedError`` when ``given`` is empty or wrong."""
    if not expected:
        raise ForbiddenError("admin routes are disabled: set SENTIMENT_MLOPS_ADMIN_TOKEN on the server")
    if not given or not secrets.compare_digest(given.encode(), expected.encode()):
        raise UnauthorizedError("missing or wrong bearer token; send Authorization: Bearer "
                                "$SENTIMENT_MLOPS_ADMIN_TOKEN")
