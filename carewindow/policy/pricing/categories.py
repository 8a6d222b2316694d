"""Categories beyond the four carewindow prices itself (docs/costs.md §8).

- ``business_agent``: Meta Business Agent messages, billed per token from 1 August 2026 (one global
  rate, $2.00 per 1M tokens, quoted from Meta's non-template-messages pricing page). A rate card row
  of this category gives the price **per 1,000,000 tokens**.
- ``general_purpose_ai``: the AI-providers category (at Meta's discretion, +55 numbers only).

Both may appear as Meta's ``pricing.category`` in status webhooks and as rate card rows; nothing in
carewindow refuses them.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from carewindow.policy.errors import RateNotFound
from carewindow.policy.pricing.base import Charge
from carewindow.policy.pricing.rate_card import RateCard

__all__ = ["BUSINESS_AGENT", "GENERAL_PURPOSE_AI", "OTHER_CATEGORIES", "TOKENS_PER_PRICE", "agent_charge"]

BUSINESS_AGENT = "business_agent"
GENERAL_PURPOSE_AI = "general_purpose_ai"
#: Meta's categories a rate card and the ledger accept besides marketing, utility, authentication, service.
OTHER_CATEGORIES = (BUSINESS_AGENT, GENERAL_PURPOSE_AI)
#: A ``business_agent`` row's price is per this many tokens.
TOKENS_PER_PRICE = 1_000_000


def agent_charge(card: RateCard, market: str, tokens: int, on: date) -> Charge:
    """The charge of a Meta Business Agent exchange of ``tokens`` tokens on ``on``: the card's
    ``business_agent`` rate per 1M tokens, pro rata; ``rate_unknown`` (amount 0) without a row."""
    if tokens < 0:
        raise ValueError("tokens must be >= 0")
    try:
        rate = card.lookup(market, BUSINESS_AGENT, on)
    except RateNotFound:
        return Charge(
            billable=True,
            category=BUSINESS_AGENT,
            amount=Decimal(0),
            currency="USD",
            pricing_model="business_agent",
            market=market,
            reason="rate_unknown",
        )
    return Charge(
        billable=tokens > 0,
        category=BUSINESS_AGENT,
        amount=rate.price * tokens / TOKENS_PER_PRICE,
        currency=rate.currency,
        pricing_model="business_agent",
        market=market,
        reason="regular",
    )
