"""The ``media`` rows: inbound fetch jobs (a ``pending`` row is the job), their outcome, and uploads.

A pending row is claimed with a lease (``next_attempt_at`` moved past the lease, ``attempts`` + 1) in
its own short transaction before the download starts: a worker killed mid-download leaves the row
due again when the lease runs out, so no download is lost (docs/subsystems/media.md).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Row, delete, select, update

from carewindow.storage.bulk import insert_rows
from carewindow.storage.engine import is_sqlite
from carewindow.storage.tables import contacts, media
from carewindow.storage.writes import Writes

__all__ = [
    "PENDING",
    "add_many",
    "claim_due",
    "delete_media_for_contact",
    "delete_row",
    "for_messages",
    "get",
    "get_by_meta_id",
    "media_rows_for_contact",
    "settle",
]

PENDING = "pending"


def add_many(conn: Connection, rows: Sequence[Mapping[str, Any]], *, writes: Writes | None = None) -> None:
    """Insert media rows (same keys in each); with ``writes`` sent with the transaction's other writes
    (on PostgreSQL the ingest batch's media jobs cost no round trip of their own)."""
    insert_rows(conn, media, rows, writes=writes)


def get(conn: Connection, media_id: str) -> Row[Any] | None:
    return conn.execute(select(media).where(media.c.id == media_id)).first()


def get_by_meta_id(conn: Connection, meta_media_id: str) -> Row[Any] | None:
    """The newest row for Meta's media id (an upload's answer is Meta's id)."""
    return conn.execute(
        select(media)
        .where(media.c.meta_media_id == meta_media_id)
        .order_by(media.c.created_at.desc())
        .limit(1)
    ).first()


def for_messages(conn: Connection, message_ids: Sequence[str]) -> dict[str, Row[Any]]:
    """The media row of each of ``message_ids`` that has one (one query for a page of messages)."""
    if not message_ids:
        return {}
    rows = conn.execute(select(media).where(media.c.message_id.in_(list(message_ids)))).all()
    return {r.message_id: r for r in rows}


def claim_due(conn: Connection, *, now: datetime, lease: timedelta, limit: int) -> Sequence[Row[Any]]:
    """Lease up to ``limit`` pending rows due at ``now`` (``FOR UPDATE SKIP LOCKED`` on PostgreSQL)."""
    due = (
        select(media.c.id)
        .where(media.c.status == PENDING, media.c.next_attempt_at <= now)
        .order_by(media.c.next_attempt_at, media.c.id)
        .limit(limit)
    )
    if not is_sqlite(conn):
        due = due.with_for_update(skip_locked=True)
    stmt = (
        update(media)
        .where(media.c.id.in_(due.scalar_subquery()))
        .values(next_attempt_at=now + lease, attempts=media.c.attempts + 1, updated_at=now)
        .returning(media)
    )
    return conn.execute(stmt).all()


def settle(
    conn: Connection, media_id: str, values: Mapping[str, Any], *, attempts: int | None = None
) -> bool:
    """Write a job's outcome; with ``attempts``, only while the row is still pending at that attempt
    (a worker whose lease ran out and was re-claimed elsewhere writes nothing). True when written."""
    stmt = update(media).where(media.c.id == media_id)
    if attempts is not None:
        stmt = stmt.where(media.c.status == PENDING, media.c.attempts == attempts)
    return bool(conn.execute(stmt.values(**values)).rowcount)


def delete_row(conn: Connection, media_id: str) -> None:
    conn.execute(delete(media).where(media.c.id == media_id))


def media_rows_for_contact(conn: Connection, contact_id: int) -> Sequence[Row[Any]]:
    """Every media row of a contact (for erasure: their ``storage_key``s name the bytes to delete)."""
    return conn.execute(select(media).where(media.c.contact_id == contact_id)).all()


def delete_media_for_contact(conn: Connection, contact_id: int) -> list[str]:
    """Delete a contact's media rows; returns the storage keys whose bytes the caller deletes from the
    media store after the commit (``actions.media.erase_contact_media``)."""
    keys = [r.storage_key for r in media_rows_for_contact(conn, contact_id) if r.storage_key]
    conn.execute(delete(media).where(media.c.contact_id == contact_id))
    return keys


def contact_of(conn: Connection, contact_id: int) -> tuple[str, str] | None:
    """(phone_number_id, wa_id) of a media row's contact."""
    row = conn.execute(
        select(contacts.c.phone_number_id, contacts.c.wa_id).where(contacts.c.id == contact_id)
    ).first()
    return (row[0], row[1]) if row is not None else None


def number_of(conn: Connection, contact_id: int) -> str | None:
    """The business number of a media row's contact (for keys limited to some numbers)."""
    return conn.execute(select(contacts.c.phone_number_id).where(contacts.c.id == contact_id)).scalar()


def for_meta_ids(conn: Connection, meta_media_ids: Sequence[str]) -> dict[str, Row[Any]]:
    """The uploads behind Meta's media ids (outbound messages sent by id), one query."""
    if not meta_media_ids:
        return {}
    rows = conn.execute(
        select(media).where(media.c.meta_media_id.in_(list(meta_media_ids)), media.c.direction == "out")
    ).all()
    return {r.meta_media_id: r for r in rows}


_KINDS = frozenset({"image", "audio", "video", "document", "sticker"})


def for_thread(conn: Connection, thread: Sequence[Any]) -> dict[str, Row[Any]]:
    """The file of each media message of ``thread`` (message rows) by message id: inbound ones by
    their message, outbound ones sent by id by the upload behind that id. Two queries at most."""
    # Inbound ones, and echoes of messages sent from the WhatsApp Business app (``origin`` "app"):
    # both have a fetched file of their own.
    fetched = [
        m.id
        for m in thread
        if m.type in _KINDS and (m.direction == "in" or getattr(m, "origin", None) == "app")
    ]
    outbound: dict[str, str] = {}
    for m in thread:
        if m.direction != "out" or m.type not in _KINDS or getattr(m, "origin", None) == "app":
            continue
        obj = (m.content or {}).get(m.type)
        if isinstance(obj, Mapping) and isinstance(obj.get("id"), str):
            outbound[obj["id"]] = m.id
    out = dict(for_messages(conn, fetched))
    for meta_id, row in for_meta_ids(conn, list(outbound)).items():
        out[outbound[meta_id]] = row
    return out
