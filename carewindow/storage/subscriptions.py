"""Outgoing webhook subscriptions and their delivery log."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Row, exists, or_, select, update

from carewindow.storage.bulk import insert_rows
from carewindow.storage.engine import is_sqlite
from carewindow.storage.tables import subscriptions, webhook_deliveries
from carewindow.storage.writes import Writes


def active(conn: Connection) -> Sequence[Row[Any]]:
    return conn.execute(select(subscriptions).where(subscriptions.c.deleted_at.is_(None))).all()


def create(conn: Connection, values: Mapping[str, Any]) -> None:
    conn.execute(subscriptions.insert().values(**values))


def get(conn: Connection, public_id: str) -> Row[Any] | None:
    return conn.execute(
        select(subscriptions).where(
            subscriptions.c.public_id == public_id, subscriptions.c.deleted_at.is_(None)
        )
    ).first()


def delete(conn: Connection, public_id: str, now: datetime) -> bool:
    res = conn.execute(
        update(subscriptions)
        .where(subscriptions.c.public_id == public_id, subscriptions.c.deleted_at.is_(None))
        .values(deleted_at=now)
    )
    return res.rowcount == 1


def add_deliveries(
    conn: Connection, rows: Sequence[Mapping[str, Any]], *, writes: Writes | None = None
) -> None:
    insert_rows(conn, webhook_deliveries, rows, writes=writes)


def claim_due(conn: Connection, *, now: datetime, lease: timedelta, limit: int) -> Sequence[Row[Any]]:
    """Lease due pending deliveries (SKIP LOCKED on PostgreSQL) and return them with their subscription."""
    earlier = webhook_deliveries.alias("earlier")
    due = (
        select(webhook_deliveries.c.id)
        .where(
            webhook_deliveries.c.status == "pending",
            webhook_deliveries.c.next_attempt_at <= now,
            or_(webhook_deliveries.c.lease_until.is_(None), webhook_deliveries.c.lease_until < now),
            # Paused subscriptions wait; a fan-out delivery waits for the earlier ones of its contact.
            webhook_deliveries.c.subscription_id.not_in(
                select(subscriptions.c.id).where(subscriptions.c.paused_at.is_not(None))
            ),
            ~exists().where(
                earlier.c.subscription_id == webhook_deliveries.c.subscription_id,
                earlier.c.order_key == webhook_deliveries.c.order_key,
                earlier.c.id < webhook_deliveries.c.id,
                earlier.c.status == "pending",
            ),
        )
        .order_by(webhook_deliveries.c.next_attempt_at, webhook_deliveries.c.id)
        .limit(limit)
    )
    if not is_sqlite(conn):
        due = due.with_for_update(skip_locked=True)
    ids = [
        r.id
        for r in conn.execute(
            update(webhook_deliveries)
            .where(webhook_deliveries.c.id.in_(due.scalar_subquery()))
            .values(lease_until=now + lease, attempts=webhook_deliveries.c.attempts + 1)
            .returning(webhook_deliveries.c.id)
        )
    ]
    if not ids:
        return []
    return conn.execute(
        select(
            webhook_deliveries,
            subscriptions.c.url,
            subscriptions.c.secret,
            subscriptions.c.public_id.label("subscription_public_id"),
        )
        .join(subscriptions, subscriptions.c.id == webhook_deliveries.c.subscription_id)
        .where(webhook_deliveries.c.id.in_(ids))
        .order_by(webhook_deliveries.c.id)
    ).all()


def settle(conn: Connection, delivery_id: int, values: Mapping[str, Any]) -> None:
    conn.execute(
        update(webhook_deliveries)
        .where(webhook_deliveries.c.id == delivery_id)
        .values(lease_until=None, **values)
    )


def log(conn: Connection, subscription_id: int, *, limit: int) -> Sequence[Row[Any]]:
    return conn.execute(
        select(webhook_deliveries)
        .where(webhook_deliveries.c.subscription_id == subscription_id)
        .order_by(webhook_deliveries.c.id.desc())
        .limit(limit)
    ).all()


def count_client_errors(
    conn: Connection, answers: Mapping[int, bool], *, now: datetime, pause_after: int
) -> list[str]:
    """Count each subscription's answer (``answers``: id -> whether it was a 4xx): a 4xx adds one, any
    other answer resets the count; a subscription reaching ``pause_after`` is paused. Returns the
    public ids paused now."""
    paused: list[str] = []
    for sub_id, client_error in answers.items():
        if not client_error:
            conn.execute(update(subscriptions).where(subscriptions.c.id == sub_id).values(client_errors=0))
            continue
        count = conn.execute(
            update(subscriptions)
            .where(subscriptions.c.id == sub_id)
            .values(client_errors=subscriptions.c.client_errors + 1)
            .returning(subscriptions.c.client_errors, subscriptions.c.public_id, subscriptions.c.paused_at)
        ).first()
        if count is not None and count.client_errors >= pause_after and count.paused_at is None:
            conn.execute(update(subscriptions).where(subscriptions.c.id == sub_id).values(paused_at=now))
            paused.append(count.public_id)
    return paused


def resume(conn: Connection, public_id: str) -> bool:
    res = conn.execute(
        update(subscriptions)
        .where(subscriptions.c.public_id == public_id, subscriptions.c.deleted_at.is_(None))
        .values(paused_at=None, client_errors=0)
    )
    return res.rowcount == 1
