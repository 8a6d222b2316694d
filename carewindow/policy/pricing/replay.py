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
from datetime import UTC, datetime, time
from decimal import Decimal
from typing import TYPE_CHECKING, Any, NamedTuple

from carewindow.policy.enums import MessageKind, TemplateCategory, WindowState
from carewindow.policy.pricing.base import Charge, PricingUsage
from carewindow.policy.pricing.models import PMP_2026_STARTS
from carewindow.policy.state import ContactState
from carewindow.policy.window import CareWindow, apply_inbound, make_view, window_at

if TYPE_CHECKING:  # pragma: no cover - imports for annotations only
    from carewindow.policy.settings import PolicySettings

__all__ = ["CategoryTotal", "LogEntry", "SideBySide", "replay", "side_by_side", "summarise"]

_SESSION = MessageKind.SESSION
_NO_WINDOW = CareWindow()
_OPEN = WindowState.OPEN
_make_view = make_view
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_PMP_2026_MIDNIGHT = datetime.combine(PMP_2026_STARTS, time(0), tzinfo=UTC)


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
    # Per contact: [care window, pricing state]. Pricing reads the window through the view it is given
    # and the state only for meta_cbp's conversations, so the state's own window is never updated.
    contacts: dict[tuple[str, str], list[Any]] = {}
    used: dict[tuple[object, ...], int] = {}
    price = settings._price
    session_charge = settings._session_charge
    card = settings.rate_card
    length = settings.window
    by_day = settings.service_allowance_period == "day"
    name = settings.pricing_model
    # When session messages count against the allowance: always, from a date on (auto), or never.
    counting_from = _EPOCH if name == "meta_pmp_2026" else _PMP_2026_MIDNIGHT if name == "auto" else None
    for outbound, number, wa_id, at, kind, category, referral in entries:
        key = (number, wa_id)
        found = contacts.get(key)
        if found is None:
            found = contacts[key] = [_NO_WINDOW, None]
        if not outbound:
            found[0] = apply_inbound(found[0], at=at, referral=referral, settings=settings)
            continue
        if kind is None:
            raise ValueError(f"outbound log entry to {wa_id} at {at.isoformat()} has no kind")
        window = found[0]
        usage = None
        if kind is _SESSION and counting_from is not None and at >= counting_from:
            counter = (number, at.year, at.month, at.day) if by_day else (number, at.year, at.month)
            count = used.get(counter, 0)
            usage = PricingUsage(service_messages_this_period=count)
            used[counter] = count + 1
        last = window.last_inbound_at
        if last is not None and at < last + length and window.entry_point_at is None:
            if kind is _SESSION and usage is None:
                # decide()'s own shortcut: a session message in an open window, no entry point.
                fixed = session_charge(wa_id, at, card)
                if fixed is not None:
                    yield fixed
                    continue
            left = last + length - at
            view = _make_view(
                state=_OPEN,
                opened_at=window.opened_at,
                expires_at=last + length,
                seconds_left=left.days * 86400 + left.seconds + (left.microseconds > 0),
                last_inbound_at=last,
                closed_at=None,
                entry_point_expires_at=None,
            )
        else:
            view = window_at(window, now=at, settings=settings)
        state = found[1]
        if state is None:
            state = ContactState(wa_id=wa_id)
        charge, found[1] = price(kind, category, wa_id, at, view, state, settings, usage)
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


@dataclass(slots=True, kw_only=True)
class SideBySide:
    """One model's replay of a log: totals per (category, currency) and the eras that priced it
    (``auto`` names the eras in force on the send dates; any other model names itself)."""

    model: str
    totals: dict[tuple[str, str], CategoryTotal]
    eras: tuple[str, ...]


def side_by_side(
    entries: list[LogEntry], *, settings: PolicySettings, models: Iterable[str]
) -> list[SideBySide]:
    """Replay the same ``entries`` under each of ``models`` (with ``settings``' card and allowance):
    "your November under the October rules", one pass per model."""
    out = []
    for model in models:
        used: dict[str, None] = {}
        charges = replay(entries, settings=replace(settings, pricing_model=model))
        totals = summarise(_noting(charges, used))
        out.append(SideBySide(model=model, totals=totals, eras=tuple(used)))
    return out


def _noting(charges: Iterable[Charge], models: dict[str, None]) -> Iterator[Charge]:
    """``charges``, noting each one's model in ``models`` (in order of first appearance)."""
    for c in charges:
        models[c.pricing_model] = None
        yield c
