"""Webhook ingestion: the raw payload and its meaning in one transaction.

See docs/subsystems/webhook-ingest.md.

``do_ingest_webhook`` runs inside a group commit (storage.group_commit); the route answers 200 only
after that commit. Everything here is idempotent, because Meta redelivers and our own group commit
retries items one by one after a failed batch.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from carewindow.actions import outgoing
from carewindow.actions.events import Event
from carewindow.actions.held import release_on_inbound
from carewindow.actions.statuses import apply_status
from carewindow.policy import ContactState, PolicySettings, apply_inbound_message, window_at
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
    wa_id = contact_key(msg)[1]
    contact = contact_store.get_or_create(
        conn, phone_number_id=msg.phone_number_id, wa_id=wa_id, now=received_at, for_update=True
    )
    at = clamped_at(msg, received_at)
    seq = message_store.insert_inbound(
        conn,
        message_row(msg, contact_id=contact.id, ticket_id=contact.open_ticket_id, at=at, now=received_at),
    )
    if seq is None:
        result.duplicate_messages += 1
        return
    result.new_messages += 1
    change = inbound_change(contact._mapping, msg, at=at, now=received_at, settings=settings)
    contact_store.update_values(conn, contact.id, change.values)
    result.events.extend(change.events)
    if change.releases_held and contact.held_count > 0:
        result.events.extend(
            release_on_inbound(
                conn,
                contact_id=contact.id,
                wa_id=wa_id,
                phone_number_id=msg.phone_number_id,
                state=change.after,
                settings=settings,
                now=received_at,
            )
        )
    if change.consent_row is not None:
        contact_store.record_consent_event(conn, contact_id=contact.id, **change.consent_row)
        result.events.append(change.consent_event())


# ------------------------------------------------------------------ shared with actions.ingest_batch


def contact_key(msg: InboundMessage) -> tuple[str, str]:
    """(phone_number_id, wa_id) of the sender's contact.

    Username users may come without a phone number: their business-scoped id keys the contact then."""
    return msg.phone_number_id, msg.wa_id or msg.user_id or ""


def clamped_at(msg: InboundMessage, received_at: datetime) -> datetime:
    # A timestamp ahead of our clock (skew) must not stretch the window beyond what we observed.
    return min(msg.timestamp, received_at)


def message_row(
    msg: InboundMessage, *, contact_id: int, ticket_id: str | None, at: datetime, now: datetime
) -> dict[str, Any]:
    """The ``messages`` row of an inbound message."""
    return {
        "id": new_id("msg"),
        "contact_id": contact_id,
        "direction": "in",
        "wamid": msg.wamid,
        "type": msg.type.value
        if msg.type is not MessageType.UNKNOWN
        else str(msg.raw.get("type", "unknown")),
        "status": "received",
        "content": dict(msg.raw),
        "text": msg.text,
        "ticket_id": ticket_id,
        "ts": at,
        "created_at": now,
        "updated_at": now,
    }


@dataclass(slots=True, kw_only=True)
class InboundChange:
    """What a newly stored inbound message does to its contact (``inbound_change``)."""

    before: ContactState
    after: ContactState
    values: dict[str, Any]  # contact columns to write
    events: list[Event]  # message.received, and window.opened when it opened
    releases_held: bool  # held messages go out now (if the contact has any)
    consent_row: dict[str, Any] | None  # consent_events row (without contact_id) when consent changed
    base: dict[str, Any]

    def consent_event(self) -> Event:
        return Event(type="consent.changed", **self.base, data={"status": self.after.consent.status.value})


def inbound_change(
    contact: Mapping[Any, Any], msg: InboundMessage, *, at: datetime, now: datetime, settings: PolicySettings
) -> InboundChange:
    """The policy applied to ``contact`` (its row's columns) for a new message ``msg`` received ``now``."""
    before = contact_store.state_from_row(contact)
    was_open = window_at(before.window, now=now, settings=settings).is_open
    after = before
    counts = msg.type not in NON_WINDOW_TYPES
    if counts:
        text = msg.text if msg.type is MessageType.TEXT else None
        after = apply_inbound_message(
            before, at=at, text=text, referral=msg.referral is not None, settings=settings
        )
    values: dict[str, Any] = contact_store.state_values(after, window_length=settings.window)
    last_activity = contact["last_activity_at"]
    values["updated_at"] = now
    values["unread_count"] = contact["unread_count"] + 1
    if last_activity is None or at >= last_activity:
        values["last_activity_at"] = at
        values["last_preview"] = (msg.text or f"[{msg.type.value}]")[:PREVIEW_CHARS]
    if msg.profile_name:
        values["profile_name"] = msg.profile_name[:256]
    if msg.user_id:
        values["user_id"] = msg.user_id
    base: dict[str, Any] = {"wa_id": contact_key(msg)[1], "phone_number_id": msg.phone_number_id}
    events = [
        Event(
            type="message.received",
            **base,
            data={"wamid": msg.wamid, "type": msg.type.value, "text": msg.text},
        )
    ]
    is_open = window_at(after.window, now=now, settings=settings).is_open
    if not was_open and is_open:
        events.append(Event(type="window.opened", **base))
    consent_row = None
    if after.consent != before.consent:
        consent_row = {
            "status": after.consent.status.value,
            "source": after.consent.source,
            "proof": after.consent.proof,
            "at": after.consent.updated_at or at,
            "now": now,
        }
    return InboundChange(
        before=before,
        after=after,
        values=values,
        events=events,
        releases_held=is_open and counts,
        consent_row=consent_row,
        base=base,
    )
