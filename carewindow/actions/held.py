"""Deferred delivery: held messages go out, in order and once, when the customer writes again.

When the customer writes, the first held message is queued and the rest are marked ``releasing``; each
one is queued only after the previous one got its answer from the provider (``release_next``), so the
customer reads them in the order they were accepted even with several workers. A knock template that
is still waiting in the outbox is cancelled: the customer already answered.
"""

from __future__ import annotations

from datetime import datetime

from carewindow.actions.events import Event
from carewindow.actions.send.rows import charge_values
from carewindow.policy import ContactState, PolicySettings, PricingUsage, SendRequest, decide
from carewindow.policy.errors import RefusalCode
from carewindow.policy.payment import past_free_tier
from carewindow.policy.pricing import counts_service_usage, usage_period
from carewindow.storage import contacts as contact_store
from carewindow.storage import messages as message_store
from carewindow.storage import outbox as outbox_store
from carewindow.storage import usage as usage_store
from carewindow.storage.engine import Connection


def release_on_inbound(
    conn: Connection,
    *,
    contact_id: int,
    wa_id: str,
    phone_number_id: str,
    state: ContactState,
    settings: PolicySettings,
    now: datetime,
) -> list[Event]:
    """The customer wrote: release every held message (expired ones end ``expired``)."""
    rows = message_store.held_of(conn, contact_id)
    if not rows:
        return []
    base = {"wa_id": wa_id, "phone_number_id": phone_number_id}
    events: list[Event] = []
    live = [r for r in rows if r.hold_until is None or r.hold_until > now]
    for r in rows:
        if r not in live:
            _set(conn, r.seq, "expired", now)
            events.append(Event(type="message.expired", **base, data={"id": r.id}))
    charge = _session_charge(conn, phone_number_id, state, live[0].type, settings, now) if live else {}
    for i, r in enumerate(live):
        if charge is None:  # past the free tier with no payment method: none of them would be delivered
            _fail_unpaid(conn, r.seq, now)
            events.append(Event(type="message.status", **base, data={"id": r.id, "status": "failed"}))
            continue
        status = "queued" if i == 0 else "releasing"
        values: dict[str, object] = {"status": status, "updated_at": now}
        if i == 0:
            values.update(charge)
            outbox_store.enqueue(conn, message_seq=r.seq, phone_number_id=phone_number_id, available_at=now)
        message_store.set_status(conn, r.seq, values)
        message_store.add_event(conn, message_seq=r.seq, status=status, at=now)
        events.append(Event(type="message.released", **base, data={"id": r.id}))
    for knock_id in {r.knock_message_id for r in rows if r.knock_message_id}:
        knock = message_store.get_by_id(conn, knock_id)
        if (
            knock is not None
            and knock.status == "queued"
            and outbox_store.remove_for_message(conn, knock.seq, only_idle=True)
        ):
            _set(conn, knock.seq, "cancelled", now)
            events.append(Event(type="message.status", **base, data={"id": knock.id, "status": "cancelled"}))
    contact_store.take_held(conn, contact_id, len(rows))
    return events


def release_next(
    conn: Connection,
    *,
    contact_id: int,
    state: ContactState,
    phone_number_id: str,
    settings: PolicySettings,
    now: datetime,
) -> bool:
    """Queue the next ``releasing`` message of the contact, if any."""
    row = message_store.next_releasing(conn, contact_id)
    if row is None:
        return False
    charge = _session_charge(conn, phone_number_id, state, row.type, settings, now)
    if charge is None:  # past the free tier with no payment method: the rest would not be delivered
        while row is not None:
            _fail_unpaid(conn, row.seq, now)
            row = message_store.next_releasing(conn, contact_id)
        return False
    message_store.set_status(conn, row.seq, {"status": "queued", "updated_at": now, **charge})
    message_store.add_event(conn, message_seq=row.seq, status="queued", at=now)
    outbox_store.enqueue(conn, message_seq=row.seq, phone_number_id=phone_number_id, available_at=now)
    return True


def expire_due(conn: Connection, *, now: datetime, limit: int = 500) -> list[Event]:
    """Held messages whose hold period passed end ``expired`` (the index on hold_until keeps this cheap)."""
    rows = message_store.held_past(conn, now=now, limit=limit)
    events = []
    for r in rows:
        _set(conn, r.seq, "expired", now)
        contact_store.take_held(conn, r.contact_id, 1)
        events.append(
            Event(type="message.expired", wa_id=r.wa_id, phone_number_id=r.phone_number_id, data={"id": r.id})
        )
    return events


def _set(conn: Connection, seq: int, status: str, now: datetime) -> None:
    message_store.set_status(conn, seq, {"status": status, "updated_at": now})
    message_store.add_event(conn, message_seq=seq, status=status, at=now)


def _fail_unpaid(conn: Connection, seq: int, now: datetime) -> None:
    """A released message Meta would not deliver (no payment method on file, past the free tier)."""
    message_store.set_status(
        conn,
        seq,
        {
            "status": "failed",
            "error_code": RefusalCode.PAYMENT_METHOD_REQUIRED.value,
            "error_title": "Past the free tier with no payment method on file",
            "updated_at": now,
        },
    )
    message_store.add_event(conn, message_seq=seq, status="failed", at=now)


def _session_charge(
    conn: Connection,
    phone_number_id: str,
    state: ContactState,
    message_type: str,
    settings: PolicySettings,
    now: datetime,
) -> dict[str, object] | None:
    """Price the released message as what it now is: a session message in the open window (counted
    against the period's service allowance when the model in force has one). None when no payment
    method is on file and Meta would bill it (policy/payment.py, as the send planner refuses it): the
    count is given back and the caller fails the message."""
    usage = None
    period = usage_period(now, settings.service_allowance_period)
    if counts_service_usage(settings, now):
        used = usage_store.take(conn, phone_number_id=phone_number_id, period=period)
        usage = PricingUsage(service_messages_this_period=used)
    decision = decide(
        SendRequest(to=state.wa_id, message_type=message_type),
        state,
        template=None,
        settings=settings,
        now=now,
        usage=usage,
    )
    if usage is not None and past_free_tier(decision, state, settings) is not None:
        usage_store.give_back(conn, phone_number_id=phone_number_id, period=period)
        return None
    return {**charge_values(decision.charge), "charged_at": now}
