"""The charge memos of the rate card: bounded, and never change an answer (policy/pricing/base.py)."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from carewindow.policy import EXAMPLE_RATE_CARD_CSV, RateCard, RateNotFound
from carewindow.policy.pricing.base import billed_charge, free_charge

MARKETS = st.sampled_from(["ES", "BR", "IN", "US", "ZZ"])
CATEGORIES = st.sampled_from(["marketing", "utility", "authentication", "service", "unknown_category"])
DAYS = st.dates(min_value=date(2022, 1, 1), max_value=date(2028, 12, 31))


def expected_billed(card: RateCard, market: str, category: str, on: date) -> tuple[Decimal, str, str]:
    try:
        rate = card.lookup(market, category, on)
    except RateNotFound:
        return Decimal(0), "USD", "rate_unknown"
    return rate.price, rate.currency, "regular"


def test_billed_charge_memo_is_bounded_and_keeps_answering() -> None:
    card = RateCard.from_csv(EXAMPLE_RATE_CARD_CSV)
    first = date(2024, 1, 1)
    for i in range(4200):
        billed_charge(card, "seed", "ES", "marketing", first + timedelta(days=i))
    assert 0 < len(card._charge_memo) <= 4097
    after = billed_charge(card, "seed", "ES", "marketing", first)  # evicted when the memo was cleared
    assert (after.billable, after.amount, after.reason) == (True, Decimal("0.0615"), "regular")
    assert billed_charge(card, "seed", "ES", "marketing", first) is after  # memoised again


@given(
    calls=st.lists(
        st.tuples(st.booleans(), MARKETS, CATEGORIES, DAYS, st.sampled_from(["", "utility"])),
        min_size=1,
        max_size=30,
    )
)
def test_memoised_charges_equal_fresh_ones(calls: list[tuple[bool, str, str, date, str]]) -> None:
    shared = RateCard.from_csv(EXAMPLE_RATE_CARD_CSV)  # one card for the whole sequence: memo hits
    for billed, market, category, on, rate_of in calls:
        fresh = RateCard.from_csv(EXAMPLE_RATE_CARD_CSV)  # an empty memo
        if billed:
            got = billed_charge(shared, "pmp", market, category, on, rate_of=rate_of)
            assert got == billed_charge(fresh, "pmp", market, category, on, rate_of=rate_of)
            price, currency, reason = expected_billed(fresh, market, rate_of or category, on)
            assert (got.billable, got.category, got.amount, got.currency, got.reason) == (
                True,
                category,
                price,
                currency,
                reason,
            )
        else:
            got = free_charge(shared, "pmp", market, category, "free_in_window", on)
            assert got == free_charge(fresh, "pmp", market, category, "free_in_window", on)
            assert (got.billable, got.amount, got.reason) == (False, Decimal(0), "free_in_window")
        assert (got.pricing_model, got.market) == ("pmp", market)
