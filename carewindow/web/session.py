"""Inbox sessions: a signed cookie (itsdangerous) that names the API key an agent signed in with.

The cookie is signed, not encrypted, so it never holds the key itself: only the key's database id (for
keys created with ``carewindow keys create``) and an HMAC fingerprint of the key's hash. Every request
checks that fingerprint against the keys configured now, so a revoked or removed key ends its sessions
at once. Without ``CAREWINDOW_SESSION_SECRET`` the secret is random per process: sessions then end when
the server restarts (and several ``--workers`` would not share them).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, replace
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import Response

from carewindow.actions.keys import KeyRing, Principal, hash_key

COOKIE_NAME = "cw_inbox"
COOKIE_PATH = "/inbox"
MAX_AGE_SECONDS = 12 * 3600
INBOX_ROLES = frozenset({"admin", "agent"})


# Who is signed in: the key's role and the business numbers it may use (None: every number).
Agent = Principal


@dataclass(frozen=True, slots=True, kw_only=True)
class WebSession:
    """The cookie's content. ``csrf`` exists before sign-in too, so the sign-in form is protected."""

    csrf: str
    key_id: int | None = None
    fingerprint: str | None = None

    @property
    def signed_in(self) -> bool:
        return self.fingerprint is not None


class SessionManager:
    """Reads, writes and checks inbox sessions for one app."""

    def __init__(self, *, secret: str, secure: bool, keys: KeyRing) -> None:
        self._secret = secret.encode()
        self._serializer = URLSafeTimedSerializer(secret, salt="carewindow.inbox.session")
        self.secure = secure
        self._keys = keys

    def _fingerprint(self, key_hash: str) -> str:
        return hmac.new(self._secret, key_hash.encode(), hashlib.sha256).hexdigest()[:32]

    def load(self, request: Request) -> WebSession | None:
        """The session in the request's cookie, or None when there is none or it is invalid/expired."""
        raw = request.cookies.get(COOKIE_NAME)
        if not raw:
            return None
        try:
            data: Any = self._serializer.loads(raw, max_age=MAX_AGE_SECONDS)
        except BadSignature:
            return None
        if not isinstance(data, dict) or not isinstance(data.get("csrf"), str):
            return None
        key_id = data.get("kid")
        fp = data.get("fp")
        return WebSession(
            csrf=data["csrf"],
            key_id=key_id if isinstance(key_id, int) else None,
            fingerprint=fp if isinstance(fp, str) else None,
        )

    @staticmethod
    def new() -> WebSession:
        """An anonymous session with a fresh CSRF token."""
        return WebSession(csrf=secrets.token_urlsafe(32))

    def sign_in(self, key: str, key_id: int | None) -> WebSession:
        """A fresh session (new CSRF token: no fixation) for an API key that was just checked."""
        return replace(self.new(), key_id=key_id, fingerprint=self._fingerprint(hash_key(key)))

    def agent(self, session: WebSession | None) -> Agent | None:
        """The agent behind a session, checked against the keys as they are now (sync: may query)."""
        if session is None or session.fingerprint is None:
            return None
        fp = session.fingerprint
        agent = self._keys.resolve_hash(
            session.key_id, lambda key_hash: hmac.compare_digest(self._fingerprint(key_hash), fp)
        )
        if agent is None or agent.role not in INBOX_ROLES:
            return None
        return agent

    def save(self, response: Response, session: WebSession) -> None:
        """Write the session cookie: HttpOnly, SameSite=Lax, Secure behind an https public URL."""
        data: dict[str, Any] = {"csrf": session.csrf}
        if session.fingerprint is not None:
            data["fp"] = session.fingerprint
            data["kid"] = session.key_id
        response.set_cookie(
            COOKIE_NAME,
            self._serializer.dumps(data),
            max_age=MAX_AGE_SECONDS,
            path=COOKIE_PATH,
            httponly=True,
            samesite="lax",
            secure=self.secure,
        )

    def clear(self, response: Response) -> None:
        response.delete_cookie(
            COOKIE_NAME, path=COOKIE_PATH, httponly=True, samesite="lax", secure=self.secure
        )


def csrf_ok(session: WebSession | None, token: str | None) -> bool:
    """Constant-time check of a form's CSRF token against the session's."""
    if session is None or not token:
        return False
    return hmac.compare_digest(session.csrf.encode(), token.encode())
