"""The consent history across contacts, for auditors: ``GET /v1/consent/events`` and
``carewindow consent export`` (docs/rules.md, "Consent")."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, select

from carewindow.storage.tables import consent_events, contacts

_COLUMNS = (
    consent_events.c.id,
    contacts.c.wa_id,
    contacts.c.phone_number_id,
    consent_events.c.status,
    consent_events.c.scope,
    consent_events.c.source,
    consent_events.c.proof,
    consent_events.c.at,
    consent_events.c.recorded_at,
    consent_events.c.applied,
    consent_events.c.reason,
)


def page(
    conn: Connection,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    wa_id: str | None = None,
    phone_number_ids: Sequence[str] | None = None,
    after_id: int | None = None,
    limit: int = 100,
) -> Sequence[Row[Any]]:
    """Consent events received in [``since``, ``until``), oldest first, after event ``after_id``
    (the cursor), at most ``limit``; ``phone_number_ids`` None means every number."""
    stmt = select(*_COLUMNS).join(contacts, contacts.c.id == consent_events.c.contact_id)
    if since is not None:
        stmt = stmt.where(consent_events.c.recorded_at >= since)
    if until is not None:
        stmt = stmt.where(consent_events.c.recorded_at < until)
    if wa_id is not None:
        stmt = stmt.where(contacts.c.wa_id == wa_id)
    if phone_number_ids is not None:
        stmt = stmt.where(contacts.c.phone_number_id.in_(phone_number_ids))
    if after_id is not None:
        stmt = stmt.where(consent_events.c.id > after_id)
    rows: Sequence[Row[Any]] = conn.execute(stmt.order_by(consent_events.c.id).limit(limit)).all()  # type: ignore[assignment]
    return rows


def every(
    conn: Connection,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    wa_id: str | None = None,
    batch: int = 1000,
) -> Iterator[Row[Any]]:
    """Every matching event, oldest first, read a page at a time."""
    after: int | None = None
    while True:
        rows = page(conn, since=since, until=until, wa_id=wa_id, after_id=after, limit=batch)
        yield from rows
        if len(rows) < batch:
            return
        after = rows[-1].id


def public(row: Row[Any]) -> dict[str, Any]:
    """One event as the API and the export write it."""
    return {
        "id": row.id,
        "wa_id": row.wa_id,
        "phone_number_id": row.phone_number_id,
        "status": row.status,
        "scope": row.scope or "templates",
        "source": row.source,
        "proof": row.proof,
        "at": row.at.isoformat(),
        "recorded_at": row.recorded_at.isoformat(),
        "applied": True if row.applied is None else bool(row.applied),
        "reason": row.reason,
    }
