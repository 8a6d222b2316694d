"""API keys: create and revoke them, and the one resolver from a key to whom it belongs.

Roles: ``admin`` (everything), ``agent`` (read conversations, send), ``integration`` (send,
subscriptions). Keys come from ``CAREWINDOW_API_KEYS`` (fixed for the process's life) or the database
(stored hashed, checked on every request so that a revoked key stops working at once). The JSON API
resolves the key a request carries; the inbox resolves the key its session cookie names by id and by a
fingerprint of the key's hash (it never holds the key itself). Both go through ``KeyRing``.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from carewindow.actions.errors import NotFound, ValidationFailed
from carewindow.storage import api_keys as key_store
from carewindow.storage.api_keys import ROLES, hash_key
from carewindow.storage.engine import Engine, Row, connect, write_tx

__all__ = [
    "ROLES",
    "KeyRing",
    "Principal",
    "check_role",
    "do_create_key",
    "do_revoke_key",
    "hash_key",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class Principal:
    """Who a key belongs to: its role, its database id (None for a key from the environment) and the
    business numbers it may use (None: every number)."""

    role: str
    key_id: int | None
    phone_number_ids: frozenset[str] | None

    def may_use(self, phone_number_id: str) -> bool:
        return self.phone_number_ids is None or phone_number_id in self.phone_number_ids


def _numbers(stored: str | None) -> frozenset[str] | None:
    return frozenset(stored.split(",")) if stored else None


class KeyRing:
    """The keys configured now: the environment's, then the database's (no cache)."""

    def __init__(self, engine: Engine, env_pairs: Sequence[tuple[str, str]]) -> None:
        self.engine = engine
        self._env = [(hash_key(k), role) for k, role in env_pairs]

    def resolve_env(self, key: str) -> Principal | None:
        """The principal of a key from the environment (no database read), or None."""
        digest = hash_key(key)
        for h, role in self._env:
            if hmac.compare_digest(h, digest):
                return Principal(role=role, key_id=None, phone_number_ids=None)
        return None

    def resolve(self, key: str) -> Principal | None:
        """The principal of ``key``, or None when it is unknown or revoked."""
        principal = self.resolve_env(key)
        if principal is not None:
            return principal
        # No cache: a revoked key must stop working at once.
        with connect(self.engine) as conn:
            row = key_store.find_active(conn, key)
        if row is None:
            return None
        return Principal(role=row.role, key_id=row.id, phone_number_ids=_numbers(row.phone_number_ids))

    def resolve_hash(self, key_id: int | None, matches: Callable[[str], bool]) -> Principal | None:
        """The principal of the key with id ``key_id`` (None: a key from the environment) whose hash
        satisfies ``matches`` (a constant-time check of something derived from it), or None when there is
        no such key any more (revoked, removed from the environment)."""
        if key_id is None:
            role = next((role for h, role in self._env if matches(h)), None)
            return None if role is None else Principal(role=role, key_id=None, phone_number_ids=None)
        with connect(self.engine) as conn:
            row = key_store.find_active_by_id(conn, key_id)
        if row is None or not matches(row.key_hash):
            return None
        return Principal(role=row.role, key_id=key_id, phone_number_ids=_numbers(row.phone_number_ids))


def check_role(role: str) -> None:
    """Raise ValidationFailed unless ``role`` is one of ``ROLES``."""
    if role not in ROLES:
        raise ValidationFailed([(("role",), f"unknown role {role!r}; choose one of {', '.join(ROLES)}")])


def do_create_key(
    engine: Engine,
    *,
    role: str,
    name: str | None,
    now: datetime,
    phone_number_ids: Sequence[str] | None = None,
    key: str | None = None,
) -> tuple[str, Row[Any]]:
    """Store a new key (``key``, or a generated one) and return it in clear text, the only time it is
    visible, with its stored row."""
    check_role(role)
    with write_tx(engine) as conn:
        key, key_id = key_store.create(
            conn, role=role, name=name, now=now, phone_number_ids=phone_number_ids, key=key
        )
        row = key_store.get(conn, key_id)
    assert row is not None
    return key, row


def do_revoke_key(engine: Engine, key_id: int, *, now: datetime) -> None:
    """Revoke an active key at once (NotFound when there is none with that id)."""
    with write_tx(engine) as conn:
        if not key_store.revoke(conn, key_id, now):
            raise NotFound(f"No active API key with id {key_id}.", id=key_id)
