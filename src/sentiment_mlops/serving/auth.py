"""Bearer-token checks, compared in constant time: the admin token (``SENTIMENT_MLOPS_ADMIN_TOKEN``) and the
feedback token (``SENTIMENT_MLOPS_FEEDBACK_TOKEN``).

The admin routes and the dashboard's admin-only fields both ask ``require_admin_token``; the statuses come
from the one error mapping (401 for a missing or wrong token, 403 when the server has none configured).
"""

from __future__ import annotations

import secrets

from fastapi.security.utils import get_authorization_scheme_param

from sentiment_mlops.config import Settings
from sentiment_mlops.errors import ForbiddenError, UnauthorizedError
from sentiment_mlops.layout import ADMIN_ACTOR, ANONYMOUS_ACTOR, FEEDBACK_ACTOR


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




def _same(given: str, expected: str | None) -> bool:
    return bool(given and expected and secrets.compare_digest(given.encode(), expected.encode()))


def feedback_actor(given: str, settings: Settings) -> str:
    """Who is giving feedback: the token it came with (feedback or admin), or ``anonymous`` when the server
    accepts open feedback. Raises ``ForbiddenError`` when no token is configured and feedback is not open,
    ``UnauthorizedError`` for a missing or wrong token."""
    if _same(given, settings.feedback_token):
        return FEEDBACK_ACTOR
    if _same(given, settings.admin_token):
        return ADMIN_ACTOR
    if settings.feedback_open:
        return ANONYMOUS_ACTOR
    if not settings.feedback_token and not settings.admin_token:
        raise ForbiddenError("feedback is disabled: set SENTIMENT_MLOPS_FEEDBACK_TOKEN (or the admin token) on "
                             "the server, or SENTIMENT_MLOPS_FEEDBACK_OPEN=true to accept it from anyone")
    raise UnauthorizedError("missing or wrong bearer token; send Authorization: Bearer "
                            "$SENTIMENT_MLOPS_FEEDBACK_TOKEN")
