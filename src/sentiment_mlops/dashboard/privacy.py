"""Keyed text digests: what the dashboard shows of a logged text to someone without the admin token."""

from __future__ import annotations

import hashlib
import hmac


def keyed_digest(key: str, text_sha256: str) -> str:
    """HMAC-SHA256 of a text's stored sha256 under the installation's key, 32 hex characters.

    The stored sha256 of a short text is reversed by hashing a dictionary of likely texts; without the key
    this digest is not, while equal texts still get equal digests (so repeats stay visible).

    >>> keyed_digest("k" * 64, "0" * 64) == keyed_digest("k" * 64, "0" * 64) != keyed_digest("j" * 64, "0" * 64)
    True
    """
    return hmac.new(key.encode(), text_sha256.encode(), hashlib.sha256).hexdigest()[:32]
