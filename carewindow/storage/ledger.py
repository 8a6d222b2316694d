"""The charge ledger: predicted charges live on outbound message rows; these are its read queries."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
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
        key = _day(conn, messages.c.created_at)
    elif group_by == "contact":
        key = contacts.c.wa_id
    else:
        key = func.coalesce(messages.c.ticket_id, literal_column("'none'"))
    currency = func.coalesce(messages.c.charge_currency, literal_column("''"))
    stmt = (
        select(
            key.label("key"),
            currency.label("currency"),
            func.count().label("messages"),
            func.sum(case((messages.c.charge_billable.is_(True), 1), else_=0)).label("billable"),
            func.sum(case((messages.c.charge_billable.is_(True), 0), else_=1)).label("free"),
            func.coalesce(func.sum(messages.c.charge_amount), 0).label("amount"),
            func.sum(case((messages.c.charge_mismatch.is_(True), 1), else_=0)).label("mismatches"),
        )
        .select_from(messages.join(contacts, contacts.c.id == messages.c.contact_id))
        .where(messages.c.direction == "out", messages.c.charge_model.is_not(None))
        .group_by(key, currency)
        .order_by(key)
    )
    return conn.execute(_scoped(stmt, since, until, phone_number_ids)).all()


def _day(conn: Connection, column: Any) -> Any:
    return func.date(column) if is_sqlite(conn) else func.to_char(column, "YYYY-MM-DD")


def _priced_at() -> Any:
    return func.coalesce(messages.c.charged_at, messages.c.created_at)


def _scoped(stmt: Any, since: datetime | None, until: datetime | None, numbers: Sequence[str] | None) -> Any:
    if since is not None:
        stmt = stmt.where(messages.c.created_at >= since)
    if until is not None:
        stmt = stmt.where(messages.c.created_at < until)
    if numbers is not None:
        stmt = stmt.where(contacts.c.phone_number_id.in_(numbers))
    return stmt


def free_by_market_day(
    conn: Connection,
    *,
    since: datetime | None,
    until: datetime | None,
    phone_number_ids: Sequence[str] | None,
) -> Sequence[Row[Any]]:
    """(market, day, messages) of the free outbound messages: what ``saved`` prices at the utility rate."""
    day = _day(conn, _priced_at())
    market = func.coalesce(messages.c.charge_market, literal_column("'ZZ'"))
    stmt = (
        select(market.label("market"), day.label("day"), func.count().label("messages"))
        .select_from(messages.join(contacts, contacts.c.id == messages.c.contact_id))
        .where(
            messages.c.direction == "out",
            messages.c.charge_model.is_not(None),
            messages.c.charge_billable.is_(False),
        )
        .group_by(market, day)
    )
    return conn.execute(_scoped(stmt, since, until, phone_number_ids)).all()


def daily_by_category(
    conn: Connection,
    *,
    since: datetime | None,
    until: datetime | None,
    phone_number_ids: Sequence[str] | None,
) -> Sequence[Row[Any]]:
    """(day, category, currency, messages, free, amount) per day and category: the costs chart."""
    day = _day(conn, _priced_at())
    category = func.coalesce(messages.c.charge_category, literal_column("'none'"))
    currency = func.coalesce(messages.c.charge_currency, literal_column("''"))
    stmt = (
        select(
            day.label("day"),
            category.label("category"),
            currency.label("currency"),
            func.count().label("messages"),
            func.sum(case((messages.c.charge_billable.is_(True), 0), else_=1)).label("free"),
            func.coalesce(func.sum(messages.c.charge_amount), 0).label("amount"),
        )
        .select_from(messages.join(contacts, contacts.c.id == messages.c.contact_id))
        .where(messages.c.direction == "out", messages.c.charge_model.is_not(None))
        .group_by(day, category, currency)
        .order_by(day, category)
    )
    return conn.execute(_scoped(stmt, since, until, phone_number_ids)).all()


def message_log(
    conn: Connection,
    *,
    since: datetime | None,
    until: datetime | None,
    phone_number_ids: Sequence[str] | None,
) -> Iterator[Row[Any]]:
    """Customer messages and priced business messages in time order (the export and the replay).

    ``at`` is the customer's timestamp, or when the business message was priced. Rows are streamed.
    """
    at = case((messages.c.direction == "out", _priced_at()), else_=messages.c.ts)
    stmt = (
        select(
            messages.c.id,
            messages.c.direction,
            at.label("at"),
            messages.c.kind,
            messages.c.content,
            messages.c.charge_model,
            messages.c.charge_category,
            messages.c.charge_billable,
            messages.c.charge_amount,
            messages.c.charge_currency,
            messages.c.charge_market,
            messages.c.charge_reason,
            contacts.c.wa_id,
            contacts.c.phone_number_id,
        )
        .select_from(messages.join(contacts, contacts.c.id == messages.c.contact_id))
        .where((messages.c.direction == "in") | messages.c.charge_model.is_not(None))
        .order_by(at, case((messages.c.direction == "in", 0), else_=1), messages.c.seq)
    )
    if since is not None:
        stmt = stmt.where(at >= since)
    if until is not None:
        stmt = stmt.where(at < until)
    if phone_number_ids is not None:
        stmt = stmt.where(contacts.c.phone_number_id.in_(phone_number_ids))
    result: Any = conn.execution_options(yield_per=2000).execute(stmt)
    yield from result


def window_events(
    conn: Connection,
    *,
    since: datetime | None,
    until: datetime | None,
    phone_number_ids: Sequence[str] | None,
) -> Sequence[Row[Any]]:
    """Customer messages and business messages that went out (or are going), per contact in time order:
    the window analytics' input."""
    at = case((messages.c.direction == "out", _priced_at()), else_=messages.c.ts)
    stmt = (
        select(
            messages.c.contact_id,
            messages.c.direction,
            at.label("at"),
            messages.c.kind,
            messages.c.charge_amount,
            messages.c.charge_currency,
        )
        .select_from(messages.join(contacts, contacts.c.id == messages.c.contact_id))
        .where(
            (messages.c.direction == "in")
            | (messages.c.charge_model.is_not(None) & (messages.c.status != "failed"))
        )
        .order_by(messages.c.contact_id, at, case((messages.c.direction == "in", 0), else_=1), messages.c.seq)
    )
    if since is not None:
        stmt = stmt.where(at >= since)
    if until is not None:
        stmt = stmt.where(at < until)
    if phone_number_ids is not None:
        stmt = stmt.where(contacts.c.phone_number_id.in_(phone_number_ids))
    return list(conn.execute(stmt))


def by_era(
    conn: Connection,
    *,
    since: datetime | None,
    until: datetime | None,
    phone_number_ids: Sequence[str] | None,
) -> Sequence[Row[Any]]:
    """(model, actual_type, messages, billable, mismatches) per pricing era that priced the outbound
    messages and ``pricing.type`` Meta reported ('' when none came yet): which eras a report used,
    and the reconciliation per era."""
    kind = func.coalesce(messages.c.actual_type, literal_column("''"))
    stmt = (
        select(
            messages.c.charge_model.label("model"),
            kind.label("actual_type"),
            func.count().label("messages"),
            func.sum(case((messages.c.charge_billable.is_(True), 1), else_=0)).label("billable"),
            func.sum(case((messages.c.charge_mismatch.is_(True), 1), else_=0)).label("mismatches"),
        )
        .select_from(messages.join(contacts, contacts.c.id == messages.c.contact_id))
        .where(messages.c.direction == "out", messages.c.charge_model.is_not(None))
        .group_by(messages.c.charge_model, kind)
        .order_by(messages.c.charge_model, kind)
    )
    return conn.execute(_scoped(stmt, since, until, phone_number_ids)).all()
