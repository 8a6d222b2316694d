"""Everything the policy knows about one contact, and how a customer message changes it."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING

from carewindow.policy.consent import ConsentEvent, ConsentState, apply_consent_event, is_opt_out_keyword
from carewindow.policy.enums import ConsentStatus
from carewindow.policy.reengagement import Reengagement, reset_reengagement
from carewindow.policy.window import CareWindow, apply_inbound

if TYPE_CHECKING:  # pragma: no cover - imports for annotations only
    from carewindow.policy.settings import PolicySettings

__all__ = ["ContactState", "Conversation", "apply_inbound_message"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Conversation:
    """A 24 h billing conversation of one category (``meta_cbp`` pricing only)."""

    category: str
    opened_at: datetime
    expires_at: datetime

    def is_open_at(self, moment: datetime) -> bool:
        """Whether a message sent at ``moment`` falls inside this conversation."""
        return self.opened_at <= moment < self.expires_at


# Shared defaults: the values are frozen, so one instance serves every contact.
_NO_WINDOW = CareWindow()
_NO_CONSENT = ConsentState()
_NO_REENGAGEMENT = Reengagement()


@dataclass(frozen=True, slots=True, kw_only=True)
class ContactState:
    """The policy's view of one customer of one business number (``wa_id`` is the customer)."""

    wa_id: str
    window: CareWindow = _NO_WINDOW
    consent: ConsentState = _NO_CONSENT
    reengagement: Reengagement = _NO_REENGAGEMENT
    conversations: tuple[Conversation, ...] = ()
    #: Marketing messages: opted out after a ``user_preferences`` "stop" (or a 131050), in again after
    #: "resume"; the same opt-out-wins rule as consent (policy/consent.py).
    marketing: ConsentState = _NO_CONSENT


def apply_inbound_message(
    state: ContactState,
    *,
    at: datetime,
    text: str | None = None,
    referral: bool = False,
    settings: PolicySettings,
) -> ContactState:
    """Record a customer message sent at ``at``: it opens or extends the window, resets the
    re-engagement count, and opts the customer out when the whole text is an opt-out keyword.

    Idempotent: applying the same message twice gives the same state.
    """
    window = apply_inbound(state.window, at=at, referral=referral, settings=settings)
    reengagement = reset_reengagement(state.reengagement, customer_message_at=at)
    consent = state.consent
    if text is not None and is_opt_out_keyword(text, settings.opt_out_keywords):
        event = ConsentEvent(status=ConsentStatus.OPTED_OUT, source="keyword", proof=text, at=at)
        consent = apply_consent_event(consent, event, tolerance=settings.consent_tolerance)
    if window is state.window and reengagement is state.reengagement and consent is state.consent:
        return state
    return replace(state, window=window, reengagement=reengagement, consent=consent)
