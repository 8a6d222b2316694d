"""The inbox's own reads (docs/inbox.md): the conversation list, one statement, and the templates an
agent may pick. The rest of a page reads through the aggregate modules (contacts, messages, templates)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, case, func, select

from carewindow.storage.tables import contacts, messages, templates

LIST_LIMIT = 200


def conversation_list(
    conn: Connection, *, phone_number_ids: Sequence[str] | None, now: datetime, limit: int = LIST_LIMIT
) -> Sequence[Row[Any]]:
    """Contacts by urgency: open windows closing soonest first, then the rest by last activity.

    One statement: the newest message's text and direction come from correlated subqueries that walk
    the (contact_id, ts, seq) index, so the list costs the same whatever the number of rows.
    """
    newest = (
        select(messages.c.text, messages.c.direction, messages.c.type)
        .where(messages.c.contact_id == contacts.c.id)
        .order_by(messages.c.ts.desc(), messages.c.seq.desc())
        .limit(1)
        .correlate(contacts)
    )
    is_open = contacts.c.window_expires_at > now
    stmt = select(
        contacts,
        newest.with_only_columns(messages.c.text).scalar_subquery().label("last_text"),
        newest.with_only_columns(messages.c.direction).scalar_subquery().label("last_direction"),
        newest.with_only_columns(messages.c.type).scalar_subquery().label("last_type"),
    )
    if phone_number_ids is not None:
        stmt = stmt.where(contacts.c.phone_number_id.in_(phone_number_ids))
    stmt = stmt.order_by(
        case((is_open, 0), else_=1),
        case((is_open, contacts.c.window_expires_at), else_=None).asc(),
        func.coalesce(contacts.c.last_activity_at, contacts.c.created_at).desc(),
        contacts.c.id.desc(),
    )
    return conn.execute(stmt.limit(limit)).all()


def approved_templates(conn: Connection) -> Sequence[Row[Any]]:
    """The sendable templates (APPROVED, REINSTATED, FLAGGED: policy ``TemplateStatus.sendable``), by name
    and language: what the composer offers."""
    return conn.execute(
        select(templates)
        .where(templates.c.status.in_(("APPROVED", "REINSTATED", "FLAGGED")))
        .order_by(templates.c.name, templates.c.language)
    ).all()
