"""Per-number, per-period counters of session messages (the ``meta_pmp_2026`` service allowance)."""

from __future__ import annotations

from sqlalchemy import Connection, select

from carewindow.storage.engine import dialect_insert
from carewindow.storage.tables import service_usage


def take(conn: Connection, *, phone_number_id: str, period: str) -> int:
    """Count one session message and return how many the period held before it (one statement).

    Inside the send transaction the row stays locked until commit, so concurrent sends of one number
    count in turn."""
    stmt = dialect_insert(conn, service_usage).values(phone_number_id=phone_number_id, period=period, count=1)
    stmt = stmt.on_conflict_do_update(
        index_elements=["phone_number_id", "period"], set_={"count": service_usage.c.count + 1}
    ).returning(service_usage.c.count)
    after = conn.execute(stmt).scalar_one()
    return int(after) - 1


def count(conn: Connection, *, phone_number_id: str, period: str) -> int:
    """Session messages counted so far in ``period``."""
    found = conn.execute(
        select(service_usage.c.count).where(
            service_usage.c.phone_number_id == phone_number_id, service_usage.c.period == period
        )
    ).scalar()
    return int(found or 0)


def give_back(conn: Connection, *, phone_number_id: str, period: str) -> None:
    """Undo a ``take`` whose message did not go out as a session message."""
    conn.execute(
        service_usage.update()
        .where(service_usage.c.phone_number_id == phone_number_id, service_usage.c.period == period)
        .values(count=service_usage.c.count - 1)
    )
