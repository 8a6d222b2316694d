"""API keys are stored as SHA-256 hashes: a database leak does not leak usable keys."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, select, update

from carewindow.storage.tables import api_keys

ROLES = ("admin", "agent", "integration")


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def generate_key() -> str:
    return "cw_" + secrets.token_urlsafe(32)


def create(
    conn: Connection,
    *,
    role: str,
    name: str | None,
    now: datetime,
    phone_number_ids: Sequence[str] | None = None,
    key: str | None = None,
) -> tuple[str, int]:
    """Store a new key and return it in clear text (the only time it is visible) with its id."""
    key = key or generate_key()
    key_id = conn.execute(
        api_keys.insert()
        .values(
            name=name,
            prefix=key[:10],
            key_hash=hash_key(key),
            role=role,
            phone_number_ids=",".join(phone_number_ids) if phone_number_ids else None,
            created_at=now,
        )
        .returning(api_keys.c.id)
    ).scalar_one()
    return key, int(key_id)


def find_active(conn: Connection, key: str) -> Row[Any] | None:
    return conn.execute(
        select(api_keys).where(api_keys.c.key_hash == hash_key(key), api_keys.c.revoked_at.is_(None))
    ).first()


def list_all(conn: Connection) -> Sequence[Row[Any]]:
    return conn.execute(select(api_keys).order_by(api_keys.c.id)).all()


def revoke(conn: Connection, key_id: int, now: datetime) -> bool:
    res = conn.execute(
        update(api_keys)
        .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return res.rowcount == 1


def get(conn: Connection, key_id: int) -> Row[Any] | None:
    """One key by its id, revoked or not (never its secret part: only the hash is stored)."""
    return conn.execute(select(api_keys).where(api_keys.c.id == key_id)).first()


def find_active_by_id(conn: Connection, key_id: int) -> Any:
    """(key_hash, role, phone_number_ids) of the unrevoked key with this id, or None (an inbox session
    names its key by id)."""
    return conn.execute(
        select(api_keys.c.key_hash, api_keys.c.role, api_keys.c.phone_number_ids).where(
            api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None)
        )
    ).first()
