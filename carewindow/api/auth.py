"""What each role may do, and the bearer key of a request. Keys resolve to a ``Principal`` through
``actions.keys.KeyRing`` (the one resolver, shared with the inbox's sessions)."""

from __future__ import annotations

import anyio

from carewindow.actions.keys import KeyRing, Principal
from carewindow.api.errors import ApiError

__all__ = [
    "ADMIN",
    "READ_CONVERSATIONS",
    "SEND",
    "SUBSCRIPTIONS",
    "KeyRing",
    "Principal",
    "authenticate",
    "bearer_key",
    "require",
]

READ_CONVERSATIONS = frozenset({"admin", "agent"})
SEND = frozenset({"admin", "agent", "integration"})
ADMIN = frozenset({"admin"})
SUBSCRIPTIONS = frozenset({"admin", "integration"})


async def authenticate(keys: KeyRing, authorization: str | None) -> Principal:
    """The principal of an ``Authorization`` header, or ``ApiError`` 401: the one resolver, used by
    ``PrincipalDep`` and by the hot routes (api/edge.py). A key from the environment is checked on the
    event loop; a stored key is read from the database off it."""
    key = bearer_key(authorization)
    principal = keys.resolve_env(key)
    if principal is None:
        principal = await anyio.to_thread.run_sync(keys.resolve, key)
    if principal is None:
        raise ApiError(401, "unauthorized", "Unknown or revoked API key.")
    return principal


def bearer_key(authorization: str | None) -> str:
    if not authorization:
        raise ApiError(401, "unauthorized", "Missing API key: send 'Authorization: Bearer <key>'.")
    scheme, _, key = authorization.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise ApiError(401, "unauthorized", "Malformed Authorization header: expected 'Bearer <key>'.")
    return key.strip()


def require(principal: Principal, roles: frozenset[str], action: str) -> None:
    if principal.role not in roles:
        raise ApiError(
            403,
            "forbidden",
            f"An {principal.role} key may not {action}.",
            role=principal.role,
            allowed=sorted(roles),
        )
