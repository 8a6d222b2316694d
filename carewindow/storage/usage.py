"""Per-number, per-period counters of session messages (the ``meta_pmp_2026`` service allowance)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, func, literal, literal_column, select, true, union

from carewindow.storage.engine import dialect_insert
from carewindow.storage.tables import contacts, messages, service_usage


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


def numbers(conn: Connection, *, period: str) -> list[str]:
    """The business numbers with contacts or with a counter in ``period``, sorted (one statement)."""
    stmt = union(
        select(contacts.c.phone_number_id.label("n")).distinct(),
        select(service_usage.c.phone_number_id.label("n")).where(service_usage.c.period == period),
    )
    return sorted(str(n) for n in conn.execute(stmt).scalars())


def allowance_inputs(
    conn: Connection, *, phone_number_id: str, period: str, start: datetime, end: datetime
) -> tuple[int, list[tuple[str, int]]]:
    """The number's counter in ``period`` and the markets its session messages priced in
    ``[start, end)`` went to, as (market, messages): one statement (the counter rides along as a
    scalar subquery on a one-row outer join, so it comes back when no message matches)."""
    market = func.coalesce(messages.c.charge_market, literal_column("'ZZ'"))
    mix = (
        select(market.label("market"), func.count().label("n"))
        .select_from(messages.join(contacts, contacts.c.id == messages.c.contact_id))
        .where(
            contacts.c.phone_number_id == phone_number_id,
            messages.c.direction == "out",
            messages.c.kind == "session",
            messages.c.charge_model.is_not(None),
            messages.c.charged_at >= start,
            messages.c.charged_at < end,
        )
        .group_by(market)
        .subquery()
    )
    used = (
        select(service_usage.c.count)
        .where(service_usage.c.phone_number_id == phone_number_id, service_usage.c.period == period)
        .scalar_subquery()
    )
    one = select(literal(1).label("one")).subquery()
    stmt = select(used.label("used"), mix.c.market, mix.c.n).select_from(one.outerjoin(mix, true()))
    count = 0
    markets: list[tuple[str, int]] = []
    for row in conn.execute(stmt):
        count = int(row.used or 0)
        if row.market is not None:
            markets.append((str(row.market), int(row.n)))
    return count, sorted(markets)
