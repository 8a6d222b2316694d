"""Outbound messages: decide with the policy core, then store message + outbox row in one transaction.

See docs/subsystems/delivery.md. ``check_send_request`` validates and never writes; ``do_queue_send``
writes and returns what the API answers. The Graph API body is built here, at acceptance, so the
worker sends exactly what was decided and stores nothing it would have to rebuild.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, Row
from sqlalchemy.exc import IntegrityError

from carewindow.actions.errors import SendRefused, ValidationFailed
from carewindow.actions.events import Event
from carewindow.policy import (
    Action,
    Decision,
    MessageKind,
    OnClosed,
    PolicySettings,
    PricingUsage,
    RenderedTemplate,
    SendRequest,
    Template,
    TemplateRef,
    decide,
)
from carewindow.storage import contacts as contact_store
from carewindow.storage import messages as message_store
from carewindow.storage import outbox as outbox_store
from carewindow.storage import templates as template_store
from carewindow.storage.engine import write_tx
from carewindow.storage.ids import new_id
from carewindow.wire.messages import build_send_body, validate_outbound


@dataclass(frozen=True, slots=True, kw_only=True)
class SendCommand:
    """A validated request to send one message to ``to`` (wa_id digits)."""

    to: str
    message_type: str
    content: Mapping[str, Any] | Sequence[Any] | None = None
    template: TemplateRef | None = None
    on_closed: OnClosed = OnClosed.REJECT
    fallback: TemplateRef | None = None
    ticket_id: str | None = None
    idempotency_key: str | None = None
    context_wamid: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SendOutcome:
    message: Row[Any]
    decision: Decision | None  # None when an idempotency key returned an earlier message
    fallback_message_id: str | None = None
    events: tuple[Event, ...] = field(default_factory=tuple)


def check_send_request(cmd: SendCommand) -> None:
    """Raise ValidationFailed when the message object breaks a platform limit (nothing is written)."""
    if cmd.message_type == "template":
        if cmd.template is None:
            raise ValidationFailed([(("template",), "a template message needs template.name and language")])
        return
    errors = validate_outbound(cmd.message_type, cmd.content)
    if errors:
        raise ValidationFailed([(e.loc, e.msg) for e in errors])
    if cmd.on_closed is not OnClosed.REJECT and cmd.fallback is None:
        raise ValidationFailed(
            [(("fallback_template",), f"on_closed={cmd.on_closed.value} needs a fallback_template")]
        )


def do_queue_send(
    engine: Engine,
    cmd: SendCommand,
    *,
    phone_number_id: str,
    settings: PolicySettings,
    now: datetime,
    hold_period: timedelta,
) -> SendOutcome:
    """Decide and, when allowed, store the message and its outbox row atomically."""
    check_send_request(cmd)
    try:
        with write_tx(engine) as conn:
            if cmd.idempotency_key:
                earlier = message_store.get_by_idempotency_key(conn, cmd.idempotency_key)
                if earlier is not None:
                    return SendOutcome(message=earlier, decision=None)
            return _queue(
                conn, cmd, phone_number_id=phone_number_id, settings=settings, now=now, hold=hold_period
            )
    except IntegrityError:
        # Two requests with one idempotency key raced; the loser answers with the winner's message.
        if cmd.idempotency_key:
            with engine.connect() as conn:
                earlier = message_store.get_by_idempotency_key(conn, cmd.idempotency_key)
            if earlier is not None:
                return SendOutcome(message=earlier, decision=None)
        raise


def _queue(
    conn: Connection,
    cmd: SendCommand,
    *,
    phone_number_id: str,
    settings: PolicySettings,
    now: datetime,
    hold: timedelta,
) -> SendOutcome:
    contact = contact_store.get_or_create(
        conn, phone_number_id=phone_number_id, wa_id=cmd.to, now=now, for_update=True
    )
    state = contact_store.state_from_row(contact)
    template = _lookup(conn, cmd.template)
    fallback = _lookup(conn, cmd.fallback)
    request = SendRequest(
        to=cmd.to,
        message_type=cmd.message_type,
        template=cmd.template,
        on_closed=cmd.on_closed,
        fallback=cmd.fallback,
    )
    decision = decide(
        request,
        state,
        template=template,
        fallback_template=fallback,
        settings=settings,
        now=now,
        usage=PricingUsage(),
    )
    if not decision.allowed:
        raise SendRefused(decision)
    ticket_id = cmd.ticket_id or contact.open_ticket_id
    events: list[Event] = []
    fallback_id: str | None = None
    if decision.action is Action.SEND:
        message = _insert_outbound(
            conn,
            cmd,
            contact,
            decision,
            template=decision.send_template,
            now=now,
            ticket_id=ticket_id,
            idempotency_key=cmd.idempotency_key,
            status="queued",
        )
    elif decision.action is Action.SEND_FALLBACK:
        message = _insert_outbound(
            conn,
            cmd,
            contact,
            decision,
            template=decision.send_template,
            now=now,
            ticket_id=ticket_id,
            idempotency_key=cmd.idempotency_key,
            status="queued",
            as_template=True,
        )
    else:  # HOLD: keep the message, knock with the fallback template
        knock = _insert_outbound(
            conn,
            cmd,
            contact,
            decision,
            template=decision.send_template,
            now=now,
            ticket_id=ticket_id,
            idempotency_key=None,
            status="queued",
            as_template=True,
        )
        fallback_id = knock.id
        message = _insert_outbound(
            conn,
            cmd,
            contact,
            decision,
            template=None,
            now=now,
            ticket_id=ticket_id,
            idempotency_key=cmd.idempotency_key,
            status="held",
            hold_until=now + hold,
            knock_message_id=knock.id,
            charge=False,
        )
    values = contact_store.state_values(decision.state_after, window_length=settings.window)
    values.update(updated_at=now, last_activity_at=max(now, contact.last_activity_at or now))
    if ticket_id and ticket_id != contact.open_ticket_id:
        values["open_ticket_id"] = ticket_id
    contact_store.update_values(conn, contact.id, values)
    events.append(
        Event(
            type="message.queued",
            wa_id=cmd.to,
            phone_number_id=phone_number_id,
            data={"id": message.id, "status": message.status},
        )
    )
    return SendOutcome(
        message=message, decision=decision, fallback_message_id=fallback_id, events=tuple(events)
    )


def _lookup(conn: Connection, ref: TemplateRef | None) -> Template | None:
    if ref is None:
        return None
    row = template_store.get(conn, ref.name, ref.language)
    return template_store.template_from_row(row) if row is not None else None


def _insert_outbound(
    conn: Connection,
    cmd: SendCommand,
    contact: Row[Any],
    decision: Decision,
    *,
    template: RenderedTemplate | None,
    now: datetime,
    ticket_id: str | None,
    idempotency_key: str | None,
    status: str,
    as_template: bool = False,
    hold_until: datetime | None = None,
    knock_message_id: str | None = None,
    charge: bool = True,
) -> Row[Any]:
    is_template = as_template or cmd.message_type == "template"
    message_type = "template" if is_template else cmd.message_type
    body = build_send_body(
        to=cmd.to,
        message_type=message_type,
        content=None if is_template else cmd.content,
        template=template if is_template else None,
        context_wamid=cmd.context_wamid,
    )
    text = template.body_text if (is_template and template is not None) else _preview(cmd)
    c = decision.charge if charge else None
    values: dict[str, Any] = {
        "id": new_id("msg"),
        "contact_id": contact.id,
        "direction": "out",
        "type": message_type,
        "kind": (MessageKind.TEMPLATE if is_template else MessageKind.SESSION).value,
        "status": status,
        "content": body,
        "text": text,
        "template_name": template.name if (is_template and template) else None,
        "template_language": template.language if (is_template and template) else None,
        "ticket_id": ticket_id,
        "idempotency_key": idempotency_key,
        "on_closed": cmd.on_closed.value,
        "knock_message_id": knock_message_id,
        "hold_until": hold_until,
        "ts": now,
        "created_at": now,
        "updated_at": now,
        "charge_billable": c.billable if c else None,
        "charge_category": c.category if c else None,
        "charge_amount": c.amount if c else None,
        "charge_currency": c.currency if c else None,
        "charge_model": c.pricing_model if c else None,
        "charge_market": c.market if c else None,
        "charge_reason": c.reason if c else None,
    }
    seq = message_store.insert_outbound(conn, values)
    message_store.add_event(conn, message_seq=seq, status=status, at=now)
    if status == "queued":
        outbox_store.enqueue(conn, message_seq=seq, phone_number_id=contact.phone_number_id, available_at=now)
    row = message_store.get_by_seq(conn, seq)
    assert row is not None
    return row


def _preview(cmd: SendCommand) -> str | None:
    content = cmd.content if isinstance(cmd.content, Mapping) else {}
    if cmd.message_type == "text":
        body = content.get("body")
        return body if isinstance(body, str) else None
    caption = content.get("caption")
    if isinstance(caption, str):
        return caption
    return f"[{cmd.message_type}]"
