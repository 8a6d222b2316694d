"""The durable outbound queue. Rows are claimed with a lease; a lease held by a dead worker expires."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Row, bindparam, delete, func, or_, select, update

from carewindow.storage.bulk import PerDialect, keys, listed
from carewindow.storage.engine import dialect_insert, is_sqlite
from carewindow.storage.tables import outbox, rate_limits


def enqueue(conn: Connection, *, message_seq: int, phone_number_id: str, available_at: datetime) -> None:
    conn.execute(
        outbox.insert().values(
            message_seq=message_seq, phone_number_id=phone_number_id, available_at=available_at, attempts=0
        )
    )


def claim_batch(
    conn: Connection, *, worker_id: str, now: datetime, lease: timedelta, limit: int
) -> Sequence[Row[Any]]:
    """Lease up to ``limit`` due rows to ``worker_id``.

    PostgreSQL: ``FOR UPDATE SKIP LOCKED`` lets many workers claim disjoint rows without waiting.
    SQLite: the caller's BEGIN IMMEDIATE already makes this the only writer.
    """
    due = (
        select(outbox.c.id)
        .where(outbox.c.available_at <= now, or_(outbox.c.lease_until.is_(None), outbox.c.lease_until < now))
        .order_by(outbox.c.available_at, outbox.c.id)
        .limit(limit)
    )
    if not is_sqlite(conn):
        due = due.with_for_update(skip_locked=True)
    stmt = (
        update(outbox)
        .where(outbox.c.id.in_(due.scalar_subquery()))
        .values(lease_until=now + lease, leased_by=worker_id, attempts=outbox.c.attempts + 1)
        .returning(outbox)
    )
    return sorted(conn.execute(stmt).all(), key=lambda r: (r.available_at, r.id))


@PerDialect
def _mark_in_flight(pg: bool) -> Any:
    return (
        update(outbox)
        .where(listed(outbox.c.id, "ids", pg), outbox.c.leased_by == bindparam("worker_id"))
        .values(in_flight_since=bindparam("now"))
        .returning(outbox.c.id)
    )


def mark_in_flight(conn: Connection, *, outbox_ids: Sequence[int], worker_id: str, now: datetime) -> set[int]:
    """Stamp rows just before the provider call; returns the ids whose lease we still hold."""
    params = {"ids": keys(outbox_ids), "worker_id": worker_id, "now": now}
    return {r.id for r in conn.execute(_mark_in_flight(conn), params)}


def complete(conn: Connection, outbox_id: int) -> None:
    conn.execute(delete(outbox).where(outbox.c.id == outbox_id))


@PerDialect
def _complete_many(pg: bool) -> Any:
    return delete(outbox).where(listed(outbox.c.id, "ids", pg))


def complete_many(conn: Connection, outbox_ids: Sequence[int]) -> None:
    if outbox_ids:
        conn.execute(_complete_many(conn), {"ids": keys(outbox_ids)})


def retry_later(conn: Connection, *, outbox_id: int, available_at: datetime, error: str) -> None:
    conn.execute(
        update(outbox)
        .where(outbox.c.id == outbox_id)
        .values(
            available_at=available_at,
            lease_until=None,
            leased_by=None,
            in_flight_since=None,
            last_error=error,
        )
    )


def release(conn: Connection, *, outbox_id: int, available_at: datetime) -> None:
    """Give a row back without counting an attempt (e.g. the rate limit had no token for it)."""
    conn.execute(
        update(outbox)
        .where(outbox.c.id == outbox_id)
        .values(available_at=available_at, lease_until=None, leased_by=None, attempts=outbox.c.attempts - 1)
    )


def pending_count(conn: Connection) -> int:
    return int(conn.execute(select(func.count()).select_from(outbox)).scalar_one())


def lock_bucket(
    conn: Connection, *, phone_number_id: str, now: datetime, burst: float
) -> tuple[float, datetime]:
    """The number's shared token bucket, locked for this transaction (created full on first use).

    The row lock (PostgreSQL) or the write transaction (SQLite) makes every worker see one bucket.
    """
    conn.execute(
        dialect_insert(conn, rate_limits)
        .values(phone_number_id=phone_number_id, tokens=burst, updated_at=now)
        .on_conflict_do_nothing(index_elements=["phone_number_id"])
    )
    stmt = select(rate_limits.c.tokens, rate_limits.c.updated_at).where(
        rate_limits.c.phone_number_id == phone_number_id
    )
    if not is_sqlite(conn):
        stmt = stmt.with_for_update()
    row = conn.execute(stmt).one()
    return float(row.tokens), row.updated_at


def save_bucket(conn: Connection, *, phone_number_id: str, tokens: float, updated_at: datetime) -> None:
    conn.execute(
        update(rate_limits)
        .where(rate_limits.c.phone_number_id == phone_number_id)
        .values(tokens=tokens, updated_at=updated_at)
    )


def remove_for_message(conn: Connection, message_seq: int, *, only_idle: bool = False) -> bool:
    """Delete a message's outbox row; with ``only_idle`` only if no worker is calling the provider for it."""
    stmt = delete(outbox).where(outbox.c.message_seq == message_seq)
    if only_idle:
        stmt = stmt.where(outbox.c.in_flight_since.is_(None))
    return conn.execute(stmt).rowcount > 0


def due_count(conn: Connection, now: datetime) -> int:
    """Rows a worker could claim now (scheduled and backed-off rows wait)."""
    return int(
        conn.execute(
            select(func.count())
            .select_from(outbox)
            .where(
                outbox.c.available_at <= now, or_(outbox.c.lease_until.is_(None), outbox.c.lease_until < now)
            )
        ).scalar_one()
    )
