"""The policy's knobs: the application builds one ``PolicySettings`` from its settings and passes it in."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from carewindow.policy.consent import DEFAULT_CONSENT_TOLERANCE, DEFAULT_OPT_OUT_KEYWORDS
from carewindow.policy.pricing import EXAMPLE_RATE_CARD, PricingModel, RateCard, get_pricing_model
from carewindow.policy.pricing.base import PriceParts, SessionCharge, price_parts_of, session_in_window_of

__all__ = ["PolicySettings"]


@dataclass(frozen=True, slots=True, kw_only=True)
class PolicySettings:
    """Window lengths, the re-engagement limit, opt-out keywords and pricing.

    ``reengagement_limit`` 0 means no limit. ``service_free_allowance`` and
    ``utility_free_in_window_2026`` apply to the ``meta_pmp_2026`` model only. Raises ``ValueError`` on
    a non-positive window, a negative limit or allowance, or an unknown pricing model.
    """

    window: timedelta = timedelta(hours=24)
    entry_point_window: timedelta = timedelta(hours=72)
    reengagement_limit: int = 1
    #: Re-engagement templates first sent this long ago no longer count; and a plain template counts as
    #: re-engagement only while the last window closed less than this long ago (docs/rules.md).
    reengagement_horizon: timedelta = timedelta(days=7)
    opt_out_keywords: tuple[str, ...] = DEFAULT_OPT_OUT_KEYWORDS
    pricing_model: str = "auto"
    rate_card: RateCard = EXAMPLE_RATE_CARD
    service_free_allowance: int = 1000
    #: The allowance's period: ``"month"`` (calendar month, UTC) or ``"day"`` (UTC).
    service_allowance_period: str = "month"
    utility_free_in_window_2026: bool = False
    #: False: Meta has no payment method on file, so it delivers only the free tier's service messages;
    #: the send planner refuses session messages past it (``past_free_tier``).
    payment_method_on_file: bool = True
    #: An opt-in within this of an opt-out (either order) loses to it (policy/consent.py).
    consent_tolerance: timedelta = DEFAULT_CONSENT_TOLERANCE
    # The model named by ``pricing_model``, resolved once.
    _model: PricingModel = field(init=False, repr=False, compare=False, hash=False)
    _price: PriceParts = field(init=False, repr=False, compare=False, hash=False)
    _session_charge: SessionCharge = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        if self.window <= timedelta(0) or self.entry_point_window <= timedelta(0):
            raise ValueError("window and entry_point_window must be positive")
        if self.reengagement_horizon <= timedelta(0):
            raise ValueError("reengagement_horizon must be positive")
        if self.reengagement_limit < 0:
            raise ValueError("reengagement_limit must be >= 0 (0 means no limit)")
        if self.consent_tolerance < timedelta(0):
            raise ValueError("consent_tolerance must be >= 0")
        if self.service_free_allowance < 0:
            raise ValueError("service_free_allowance must be >= 0")
        if self.service_allowance_period not in ("month", "day"):
            raise ValueError("service_allowance_period must be 'month' or 'day'")
        keywords: object = self.opt_out_keywords
        if isinstance(keywords, str):
            raise ValueError("opt_out_keywords must be a tuple of keywords, not one string")
        object.__setattr__(self, "opt_out_keywords", tuple(self.opt_out_keywords))
        model = get_pricing_model(self.pricing_model)
        object.__setattr__(self, "_model", model)
        object.__setattr__(self, "_price", price_parts_of(model))
        object.__setattr__(self, "_session_charge", session_in_window_of(model))

    @property
    def model(self) -> PricingModel:
        """The pricing model named by ``pricing_model``."""
        return self._model
