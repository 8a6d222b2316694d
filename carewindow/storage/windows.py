"""Window alerts: the claims that make each ``window.expiring`` / ``window.closed`` event go out once."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, and_, select

from carewindow.storage.engine import dialect_insert
from carewindow.storage.tables import contacts, window_alerts


def due_windows(
    conn: Connection, *, after: datetime, until: datetime, limit: int
) -> Sequence[Row[Any, Any, Any, Any]]:
    """Contacts (id, wa_id, phone_number_id, window_expires_at) whose window closes in
    (``after``, ``until``] and whose close was not announced yet, soonest first, at most ``limit``.

    The range goes through the index on ``window_expires_at``: the work follows the windows that are
    due, not the number of contacts."""
    return conn.execute(
        select(contacts.c.id, contacts.c.wa_id, contacts.c.phone_number_id, contacts.c.window_expires_at)
        .where(
            and_(contacts.c.window_expires_at > after, contacts.c.window_expires_at <= until),
            ~select(window_alerts.c.id)
            .where(
                window_alerts.c.contact_id == contacts.c.id,
                window_alerts.c.expires_at == contacts.c.window_expires_at,
                window_alerts.c.kind == "closed",
            )
            .exists(),
        )
        .order_by(contacts.c.window_expires_at)
        .limit(limit)
    ).all()


def claim_alert(conn: Connection, *, contact_id: int, expires_at: datetime, kind: str, now: datetime) -> bool:
    """Claim the ``kind`` event of the window closing at ``expires_at``; False when it was claimed
    already (by this worker earlier or another one): the unique row makes the event go out once."""
    inserted = conn.execute(
        dialect_insert(conn, window_alerts)
        .values(contact_id=contact_id, expires_at=expires_at, kind=kind, emitted_at=now)
        .on_conflict_do_nothing(index_elements=["contact_id", "expires_at", "kind"])
        .returning(window_alerts.c.id)
    ).first()
    return inserted is not None
