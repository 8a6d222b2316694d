"""The send use case's statements (actions/send/): the batch planner's reads, its one writer's writes,
and the held/scheduled/cancel bookkeeping around them.

Every read here serves a whole batch with one statement (or one per business number and period, for
the service counters); the writes go as multi-row statements through storage/bulk.py, the ones nobody
reads back as one statement on PostgreSQL (``bulk.Writes``).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, Select, and_, delete, or_, select, update

from carewindow.policy import Template
from carewindow.storage import contacts as contact_store
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

# Columns a send writes back to its contact (the whole mutable state: untouched ones are written
# unchanged, so one UPDATE text serves every batch).
SEND_CONTACT_COLUMNS = (
    *contact_store.STATE_COLUMNS,
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


def messages_by_idempotency_keys(conn: Connection, given: Iterable[str]) -> dict[str, Row[Any]]:
    """The stored messages (with wa_id and phone_number_id) holding any of these keys, by key."""
    wanted = keys(given)
    if not wanted:
        return {}
    return {r.idempotency_key: r for r in conn.execute(_by_idempotency_keys(conn), {"keys": wanted})}


def templates_by_pairs(conn: Connection, pairs: Iterable[tuple[str, str]]) -> dict[tuple[str, str], Template]:
    """The catalog's templates for these (name, language) pairs (one SELECT; unknown ones are absent)."""
    wanted = sorted(set(pairs))
    if not wanted:
        return {}
    stmt = select(templates).where(
        or_(*(and_(templates.c.name == n, templates.c.language == lang) for n, lang in wanted))
    )
    return {(r.name, r.language): template_store.template_from_row(r) for r in conn.execute(stmt)}


def lock_service_counters(conn: Connection, pairs: Iterable[tuple[str, str]]) -> dict[tuple[str, str], int]:
    """Each (number, period) service counter, created at 0 when new and locked until commit.

    One upsert per counter (in key order): a row that did not exist is locked as well, so concurrent
    batches of one number count in turn even in a period's first second."""
    out: dict[tuple[str, str], int] = {}
    for number, period in sorted(set(pairs)):
        stmt = dialect_insert(conn, service_usage).values(phone_number_id=number, period=period, count=0)
        stmt = stmt.on_conflict_do_update(
            index_elements=["phone_number_id", "period"], set_={"count": service_usage.c.count}
        ).returning(service_usage.c.count)
        out[(number, period)] = int(conn.execute(stmt).scalar_one())
    return out


def add_service_usage(
    conn: Connection, counted: Mapping[tuple[str, str], int], *, writes: Writes | None = None
) -> None:
    """Add what a batch counted to counters ``lock_service_counters`` holds (zeros write nothing).
    With ``writes`` (PostgreSQL), each update goes with the transaction's other answerless writes."""
    for (number, period), n in sorted(counted.items()):
        if not n:
            continue
        if writes is not None and not is_sqlite(conn):
            writes.add(_bump_sql, (), (n, number, period))
            continue
        conn.execute(
            update(service_usage)
            .where(service_usage.c.phone_number_id == number, service_usage.c.period == period)
            .values(count=service_usage.c.count + n)
        )


def _bump_sql(n: str, number: str, period: str) -> str:
    # The arguments are Writes' own placeholders (%(w0_1)s ...), never values.
    return (
        f"UPDATE service_usage SET count = service_usage.count + CAST({n} AS INTEGER) "  # noqa: S608
        f"WHERE phone_number_id = CAST({number} AS VARCHAR) AND period = CAST({period} AS VARCHAR)"
    )


def store_sends(
    conn: Connection,
    *,
    new_messages: Sequence[tuple[bool, Mapping[str, Any]]],
    decided: Sequence[Mapping[str, Any]],
    history: Sequence[tuple[str | int, str, datetime, Mapping[str, Any] | None]],
    queued: Sequence[tuple[str | int, str, datetime]],
    unqueued: Sequence[int],
    changed_contacts: Iterable[Mapping[str, Any]],
    unused_contacts: Iterable[int],
    counted: Mapping[tuple[str, str], int] | None = None,
) -> dict[str, Row[Any]]:
    """Write a planned batch of sends; returns the new message rows by id.

    ``new_messages``: (scheduled?, columns) in arrival order; each run of one kind is one multi-row
    insert, so seqs follow arrival order. ``decided``: updates of stored messages, each with ``b_seq``
    (same keys within a column set). ``history`` and ``queued`` name their message by id (a new one)
    or by seq (a stored one). ``unqueued``: seqs whose outbox row goes. ``changed_contacts``: contact
    dicts (``id`` and ``SEND_CONTACT_COLUMNS``), locked by the caller in id order.
    ``unused_contacts``: ids created for the batch and not needed (deleted again). ``counted``: what
    to add to each locked service counter (``add_service_usage``; on PostgreSQL part of the one
    combined write)."""
    rows: dict[str, Row[Any]] = {}
    for _, run in itertools.groupby(new_messages, key=lambda m: m[0]):
        for row in insert_returning(conn, messages, [values for _, values in run], _ALL_MESSAGE_COLUMNS):
            rows[row.id] = row

    def seq(ref: str | int) -> int:
        return ref if isinstance(ref, int) else int(rows[ref].seq)

    if unqueued:
        conn.execute(delete(outbox).where(outbox.c.message_seq.in_(sorted(unqueued))))
    writes = Writes(conn)  # history, outbox, messages decided and contacts: one statement on PostgreSQL
    insert_rows(
        conn,
        message_events,
        [
            {"message_seq": seq(m), "status": s, "at": at, "error": dict(err) if err else None}
            for m, s, at, err in history
        ],
        skip_conflicts_on=("message_seq", "status"),
        writes=writes,
    )
    insert_rows(
        conn,
        outbox,
        [
            {"message_seq": seq(m), "phone_number_id": n, "available_at": at, "attempts": 0}
            for m, n, at in queued
        ],
        writes=writes,
    )
    by_columns: dict[tuple[str, ...], list[Mapping[str, Any]]] = {}
    for d in decided:
        by_columns.setdefault(tuple(d), []).append(d)
    for same in by_columns.values():
        update_rows(conn, messages, "seq", same, writes=writes)
    update_rows(
        conn,
        contacts,
        "id",
        [{"b_id": c["id"], **{k: c[k] for k in SEND_CONTACT_COLUMNS}} for c in changed_contacts],
        writes=writes,
    )
    if counted:
        add_service_usage(conn, counted, writes=writes)
    writes.flush()
    unused = sorted(unused_contacts)
    if unused:
        conn.execute(delete(contacts).where(contacts.c.id.in_(unused)))
    return rows


def scheduled_messages(conn: Connection, seqs: Sequence[int]) -> list[Any]:
    """The still-``scheduled`` messages among ``seqs`` (seq, id, request, wa_id, phone_number_id),
    in the order of ``seqs``."""
    if not seqs:
        return []
    found = {
        r.seq: r
        for r in conn.execute(
            select(
                messages.c.seq,
                messages.c.id,
                messages.c.request,
                contacts.c.wa_id,
                contacts.c.phone_number_id,
            )
            .join(contacts, contacts.c.id == messages.c.contact_id)
            .where(messages.c.seq.in_(sorted(set(seqs))), messages.c.status == "scheduled")
        )
    }
    return [found[s] for s in seqs if s in found]


def pending_for_contact(conn: Connection, contact_id: int) -> Sequence[Row[Any]]:
    """Held and scheduled messages of a contact, oldest first (the window response lists them)."""
    return conn.execute(
        select(messages)
        .where(messages.c.contact_id == contact_id, messages.c.status.in_(("held", "scheduled", "releasing")))
        .order_by(messages.c.seq)
    ).all()
