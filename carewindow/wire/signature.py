"""``X-Hub-Signature-256``: HMAC-SHA256 of the raw request body with the app secret."""

from __future__ import annotations

import hashlib
import hmac

HEADER = "X-Hub-Signature-256"
_PREFIX = "sha256="


def sign(body: bytes, secret: str) -> str:
    """The header value Meta would send for ``body``."""
    return _PREFIX + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(body: bytes, header: str | None, secret: str) -> bool:
    """True when ``header`` signs ``body`` exactly (bytes as received: re-serialised JSON won't match)."""
    if not header or not header.startswith(_PREFIX):
        return False
    # compare_digest keeps the comparison constant-time so the signature cannot be guessed byte by byte.
    return hmac.compare_digest(sign(body, secret).encode(), header.strip().encode())
