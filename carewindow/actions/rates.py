"""Rate cards (docs/costs.md): import one into the database, where every process prices from."""

from __future__ import annotations

from datetime import datetime

from carewindow.policy import RateCard
from carewindow.storage import rates as rate_store
from carewindow.storage.engine import Engine, write_tx


def do_import_rates(engine: Engine, card: RateCard, *, source: str | None, now: datetime) -> int:
    """Store ``card``'s rates (a row with the same market, category and valid_from is replaced);
    returns how many rows the card had."""
    with write_tx(engine) as conn:
        return rate_store.save(conn, card, source=source, now=now)
