"""Webhook ingestion: the raw payload and its meaning in one transaction.

See docs/subsystems/webhook-ingest.md.

``do_ingest_webhook`` runs inside a group commit (storage.group_commit); the route answers 200 only
after that commit. Everything here is idempotent, because Meta redelivers and our own group commit
retries items one by one after a failed batch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from carewindow.actions import outgoing
from carewindow.actions.events import Event
from carewindow.actions.held import release_on_inbound
from carewindow.actions.statuses import apply_status
from carewindow.policy import PolicySettings, apply_inbound_message, window_at
from carewindow.storage import contacts as contact_store
from carewindow.storage import messages as message_store
from carewindow.storage import templates as template_store
from carewindow.storage.ids import new_id
from carewindow.storage.tables import webhook_raw
from carewindow.wire.webhook import InboundMessage, MessageType, WebhookBatch

# Per the platform notes, only real customer messages restart the window; these do not.
NON_WINDOW_TYPES = frozenset({MessageType.REACTION, MessageType.SYSTEM, MessageType.REQUEST_WELCOME})
PREVIEW_CHARS = 200


@dataclass(frozen=True, slots=True, kw_only=True)
class IngestJob:
    body: bytes
    batch: WebhookBatch
    received_at: datetime
    store_raw: bool = True
    # Set by do_ingest_batch, which applies the statuses of a whole group commit at once.
    applied_statuses: tuple[Event | None, ...] | None = None


@dataclass(slots=True, kw_only=True)
class IngestResult:
    new_messages: int = 0
    duplicate_messages: int = 0
    statuses_applied: int = 0
    events: list[Event] = field(default_factory=list)


def do_ingest_webhook(conn: Connection, job: IngestJob, *, settings: PolicySettings) -> IngestResult:
    """Write one webhook delivery: raw body, messages, windows, consent, statuses, template updates."""
    result = IngestResult()
    if job.store_raw:
        conn.execute(webhook_raw.insert().values(received_at=job.received_at, body=job.body))
    for msg in job.batch.messages:
        _ingest_message(conn, msg, job.received_at, settings, result)
    if job.applied_statuses is None:
        applied_statuses = [apply_status(conn, st, now=job.received_at) for st in job.batch.statuses]
    else:
        applied_statuses = list(job.applied_statuses)
    for applied in applied_statuses:
        if applied is not None:
            result.statuses_applied += 1
            result.events.append(applied)
    for tu in job.batch.template_updates:
        status = tu.event.upper()
        template_store.set_status(
            conn, name=tu.name, language=tu.language, status=status, reason=tu.reason, now=job.received_at
        )
    outgoing.enqueue_events(conn, result.events, now=job.received_at)
    return result


def _ingest_message(
    conn: Connection,
    msg: InboundMessage,
    received_at: datetime,
    settings: PolicySettings,
    result: IngestResult,
) -> None:
    # Username users may come without a phone number: their business-scoped id keys the contact then.
    wa_id = msg.wa_id or msg.user_id or ""
    contact = contact_store.get_or_create(
        conn, phone_number_id=msg.phone_number_id, wa_id=wa_id, now=received_at, for_update=True
    )
    # A timestamp ahead of our clock (skew) must not stretch the window beyond what we observed.
    at = min(msg.timestamp, received_at)
    preview = (msg.text or f"[{msg.type.value}]")[:PREVIEW_CHARS]
    seq = message_store.insert_inbound(
        conn,
        {
            "id": new_id("msg"),
            "contact_id": contact.id,
            "direction": "in",
            "wamid": msg.wamid,
            "type": msg.type.value
            if msg.type is not MessageType.UNKNOWN
            else str(msg.raw.get("type", "unknown")),
            "status": "received",
            "content": dict(msg.raw),
            "text": msg.text,
            "ticket_id": contact.open_ticket_id,
            "ts": at,
            "created_at": received_at,
            "updated_at": received_at,
        },
    )
    if seq is None:
        result.duplicate_messages += 1
        return
    result.new_messages += 1
    before = contact_store.state_from_row(contact)
    was_open = window_at(before.window, now=received_at, settings=settings).is_open
    after = before
    if msg.type not in NON_WINDOW_TYPES:
        text = msg.text if msg.type is MessageType.TEXT else None
        after = apply_inbound_message(
            before, at=at, text=text, referral=msg.referral is not None, settings=settings
        )
    values: dict[str, Any] = contact_store.state_values(after, window_length=settings.window)
    last_activity = contact.last_activity_at
    values["updated_at"] = received_at
    values["unread_count"] = contact.unread_count + 1
    if last_activity is None or at >= last_activity:
        values["last_activity_at"] = at
        values["last_preview"] = preview
    if msg.profile_name:
        values["profile_name"] = msg.profile_name[:256]
    if msg.user_id:
        values["user_id"] = msg.user_id
    contact_store.update_values(conn, contact.id, values)
    base: dict[str, Any] = {"wa_id": wa_id, "phone_number_id": msg.phone_number_id}
    result.events.append(
        Event(
            type="message.received",
            **base,
            data={"wamid": msg.wamid, "type": msg.type.value, "text": msg.text},
        )
    )
    is_open = window_at(after.window, now=received_at, settings=settings).is_open
    if not was_open and is_open:
        result.events.append(Event(type="window.opened", **base))
    if contact.held_count > 0 and is_open and msg.type not in NON_WINDOW_TYPES:
        result.events.extend(
            release_on_inbound(
                conn,
                contact_id=contact.id,
                wa_id=wa_id,
                phone_number_id=msg.phone_number_id,
                state=after,
                settings=settings,
                now=received_at,
            )
        )
    if after.consent != before.consent:
        contact_store.record_consent_event(
            conn,
            contact_id=contact.id,
            status=after.consent.status.value,
            source=after.consent.source,
            proof=after.consent.proof,
            at=after.consent.updated_at or at,
            now=received_at,
        )
        result.events.append(
            Event(type="consent.changed", **base, data={"status": after.consent.status.value})
        )
