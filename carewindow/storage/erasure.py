"""Erasure of one contact (``DELETE /v1/contacts/{wa_id}``; docs/rules.md, "Erasure").

``erase_contact`` removes what identifies the person, in the caller's one transaction, on SQLite and
PostgreSQL alike: message texts, bodies, captions (inside ``content``), stored requests, wamids (they
encode the number) and idempotency keys; the profile name, user id and number on the contact, which
stays as a tombstone (``wa_id`` becomes ``erased:<id>``, ``erased_at`` set) so the cost ledger keeps
its amounts; consent proofs; the raw webhook bodies and outgoing-webhook bodies that name the number
or the user id; statuses waiting for the contact's wamids; unsent work for it. A later message from the
same number makes a new contact.

Media rows and files are deleted beside it by ``actions.erasure.do_erase_contact``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, delete, select, text, update

from carewindow.storage.engine import is_sqlite
from carewindow.storage.tables import (
    consent_events,
    contacts,
    messages,
    orphan_statuses,
    outbox,
)

#: Messages not sent yet end ``cancelled`` with this code when their contact is erased.
ERASED = "erased"
_UNSENT = ("scheduled", "held", "releasing", "queued")


def tombstone_wa_id(contact_id: int) -> str:
    return f"erased:{contact_id}"


def erase_contact(conn: Connection, contact_id: int, *, now: datetime) -> dict[str, int]:
    """Erase contact ``contact_id`` (see the module docstring); rows touched, by kind."""
    row = conn.execute(select(contacts.c.wa_id, contacts.c.user_id).where(contacts.c.id == contact_id)).one()
    needles = [n for n in (row.wa_id, row.user_id) if n]
    m = messages.c
    seqs = select(m.seq).where(m.contact_id == contact_id).scalar_subquery()
    wamids = [
        w for (w,) in conn.execute(select(m.wamid).where(m.contact_id == contact_id, m.wamid.is_not(None)))
    ]
    counts: dict[str, int] = {}
    counts["outbox"] = conn.execute(delete(outbox).where(outbox.c.message_seq.in_(seqs))).rowcount or 0
    conn.execute(
        update(messages)
        .where(m.contact_id == contact_id, m.status.in_(_UNSENT))
        .values(status="cancelled", error_code=ERASED, error_title="Contact erased", updated_at=now)
    )
    counts["messages"] = (
        conn.execute(
            update(messages)
            .where(m.contact_id == contact_id)
            .values(
                text=None,
                content=None,
                request=None,
                wamid=None,
                idempotency_key=None,
                ticket_id=None,
                error_message=None,
                hold_until=None,
                updated_at=now,
            )
        ).rowcount
        or 0
    )
    counts["orphan_statuses"] = 0
    for i in range(0, len(wamids), 500):
        counts["orphan_statuses"] += (
            conn.execute(
                delete(orphan_statuses).where(orphan_statuses.c.wamid.in_(wamids[i : i + 500]))
            ).rowcount
            or 0
        )
    counts["consent_events"] = (
        conn.execute(
            update(consent_events).where(consent_events.c.contact_id == contact_id).values(proof=None)
        ).rowcount
        or 0
    )
    counts["webhook_raw"] = _delete_bodies_naming(conn, "webhook_raw", needles)
    counts["webhook_deliveries"] = _delete_bodies_naming(conn, "webhook_deliveries", needles)
    conn.execute(
        update(contacts)
        .where(contacts.c.id == contact_id)
        .values(
            wa_id=tombstone_wa_id(contact_id),
            user_id=None,
            profile_name=None,
            last_preview=None,
            consent_proof=None,
            open_ticket_id=None,
            # No window any more: no window events for a tombstone.
            last_inbound_at=None,
            window_opened_at=None,
            window_expires_at=None,
            entry_point_at=None,
            unread_count=0,
            held_count=0,
            erased_at=now,
            updated_at=now,
        )
    )
    return counts


def _delete_bodies_naming(conn: Connection, table: str, needles: list[str]) -> int:
    """Delete the rows of ``table`` whose ``body`` (JSON bytes) holds one of ``needles`` as a JSON
    string (``"34600111222"``): a scan, fine for a rare erasure over tables retention keeps small."""
    total = 0
    for needle in needles:
        quoted = b'"' + needle.encode() + b'"'
        if is_sqlite(conn):
            sql = f"DELETE FROM {table} WHERE instr(body, :needle) > 0"  # noqa: S608 - our table names
        else:
            sql = f"DELETE FROM {table} WHERE position(CAST(:needle AS BYTEA) IN body) > 0"  # noqa: S608
        total += conn.execute(text(sql), {"needle": quoted}).rowcount or 0
    return total
