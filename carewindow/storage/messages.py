"""Messages and their status history."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Connection,
    Row,
    Select,
    and_,
    bindparam,
    case,
    or_,
    select,
    update,
)

from carewindow.storage.bulk import (
    PerDialect,
    insert_returning_tuples,
    insert_rows,
    keys,
    listed,
    update_rows,
)
from carewindow.storage.direct import HotSql, dicts, key_list, pg_json, run
from carewindow.storage.engine import dialect_insert, is_sqlite
from carewindow.storage.tables import contacts, message_events, messages, orphan_statuses
from carewindow.storage.writes import Writes as Writes  # re-exported: the batch writes a caller collects

# Statuses only move forward; a late "delivered" after "read" is history, not the current status.
STATUS_RANK = {
    "scheduled": 0,
    "held": 0,
    "queued": 1,
    "sending": 2,
    "sent": 3,
    "delivered": 4,
    "read": 5,
    "failed": 6,
    "expired": 6,
    "cancelled": 6,
    "uncertain": 6,
    "received": 0,
}
_STATUS_ROW = select(
    messages.c.seq,
    messages.c.wamid,
    messages.c.status,
    messages.c.contact_id,
    messages.c.charge_billable,
    messages.c.charge_category,
    messages.c.charge_reason,
    messages.c.actual_billable,
    messages.c.actual_category,
    messages.c.actual_model,
    messages.c.actual_type,
    messages.c.charge_mismatch,
    messages.c.error_code,
    messages.c.error_title,
    messages.c.error_message,
)


def insert_inbound(conn: Connection, values: Mapping[str, Any]) -> int | None:
    """Insert an inbound message; None when its wamid is already stored (a replayed webhook)."""
    stmt = (
        dialect_insert(conn, messages)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["wamid"])
        .returning(messages.c.seq)
    )
    return conn.execute(stmt).scalar_one_or_none()


def insert_inbound_many(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """Insert inbound messages (distinct wamids, same keys in every row) in one executemany;
    returns the seq of each wamid that was new. Already-stored wamids (replays) are skipped."""
    if not rows:
        return {}
    # RETURNING gives only the inserted rows: match them by wamid.
    inserted = insert_returning_tuples(conn, messages, rows, ("wamid", "seq"), skip_conflicts_on=("wamid",))
    return dict(inserted)


def insert_outbound(conn: Connection, values: Mapping[str, Any]) -> int:
    return int(conn.execute(messages.insert().values(**values).returning(messages.c.seq)).scalar_one())


def insert_outbound_row(conn: Connection, values: Mapping[str, Any]) -> Row[Any]:
    """Insert and return the whole stored row (one round trip instead of insert + select)."""
    return conn.execute(messages.insert().values(**values).returning(*messages.c)).one()


def add_event(
    conn: Connection, *, message_seq: int, status: str, at: datetime, error: Mapping[str, Any] | None = None
) -> bool:
    """Record a status in the history; False when that status was already recorded."""
    stmt = (
        dialect_insert(conn, message_events)
        .values(message_seq=message_seq, status=status, at=at, error=dict(error) if error else None)
        .on_conflict_do_nothing(index_elements=["message_seq", "status"])
        .returning(message_events.c.id)
    )
    return conn.execute(stmt).scalar_one_or_none() is not None


def get_by_id(conn: Connection, message_id: str) -> Row[Any] | None:
    return conn.execute(
        select(messages, contacts.c.wa_id, contacts.c.phone_number_id)
        .join(contacts, contacts.c.id == messages.c.contact_id)
        .where(messages.c.id == message_id)
    ).first()


def get_by_seq(conn: Connection, seq: int) -> Row[Any] | None:
    return conn.execute(
        select(messages, contacts.c.wa_id, contacts.c.phone_number_id)
        .join(contacts, contacts.c.id == messages.c.contact_id)
        .where(messages.c.seq == seq)
    ).first()


def get_by_wamid(conn: Connection, wamid: str) -> Any:
    """(seq, status, contact_id, charge_billable, charge_category, charge_reason) of the message, or
    None."""
    return conn.execute(
        select(
            messages.c.seq,
            messages.c.status,
            messages.c.contact_id,
            messages.c.charge_billable,
            messages.c.charge_category,
            messages.c.charge_reason,
        ).where(messages.c.wamid == wamid)
    ).first()


def get_by_idempotency_key(conn: Connection, key: str) -> Row[Any] | None:
    return conn.execute(
        select(messages, contacts.c.wa_id, contacts.c.phone_number_id)
        .join(contacts, contacts.c.id == messages.c.contact_id)
        .where(messages.c.idempotency_key == key)
    ).first()


def history(conn: Connection, message_seq: int) -> Sequence[Row[Any]]:
    return conn.execute(
        select(message_events)
        .where(message_events.c.message_seq == message_seq)
        .order_by(message_events.c.at, message_events.c.id)
    ).all()


def thread(conn: Connection, *, contact_id: int, limit: int, before: Row[Any] | None) -> Sequence[Row[Any]]:
    """A contact's messages, newest first; ``before`` is the message to page back from."""
    stmt = select(messages).where(messages.c.contact_id == contact_id)
    if before is not None:
        stmt = stmt.where(
            or_(
                messages.c.ts < before.ts,
                and_(messages.c.ts == before.ts, messages.c.seq < before.seq),
            )
        )
    return conn.execute(stmt.order_by(messages.c.ts.desc(), messages.c.seq.desc()).limit(limit)).all()


def thread_anchor(conn: Connection, message_id: str) -> Any:
    """(ts, seq) of a message, or None: where ``thread(before=...)`` pages back from."""
    return conn.execute(select(messages.c.ts, messages.c.seq).where(messages.c.id == message_id)).first()


def set_status(conn: Connection, seq: int, values: Mapping[str, Any]) -> None:
    conn.execute(update(messages).where(messages.c.seq == seq).values(**values))


def add_orphan_status(conn: Connection, *, wamid: str, status: str, payload: Mapping[str, Any]) -> None:
    """Keep a status whose wamid is not recorded yet: the provider's webhook can beat our own commit."""
    conn.execute(
        dialect_insert(conn, orphan_statuses)
        .values(wamid=wamid, status=status, payload=dict(payload))
        .on_conflict_do_nothing(index_elements=["wamid", "status"])
    )


def take_orphan_statuses(conn: Connection, wamid: str) -> Sequence[Row[Any]]:
    rows = conn.execute(select(orphan_statuses).where(orphan_statuses.c.wamid == wamid)).all()
    if rows:
        conn.execute(orphan_statuses.delete().where(orphan_statuses.c.wamid == wamid))
    return rows


_STATUS_COLUMNS = tuple(c.name for c in _STATUS_ROW.selected_columns)
_STATUS_FLAGS = ("charge_billable", "actual_billable", "charge_mismatch")
# PostgreSQL: lock the messages (seq order, as every batch writer does), insert the history entries
# of those found, and return each message with the statuses that were new to its history: one round
# trip, and the unique index decides what is new. (Reading the history through a subquery instead
# had PostgreSQL cache a sequential-scan plan while the table was small, then scan it all per message
# as it grew, until the next ANALYZE; docs/performance.md.)
# SQLite: the statuses already in each message's history come along (in process: no round trip);
# the new entries are inserted after (``add_events``).
TAKE_STATUSES = HotSql(
    "status messages, locked, with their new history entries",
    postgresql=(
        f"WITH m AS (SELECT {', '.join(_STATUS_COLUMNS)} "  # noqa: S608 - our own column names
        "FROM messages WHERE wamid = ANY(CAST(%(wamids)s AS VARCHAR(256)[])) ORDER BY seq FOR UPDATE), "
        "added AS (INSERT INTO message_events (message_seq, status, at, error) "
        "SELECT m.seq, r.status, r.at, r.error FROM ROWS FROM (json_to_recordset(CAST(%(events)s AS json)) "
        "AS (wamid varchar, status varchar, at timestamptz, error json)) "
        "WITH ORDINALITY AS r(wamid, status, at, error, n) JOIN m ON m.wamid = r.wamid ORDER BY r.n "
        "ON CONFLICT (message_seq, status) DO NOTHING RETURNING message_seq, status) "
        # One JSON object per message (no times in it): a result of two columns, not sixteen, each
        # of which the driver and SQLAlchemy would describe anew on every execution.
        "SELECT row_to_json(m), ARRAY(SELECT added.status FROM added WHERE added.message_seq = m.seq) "
        "FROM m ORDER BY m.seq"
    ),
    sqlite=(
        f"SELECT {', '.join(f'messages.{c}' for c in _STATUS_COLUMNS)}, "  # noqa: S608 - ours
        "(SELECT group_concat(message_events.status, ',') FROM message_events "
        "WHERE message_events.message_seq = messages.seq) AS recorded "
        "FROM messages WHERE messages.wamid IN (SELECT value FROM json_each(:wamids))"
    ),
)


def record_statuses(conn: Connection, events: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Add status-history entries and return the messages they belong to, locked, by wamid.

    ``events``: distinct (``wamid``, ``status``) pairs in arrival order, each a dict of exactly
    ``wamid``, ``status``, ``at`` and ``error``.
    Each message found comes back with seq, status and the columns a status may change, and ``added``:
    the statuses of ``events`` that were new to its history (now recorded). Pairs already recorded, and
    wamids no message has, record nothing."""
    if not events:
        return {}
    wamids = keys(e["wamid"] for e in events)
    out: dict[str, dict[str, Any]] = {}
    if not is_sqlite(conn):
        params = {"wamids": wamids, "events": pg_json(events, ("at",))}
        for message, added in map(tuple, run(conn, TAKE_STATUSES, params)):
            message["added"] = set(added)
            out[message["wamid"]] = message
        return out
    recorded: dict[str, set[str]] = {}
    for row in dicts(run(conn, TAKE_STATUSES, {"wamids": key_list(wamids)})):
        listed_ = row.pop("recorded")
        recorded[row["wamid"]] = set(listed_.split(",")) if listed_ else set()
        for flag in _STATUS_FLAGS:  # read_sqlite_flag, inline: three per message of the batch
            if row[flag] is not None:
                row[flag] = row[flag] == 1
        row["added"] = set()
        out[row["wamid"]] = row
    history = []
    for e in events:
        found_ = out.get(e["wamid"])
        if found_ is not None and e["status"] not in recorded[e["wamid"]]:
            found_["added"].add(e["status"])
            history.append(
                {"message_seq": found_["seq"], "status": e["status"], "at": e["at"], "error": e["error"]}
            )
    add_events(conn, history)
    return out


def add_events(conn: Connection, rows: Sequence[Mapping[str, Any]], *, writes: Writes | None = None) -> None:
    """Insert status-history rows in one statement; pairs recorded meanwhile are skipped."""
    insert_rows(conn, message_events, rows, skip_conflicts_on=("message_seq", "status"), writes=writes)


def set_statuses(
    conn: Connection, rows: Sequence[Mapping[str, Any]], *, writes: Writes | None = None
) -> None:
    """One UPDATE; each row gives ``b_seq`` and every status column (written in seq order)."""
    update_rows(conn, messages, "seq", rows, writes=writes)  # locked by status_rows


def add_orphan_statuses(
    conn: Connection, rows: Sequence[Mapping[str, Any]], *, writes: Writes | None = None
) -> None:
    """Keep statuses whose wamid no message has (``wamid``, ``status``, ``payload`` per row): a send
    whose commit the webhook beat, or a message another tool sent from the number. One insert, pairs
    kept already skipped; with ``writes``, sent with the transaction's other writes (on PostgreSQL a
    batch of statuses nobody here sent costs no statement of its own)."""
    insert_rows(conn, orphan_statuses, rows, skip_conflicts_on=("wamid", "status"), writes=writes)


@PerDialect
def _orphan_wamids(pg: bool) -> Select[Any]:
    return select(orphan_statuses.c.wamid).where(listed(orphan_statuses.c.wamid, "wamids", pg)).distinct()


def orphan_wamids(conn: Connection, wamids: Sequence[str]) -> set[str]:
    """Which of ``wamids`` have statuses waiting for them."""
    if not wamids:
        return set()
    return {r.wamid for r in conn.execute(_orphan_wamids(conn), {"wamids": keys(wamids)})}


_MARK_SENT = (
    update(messages)
    .where(messages.c.seq == bindparam("b_seq"))
    .values(
        wamid=bindparam("wamid"),
        # Its status webhooks may have come first (delivered, read): never move the message back.
        # (No IN: an expanding parameter cannot be used with executemany.)
        status=case(
            (or_(*(messages.c.status == s for s in ("queued", "sending", "uncertain"))), "sent"),
            else_=messages.c.status,
        ),
        updated_at=bindparam("updated_at"),
    )
)


def mark_sent(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
    """Record the provider's wamids (``b_seq``, ``wamid``, ``updated_at`` per row) in one executemany.

    Rows are written in ``seq`` order, like every batch update of messages, so two transactions that
    touch the same messages lock them in the same order and cannot deadlock."""
    if rows:
        conn.execute(_MARK_SENT, sorted(rows, key=lambda r: r["b_seq"]))


def link_wamids(conn: Connection, links: Mapping[str, str]) -> int:
    """Record wamids (by message id) on outbound messages that have none yet; never overwrites one.

    Looked up first, then written in ``seq`` order (see ``mark_sent``). Returns how many were linked."""
    if not links:
        return 0
    rows = conn.execute(
        select(messages.c.seq, messages.c.id)
        .where(messages.c.id.in_(sorted(links)), messages.c.wamid.is_(None), messages.c.direction == "out")
        .order_by(messages.c.seq)
    ).all()
    linked = 0
    for r in rows:
        res = conn.execute(
            update(messages)
            .where(messages.c.seq == r.seq, messages.c.wamid.is_(None))
            .values(wamid=links[r.id])
        )
        linked += res.rowcount
    return linked


def ticket_thread(conn: Connection, ticket_id: str, *, limit: int) -> Sequence[Row[Any]]:
    """The ticket's messages with their contact's wa_id and phone_number_id, oldest first, at most
    ``limit`` (through the index on ``ticket_id``)."""
    return conn.execute(
        select(messages, contacts.c.wa_id, contacts.c.phone_number_id)
        .join(contacts, contacts.c.id == messages.c.contact_id)
        .where(messages.c.ticket_id == ticket_id)
        .order_by(messages.c.ts, messages.c.seq)
        .limit(limit)
    ).all()


def held_of(conn: Connection, contact_id: int) -> Sequence[Row[Any, Any, Any, Any, Any]]:
    """The contact's held messages (seq, id, type, hold_until, knock_message_id), in seq order."""
    return conn.execute(
        select(
            messages.c.seq, messages.c.id, messages.c.type, messages.c.hold_until, messages.c.knock_message_id
        )
        .where(messages.c.contact_id == contact_id, messages.c.status == "held")
        .order_by(messages.c.seq)
    ).all()


def next_releasing(conn: Connection, contact_id: int) -> Row[Any, Any] | None:
    """The contact's first ``releasing`` message (seq, type) by seq, or None."""
    return conn.execute(
        select(messages.c.seq, messages.c.type)
        .where(messages.c.contact_id == contact_id, messages.c.status == "releasing")
        .order_by(messages.c.seq)
        .limit(1)
    ).first()


def held_past(conn: Connection, *, now: datetime, limit: int) -> Sequence[Row[Any, Any, Any, Any, Any]]:
    """Held messages whose hold ended by ``now`` (seq, id, contact_id and the contact's wa_id and
    phone_number_id), at most ``limit``; the index on ``hold_until`` keeps this cheap."""
    return conn.execute(
        select(
            messages.c.seq, messages.c.id, messages.c.contact_id, contacts.c.wa_id, contacts.c.phone_number_id
        )
        .join(contacts, contacts.c.id == messages.c.contact_id)
        .where(messages.c.hold_until <= now, messages.c.status == "held")
        .limit(limit)
    ).all()


@PerDialect
def _delivery_info(pg: bool) -> Select[Any]:
    return (
        select(
            messages.c.seq,
            messages.c.id,
            messages.c.status,
            messages.c.kind,
            messages.c.content,
            messages.c.hold_until,
            messages.c.charge_category,
            contacts.c.wa_id,
            contacts.c.phone_number_id,
            contacts.c.last_inbound_at,
            contacts.c.window_opened_at,
            contacts.c.entry_point_at,
            contacts.c.id.label("contact_id"),
            # Re-checked just before sending (actions/delivery.py): consent, marketing preference and
            # the template's category as decided at acceptance.
            messages.c.charge_category,
            contacts.c.consent_status,
            contacts.c.marketing_status,
        )
        .join(contacts, contacts.c.id == messages.c.contact_id)
        .where(listed(messages.c.seq, "seqs", pg))
    )


def delivery_info(conn: Connection, seqs: Sequence[int]) -> dict[int, Row[Any]]:
    """What the delivery worker needs of each message in ``seqs``, by seq, in one statement: seq, id,
    status, kind, content, hold_until and the contact's wa_id, phone_number_id, window columns
    (last_inbound_at, window_opened_at, entry_point_at), consent_status, marketing_status and id (as
    ``contact_id``), and the message's charge_category."""
    return {r.seq: r for r in conn.execute(_delivery_info(conn), {"seqs": keys(seqs)})}
