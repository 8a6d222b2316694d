"""Imported rate cards: one row per (market, category, valid_from); the card in force is the whole set."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, func, select

from carewindow.policy import Rate, RateCard
from carewindow.storage.engine import dialect_insert
from carewindow.storage.tables import rates


def save(conn: Connection, card: RateCard, *, source: str | None, now: datetime) -> int:
    """Store ``card``'s rows; a row with the same market, category and valid_from is replaced."""
    if not card.rates:
        return 0
    stmt = dialect_insert(conn, rates)
    stmt = stmt.on_conflict_do_update(
        index_elements=["market", "category", "valid_from"],
        set_={
            "currency": stmt.excluded.currency,
            "price": stmt.excluded.price,
            "source": stmt.excluded.source,
            "imported_at": stmt.excluded.imported_at,
        },
    )
    conn.execute(
        stmt,
        [
            {
                "market": r.market,
                "category": r.category,
                "currency": r.currency,
                "price": r.price,
                "valid_from": r.valid_from,
                "source": source,
                "imported_at": now,
            }
            for r in card.rates
        ],
    )
    return len(card.rates)


def list_all(conn: Connection) -> Sequence[Row[Any]]:
    """Every stored row, by market, category and date."""
    return conn.execute(select(rates).order_by(rates.c.market, rates.c.category, rates.c.valid_from)).all()


def load(conn: Connection) -> RateCard | None:
    """The stored card, or None when nothing was imported."""
    rows = list_all(conn)
    if not rows:
        return None
    return RateCard(
        rates=tuple(
            Rate(
                market=r.market,
                category=r.category,
                currency=r.currency,
                price=r.price,
                valid_from=r.valid_from,
            )
            for r in rows
        )
    )


def version(conn: Connection) -> tuple[int, datetime | None]:
    """(row count, latest import time): changes whenever an import changes the card."""
    row = conn.execute(select(func.count(), func.max(rates.c.imported_at))).one()
    return int(row[0]), row[1]
