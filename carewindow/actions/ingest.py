"""Webhook ingestion: the raw payloads and their meaning, a whole group commit in one transaction.

See docs/subsystems/webhook-ingest.md and docs/performance.md. The group commit (storage.group_commit)
runs ``do_ingest_batch`` on every batch it takes, a batch of one included (its one-by-one retry after
a failed batch); the route answers 200 only after that commit. Everything here is idempotent, because
Meta redelivers and the group commit retries items one by one after a failed batch.

The number of statements does not grow with the batch:

- raw bodies: one insert;
- statuses (three in four webhooks): ``apply_statuses`` (the history entries go in first and say which
  statuses are new: one statement on PostgreSQL, a lookup and an insert on SQLite; one update);
- customer messages: one lookup of every sender's contact (``FOR UPDATE`` on PostgreSQL, in id order),
  one insert of the missing contacts and a re-read, one insert of the messages (replayed wamids
  skipped by ``ON CONFLICT``), then the policy in Python, message by message in job order on an
  in-memory copy of each contact (exactly what one-by-one writes would read back from the database),
  and one UPDATE of the changed contacts in id order;
- consent history and outgoing webhook deliveries: one insert each.

The inserts and updates whose answer nobody reads (raw bodies, status and contact updates, consent,
deliveries) are collected in ``storage.writes.Writes``: on PostgreSQL they go as one statement at the
end: a batch of any size is four statements between BEGIN and COMMIT.

``tests/storage/ingest_oracle.py`` writes the same webhooks one by one, each in its own transaction;
``tests/storage/test_ingest_batch_equivalence.py`` checks both store the same rows.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from carewindow.actions import fanout, outgoing, platform_changes
from carewindow.actions.consent import (
    apply_user_preferences,
    is_marketing_stop,
    marketing_stop_from_failure,
)
from carewindow.actions.events import Event
from carewindow.actions.held import release_on_inbound
from carewindow.actions.media import inbound_media_row
from carewindow.actions.statuses import apply_statuses
from carewindow.policy import (
    ConsentEvent,
    ConsentStatus,
    ContactState,
    PolicySettings,
    apply_inbound_message,
    consent_outcome,
    is_opt_out_keyword,
    window_at,
)
from carewindow.storage import contacts as contact_store
from carewindow.storage import media as media_store
from carewindow.storage import messages as message_store
from carewindow.storage import subscriptions as subscription_store
from carewindow.storage import templates as template_store
from carewindow.storage import webhooks as webhook_store
from carewindow.storage.engine import Connection, Engine
from carewindow.storage.group_commit import GroupCommitter
from carewindow.storage.ids import new_id
from carewindow.storage.writes import Writes
from carewindow.wire.webhook import InboundMessage, MessageType, WebhookBatch

# Per the platform notes, only real customer messages restart the window; these do not.
NON_WINDOW_TYPES = frozenset({MessageType.REACTION, MessageType.SYSTEM, MessageType.REQUEST_WELCOME})
PREVIEW_CHARS = 200


@dataclass(frozen=True, slots=True, kw_only=True)
class IngestJob:
    """One webhook delivery queued for the ingest group commit."""

    body: bytes
    batch: WebhookBatch
    received_at: datetime


@dataclass(slots=True, kw_only=True)
class IngestResult:
    new_messages: int = 0
    duplicate_messages: int = 0
    statuses_applied: int = 0
    events: list[Event] = field(default_factory=list)


def ingest_committer(
    engine: Engine, policy: Callable[[], PolicySettings], **options: Any
) -> GroupCommitter[IngestJob, IngestResult]:
    """The ingest group commit: ``do_ingest_batch`` on each batch, with the policy ``policy()`` gives
    when the batch runs (a rate card import replaces it); ``options`` are GroupCommitter's."""

    def work_batch(conn: Connection, jobs: list[IngestJob]) -> list[IngestResult]:
        return do_ingest_batch(conn, jobs, settings=policy())

    def work(conn: Connection, job: IngestJob) -> IngestResult:
        return work_batch(conn, [job])[0]

    return GroupCommitter(engine, work, name="ingest", work_batch=work_batch, **options)


def do_ingest_batch(
    conn: Connection, jobs: list[IngestJob], *, settings: PolicySettings
) -> list[IngestResult]:
    """Write ``jobs`` (one group commit) and return one result per job, in order."""
    writes = Writes(conn)  # what nobody reads back goes in one statement at the end
    webhook_store.add_bodies(conn, [(j.received_at, j.body) for j in jobs], writes=writes)
    results = [IngestResult() for _ in jobs]
    if any(j.batch.messages for j in jobs):
        _ingest_messages(conn, jobs, results, settings, writes)
    items = [(st, j.received_at) for j in jobs for st in j.batch.statuses]
    applied = apply_statuses(conn, items, writes=writes)
    at = 0
    deliveries: list[dict[str, Any]] = []
    for job, result in zip(jobs, results, strict=True):
        for st, event in zip(job.batch.statuses, applied[at : at + len(job.batch.statuses)], strict=True):
            if event is not None:
                result.statuses_applied += 1
                result.events.append(event)
            if st.errors and is_marketing_stop(st):  # 131050: the customer stopped marketing
                result.events.extend(
                    marketing_stop_from_failure(conn, st, now=job.received_at, settings=settings)
                )
        at += len(job.batch.statuses)
        for tu in job.batch.template_updates:
            template_store.set_status(
                conn,
                name=tu.name,
                language=tu.language,
                status=tu.event.upper(),
                reason=tu.reason,
                now=job.received_at,
                disable_at=tu.disable_at,
            )
        if job.batch.other:  # the 2026 fields (echoes, template category/quality, user_preferences)
            result.events.extend(platform_changes.apply(conn, job.batch.other, now=job.received_at))
            result.events.extend(
                apply_user_preferences(conn, job.batch.other, now=job.received_at, settings=settings)
            )
        if result.events:
            deliveries.extend(outgoing.delivery_rows(conn, result.events, now=job.received_at))
    # Fan-out of the raw bodies (actions/fanout.py): in the same insert as the event deliveries.
    deliveries.extend(fanout.fanout_rows(conn, [(j.body, j.batch, j.received_at) for j in jobs]))
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
    media_rows: list[dict[str, Any]] = []  # fetch jobs, in the same transaction (actions.media)
    message_ids = {r["wamid"]: r["id"] for r in rows}
    for job, result in zip(jobs, results, strict=True):
        for msg in job.batch.messages:
            if inserted.pop(msg.wamid, None) is None:
                result.duplicate_messages += 1
                continue
            result.new_messages += 1
            c = found[contact_key(msg)]
            if (
                media := inbound_media_row(
                    msg, message_id=message_ids[msg.wamid], contact_id=c["id"], now=job.received_at
                )
            ) is not None:
                media_rows.append(media)
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
                c["held_count"] = contact_store.held_count(conn, c["id"])
            if change.consent_row is not None:
                row = dict(change.consent_row)
                row["recorded_at"] = row.pop("now")
                row["contact_id"] = c["id"]
                consent.append(row)
                if (event := change.consent_event()) is not None:
                    result.events.append(event)
    contact_store.set_inbound_many(
        conn,
        [{"b_id": cid, **{k: c[k] for k in contact_store.INBOUND_COLUMNS}} for cid, c in changed.items()],
        writes=writes,
    )
    contact_store.record_consent_events(conn, consent, writes=writes)
    media_store.add_many(conn, media_rows, writes=writes)


# ------------------------------------------------------------------ one message


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

    def consent_event(self) -> Event | None:
        """``consent.changed`` when the consent changed (a superseded opt-out changes nothing)."""
        if self.after.consent == self.before.consent:
            return None
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
    if counts and msg.type is MessageType.TEXT and is_opt_out_keyword(msg.text, settings.opt_out_keywords):
        # Every opt-out keyword goes in the history, applied or not, with the reason (policy/consent.py).
        outcome = consent_outcome(
            before.consent,
            ConsentEvent(status=ConsentStatus.OPTED_OUT, source="keyword", proof=msg.text, at=at),
            tolerance=settings.consent_tolerance,
        )
        consent_row = {
            "status": ConsentStatus.OPTED_OUT.value,
            "source": "keyword",
            "proof": msg.text,
            "at": at,
            "now": now,
            "applied": outcome.applied,
            "reason": outcome.reason,
            "scope": "templates",
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
