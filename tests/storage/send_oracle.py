"""The send use case written plainly, one send per transaction: the oracle of
test_send_batch_equivalence.py, independent of carewindow/actions/send/ (only its command type is
shared).

From the policy: find an earlier message by idempotency key; else lock (or create) the contact; a
``send_at`` ahead stores the message ``scheduled``; else decide, counting the ``meta_pmp_2026`` service
allowance in SQL (taken, given back unless the message goes out as a session message), and write what
the decision says: queued with an outbox row; held behind a knock template (or behind the knock that
earlier held messages are waiting on); refused, nothing (the transaction rolls back). A scheduled
message that is due is decided the same way on its stored row; refused, it ends ``failed``. Whatever
does not go out leaves the outbox.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, Row

from carewindow.actions.errors import SendRefused
from carewindow.actions.events import Event
from carewindow.actions.send import SendCommand
from carewindow.policy import (
    SESSION_MESSAGE_TYPES,
    Action,
    Decision,
    MessageKind,
    OnClosed,
    PolicySettings,
    PricingUsage,
    RefusalCode,
    RenderedTemplate,
    SendRequest,
    TemplateRef,
    decide,
)
from carewindow.policy.pricing import counts_service_usage, usage_period
from carewindow.storage import contacts as contact_store
from carewindow.storage import messages as message_store
from carewindow.storage import outbox as outbox_store
from carewindow.storage import templates as template_store
from carewindow.storage import usage as usage_store
from carewindow.storage.engine import write_tx
from carewindow.storage.ids import new_id
from carewindow.wire.messages import build_send_body


@dataclass(frozen=True)
class Sent:
    message: Row[Any]
    decision: Decision | None
    fallback_message_id: str | None = None
    events: tuple[Event, ...] = ()


def send(
    engine: Engine,
    cmd: SendCommand,
    *,
    phone_number_id: str,
    settings: PolicySettings,
    now: datetime,
    hold: timedelta,
) -> Sent | SendRefused:
    """One send request in a transaction of its own."""
    try:
        with write_tx(engine) as conn:
            return _send(conn, cmd, phone_number_id, settings, now, hold)
    except SendRefused as refused:
        return refused


def decide_due(
    engine: Engine, seq: int, *, settings: PolicySettings, now: datetime, hold: timedelta
) -> list[Event]:
    """One due scheduled message, decided now in a transaction of its own."""
    with write_tx(engine) as conn:
        row = message_store.get_by_seq(conn, seq)
        assert row is not None and row.status == "scheduled"
        cmd = SendCommand.from_json(row.request)
        contact = contact_store.get(
            conn, phone_number_id=row.phone_number_id, wa_id=row.wa_id, for_update=True
        )
        assert contact is not None
        decision = _decide(conn, cmd, contact, settings, now)
        try:
            done = _apply(conn, cmd, contact, decision, settings, now, hold, stored=row)
        except SendRefused as refused:
            error = {"code": refused.code, "title": "Refused at send time", "message": refused.message}
            message_store.set_status(
                conn,
                seq,
                {
                    "status": "failed",
                    "error_code": refused.code,
                    "error_title": error["title"],
                    "error_message": refused.message,
                    "updated_at": now,
                },
            )
            message_store.add_event(conn, message_seq=seq, status="failed", at=now, error=error)
            outbox_store.remove_for_message(conn, seq)
            data = {"id": row.id, "status": "failed", "error_code": refused.code}
            return [
                Event(type="message.status", wa_id=row.wa_id, phone_number_id=row.phone_number_id, data=data)
            ]
        return list(done.events)


def _send(
    conn: Connection,
    cmd: SendCommand,
    number: str,
    settings: PolicySettings,
    now: datetime,
    hold: timedelta,
) -> Sent:
    if cmd.idempotency_key:
        earlier = message_store.get_by_idempotency_key(conn, cmd.idempotency_key)
        if earlier is not None:
            return Sent(message=earlier, decision=None)
    contact = contact_store.get_or_create(
        conn, phone_number_id=number, wa_id=cmd.to, now=now, for_update=True
    )
    if cmd.send_at is not None and cmd.send_at > now:
        values = {
            **_new_row(cmd, contact, now, cmd.ticket_id or contact.open_ticket_id),
            "status": "scheduled",
            "type": cmd.message_type,
            "text": _preview(cmd),
            "request": cmd.to_json(),
            "send_at": cmd.send_at,
            "idempotency_key": cmd.idempotency_key,
        }
        row = message_store.insert_outbound_row(conn, values)
        message_store.add_event(conn, message_seq=row.seq, status="scheduled", at=now)
        outbox_store.enqueue(conn, message_seq=row.seq, phone_number_id=number, available_at=cmd.send_at)
        return Sent(message=row, decision=None)
    decision = _decide(conn, cmd, contact, settings, now)
    return _apply(conn, cmd, contact, decision, settings, now, hold, stored=None)


def _decide(
    conn: Connection, cmd: SendCommand, contact: Row[Any], settings: PolicySettings, now: datetime
) -> Decision:
    usage = None
    period = None
    if cmd.message_type in SESSION_MESSAGE_TYPES and counts_service_usage(settings, now):
        period = usage_period(now, settings.service_allowance_period)
        used = usage_store.take(conn, phone_number_id=contact.phone_number_id, period=period)
        usage = PricingUsage(service_messages_this_period=used)

    def template(ref: TemplateRef | None) -> Any:
        row = template_store.get(conn, ref.name, ref.language) if ref else None
        return template_store.template_from_row(row) if row is not None else None

    decision = decide(
        SendRequest(
            to=cmd.to,
            message_type=cmd.message_type,
            template=cmd.template,
            on_closed=cmd.on_closed,
            fallback=cmd.fallback,
            purpose=cmd.purpose,
        ),
        contact_store.state_from_row(contact),
        template=template(cmd.template),
        fallback_template=template(cmd.fallback),
        settings=settings,
        now=now,
        usage=usage,
    )
    if period is not None and not (decision.allowed and decision.kind is MessageKind.SESSION):
        usage_store.give_back(conn, phone_number_id=contact.phone_number_id, period=period)
    return decision


def _apply(
    conn: Connection,
    cmd: SendCommand,
    contact: Row[Any],
    decision: Decision,
    settings: PolicySettings,
    now: datetime,
    hold: timedelta,
    *,
    stored: Row[Any] | None,
) -> Sent:
    number = contact.phone_number_id
    ticket_id = cmd.ticket_id or contact.open_ticket_id
    joins_held = False
    if not decision.allowed:
        if not (
            decision.code is RefusalCode.REENGAGEMENT_PENDING
            and cmd.on_closed is OnClosed.DEFER
            and contact.held_count > 0
        ):
            raise SendRefused(decision)
        joins_held = True  # a knock is already out for the earlier held messages
    base = {"wa_id": cmd.to, "phone_number_id": number}
    events: list[Event] = []
    fallback_id = None
    if joins_held or decision.action is Action.HOLD:
        knock_id = None
        if not joins_held:
            knock = _write(
                conn,
                cmd,
                contact,
                decision,
                decision.send_template,
                True,
                "queued",
                now,
                ticket_id,
                None,
                knock=True,
            )
            knock_id = fallback_id = knock.id
        message = _write(
            conn,
            cmd,
            contact,
            None,
            None,
            False,
            "held",
            now,
            ticket_id,
            stored,
            hold_until=now + hold,
            knock_message_id=knock_id,
        )
        events.append(
            Event(type="message.held", **base, data={"id": message.id, "knock_message_id": knock_id})
        )
    else:
        as_fallback = decision.action is Action.SEND_FALLBACK
        message = _write(
            conn,
            cmd,
            contact,
            decision,
            decision.send_template,
            as_fallback,
            "queued",
            now,
            ticket_id,
            stored,
        )
    if joins_held:
        values: dict[str, Any] = {"updated_at": now}
    else:
        values = contact_store.state_values(decision.state_after, window_length=settings.window)
        values["updated_at"] = now
        values["last_activity_at"] = max(now, contact.last_activity_at or now)
    if message.status == "held":
        values["held_count"] = contact.held_count + 1
    if ticket_id and ticket_id != contact.open_ticket_id:
        values["open_ticket_id"] = ticket_id
    contact_store.update_values(conn, contact.id, values)
    events.append(Event(type="message.queued", **base, data={"id": message.id, "status": message.status}))
    return Sent(message=message, decision=decision, fallback_message_id=fallback_id, events=tuple(events))


def _new_row(cmd: SendCommand, contact: Row[Any], now: datetime, ticket_id: str | None) -> dict[str, Any]:
    return {
        "id": new_id("msg"),
        "contact_id": contact.id,
        "direction": "out",
        "ticket_id": ticket_id,
        "on_closed": cmd.on_closed.value,
        "ts": now,
        "created_at": now,
        "updated_at": now,
    }


def _write(
    conn: Connection,
    cmd: SendCommand,
    contact: Row[Any],
    decision: Decision | None,
    template: RenderedTemplate | None,
    as_template: bool,
    status: str,
    now: datetime,
    ticket_id: str | None,
    stored: Row[Any] | None,
    *,
    hold_until: datetime | None = None,
    knock_message_id: str | None = None,
    knock: bool = False,
) -> Row[Any]:
    """Store the message as decided: a new row, or the stored scheduled one (a knock is always new)."""
    is_template = as_template or cmd.message_type == "template"
    charge = decision.charge if decision is not None and status != "held" else None
    values: dict[str, Any] = {
        "type": "template" if is_template else cmd.message_type,
        "kind": (MessageKind.TEMPLATE if is_template else MessageKind.SESSION).value,
        "status": status,
        "text": template.body_text if (is_template and template) else _preview(cmd),
        "template_name": template.name if (is_template and template) else None,
        "template_language": template.language if (is_template and template) else None,
        "knock_message_id": knock_message_id,
        "hold_until": hold_until,
        "updated_at": now,
        "charge_billable": charge.billable if charge else None,
        "charge_category": charge.category if charge else None,
        "charge_amount": charge.amount if charge else None,
        "charge_currency": charge.currency if charge else None,
        "charge_model": charge.pricing_model if charge else None,
        "charge_market": charge.market if charge else None,
        "charge_reason": charge.reason if charge else None,
        "charged_at": now if charge else None,
    }
    body = build_send_body(
        to=cmd.to,
        message_type=values["type"],
        content=None if is_template else cmd.content,
        template=template if is_template else None,
        context_wamid=cmd.context_wamid,
    )
    if stored is not None:
        values["content"] = {**body, "biz_opaque_callback_data": stored.id}
        message_store.set_status(conn, stored.seq, values)
        message_store.add_event(conn, message_seq=stored.seq, status=status, at=now)
        if status != "queued":
            outbox_store.remove_for_message(conn, stored.seq)
        row = message_store.get_by_seq(conn, stored.seq)
        assert row is not None
        return row
    values.update(_new_row(cmd, contact, now, ticket_id))
    values["idempotency_key"] = None if knock else cmd.idempotency_key
    values["content"] = {**body, "biz_opaque_callback_data": values["id"]}
    row = message_store.insert_outbound_row(conn, values)
    message_store.add_event(conn, message_seq=row.seq, status=status, at=now)
    if status == "queued":
        outbox_store.enqueue(
            conn, message_seq=row.seq, phone_number_id=contact.phone_number_id, available_at=now
        )
    return row


def _preview(cmd: SendCommand) -> str | None:
    if cmd.message_type == "template":
        return f"[template {cmd.template.name}]" if cmd.template else "[template]"
    content: Mapping[str, Any] = cmd.content if isinstance(cmd.content, Mapping) else {}
    if cmd.message_type == "text":
        body = content.get("body")
        return body if isinstance(body, str) else None
    caption = content.get("caption")
    return caption if isinstance(caption, str) else f"[{cmd.message_type}]"
