"""Outbound messages: decide with the policy core, then store message + outbox row in one transaction.

See docs/subsystems/delivery.md. ``check_send_request`` validates and never writes; ``do_queue_send``
writes and returns what the API answers. The Graph API body is built when the message is decided, so
the worker sends exactly what was decided. A scheduled message (``send_at``) is stored undecided and
decided when it is due (``decide_due``), with the window as it is then.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, Row, select, update

from carewindow.actions.errors import SendRefused, ValidationFailed
from carewindow.actions.events import Event
from carewindow.actions.outbound import base_values, message_values
from carewindow.actions.send_batch import SendJob, do_send_batch
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
    Template,
    TemplateRef,
    decide,
)
from carewindow.policy.pricing import counts_service_usage, usage_period
from carewindow.storage import contacts as contact_store
from carewindow.storage import messages as message_store
from carewindow.storage import outbox as outbox_store
from carewindow.storage import templates as template_store
from carewindow.storage import usage as usage_store
from carewindow.storage.engine import connect, write_tx
from carewindow.storage.errors import Conflict
from carewindow.storage.group_commit import GroupCommitter
from carewindow.storage.tables import contacts, messages
from carewindow.wire.messages import validate_outbound


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
    send_at: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "to": self.to,
            "message_type": self.message_type,
            "content": self.content,
            "template": _ref_json(self.template),
            "on_closed": self.on_closed.value,
            "fallback": _ref_json(self.fallback),
            "ticket_id": self.ticket_id,
            "context_wamid": self.context_wamid,
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> SendCommand:
        return cls(
            to=d["to"],
            message_type=d["message_type"],
            content=d.get("content"),
            template=_ref_from(d.get("template")),
            on_closed=OnClosed(d.get("on_closed", "reject")),
            fallback=_ref_from(d.get("fallback")),
            ticket_id=d.get("ticket_id"),
            context_wamid=d.get("context_wamid"),
        )


def _ref_json(ref: TemplateRef | None) -> dict[str, Any] | None:
    if ref is None:
        return None
    params = dict(ref.params) if isinstance(ref.params, Mapping) else list(ref.params)
    return {"name": ref.name, "language": ref.language, "params": params}


def _ref_from(d: Mapping[str, Any] | None) -> TemplateRef | None:
    if d is None:
        return None
    params = d.get("params") or ()
    return TemplateRef(
        name=d["name"], language=d["language"], params=params if isinstance(params, dict) else tuple(params)
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class SendOutcome:
    message: Row[Any]
    decision: Decision | None  # None when an idempotency key returned an earlier message, or scheduled
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
    committer: GroupCommitter[SendJob, Any] | None = None,
) -> SendOutcome:
    """Decide and, when allowed, store the message and its outbox row atomically.

    With ``committer`` (the runtime's send group commit) the send shares a transaction and its
    statements with concurrent ones; without, it runs in a transaction of its own."""
    check_send_request(cmd)
    job = SendJob(
        cmd=cmd, phone_number_id=phone_number_id, settings=settings, now=now, hold_period=hold_period
    )
    try:
        if committer is not None:
            result = committer.submit_sync(job)
        else:
            with write_tx(engine) as conn:
                result = do_send_batch(conn, [job])[0]
    except Conflict as exc:
        return _raced(engine, cmd, exc)
    return send_result(result)


async def queue_send(engine: Engine, committer: GroupCommitter[SendJob, Any], job: SendJob) -> SendOutcome:
    """``do_queue_send`` through the send group commit, from the event loop."""
    check_send_request(job.cmd)
    try:
        result = await committer.submit(job)
    except Conflict as exc:
        return _raced(engine, job.cmd, exc)
    return send_result(result)


def send_result(result: SendOutcome | SendRefused) -> SendOutcome:
    if isinstance(result, SendRefused):
        raise result
    return result


def _raced(engine: Engine, cmd: SendCommand, exc: Conflict) -> SendOutcome:
    # Two requests with one idempotency key raced; the loser answers with the winner's message.
    if cmd.idempotency_key:
        with connect(engine) as conn:
            earlier = message_store.get_by_idempotency_key(conn, cmd.idempotency_key)
        if earlier is not None:
            return SendOutcome(message=earlier, decision=None)
    raise exc


def send_committer(
    engine: Engine, *, threads: int = 1, on_loop: bool = False
) -> GroupCommitter[SendJob, Any]:
    """The group commit sends queue into (started by the app; see ``GroupCommitter``)."""

    def work(conn: Connection, job: SendJob) -> SendOutcome | SendRefused:
        result: SendOutcome | SendRefused = do_send_batch(conn, [job])[0]
        return result

    return GroupCommitter(
        engine, work, name="send", work_batch=do_send_batch, threads=threads, on_loop=on_loop
    )


def decide_command(
    conn: Connection, cmd: SendCommand, contact: Row[Any], *, settings: PolicySettings, now: datetime
) -> Decision:
    """The policy's decision for ``cmd`` against the contact's stored state and the catalog."""
    request = SendRequest(
        to=cmd.to,
        message_type=cmd.message_type,
        template=cmd.template,
        on_closed=cmd.on_closed,
        fallback=cmd.fallback,
    )
    usage = None
    period = None
    if cmd.message_type in SESSION_MESSAGE_TYPES and counts_service_usage(settings, now):
        # meta_pmp_2026's allowance: count this message now (the counter row stays locked until commit,
        # so concurrent sends of one number count in turn); given back unless it goes out as a session.
        period = usage_period(now, settings.service_allowance_period)
        used = usage_store.take(conn, phone_number_id=contact.phone_number_id, period=period)
        usage = PricingUsage(service_messages_this_period=used)
    decision = decide(
        request,
        contact_store.state_from_row(contact),
        template=_lookup(conn, cmd.template),
        fallback_template=_lookup(conn, cmd.fallback),
        settings=settings,
        now=now,
        usage=usage,
    )
    if period is not None and not (decision.allowed and decision.kind is MessageKind.SESSION):
        usage_store.give_back(conn, phone_number_id=contact.phone_number_id, period=period)
    return decision


def apply_decision(
    conn: Connection,
    cmd: SendCommand,
    contact: Row[Any],
    decision: Decision,
    *,
    settings: PolicySettings,
    now: datetime,
    hold: timedelta,
    existing_seq: int | None,
) -> SendOutcome:
    """Write what ``decision`` says. ``existing_seq`` is a scheduled message being decided now."""
    base = {"wa_id": cmd.to, "phone_number_id": contact.phone_number_id}
    ticket_id = cmd.ticket_id or contact.open_ticket_id
    knock_pending = False
    if not decision.allowed:
        joinable = decision.code is RefusalCode.REENGAGEMENT_PENDING and cmd.on_closed is OnClosed.DEFER
        if not (joinable and contact.held_count > 0):
            raise SendRefused(decision)
        # A knock is already out for earlier held messages: this one waits with them, no second template.
        knock_pending = True
    events: list[Event] = []
    fallback_id: str | None = None
    kw: dict[str, Any] = {"now": now, "ticket_id": ticket_id, "existing_seq": existing_seq}
    if knock_pending or decision.action is Action.HOLD:
        knock_id = None
        if not knock_pending:
            knock = _write_outbound(
                conn,
                cmd,
                contact,
                decision,
                template=decision.send_template,
                as_template=True,
                idempotency_key=None,
                status="queued",
                **{**kw, "existing_seq": None},
            )
            knock_id = fallback_id = knock.id
        message = _write_outbound(
            conn,
            cmd,
            contact,
            None,
            template=None,
            idempotency_key=cmd.idempotency_key,
            status="held",
            hold_until=now + hold,
            knock_message_id=knock_id,
            **kw,
        )
        events.append(
            Event(type="message.held", **base, data={"id": message.id, "knock_message_id": knock_id})
        )
    else:
        message = _write_outbound(
            conn,
            cmd,
            contact,
            decision,
            template=decision.send_template,
            as_template=decision.action is Action.SEND_FALLBACK,
            idempotency_key=cmd.idempotency_key,
            status="queued",
            **kw,
        )
    values = contact_store.state_values(decision.state_after, window_length=settings.window)
    values.update(updated_at=now, last_activity_at=max(now, contact.last_activity_at or now))
    if message.status == "held":
        values["held_count"] = contacts.c.held_count + 1
    if ticket_id and ticket_id != contact.open_ticket_id:
        values["open_ticket_id"] = ticket_id
    if knock_pending:  # the refused decision changes no state
        values = {k: v for k, v in values.items() if k in ("held_count", "updated_at", "open_ticket_id")}
    contact_store.update_values(conn, contact.id, values)
    events.append(Event(type="message.queued", **base, data={"id": message.id, "status": message.status}))
    return SendOutcome(
        message=message, decision=decision, fallback_message_id=fallback_id, events=tuple(events)
    )


def decide_due(
    conn: Connection, message_seq: int, *, settings: PolicySettings, now: datetime, hold: timedelta
) -> tuple[str, list[Event]]:
    """Decide a scheduled message that is due; returns its new status and events.

    On refusal the message ends ``failed`` with the refusal's code (``on_closed=reject`` and a closed
    window gives ``window_closed``), as the caller would have been told had it sent now.
    """
    row = message_store.get_by_seq(conn, message_seq)
    assert row is not None and row.request is not None
    cmd = SendCommand.from_json(row.request)
    contact = contact_store.get(conn, phone_number_id=row.phone_number_id, wa_id=row.wa_id, for_update=True)
    assert contact is not None
    decision = decide_command(conn, cmd, contact, settings=settings, now=now)
    try:
        outcome = apply_decision(
            conn, cmd, contact, decision, settings=settings, now=now, hold=hold, existing_seq=message_seq
        )
    except SendRefused as refused:
        error = {"code": refused.code, "title": "Refused at send time", "message": refused.message}
        message_store.set_status(
            conn,
            message_seq,
            {
                "status": "failed",
                "error_code": refused.code,
                "error_title": error["title"],
                "error_message": refused.message,
                "updated_at": now,
            },
        )
        message_store.add_event(conn, message_seq=message_seq, status="failed", at=now, error=error)
        ev = Event(
            type="message.status",
            wa_id=row.wa_id,
            phone_number_id=row.phone_number_id,
            data={"id": row.id, "status": "failed", "error_code": refused.code},
        )
        return "failed", [ev]
    return outcome.message.status, list(outcome.events)


def _lookup(conn: Connection, ref: TemplateRef | None) -> Template | None:
    if ref is None:
        return None
    row = template_store.get(conn, ref.name, ref.language)
    return template_store.template_from_row(row) if row is not None else None


def _write_outbound(
    conn: Connection,
    cmd: SendCommand,
    contact: Row[Any],
    decision: Decision | None,
    *,
    template: RenderedTemplate | None,
    now: datetime,
    ticket_id: str | None,
    idempotency_key: str | None,
    status: str,
    existing_seq: int | None,
    as_template: bool = False,
    hold_until: datetime | None = None,
    knock_message_id: str | None = None,
) -> Row[Any]:
    values = message_values(
        cmd,
        decision,
        template=template,
        now=now,
        status=status,
        as_template=as_template,
        hold_until=hold_until,
        knock_message_id=knock_message_id,
    )
    body = values["content"]
    if existing_seq is None:
        values.update(
            base_values(cmd, contact.id, now=now, ticket_id=ticket_id), idempotency_key=idempotency_key
        )
        body["biz_opaque_callback_data"] = values["id"]  # echoed in statuses: see actions/statuses.py
        row = message_store.insert_outbound_row(conn, values)
        if status == "queued":
            outbox_store.enqueue(
                conn, message_seq=row.seq, phone_number_id=contact.phone_number_id, available_at=now
            )
        message_store.add_event(conn, message_seq=row.seq, status=status, at=now)
        return row
    else:
        seq = existing_seq
        existing = message_store.get_by_seq(conn, seq)
        assert existing is not None
        body["biz_opaque_callback_data"] = existing.id
        message_store.set_status(conn, seq, values)
        if status != "queued":
            outbox_store.remove_for_message(conn, seq)
    message_store.add_event(conn, message_seq=seq, status=status, at=now)
    updated = message_store.get_by_seq(conn, seq)
    assert updated is not None
    return updated


def do_cancel(engine: Engine, message_id: str, *, now: datetime) -> tuple[Row[Any] | None, list[Event]]:
    """Cancel a scheduled, held or not-yet-sent message. Returns the row (None if unknown)."""
    with write_tx(engine) as conn:
        row = message_store.get_by_id(conn, message_id)
        if row is None:
            return None, []
        if row.status not in ("scheduled", "held", "queued", "releasing"):
            return row, []
        if row.status == "queued" and not outbox_store.remove_for_message(conn, row.seq, only_idle=True):
            return row, []  # already in the provider's hands: too late to cancel
        outbox_store.remove_for_message(conn, row.seq)
        message_store.set_status(conn, row.seq, {"status": "cancelled", "updated_at": now})
        message_store.add_event(conn, message_seq=row.seq, status="cancelled", at=now)
        if row.status == "held":
            conn.execute(
                update(contacts)
                .where(contacts.c.id == row.contact_id)
                .values(held_count=contacts.c.held_count - 1)
            )
        updated = message_store.get_by_id(conn, message_id)
    ev = Event(
        type="message.status",
        wa_id=row.wa_id,
        phone_number_id=row.phone_number_id,
        data={"id": row.id, "status": "cancelled"},
    )
    return updated, [ev]


def pending_for_contact(conn: Connection, contact_id: int) -> Sequence[Row[Any]]:
    """Held and scheduled messages of a contact, oldest first (the window response lists them)."""
    return conn.execute(
        select(messages)
        .where(messages.c.contact_id == contact_id, messages.c.status.in_(("held", "scheduled", "releasing")))
        .order_by(messages.c.seq)
    ).all()
