"""Pricing models, selected by name, and the rate cards they read.

``get_pricing_model("meta_pmp")`` returns the model; ``PRICING_MODELS`` lists the names.
"""

from __future__ import annotations

from carewindow.policy.pricing.base import Charge, PricedMessage, PricingModel, PricingUsage
from carewindow.policy.pricing.models import (
    AutoPricing,
    MetaCbpPricing,
    MetaPmp2026Pricing,
    MetaPmpPricing,
    SeedPricing,
)
from carewindow.policy.pricing.rate_card import (
    EXAMPLE_RATE_CARD,
    EXAMPLE_RATE_CARD_CSV,
    Rate,
    RateCard,
    market_for,
)
from carewindow.policy.pricing.replay import (
    CategoryTotal,
    LogEntry,
    SideBySide,
    replay,
    side_by_side,
    summarise,
)
from carewindow.policy.pricing.usage import counts_service_usage, usage_period

__all__ = [
    "EXAMPLE_RATE_CARD",
    "EXAMPLE_RATE_CARD_CSV",
    "PRICING_MODELS",
    "CategoryTotal",
    "Charge",
    "LogEntry",
    "PricedMessage",
    "PricingModel",
    "PricingUsage",
    "Rate",
    "RateCard",
    "SideBySide",
    "counts_service_usage",
    "get_pricing_model",
    "market_for",
    "replay",
    "side_by_side",
    "summarise",
    "usage_period",
]

# Models are stateless, so one instance of each serves every caller.
_MODELS: dict[str, PricingModel] = {
    m.name: m
    for m in (SeedPricing(), MetaCbpPricing(), MetaPmpPricing(), MetaPmp2026Pricing(), AutoPricing())
}
#: The names ``get_pricing_model`` accepts.
PRICING_MODELS: tuple[str, ...] = tuple(_MODELS)


def get_pricing_model(name: str) -> PricingModel:
    """The pricing model called ``name``; ``ValueError`` listing the valid names otherwise."""
    try:
        return _MODELS[name]
    except KeyError:
        raise ValueError(
            f"unknown pricing model {name!r}; choose one of: {', '.join(PRICING_MODELS)}"
        ) from None
