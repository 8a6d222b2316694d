"""Replay a message log under a pricing model: the what-if behind ``carewindow costs simulate``.

The log holds the customer's messages (their timestamps rebuild each contact's care window with
:func:`~carewindow.policy.window.apply_inbound`) and the business's messages (priced in order with the
model's own ``price_parts``, so ``meta_cbp`` conversations and the ``meta_pmp_2026`` service allowance
follow). One pass, O(n) time, memory per contact and period. Replaying the log under the model that
produced it gives back the ledger's charges exactly, provided the customer messages were known when the
business sent (a webhook that arrives after a reply it preceded is the one source of difference).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, NamedTuple

from carewindow.policy.enums import MessageKind, TemplateCategory
from carewindow.policy.pricing.base import Charge, PricingUsage
from carewindow.policy.pricing.usage import counts_service_usage, usage_period
from carewindow.policy.state import ContactState
from carewindow.policy.window import CareWindow, apply_inbound, window_at

if TYPE_CHECKING:  # pragma: no cover - imports for annotations only
    from carewindow.policy.settings import PolicySettings

__all__ = ["CategoryTotal", "LogEntry", "replay", "summarise"]

_SESSION = MessageKind.SESSION
_NO_WINDOW = CareWindow()


class LogEntry(NamedTuple):
    """One message of the log, in send order. Customer messages (``outbound`` False) need ``at`` and
    ``referral``; business messages need ``kind`` and, for templates, ``category``."""

    outbound: bool
    phone_number_id: str
    wa_id: str
    at: datetime
    kind: MessageKind | None = None
    category: TemplateCategory | None = None
    referral: bool = False


def replay(entries: Iterable[LogEntry], *, settings: PolicySettings) -> Iterator[Charge]:
    """Price every business message of ``entries`` under ``settings``' model; yields one charge per
    outbound entry, in order. ``entries`` must be in time order (ties keep their order)."""
    states: dict[tuple[str, str], ContactState] = {}
    windows: dict[tuple[str, str], CareWindow] = {}
    used: dict[tuple[str, str], int] = {}
    price = settings._price
    period = settings.service_allowance_period
    for outbound, number, wa_id, at, kind, category, referral in entries:
        key = (number, wa_id)
        if not outbound:
            windows[key] = apply_inbound(
                windows.get(key, _NO_WINDOW), at=at, referral=referral, settings=settings
            )
            continue
        if kind is None:
            raise ValueError(f"outbound log entry to {wa_id} at {at.isoformat()} has no kind")
        state = states.get(key)
        window = windows.get(key, _NO_WINDOW)
        if state is None:
            state = ContactState(wa_id=wa_id, window=window)
        elif state.window is not window:
            state = replace(state, window=window)
        usage = None
        if kind is _SESSION and counts_service_usage(settings, at):
            counter = (number, usage_period(at, period))
            count = used.get(counter, 0)
            usage = PricingUsage(service_messages_this_period=count)
            used[counter] = count + 1
        view = window_at(window, now=at, settings=settings)
        charge, after = price(kind, category, wa_id, at, view, state, settings, usage)
        states[key] = after
        yield charge


@dataclass(slots=True, kw_only=True)
class CategoryTotal:
    """Messages, billable messages and the amount of one (category, currency)."""

    category: str
    currency: str
    messages: int = 0
    billable: int = 0
    amount: Decimal = field(default_factory=Decimal)


def summarise(charges: Iterable[Charge]) -> dict[tuple[str, str], CategoryTotal]:
    """Totals per (category, currency) of ``charges``."""
    out: dict[tuple[str, str], CategoryTotal] = {}
    # Amounts per key are summed as Decimals at the end: one list append per charge is the cheap part.
    amounts: dict[tuple[str, str], list[Decimal]] = {}
    for c in charges:
        key = (c.category, c.currency)
        total = out.get(key)
        if total is None:
            total = out[key] = CategoryTotal(category=c.category, currency=c.currency)
            amounts[key] = []
        total.messages += 1
        if c.billable:
            total.billable += 1
            amounts[key].append(c.amount)
    for key, total in out.items():
        total.amount = sum(amounts[key], Decimal(0))
    return out
