"""Sends of one group commit in one transaction, statements shared (docs/performance.md).

``do_send_batch(conn, jobs)`` gives what ``do_queue_send`` called for each job in turn would give, with a
number of statements that does not grow with the batch:

- one lookup of the idempotency keys; a key repeated inside the batch answers with the message its
  first accepted use stored;
- one lookup of the contacts (``FOR UPDATE`` on PostgreSQL, in id order, as every batch writer locks
  them); missing ones are inserted with one statement and read back, and deleted again at the end when
  every send to them was refused (one-by-one, a refused send rolls its new contact back);
- one lookup of every (name, language) template the batch names; one read of each number's
  ``meta_pmp_2026`` service counter;
- the policy in Python, job by job in arrival order, on in-memory contacts and counters;
- one multi-row insert of the messages (RETURNING), one of their history, one of their outbox rows, one
  executemany UPDATE of the changed contacts (fixed columns, id order), one counter upsert per number
  and one insert of outgoing webhook deliveries.

A refused job gets its ``SendRefused`` back as its result; nothing it would have written is written.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Row, Select, and_, delete, or_, select

from carewindow.actions import outgoing
from carewindow.actions.errors import SendRefused
from carewindow.actions.events import Event
from carewindow.actions.outbound import base_values, message_values, preview
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
from carewindow.storage import subscriptions as subscription_store
from carewindow.storage import templates as template_store
from carewindow.storage.bulk import (
    PerDialect,
    Writes,
    insert_returning,
    insert_rows,
    keys,
    listed,
    update_rows,
)
from carewindow.storage.engine import dialect_insert, is_sqlite
from carewindow.storage.tables import contacts, message_events, messages, outbox, service_usage, templates


@dataclass(frozen=True, slots=True, kw_only=True)
class SendJob:
    """One send request queued for the send group commit."""

    cmd: Any  # actions.send.SendCommand (imported lazily: send imports this module)
    phone_number_id: str
    settings: PolicySettings
    now: datetime
    hold_period: timedelta


# Columns the contact UPDATE writes (the whole mutable state: untouched ones are written unchanged).
_CONTACT_COLUMNS = (
    "last_inbound_at",
    "window_opened_at",
    "window_expires_at",
    "entry_point_at",
    "consent_status",
    "consent_source",
    "consent_proof",
    "consent_updated_at",
    "reengagement_count",
    "reengagement_first_sent_at",
    "conversations",
    "updated_at",
    "last_activity_at",
    "held_count",
    "open_ticket_id",
    "created_at",
)
_ALL_MESSAGE_COLUMNS = tuple(messages.c.keys())


@PerDialect
def _by_idempotency_keys(pg: bool) -> Select[Any]:
    return (
        select(messages, contacts.c.wa_id, contacts.c.phone_number_id)
        .join(contacts, contacts.c.id == messages.c.contact_id)
        .where(listed(messages.c.idempotency_key, "keys", pg))
    )


@dataclass(slots=True)
class _Plan:
    """What the batch will write, in arrival order."""

    # Message rows in arrival order; ``scheduled`` ones have a column set of their own.
    messages: list[tuple[bool, dict[str, Any]]] = field(default_factory=list)
    history: list[tuple[str, str, datetime]] = field(default_factory=list)  # message id, status, at
    outbox: list[tuple[str, str, datetime]] = field(default_factory=list)  # message id, number, available
    contacts: dict[int, dict[str, Any]] = field(default_factory=dict)  # changed contacts by id
    used_contacts: set[int] = field(default_factory=set)


@dataclass(slots=True)
class _Pending:
    """A job's answer before the insert has returned its rows."""

    message_id: str | None = None  # the message answered with (by id), once written
    decision: Decision | None = None
    fallback_message_id: str | None = None
    events: tuple[Event, ...] = ()
    refused: SendRefused | None = None
    earlier: Row[Any] | None = None  # idempotency key found in the database


def do_send_batch(conn: Connection, jobs: list[SendJob]) -> list[Any]:
    """Write ``jobs`` in one transaction; each result is a ``SendOutcome`` or a ``SendRefused``."""
    from carewindow.actions.send import SendOutcome

    given = keys(j.cmd.idempotency_key for j in jobs if j.cmd.idempotency_key)
    earlier: dict[str, Row[Any]] = {}
    if given:
        for row in conn.execute(_by_idempotency_keys(conn), {"keys": given}):
            earlier[row.idempotency_key] = row
    wanted = {(j.phone_number_id, j.cmd.to) for j in jobs if j.cmd.idempotency_key not in earlier}
    people = contact_store.get_many(conn, wanted, for_update=True)
    created: set[int] = set()
    missing: dict[tuple[str, str], datetime] = {}
    for j in jobs:
        k = (j.phone_number_id, j.cmd.to)
        if k in wanted and k not in people:
            missing.setdefault(k, j.now)
    if missing:
        contact_store.create_many(conn, missing)
        fresh = contact_store.get_many(conn, missing.keys(), for_update=True)
        created = {c["id"] for c in fresh.values()}
        people.update(fresh)
    catalog = _templates(conn, jobs)
    counters = _counters(conn, jobs)
    counted: dict[tuple[str, str], int] = {}

    plan = _Plan()
    pending: list[_Pending] = []
    by_key: dict[str, _Pending] = {}
    for job in jobs:
        cmd = job.cmd
        key = cmd.idempotency_key
        if key and key in earlier:
            pending.append(_Pending(earlier=earlier[key]))
            continue
        if key and key in by_key:
            first = by_key[key]
            pending.append(_Pending(message_id=first.message_id))
            continue
        contact = people[(job.phone_number_id, cmd.to)]
        if cmd.send_at is not None and cmd.send_at > job.now:
            p = _Pending(message_id=_plan_scheduled(plan, cmd, contact, job.now))
        else:
            try:
                p = _plan_send(plan, job, contact, catalog, counters, counted)
            except SendRefused as refused:
                pending.append(_Pending(refused=refused))
                continue
        if contact["id"] in created and contact["id"] not in plan.used_contacts:
            # One by one, the contact is created by its first send that is not refused.
            contact["created_at"] = job.now
            if cmd.send_at is not None and cmd.send_at > job.now:
                contact["updated_at"] = job.now
            plan.contacts[contact["id"]] = contact
        plan.used_contacts.add(contact["id"])
        pending.append(p)
        if key:
            by_key[key] = p

    rows = _write(conn, plan, created)
    _count_usage(conn, counted)
    deliveries: list[dict[str, Any]] = []
    results: list[Any] = []
    for job, p in zip(jobs, pending, strict=True):
        if p.refused is not None:
            results.append(p.refused)
            continue
        if p.earlier is not None:
            results.append(SendOutcome(message=p.earlier, decision=None))
            continue
        assert p.message_id is not None
        if p.events:
            deliveries.extend(outgoing.delivery_rows(conn, p.events, now=job.now))
        results.append(
            SendOutcome(
                message=rows[p.message_id],
                decision=p.decision,
                fallback_message_id=p.fallback_message_id,
                events=p.events,
            )
        )
    subscription_store.add_deliveries(conn, deliveries)
    return results


def _templates(conn: Connection, jobs: list[SendJob]) -> dict[tuple[str, str], Template]:
    pairs = {
        (ref.name, ref.language)
        for j in jobs
        for ref in (j.cmd.template, j.cmd.fallback)
        if ref is not None and not (j.cmd.send_at is not None and j.cmd.send_at > j.now)
    }
    if not pairs:
        return {}
    stmt = select(templates).where(
        or_(*(and_(templates.c.name == n, templates.c.language == lang) for n, lang in sorted(pairs)))
    )
    return {(r.name, r.language): template_store.template_from_row(r) for r in conn.execute(stmt)}


def _counters(conn: Connection, jobs: list[SendJob]) -> dict[tuple[str, str], int]:
    """The service counter of each (number, period) a session message of the batch counts against."""
    wanted = {
        (j.phone_number_id, usage_period(j.now, j.settings.service_allowance_period))
        for j in jobs
        if j.cmd.message_type in SESSION_MESSAGE_TYPES and counts_service_usage(j.settings, j.now)
    }
    if not wanted:
        return {}
    out = dict.fromkeys(wanted, 0)
    for number, period in sorted(wanted):
        stmt = select(service_usage.c.count).where(
            service_usage.c.phone_number_id == number, service_usage.c.period == period
        )
        if not is_sqlite(conn):
            stmt = stmt.with_for_update()
        found = conn.execute(stmt).scalar()
        out[(number, period)] = int(found or 0)
    return out


def _lookup(catalog: Mapping[tuple[str, str], Template], ref: TemplateRef | None) -> Template | None:
    return catalog.get((ref.name, ref.language)) if ref is not None else None


def _plan_send(
    plan: _Plan,
    job: SendJob,
    contact: dict[str, Any],
    catalog: Mapping[tuple[str, str], Template],
    counters: dict[tuple[str, str], int],
    counted: dict[tuple[str, str], int],
) -> _Pending:
    """``decide_command`` + ``apply_decision`` on the in-memory contact; raises SendRefused."""
    cmd, settings, now = job.cmd, job.settings, job.now
    request = SendRequest(
        to=cmd.to,
        message_type=cmd.message_type,
        template=cmd.template,
        on_closed=cmd.on_closed,
        fallback=cmd.fallback,
    )
    usage = None
    counter: tuple[str, str] | None = None
    if cmd.message_type in SESSION_MESSAGE_TYPES and counts_service_usage(settings, now):
        counter = (contact["phone_number_id"], usage_period(now, settings.service_allowance_period))
        usage = PricingUsage(service_messages_this_period=counters[counter] + counted.get(counter, 0))
    decision = decide(
        request,
        contact_store.state_from_row(contact),
        template=_lookup(catalog, cmd.template),
        fallback_template=_lookup(catalog, cmd.fallback),
        settings=settings,
        now=now,
        usage=usage,
    )
    ticket_id = cmd.ticket_id or contact["open_ticket_id"]
    knock_pending = False
    if not decision.allowed:
        joinable = decision.code is RefusalCode.REENGAGEMENT_PENDING and cmd.on_closed is OnClosed.DEFER
        if not (joinable and contact["held_count"] > 0):
            raise SendRefused(decision)
        knock_pending = True
    if counter is not None:  # taken, and given back unless it goes out as a session message
        sent_as_session = decision.allowed and decision.kind is MessageKind.SESSION
        counted[counter] = counted.get(counter, 0) + (1 if sent_as_session else 0)
    base = {"wa_id": cmd.to, "phone_number_id": contact["phone_number_id"]}
    events: list[Event] = []
    fallback_id: str | None = None
    if knock_pending or decision.action is Action.HOLD:
        knock_id = None
        if not knock_pending:
            knock_id = fallback_id = _plan_outbound(
                plan,
                cmd,
                contact,
                decision,
                template=decision.send_template,
                as_template=True,
                idempotency_key=None,
                status="queued",
                now=now,
                ticket_id=ticket_id,
            )
        message_id = _plan_outbound(
            plan,
            cmd,
            contact,
            None,
            template=None,
            idempotency_key=cmd.idempotency_key,
            status="held",
            hold_until=now + job.hold_period,
            knock_message_id=knock_id,
            now=now,
            ticket_id=ticket_id,
        )
        status = "held"
        events.append(
            Event(type="message.held", **base, data={"id": message_id, "knock_message_id": knock_id})
        )
    else:
        message_id = _plan_outbound(
            plan,
            cmd,
            contact,
            decision,
            template=decision.send_template,
            as_template=decision.action is Action.SEND_FALLBACK,
            idempotency_key=cmd.idempotency_key,
            status="queued",
            now=now,
            ticket_id=ticket_id,
        )
        status = "queued"
    values: dict[str, Any]
    if knock_pending:  # the refused decision changes no state
        values = {"updated_at": now}
    else:
        values = contact_store.state_values(decision.state_after, window_length=settings.window)
        values.update(updated_at=now, last_activity_at=max(now, contact["last_activity_at"] or now))
    if status == "held":
        values["held_count"] = contact["held_count"] + 1
    if ticket_id and ticket_id != contact["open_ticket_id"]:
        values["open_ticket_id"] = ticket_id
    contact.update(values)
    plan.contacts[contact["id"]] = contact
    events.append(Event(type="message.queued", **base, data={"id": message_id, "status": status}))
    return _Pending(
        message_id=message_id, decision=decision, fallback_message_id=fallback_id, events=tuple(events)
    )


def _plan_outbound(
    plan: _Plan,
    cmd: Any,
    contact: Mapping[str, Any],
    decision: Decision | None,
    *,
    template: RenderedTemplate | None,
    now: datetime,
    ticket_id: str | None,
    idempotency_key: str | None,
    status: str,
    as_template: bool = False,
    hold_until: datetime | None = None,
    knock_message_id: str | None = None,
) -> str:
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
    values.update(
        base_values(cmd, contact["id"], now=now, ticket_id=ticket_id), idempotency_key=idempotency_key
    )
    values["content"]["biz_opaque_callback_data"] = values[
        "id"
    ]  # echoed in statuses: see actions/statuses.py
    plan.messages.append((False, values))
    if status == "queued":
        plan.outbox.append((values["id"], contact["phone_number_id"], now))
    plan.history.append((values["id"], status, now))
    return str(values["id"])


def _plan_scheduled(plan: _Plan, cmd: Any, contact: Mapping[str, Any], now: datetime) -> str:
    assert cmd.send_at is not None
    values = base_values(cmd, contact["id"], now=now, ticket_id=cmd.ticket_id or contact["open_ticket_id"])
    values.update(
        status="scheduled",
        type=cmd.message_type,
        kind=None,
        content=None,
        text=preview(cmd),
        request=cmd.to_json(),
        send_at=cmd.send_at,
        idempotency_key=cmd.idempotency_key,
    )
    plan.messages.append((True, values))
    plan.history.append((values["id"], "scheduled", now))
    plan.outbox.append((values["id"], contact["phone_number_id"], cmd.send_at))
    return str(values["id"])


def _write(conn: Connection, plan: _Plan, created: set[int]) -> dict[str, Row[Any]]:
    rows: dict[str, Row[Any]] = {}
    # One insert per run of rows with one column set (one in all when nothing is scheduled), so the
    # messages take their seq in arrival order as one-by-one sends give them.
    for _, run in itertools.groupby(plan.messages, key=lambda m: m[0]):
        for row in insert_returning(conn, messages, [values for _, values in run], _ALL_MESSAGE_COLUMNS):
            rows[row.id] = row
    writes = Writes(conn)  # history, outbox and contacts: one statement on PostgreSQL
    insert_rows(
        conn,
        message_events,
        [{"message_seq": rows[m].seq, "status": s, "at": at, "error": None} for m, s, at in plan.history],
        skip_conflicts_on=("message_seq", "status"),
        writes=writes,
    )
    insert_rows(
        conn,
        outbox,
        [
            {"message_seq": rows[m].seq, "phone_number_id": n, "available_at": at, "attempts": 0}
            for m, n, at in plan.outbox
        ],
        writes=writes,
    )
    # Locked by get_many(for_update=True) above, in id order.
    update_rows(
        conn,
        contacts,
        "id",
        [{"b_id": cid, **{c: plan.contacts[cid][c] for c in _CONTACT_COLUMNS}} for cid in plan.contacts],
        writes=writes,
    )
    writes.flush()
    unused = created - plan.used_contacts
    if unused:
        conn.execute(delete(contacts).where(contacts.c.id.in_(sorted(unused))))
    return rows


def _count_usage(conn: Connection, counted: Mapping[tuple[str, str], int]) -> None:
    """Add what the batch counted to each (number, period) counter (the row exists afterwards)."""
    for (number, period), n in sorted(counted.items()):
        stmt = dialect_insert(conn, service_usage).values(phone_number_id=number, period=period, count=n)
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["phone_number_id", "period"],
                set_={"count": service_usage.c.count + stmt.excluded.count},
            )
        )
