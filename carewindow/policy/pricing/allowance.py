"""The free tier of service messages (``meta_pmp_2026``): how much is left, when it runs out at the
period's pace, what the rest of the period costs at that pace, and the thresholds that raise events.

Pure: the caller reads the period's counter and the markets its session messages went to, and passes
``now``. Amounts in different currencies are kept apart.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from carewindow.policy.errors import RateNotFound
from carewindow.policy.pricing.base import SERVICE_CATEGORY
from carewindow.policy.pricing.rate_card import RateCard

__all__ = [
    "THRESHOLDS",
    "AllowanceForecast",
    "forecast_allowance",
    "period_bounds",
    "thresholds_crossed",
]

#: Percentages of the free tier whose reaching raises an ``allowance.threshold`` event.
THRESHOLDS = (80, 100)
_CENT = Decimal("0.000001")


def period_bounds(at: datetime, period: str = "month") -> tuple[datetime, datetime]:
    """The UTC start (included) and end (excluded) of the allowance period holding ``at``."""
    at = at.astimezone(UTC)
    if period == "day":
        start = datetime(at.year, at.month, at.day, tzinfo=UTC)
        return start, start + timedelta(days=1)
    start = datetime(at.year, at.month, 1, tzinfo=UTC)
    end = (
        datetime(at.year + 1, 1, 1, tzinfo=UTC)
        if at.month == 12
        else datetime(at.year, at.month + 1, 1, tzinfo=UTC)
    )
    return start, end


def thresholds_crossed(before: int, after: int, allowance: int) -> tuple[int, ...]:
    """The thresholds (percent) the period's count reaches going from ``before`` to ``after``
    messages: 80 when it reaches 80 % of ``allowance`` (rounded up), 100 when it reaches all of it.
    None for an allowance of 0 (there is no free tier to watch)."""
    if allowance <= 0:
        return ()
    return tuple(p for p in THRESHOLDS if before < -(-allowance * p // 100) <= after)


@dataclass(frozen=True, slots=True, kw_only=True)
class AllowanceForecast:
    """One business number's free tier this period.

    ``runs_out_at``: when, at the period's pace so far, the last free message goes (None when the pace
    does not get there this period, or nothing was sent yet); ``ran_out``: already used up.
    ``expected_messages``: session messages the whole period will hold at that pace;
    ``expected_billable``: how many of those past the free tier are still to come; ``expected_cost``:
    their price by currency, at the card's ``service`` (else ``utility``) rate of the markets this
    period's messages went to, in proportion; ``unpriced``: expected messages whose market has no rate.
    """

    period_start: datetime
    period_end: datetime
    allowance: int
    used: int
    left: int
    used_share: float | None
    ran_out: bool
    per_day: float
    runs_out_at: datetime | None
    expected_messages: int
    expected_billable: int
    expected_cost: dict[str, Decimal] = field(default_factory=dict)
    unpriced: int = 0


def forecast_allowance(
    *,
    used: int,
    allowance: int,
    period: tuple[datetime, datetime],
    now: datetime,
    markets: Iterable[tuple[str, int]],
    card: RateCard,
) -> AllowanceForecast:
    """The forecast at ``now`` for a number that used ``used`` free-tier messages in ``period``, whose
    session messages went to ``markets`` ((market, messages) pairs: the mix the rest is priced by)."""
    start, end = period
    moment = min(max(now, start), end)
    elapsed = (moment - start).total_seconds()
    length = (end - start).total_seconds()
    pace = used / elapsed if elapsed > 0 else 0.0  # messages per second
    expected = max(used, round(pace * length))
    runs_out_at: datetime | None = None
    if used >= allowance:
        runs_out_at = None
    elif pace > 0:
        at = start + timedelta(seconds=allowance / pace)
        runs_out_at = at if at < end else None
    still_to_bill = max(0, expected - allowance) - max(0, used - allowance)
    cost: dict[str, Decimal] = {}
    unpriced = 0
    mix = [(m, n) for m, n in markets if n > 0]
    total = sum(n for _, n in mix)
    on: date = moment.date() if moment < end else (end - timedelta(microseconds=1)).date()
    if still_to_bill and total:
        for market, n in mix:
            share = still_to_bill * n / total
            price = _service_rate(card, market, on)
            if price is None:
                unpriced += round(share)
                continue
            currency, amount = price
            cost[currency] = cost.get(currency, Decimal(0)) + amount * Decimal(repr(share))
    elif still_to_bill:
        unpriced = still_to_bill
    return AllowanceForecast(
        period_start=start,
        period_end=end,
        allowance=allowance,
        used=used,
        left=max(0, allowance - used),
        used_share=round(used / allowance, 4) if allowance else None,
        ran_out=used >= allowance,
        per_day=round(pace * 86400, 2),
        runs_out_at=runs_out_at,
        expected_messages=expected,
        expected_billable=still_to_bill,
        expected_cost={c: v.quantize(_CENT) for c, v in sorted(cost.items())},
        unpriced=unpriced,
    )


def _service_rate(card: RateCard, market: str, on: date) -> tuple[str, Decimal] | None:
    for category in (SERVICE_CATEGORY, "utility"):
        try:
            rate = card.lookup(market, category, on)
        except RateNotFound:
            continue
        return rate.currency, rate.price
    return None
