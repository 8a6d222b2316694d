"""What every pricing model shares: the message to price, the charge, and the model protocol."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Protocol, cast

from carewindow.policy.enums import MessageKind, TemplateCategory
from carewindow.policy.errors import RateNotFound
from carewindow.policy.frozen import fast_constructor
from carewindow.policy.pricing.rate_card import RateCard
from carewindow.policy.state import ContactState
from carewindow.policy.window import WindowView

if TYPE_CHECKING:  # pragma: no cover - imports for annotations only
    from carewindow.policy.settings import PolicySettings

__all__ = ["SERVICE_CATEGORY", "Charge", "PricedMessage", "PricingModel", "PricingUsage"]

#: ``Charge.category`` of a free-form (session) message.
SERVICE_CATEGORY = "service"
ZERO = Decimal("0")
_FALLBACK_CURRENCY = "USD"


@dataclass(frozen=True, slots=True, kw_only=True)
class PricedMessage:
    """One outbound message as pricing sees it. ``category`` is None for session messages."""

    kind: MessageKind
    category: TemplateCategory | None
    wa_id: str
    sent_at: datetime
    window: WindowView


@dataclass(frozen=True, slots=True, kw_only=True)
class PricingUsage:
    """Counters the caller keeps for the current billing period (``meta_pmp_2026``'s service allowance)."""

    service_messages_this_period: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class Charge:
    """What a message costs. ``amount`` is a ``Decimal`` in ``currency``; zero when not billable.

    ``category`` is ``"service"`` for session messages, else the template category. ``reason`` is one of
    ``free_in_window``, ``free_entry_point``, ``free_allowance``, ``inside_open_conversation``,
    ``regular`` (billed at the card rate) or ``rate_unknown`` (billable, but the card has no row).
    """

    billable: bool
    category: str
    amount: Decimal
    currency: str
    pricing_model: str
    market: str
    reason: str


class PricingModel(Protocol):
    """A pricing era. ``price`` returns the charge and the contact state after the message is sent
    (``meta_cbp`` records the billing conversation a message opens; the others return ``state``)."""

    name: str

    def price(
        self,
        message: PricedMessage,
        *,
        state: ContactState,
        settings: PolicySettings,
        usage: PricingUsage | None,
    ) -> tuple[Charge, ContactState]:
        """Price ``message`` for the contact in ``state``."""


_make_charge = fast_constructor(Charge)


def free_charge(card: RateCard, model: str, market: str, category: str, reason: str, on: date) -> Charge:
    """A zero charge in the currency the card uses for this market (memoised: the hot path hits it)."""
    memo = card._charge_memo
    key = (model, market, category, reason, on)
    found: Charge | None = memo.get(key)
    if found is None:
        try:
            currency = card.lookup(market, category, on).currency
        except RateNotFound:
            currency = _FALLBACK_CURRENCY
        found = _make_charge(
            billable=False,
            category=category,
            amount=ZERO,
            currency=currency,
            pricing_model=model,
            market=market,
            reason=reason,
        )
        if len(memo) > 4096:
            memo.clear()
        memo[key] = found
    return found


def billed_charge(
    card: RateCard, model: str, market: str, category: str, on: date, *, rate_of: str = ""
) -> Charge:
    """A charge at the card's rate for ``rate_of`` (default: ``category``) on ``on`` (memoised, as
    ``free_charge``: charges are values, and replaying a log prices the same few again and again)."""
    memo = card._charge_memo
    key = ("billed", model, market, category, on, rate_of)
    found: Charge | None = memo.get(key)
    if found is None:
        try:
            rate = card.lookup(market, rate_of or category, on)
        except RateNotFound:
            found = _make_charge(
                billable=True,
                category=category,
                amount=ZERO,
                currency=_FALLBACK_CURRENCY,
                pricing_model=model,
                market=market,
                reason="rate_unknown",
            )
        else:
            found = _make_charge(
                billable=True,
                category=category,
                amount=rate.price,
                currency=rate.currency,
                pricing_model=model,
                market=market,
                reason="regular",
            )
        if len(memo) > 4096:
            memo.clear()
        memo[key] = found
    return found


def entry_point_open(window: WindowView, sent_at: datetime) -> bool:
    """Whether a message sent at ``sent_at`` falls inside a free entry point period."""
    until = window.entry_point_expires_at
    return until is not None and sent_at < until


PriceParts = Callable[
    [
        MessageKind,
        TemplateCategory | None,
        str,
        datetime,
        WindowView,
        ContactState,
        "PolicySettings",
        PricingUsage | None,
    ],
    tuple[Charge, ContactState],
]


def price_parts_of(model: PricingModel) -> PriceParts:
    """The positional fast path of ``model``: its own ``price_parts`` when it has one (the built-in
    models do), else an adapter that builds the ``PricedMessage`` and calls ``price``."""
    parts = getattr(model, "price_parts", None)
    if callable(parts):
        return cast(PriceParts, parts)

    def adapter(
        kind: MessageKind,
        category: TemplateCategory | None,
        wa_id: str,
        sent_at: datetime,
        window: WindowView,
        state: ContactState,
        settings: PolicySettings,
        usage: PricingUsage | None,
    ) -> tuple[Charge, ContactState]:
        message = PricedMessage(kind=kind, category=category, wa_id=wa_id, sent_at=sent_at, window=window)
        return model.price(message, state=state, settings=settings, usage=usage)

    return adapter


SessionCharge = Callable[[str, datetime, RateCard], "Charge | None"]


def session_in_window_of(model: PricingModel) -> SessionCharge:
    """The model's ``session_in_window`` shortcut, or one that always answers None (use ``price``)."""
    shortcut = getattr(model, "session_in_window", None)
    if callable(shortcut):
        return cast(SessionCharge, shortcut)
    return lambda wa_id, sent_at, card: None
