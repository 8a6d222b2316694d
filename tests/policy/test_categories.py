"""Meta Business Agent (per token) and general_purpose_ai: accepted by rate cards and the mismatch rule."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from carewindow.policy import RateCard
from carewindow.policy.pricing.actual import billed_differently, normalise_category
from carewindow.policy.pricing.categories import OTHER_CATEGORIES, agent_charge

CARD = RateCard.from_csv(
    "market,category,currency,price,valid_from\n"
    "*,business_agent,USD,2.00,2026-08-01\n"
    "BR,general_purpose_ai,USD,0.0100,2026-05-12\n"
)
AUG = date(2026, 8, 20)


def test_a_rate_card_carries_the_other_categories() -> None:
    assert {r.category for r in CARD.rates} == set(OTHER_CATEGORIES)
    assert CARD.lookup("BR", "general_purpose_ai", AUG).price == Decimal("0.0100")


@given(st.integers(min_value=0, max_value=10**9))
def test_business_agent_is_priced_per_million_tokens(tokens: int) -> None:
    c = agent_charge(CARD, "ES", tokens, AUG)
    assert c.amount == Decimal("2.00") * tokens / 1_000_000
    assert (c.category, c.currency, c.reason, c.billable) == ("business_agent", "USD", "regular", tokens > 0)


def test_business_agent_without_a_rate_or_before_it() -> None:
    before = agent_charge(CARD, "ES", 1000, date(2026, 7, 31))
    assert (before.reason, before.amount, before.billable) == ("rate_unknown", Decimal(0), True)
    with pytest.raises(ValueError, match="tokens"):
        agent_charge(CARD, "ES", -1, AUG)


def test_metas_view_in_these_categories_is_compared_without_error() -> None:
    assert normalise_category("GENERAL_PURPOSE_AI") == "general_purpose_ai"
    pricing = {"billable": True, "pricing_model": "PMP", "type": "regular", "category": "general_purpose_ai"}
    assert billed_differently(
        predicted_billable=True, predicted_category="service", pricing=pricing, predicted_reason="regular"
    )
    assert not billed_differently(
        predicted_billable=True,
        predicted_category="general_purpose_ai",
        pricing=pricing,
        predicted_reason="regular",
    )
