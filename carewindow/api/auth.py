"""API keys with roles: ``admin`` (everything), ``agent`` (read conversations, send), ``integration``
(send, subscriptions). Keys come from ``CAREWINDOW_API_KEYS`` or the database (stored hashed)."""

from __future__ import annotations

import hmac
from dataclasses import dataclass

import anyio
from sqlalchemy import Engine

from carewindow.api.errors import ApiError
from carewindow.storage import api_keys as key_store
from carewindow.storage.engine import connect

READ_CONVERSATIONS = frozenset({"admin", "agent"})
SEND = frozenset({"admin", "agent", "integration"})
ADMIN = frozenset({"admin"})
SUBSCRIPTIONS = frozenset({"admin", "integration"})


@dataclass(frozen=True, slots=True)
class Principal:
    role: str
    key_id: int | None  # None for keys from the environment
    phone_number_ids: frozenset[str] | None  # None: every number

    def may_use(self, phone_number_id: str) -> bool:
        return self.phone_number_ids is None or phone_number_id in self.phone_number_ids


class KeyRing:
    def __init__(self, engine: Engine, env_pairs: list[tuple[str, str]]) -> None:
        self.engine = engine
        self._env = [(key_store.hash_key(k), role) for k, role in env_pairs]

    def resolve_env(self, key: str) -> Principal | None:
        """The principal of a key from the environment (no database read), or None."""
        digest = key_store.hash_key(key)
        for h, role in self._env:
            if hmac.compare_digest(h, digest):
                return Principal(role=role, key_id=None, phone_number_ids=None)
        return None

    def resolve(self, key: str) -> Principal | None:
        principal = self.resolve_env(key)
        if principal is not None:
            return principal
        # No cache: a revoked key must stop working at once.
        with connect(self.engine) as conn:
            row = key_store.find_active(conn, key)
        if row is None:
            return None
        numbers = frozenset(row.phone_number_ids.split(",")) if row.phone_number_ids else None
        return Principal(role=row.role, key_id=row.id, phone_number_ids=numbers)


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
