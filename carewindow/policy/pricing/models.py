"""The pricing eras. Each model prices one message; see docs/rules.md for the rules in words.

- ``seed``: everything sent while the window is open is free; templates outside it are billed.
- ``meta_cbp`` (June 2023 - June 2025, as after 1 Nov 2024): 24 h conversations per category, opened by
  the first billable template of that category; service free; utility free inside an open window.
- ``meta_pmp`` (from 1 July 2025): per message; session and in-window utility free.
- ``meta_pmp_2026`` (from 1 Oct 2026, quoted from Meta's pages; the allowance is contested): session
  messages free up to a monthly allowance then billed; utility billed inside the window unless
  configured otherwise.
- ``auto`` (the default): the era in force on the message's send date (UTC), see ``eras.py``.

In every model a message inside a free entry point period (72 h after a click-to-WhatsApp referral) is
free. Pricing never decides what may be sent: ``decide()`` does that first.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

from carewindow.policy.enums import MessageKind, TemplateCategory, WindowState
from carewindow.policy.frozen import fast_constructor
from carewindow.policy.pricing.base import (
    SERVICE_CATEGORY,
    Charge,
    PricedMessage,
    PricingUsage,
    billed_charge,
    entry_point_open,
    free_charge,
)
from carewindow.policy.pricing.eras import CBP_STARTS, PMP_2026_STARTS, PMP_STARTS
from carewindow.policy.pricing.rate_card import RateCard, market_for
from carewindow.policy.state import ContactState, Conversation
from carewindow.policy.window import WindowView

if TYPE_CHECKING:  # pragma: no cover - imports for annotations only
    from carewindow.policy.settings import PolicySettings

__all__ = [
    "CONVERSATION_LENGTH",
    "PMP_2026_STARTS",
    "PMP_STARTS",
    "AutoPricing",
    "MetaCbpPricing",
    "MetaPmp2026Pricing",
    "MetaPmpPricing",
    "SeedPricing",
]


#: A billing conversation lasts 24 h from the message that opened it (not the care window setting).
CONVERSATION_LENGTH = timedelta(hours=24)

_OPEN = WindowState.OPEN
_SESSION = MessageKind.SESSION
_UTILITY = TemplateCategory.UTILITY
# Fast constructors (no __post_init__ on either): meta_cbp builds one of each per billed template.
_make_conversation = fast_constructor(Conversation)
_make_state = fast_constructor(ContactState)


# Plain-str names (an enum's .value is a slow property on the hot path).
_CATEGORY_NAME: dict[TemplateCategory | None, str] = {None: SERVICE_CATEGORY} | {
    c: c.value for c in TemplateCategory
}


class _PartsModel(ABC):
    """Built-in models implement ``price_parts``, the positional fast path ``decide()`` calls (it saves
    building a ``PricedMessage`` per decision); ``price`` is the protocol method."""

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
        return self.price_parts(
            message.kind,
            message.category,
            message.wa_id,
            message.sent_at,
            message.window,
            state,
            settings,
            usage,
        )

    @abstractmethod
    def price_parts(
        self,
        kind: MessageKind,
        category: TemplateCategory | None,
        wa_id: str,
        sent_at: datetime,
        window: WindowView,
        state: ContactState,
        settings: PolicySettings,
        usage: PricingUsage | None,
    ) -> tuple[Charge, ContactState]:
        """``price`` with the message's fields as positional arguments."""

    def session_in_window(self, wa_id: str, sent_at: datetime, card: RateCard) -> Charge | None:
        """The charge of a session message inside an open window and outside any free entry point
        period, when it depends on nothing else (so ``decide()`` may skip ``price_parts``); None when it
        does. Models whose session messages are always free in the window return that free charge."""
        on = sent_at.date()
        memo = card._session_memo
        key = (self, wa_id, on)  # per contact and day: skips the market lookup on the hot path
        found: Charge | None = memo.get(key)
        if found is None:
            found = free_charge(card, self.name, market_for(wa_id), SERVICE_CATEGORY, "free_in_window", on)
            if len(memo) > 65536:
                memo.clear()
            memo[key] = found
        return found


class SeedPricing(_PartsModel):
    """Free while the window is open; templates outside it billed per message at the category rate."""

    name = "seed"

    def price_parts(
        self,
        kind: MessageKind,
        category: TemplateCategory | None,
        wa_id: str,
        sent_at: datetime,
        window: WindowView,
        state: ContactState,
        settings: PolicySettings,
        usage: PricingUsage | None,
    ) -> tuple[Charge, ContactState]:
        """Price one message under ``seed``."""
        name = _CATEGORY_NAME[category]
        market = market_for(wa_id)
        on = sent_at.date()
        card = settings.rate_card
        if window.state is _OPEN:
            return free_charge(card, self.name, market, name, "free_in_window", on), state
        if entry_point_open(window, sent_at):
            return free_charge(card, self.name, market, name, "free_entry_point", on), state
        return billed_charge(card, self.name, market, name, on), state


class MetaPmpPricing(_PartsModel):
    """Per-message pricing from 1 July 2025: templates billed by category, except utility in the window."""

    name = "meta_pmp"

    def price_parts(
        self,
        kind: MessageKind,
        category: TemplateCategory | None,
        wa_id: str,
        sent_at: datetime,
        window: WindowView,
        state: ContactState,
        settings: PolicySettings,
        usage: PricingUsage | None,
    ) -> tuple[Charge, ContactState]:
        """Price one message under ``meta_pmp``."""
        name = _CATEGORY_NAME[category]
        market = market_for(wa_id)
        on = sent_at.date()
        card = settings.rate_card
        if entry_point_open(window, sent_at):
            return free_charge(card, self.name, market, name, "free_entry_point", on), state
        if kind is _SESSION or (category is _UTILITY and window.state is _OPEN):
            return free_charge(card, self.name, market, name, "free_in_window", on), state
        return billed_charge(card, self.name, market, name, on), state


class MetaPmp2026Pricing(_PartsModel):
    """The October 2026 revision (quoted from Meta's pages; the allowance is contested): service
    messages free up to ``settings.service_free_allowance`` a period, then billed at the service (else
    utility) rate; utility templates billed inside the window unless
    ``settings.utility_free_in_window_2026``."""

    name = "meta_pmp_2026"

    def session_in_window(self, wa_id: str, sent_at: datetime, card: RateCard) -> Charge | None:
        """Never fixed: it depends on the period's usage."""
        return None

    def price_parts(
        self,
        kind: MessageKind,
        category: TemplateCategory | None,
        wa_id: str,
        sent_at: datetime,
        window: WindowView,
        state: ContactState,
        settings: PolicySettings,
        usage: PricingUsage | None,
    ) -> tuple[Charge, ContactState]:
        """Price one message under ``meta_pmp_2026``. Without ``usage`` the period count is taken as 0."""
        name = _CATEGORY_NAME[category]
        market = market_for(wa_id)
        on = sent_at.date()
        card = settings.rate_card
        if entry_point_open(window, sent_at):
            return free_charge(card, self.name, market, name, "free_entry_point", on), state
        if kind is _SESSION:
            used = usage.service_messages_this_period if usage is not None else 0
            if used < settings.service_free_allowance:
                return free_charge(card, self.name, market, name, "free_allowance", on), state
            charge = billed_charge(card, self.name, market, name, on)
            if charge.reason == "rate_unknown":
                charge = billed_charge(card, self.name, market, name, on, rate_of=_UTILITY.value)
            return charge, state
        if category is _UTILITY and window.state is _OPEN and settings.utility_free_in_window_2026:
            return free_charge(card, self.name, market, name, "free_in_window", on), state
        return billed_charge(card, self.name, market, name, on), state


class MetaCbpPricing(_PartsModel):
    """Conversation-based pricing (June 2023 - June 2025, with the 1 Nov 2024 changes): the first billable
    template of a category opens a 24 h conversation of that category; more of the same category inside it
    cost nothing. Service messages and utility templates inside an open window are free."""

    name = "meta_cbp"

    def price_parts(
        self,
        kind: MessageKind,
        category: TemplateCategory | None,
        wa_id: str,
        sent_at: datetime,
        window: WindowView,
        state: ContactState,
        settings: PolicySettings,
        usage: PricingUsage | None,
    ) -> tuple[Charge, ContactState]:
        """Price one message under ``meta_cbp``; a billed one adds its ``Conversation`` to the state."""
        name = _CATEGORY_NAME[category]
        market = market_for(wa_id)
        on = sent_at.date()
        card = settings.rate_card
        if entry_point_open(window, sent_at):
            return free_charge(card, self.name, market, name, "free_entry_point", on), state
        if kind is _SESSION or (category is _UTILITY and window.state is _OPEN):
            return free_charge(card, self.name, market, name, "free_in_window", on), state
        for conversation in state.conversations:
            if conversation.category == name and conversation.is_open_at(sent_at):
                return free_charge(card, self.name, market, name, "inside_open_conversation", on), state
        charge = billed_charge(card, self.name, market, name, on)
        opened = _make_conversation(
            category=name, opened_at=sent_at, expires_at=sent_at + CONVERSATION_LENGTH
        )
        # Keep only conversations still open when this one starts: the state stays small.
        kept = tuple(c for c in state.conversations if c.expires_at > sent_at)
        after = _make_state(
            wa_id=state.wa_id,
            window=state.window,
            consent=state.consent,
            reengagement=state.reengagement,
            conversations=(*kept, opened),
        )
        return charge, after


class AutoPricing(_PartsModel):
    """Picks the era in force on the message's send date: ``seed`` before 1 June 2023, ``meta_cbp``
    from then, ``meta_pmp`` from 1 July 2025, ``meta_pmp_2026`` from 1 October 2026. The charge names
    the era used."""

    name = "auto"

    def __init__(self) -> None:
        self._seed = SeedPricing()
        self._cbp = MetaCbpPricing()
        self._pmp = MetaPmpPricing()
        self._pmp_2026 = MetaPmp2026Pricing()

    def session_in_window(self, wa_id: str, sent_at: datetime, card: RateCard) -> Charge | None:
        """Delegates to the era in force on ``sent_at``."""
        return self.model_for(sent_at.date()).session_in_window(wa_id, sent_at, card)

    def model_for(self, on: date) -> _PartsModel:
        """The era model in force on ``on``."""
        if on < PMP_STARTS:
            return self._seed if on < CBP_STARTS else self._cbp
        if on < PMP_2026_STARTS:
            return self._pmp
        return self._pmp_2026

    def price_parts(
        self,
        kind: MessageKind,
        category: TemplateCategory | None,
        wa_id: str,
        sent_at: datetime,
        window: WindowView,
        state: ContactState,
        settings: PolicySettings,
        usage: PricingUsage | None,
    ) -> tuple[Charge, ContactState]:
        """Price one message with the era in force when it is sent."""
        return self.model_for(sent_at.date()).price_parts(
            kind, category, wa_id, sent_at, window, state, settings, usage
        )
