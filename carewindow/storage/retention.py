"""Retention: what the housekeeper prunes, a small batch per statement (docs/rules.md, "Retention").

Each function touches at most ``limit`` rows chosen by a subquery on an indexed or primary key, in the
caller's (short) transaction, and returns how many it pruned. None of them locks contacts or the
outbox, which the hot paths hold; the rows they touch are old ones nobody writes any more.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, and_, delete, select, update

from carewindow.storage.tables import messages, orphan_statuses, webhook_deliveries, webhook_raw

#: Messages still on their way keep their bodies whatever their age (the worker sends ``content``).
_IN_FLIGHT = ("scheduled", "held", "releasing", "queued", "sending")


def prune_webhook_raw(conn: Connection, *, before: datetime, limit: int) -> int:
    """Delete raw webhook bodies received before ``before`` (oldest first)."""
    ids = (
        select(webhook_raw.c.id)
        .where(webhook_raw.c.received_at < before)
        .order_by(webhook_raw.c.id)
        .limit(limit)
        .scalar_subquery()
    )
    return conn.execute(delete(webhook_raw).where(webhook_raw.c.id.in_(ids))).rowcount or 0


def prune_message_bodies(conn: Connection, *, before: datetime, limit: int) -> int:
    """Blank the text, Graph body and stored request of messages created before ``before``; the row,
    its status history and its charge (the ledger) stay."""
    m = messages.c
    seqs = (
        select(m.seq)
        .where(
            m.created_at < before,
            m.status.not_in(_IN_FLIGHT),
            (m.text.is_not(None)) | (m.content.is_not(None)) | (m.request.is_not(None)),
        )
        .order_by(m.created_at)
        .limit(limit)
        .scalar_subquery()
    )
    stmt = update(messages).where(m.seq.in_(seqs)).values(text=None, content=None, request=None)
    return conn.execute(stmt).rowcount or 0


def prune_orphan_statuses(conn: Connection, *, before: datetime, limit: int) -> int:
    """Delete statuses that waited since before ``before`` for a message carewindow never sent."""
    ids = (
        select(orphan_statuses.c.id)
        .where(orphan_statuses.c.received_at < before)
        .order_by(orphan_statuses.c.id)
        .limit(limit)
        .scalar_subquery()
    )
    return conn.execute(delete(orphan_statuses).where(orphan_statuses.c.id.in_(ids))).rowcount or 0


def prune_deliveries(conn: Connection, *, before: datetime, limit: int) -> int:
    """Delete finished (delivered or failed) outgoing-webhook deliveries created before ``before``."""
    d = webhook_deliveries.c
    ids = (
        select(d.id)
        .where(and_(d.status.in_(("delivered", "failed")), d.created_at < before))
        .order_by(d.id)
        .limit(limit)
        .scalar_subquery()
    )
    return conn.execute(delete(webhook_deliveries).where(d.id.in_(ids))).rowcount or 0


def prune_idempotency_keys(conn: Connection, *, before: datetime, limit: int) -> int:
    """Forget the Idempotency-Key of messages created before ``before``: the same key may then make
    a new message."""
    m = messages.c
    seqs = (
        select(m.seq)
        .where(m.created_at < before, m.idempotency_key.is_not(None))
        .order_by(m.created_at)
        .limit(limit)
        .scalar_subquery()
    )
    return conn.execute(update(messages).where(m.seq.in_(seqs)).values(idempotency_key=None)).rowcount or 0
