"""The reference for batch ingestion: each webhook written alone, statement by statement.

This is how carewindow ingested webhooks before the group commit shared statements across a batch;
``actions.ingest.do_ingest_batch`` must store exactly what calling ``ingest_one_by_one`` for each
webhook in turn stores (tests/storage/test_ingest_batch_equivalence.py). It shares only the policy
decisions (``inbound_change``) and the row shapes with the package, not the writing.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, insert

from carewindow.actions import outgoing
from carewindow.actions.consent import apply_user_preferences, is_marketing_stop, marketing_stop_from_failure
from carewindow.actions.held import release_on_inbound
from carewindow.actions.ingest import (
    IngestJob,
    IngestResult,
    clamped_at,
    contact_key,
    inbound_change,
    message_row,
)
from carewindow.actions.media import inbound_media_row
from carewindow.actions.statuses import apply_status
from carewindow.policy import PolicySettings
from carewindow.storage import contacts as contact_store
from carewindow.storage import media as media_store
from carewindow.storage import messages as message_store
from carewindow.storage import templates as template_store
from carewindow.storage.tables import webhook_raw
from carewindow.wire.webhook import InboundMessage


def ingest_one_by_one(conn: Connection, job: IngestJob, *, settings: PolicySettings) -> IngestResult:
    """Write one webhook delivery: raw body, messages, windows, consent, statuses, template updates."""
    result = IngestResult()
    conn.execute(insert(webhook_raw).values(received_at=job.received_at, body=job.body))
    for msg in job.batch.messages:
        _ingest_message(conn, msg, job.received_at, settings, result)
    for st in job.batch.statuses:
        applied = apply_status(conn, st, now=job.received_at)
        if applied is not None:
            result.statuses_applied += 1
            result.events.append(applied)
        if is_marketing_stop(st):
            result.events.extend(
                marketing_stop_from_failure(conn, st, now=job.received_at, settings=settings)
            )
    for tu in job.batch.template_updates:
        template_store.set_status(
            conn,
            name=tu.name,
            language=tu.language,
            status=tu.event.upper(),
            reason=tu.reason,
            now=job.received_at,
        )
    result.events.extend(
        apply_user_preferences(conn, job.batch.other, now=job.received_at, settings=settings)
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
    row = message_row(msg, contact_id=contact.id, ticket_id=contact.open_ticket_id, at=at, now=received_at)
    seq = message_store.insert_inbound(conn, row)
    if seq is None:
        result.duplicate_messages += 1
        return
    result.new_messages += 1
    media = inbound_media_row(msg, message_id=row["id"], contact_id=contact.id, now=received_at)
    if media is not None:
        media_store.add_many(conn, [media])
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
        if (event := change.consent_event()) is not None:
            result.events.append(event)
