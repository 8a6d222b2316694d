"""The group commit's unit of work: many webhook deliveries in one transaction, statements shared.

See docs/subsystems/webhook-ingest.md and docs/performance.md. ``do_ingest_batch(jobs)`` gives the
same results as ``do_ingest_webhook`` called for each job in turn, with a number of statements that
does not grow with the batch:

- raw bodies: one insert;
- statuses (three in four webhooks): ``apply_statuses`` (the history entries go in first and say which
  statuses are new: one statement on PostgreSQL, a lookup and an insert on SQLite; one update);
- customer messages: one lookup of every sender's contact (``FOR UPDATE`` on PostgreSQL, in id order),
  one insert of the missing contacts and a re-read, one insert of the messages (replayed wamids
  skipped by ``ON CONFLICT``), then the policy in Python, message by message in job order on an
  in-memory copy of each contact (exactly what one-by-one calls read back from the database), and one
  UPDATE of the changed contacts in id order;
- consent history and outgoing webhook deliveries: one insert each.

The inserts and updates whose answer nobody reads (raw bodies, status and contact updates, consent,
deliveries) are collected in ``storage.bulk.Writes``: on PostgreSQL they go as one statement
at the end: a batch of any size is four statements between BEGIN and COMMIT.

The policy decisions are ``ingest.inbound_change``, shared with the one-by-one path, so both agree;
``tests/storage/test_ingest_batch_equivalence.py`` checks the stored rows are the same.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from carewindow.actions import outgoing
from carewindow.actions.held import release_on_inbound
from carewindow.actions.ingest import (
    IngestJob,
    IngestResult,
    clamped_at,
    contact_key,
    inbound_change,
    message_row,
)
from carewindow.actions.statuses import apply_statuses
from carewindow.policy import PolicySettings
from carewindow.storage import contacts as contact_store
from carewindow.storage import messages as message_store
from carewindow.storage import subscriptions as subscription_store
from carewindow.storage import templates as template_store
from carewindow.storage.bulk import Writes, insert_rows
from carewindow.storage.tables import contacts, webhook_raw


def do_ingest_batch(
    conn: Connection, jobs: list[IngestJob], *, settings: PolicySettings
) -> list[IngestResult]:
    """Write ``jobs`` (one group commit) and return one result per job, in order."""
    writes = Writes(conn)  # what nobody reads back goes in one statement at the end
    raw = [{"received_at": j.received_at, "body": j.body} for j in jobs if j.store_raw]
    insert_rows(conn, webhook_raw, raw, writes=writes)
    results = [IngestResult() for _ in jobs]
    if any(j.batch.messages for j in jobs):
        _ingest_messages(conn, jobs, results, settings, writes)
    items = [(st, j.received_at) for j in jobs for st in j.batch.statuses]
    applied = apply_statuses(conn, items, writes=writes)
    at = 0
    deliveries: list[dict[str, Any]] = []
    for job, result in zip(jobs, results, strict=True):
        for event in applied[at : at + len(job.batch.statuses)]:
            if event is not None:
                result.statuses_applied += 1
                result.events.append(event)
        at += len(job.batch.statuses)
        for tu in job.batch.template_updates:
            template_store.set_status(
                conn,
                name=tu.name,
                language=tu.language,
                status=tu.event.upper(),
                reason=tu.reason,
                now=job.received_at,
            )
        if result.events:
            deliveries.extend(outgoing.delivery_rows(conn, result.events, now=job.received_at))
    subscription_store.add_deliveries(conn, deliveries, writes=writes)
    writes.flush()
    return results


def _ingest_messages(
    conn: Connection,
    jobs: list[IngestJob],
    results: list[IngestResult],
    settings: PolicySettings,
    writes: Writes,
) -> None:
    # Contacts: created at the receipt time of their first message, as one-by-one ingestion would.
    first_seen: dict[tuple[str, str], datetime] = {}
    for job in jobs:
        for msg in job.batch.messages:
            first_seen.setdefault(contact_key(msg), job.received_at)
    found = contact_store.get_many(conn, first_seen, for_update=True)
    missing = {k: v for k, v in first_seen.items() if k not in found}
    if missing:
        contact_store.create_many(conn, missing)
        found.update(contact_store.get_many(conn, missing, for_update=True))

    # Messages: one insert; a wamid seen earlier in this batch is a duplicate like a stored one.
    rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    for job in jobs:
        for msg in job.batch.messages:
            if msg.wamid in seen:
                continue
            seen.add(msg.wamid)
            c = found[contact_key(msg)]
            at = clamped_at(msg, job.received_at)
            rows.append(
                message_row(
                    msg, contact_id=c["id"], ticket_id=c["open_ticket_id"], at=at, now=job.received_at
                )
            )
    inserted = message_store.insert_inbound_many(conn, rows)

    # The policy, in job order, on in-memory contacts (what re-reading the row would give).
    changed: dict[int, dict[str, Any]] = {}
    consent: list[dict[str, Any]] = []
    for job, result in zip(jobs, results, strict=True):
        for msg in job.batch.messages:
            if inserted.pop(msg.wamid, None) is None:
                result.duplicate_messages += 1
                continue
            result.new_messages += 1
            c = found[contact_key(msg)]
            change = inbound_change(
                c, msg, at=clamped_at(msg, job.received_at), now=job.received_at, settings=settings
            )
            c.update(change.values)
            changed[c["id"]] = c
            result.events.extend(change.events)
            if change.releases_held and c["held_count"] > 0:
                result.events.extend(
                    release_on_inbound(
                        conn,
                        contact_id=c["id"],
                        wa_id=c["wa_id"],
                        phone_number_id=msg.phone_number_id,
                        state=change.after,
                        settings=settings,
                        now=job.received_at,
                    )
                )
                # Rare (deferred messages waiting): the release lowered the count in the database.
                c["held_count"] = conn.execute(
                    select(contacts.c.held_count).where(contacts.c.id == c["id"])
                ).scalar_one()
            if change.consent_row is not None:
                row = dict(change.consent_row)
                row["recorded_at"] = row.pop("now")
                row["contact_id"] = c["id"]
                consent.append(row)
                result.events.append(change.consent_event())
    contact_store.set_inbound_many(
        conn,
        [{"b_id": cid, **{k: c[k] for k in contact_store.INBOUND_COLUMNS}} for cid, c in changed.items()],
        writes=writes,
    )
    contact_store.record_consent_events(conn, consent, writes=writes)
