"""The charge ledger: predicted charges live on outbound message rows; these are its read queries."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

# Literals are inlined so PostgreSQL sees the same expression in SELECT and GROUP BY.
from sqlalchemy import Connection, Row, case, func, literal_column, select

from carewindow.storage.engine import is_sqlite
from carewindow.storage.tables import contacts, messages

GROUPS = ("category", "day", "contact", "ticket")


def totals(
    conn: Connection,
    *,
    since: datetime | None,
    until: datetime | None,
    group_by: str,
    phone_number_ids: Sequence[str] | None,
) -> Sequence[Row[Any]]:
    """Sum of predicted charges per group, with billable/free counts, over outbound messages."""
    key: Any
    if group_by == "category":
        key = func.coalesce(messages.c.charge_category, literal_column("'none'"))
    elif group_by == "day":
        key = (
            func.date(messages.c.created_at)
            if is_sqlite(conn)
            else func.to_char(messages.c.created_at, "YYYY-MM-DD")
        )
    elif group_by == "contact":
        key = contacts.c.wa_id
    else:
        key = func.coalesce(messages.c.ticket_id, literal_column("'none'"))
    stmt = (
        select(
            key.label("key"),
            func.coalesce(messages.c.charge_currency, literal_column("''")).label("currency"),
            func.count().label("messages"),
            func.sum(case((messages.c.charge_billable.is_(True), 1), else_=0)).label("billable"),
            func.sum(case((messages.c.charge_billable.is_(True), 0), else_=1)).label("free"),
            func.coalesce(func.sum(messages.c.charge_amount), 0).label("amount"),
            func.sum(case((messages.c.charge_mismatch.is_(True), 1), else_=0)).label("mismatches"),
        )
        .select_from(messages.join(contacts, contacts.c.id == messages.c.contact_id))
        .where(messages.c.direction == "out", messages.c.charge_model.is_not(None))
        .group_by(key, func.coalesce(messages.c.charge_currency, literal_column("''")))
        .order_by(key)
    )
    if since is not None:
        stmt = stmt.where(messages.c.created_at >= since)
    if until is not None:
        stmt = stmt.where(messages.c.created_at < until)
    if phone_number_ids is not None:
        stmt = stmt.where(contacts.c.phone_number_id.in_(phone_number_ids))
    return conn.execute(stmt).all()
