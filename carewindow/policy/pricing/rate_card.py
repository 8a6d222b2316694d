"""Rate cards: the price of one message by market, category and date.

The policy does no file I/O: callers read a CSV (Meta publishes its rate cards as CSV) and pass the text to
:meth:`RateCard.from_csv`. :data:`EXAMPLE_RATE_CARD` is an example only, not Meta's prices.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

import phonenumbers

from carewindow.policy.errors import RateNotFound

__all__ = ["DEFAULT_MARKET", "EXAMPLE_RATE_CARD", "EXAMPLE_RATE_CARD_CSV", "Rate", "RateCard", "market_for"]

#: The market whose rows apply when a card has no row for the recipient's own market.
DEFAULT_MARKET = "*"
#: The market of a number whose country cannot be told.
UNKNOWN_MARKET = "ZZ"
_COLUMNS = ("market", "category", "currency", "price", "valid_from")


@dataclass(frozen=True, slots=True, kw_only=True)
class Rate:
    """One rate card row: ``price`` in ``currency`` per message of ``category`` to ``market``."""

    market: str
    category: str
    currency: str
    price: Decimal
    valid_from: date


@dataclass(frozen=True, slots=True, kw_only=True, repr=False)
class RateCard:
    """A set of rates; a message is priced by the row in force on its send date (latest ``valid_from``)."""

    rates: tuple[Rate, ...] = ()
    # (market, category) -> rows newest first; built once, never compared.
    _index: dict[tuple[str, str], tuple[Rate, ...]] = field(init=False, repr=False, compare=False, hash=False)
    # Memos of looked-up rates and of charges built by pricing models; bounded, never compared.
    _memo: dict[tuple[str, str, date], Rate] = field(init=False, repr=False, compare=False, hash=False)
    # Values are pricing.base.Charge (typed Any: that module imports this one).
    _charge_memo: dict[tuple[object, ...], Any] = field(init=False, repr=False, compare=False, hash=False)
    _session_memo: dict[tuple[object, ...], Any] = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        grouped: dict[tuple[str, str], list[Rate]] = {}
        for rate in self.rates:
            grouped.setdefault((rate.market, rate.category), []).append(rate)
        index = {
            key: tuple(sorted(rows, key=lambda r: r.valid_from, reverse=True))
            for key, rows in grouped.items()
        }
        object.__setattr__(self, "_index", index)
        object.__setattr__(self, "_memo", {})
        object.__setattr__(self, "_charge_memo", {})
        object.__setattr__(self, "_session_memo", {})

    @classmethod
    def from_csv(cls, text: str) -> RateCard:
        """Parse ``market,category,currency,price,valid_from`` CSV (header required; ``#`` lines and blank
        lines are skipped). Raises ``ValueError`` naming the line of the first bad row."""
        rates: list[Rate] = []
        header_seen = False
        for number, line in enumerate(text.splitlines(), start=1):
            stripped = line.strip()
            if not stripped or stripped.startswith("#"):
                continue
            cells = [c.strip() for c in next(csv.reader([stripped]))]
            if not header_seen:
                if tuple(c.lower() for c in cells) != _COLUMNS:
                    raise ValueError(f"rate card line {number}: expected header {','.join(_COLUMNS)}")
                header_seen = True
                continue
            rates.append(_parse_row(cells, number))
        if not header_seen:
            raise ValueError(f"rate card is empty: expected header {','.join(_COLUMNS)}")
        return cls(rates=tuple(rates))

    def lookup(self, market: str, category: str, on: date) -> Rate:
        """The row for ``market`` and ``category`` in force on ``on``, else the default market's row.

        Raises :class:`RateNotFound` when neither has one.
        """
        key = (market, category, on)
        memo = self._memo
        found = memo.get(key)
        if found is None:
            found = self._find(market, category, on) or self._find(DEFAULT_MARKET, category, on)
            if found is None:
                raise RateNotFound(
                    f"No rate for market {market!r}, category {category!r} on {on.isoformat()}",
                    details={"market": market, "category": category, "on": on.isoformat()},
                )
            if len(memo) > 4096:
                memo.clear()
            memo[key] = found
        return found

    def _find(self, market: str, category: str, on: date) -> Rate | None:
        for rate in self._index.get((market, category), ()):
            if rate.valid_from <= on:
                return rate
        return None

    def __repr__(self) -> str:
        # A card holds hundreds of rows; the settings' repr should stay readable.
        markets = self.markets
        shown = ", ".join(markets[:8]) + (", ..." if len(markets) > 8 else "")
        return f"RateCard({len(self.rates)} rates, markets={shown})"

    @property
    def markets(self) -> tuple[str, ...]:
        """The markets the card names, sorted."""
        return tuple(sorted({r.market for r in self.rates}))


def _parse_row(cells: list[str], number: int) -> Rate:
    if len(cells) != len(_COLUMNS):
        raise ValueError(f"rate card line {number}: expected {len(_COLUMNS)} columns, got {len(cells)}")
    market, category, currency, price_text, valid_text = cells
    if not market or not category:
        raise ValueError(f"rate card line {number}: market and category are required")
    if len(currency) != 3 or not currency.isalpha():
        raise ValueError(f"rate card line {number}: currency must be a 3-letter code, got {currency!r}")
    try:
        price = Decimal(price_text)
    except InvalidOperation:
        raise ValueError(f"rate card line {number}: price {price_text!r} is not a number") from None
    if not price.is_finite() or price < 0:
        raise ValueError(f"rate card line {number}: price must be a non-negative number, got {price_text!r}")
    try:
        valid_from = date.fromisoformat(valid_text)
    except ValueError:
        raise ValueError(f"rate card line {number}: valid_from {valid_text!r} is not YYYY-MM-DD") from None
    market = market.upper() if market != DEFAULT_MARKET else market
    return Rate(
        market=market,
        category=category.lower(),
        currency=currency.upper(),
        price=price,
        valid_from=valid_from,
    )


@lru_cache(maxsize=65536)
def market_for(wa_id: str) -> str:
    """The ISO region of a WhatsApp id (``"34600111222"`` -> ``"ES"``); ``"ZZ"`` when it cannot be told."""
    digits = wa_id.lstrip("+")
    if not digits.isdigit():
        return UNKNOWN_MARKET
    try:
        number = phonenumbers.parse("+" + digits, None)
    except phonenumbers.NumberParseException:
        return UNKNOWN_MARKET
    region = phonenumbers.region_code_for_number(number)
    if (not region or region == UNKNOWN_MARKET) and number.country_code:
        region = phonenumbers.region_code_for_country_code(number.country_code)
    return region or UNKNOWN_MARKET


#: EXAMPLE ONLY - not Meta's prices. The "*" rows are the rates of the worked examples in the docs
#: (marketing 0.0500, utility 0.0200, authentication 0.0300; service 0.0200 is the rate reported for
#: service messages over the monthly allowance from October 2026). The other rows are illustrative.
EXAMPLE_RATE_CARD_CSV = """\
# EXAMPLE rate card for carewindow: illustrative prices, NOT Meta's. Load Meta's published card instead.
market,category,currency,price,valid_from
*,marketing,USD,0.0500,2023-06-01
*,utility,USD,0.0200,2023-06-01
*,authentication,USD,0.0300,2023-06-01
*,service,USD,0.0200,2023-06-01
ES,marketing,USD,0.0615,2023-06-01
ES,utility,USD,0.0200,2023-06-01
ES,authentication,USD,0.0200,2023-06-01
ES,service,USD,0.0200,2026-10-01
BR,marketing,USD,0.0625,2023-06-01
BR,utility,USD,0.0080,2023-06-01
BR,authentication,USD,0.0315,2023-06-01
BR,service,USD,0.0080,2026-10-01
IN,marketing,USD,0.0107,2023-06-01
IN,utility,USD,0.0014,2023-06-01
IN,authentication,USD,0.0014,2023-06-01
IN,service,USD,0.0014,2026-10-01
US,marketing,USD,0.0250,2023-06-01
US,utility,USD,0.0040,2023-06-01
US,authentication,USD,0.0135,2023-06-01
US,utility,USD,0.0034,2026-01-01
US,authentication,USD,0.0120,2026-01-01
US,service,USD,0.0034,2026-10-01
"""

#: :data:`EXAMPLE_RATE_CARD_CSV`, parsed. EXAMPLE ONLY.
EXAMPLE_RATE_CARD = RateCard.from_csv(EXAMPLE_RATE_CARD_CSV)
