"""No payment method on file: Meta delivers only the free tier's service messages.

From 1 October 2026 Meta charges service messages past a free tier (docs/costs.md §1); a business with
no payment method on file gets only the free ones delivered, the rest are accepted and lost. With
``PolicySettings.payment_method_on_file`` false, the send planner asks :func:`past_free_tier` after
``decide()`` and refuses such a message before it is written, with ``payment_method_required``.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import TYPE_CHECKING

from carewindow.policy.decision import Decision
from carewindow.policy.enums import Action, MessageKind
from carewindow.policy.errors import RefusalCode
from carewindow.policy.pricing.base import SERVICE_CATEGORY

if TYPE_CHECKING:  # pragma: no cover - imports for annotations only
    from carewindow.policy.settings import PolicySettings
    from carewindow.policy.state import ContactState

__all__ = ["past_free_tier"]

MESSAGE = (
    "This business number has used its free service messages for the period and has no payment "
    "method on file with Meta, which would not deliver this message. Add a payment method in Meta "
    "Business Manager (then set CAREWINDOW_PAYMENT_METHOD_ON_FILE=true) or wait for the next period."
)


def past_free_tier(decision: Decision, state: ContactState, settings: PolicySettings) -> Decision | None:
    """The refusal of an allowed session message that would be billed (past the free tier) when no
    payment method is on file; None when it may go (a payment method is on file, it is free, or it is
    not a session message)."""
    charge = decision.charge
    if (
        settings.payment_method_on_file
        or not decision.allowed
        or decision.kind is not MessageKind.SESSION
        or charge is None
        or not charge.billable
        or charge.category != SERVICE_CATEGORY
    ):
        return None
    return Decision(
        allowed=False,
        action=Action.REFUSE,
        code=RefusalCode.PAYMENT_METHOD_REQUIRED,
        message=MESSAGE,
        details=MappingProxyType(
            {"free_allowance": settings.service_free_allowance, "pricing_model": charge.pricing_model}
        ),
        kind=None,
        send_template=None,
        hold=False,
        charge=None,
        window=decision.window,
        state_after=state,
    )
