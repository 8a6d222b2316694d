"""The template catalog, mirrored from the provider."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, delete, select, update

from carewindow.policy import Template, TemplateButton, TemplateCategory, TemplateStatus
from carewindow.policy.templates import HEADER_MEDIA
from carewindow.storage.engine import dialect_insert
from carewindow.storage.tables import contacts, messages, templates


def template_from_row(row: Row[Any]) -> Template:
    """The policy's template; never raises on a stored value (an unknown status is ``UNKNOWN`` with
    its text kept, an unknown category is ``MARKETING``, the dearest)."""
    status = TemplateStatus.parse(row.status)
    return Template(
        name=row.name,
        language=row.language,
        category=TemplateCategory.parse(row.category),
        status=status,
        disable_at=getattr(row, "disable_at", None),
        status_text=str(row.status) if status is TemplateStatus.UNKNOWN else None,
        body=row.body,
        header=row.header,
        header_media=_header_media(getattr(row, "header_format", None)),
        footer=row.footer,
        buttons=tuple(
            TemplateButton(
                type=b.get("type", "QUICK_REPLY"),
                text=b.get("text", ""),
                url=b.get("url"),
                phone_number=b.get("phone_number"),
            )
            for b in (row.buttons or ())
        ),
    )


def _header_media(value: object) -> str | None:
    """A stored header format as the policy's ``header_media`` (anything else: a text header)."""
    text = str(value).lower() if value else None
    return text if text in HEADER_MEDIA else None


def get(conn: Connection, name: str, language: str) -> Row[Any] | None:
    return conn.execute(
        select(templates).where(templates.c.name == name, templates.c.language == language)
    ).first()


def list_all(conn: Connection) -> Sequence[Row[Any]]:
    return conn.execute(select(templates).order_by(templates.c.name, templates.c.language)).all()


def upsert(conn: Connection, values: Mapping[str, Any]) -> None:
    stmt = dialect_insert(conn, templates).values(**values)
    changes = {k: v for k, v in values.items() if k not in ("name", "language")}
    conn.execute(stmt.on_conflict_do_update(index_elements=["name", "language"], set_=changes))


def set_status(
    conn: Connection,
    *,
    name: str,
    language: str,
    status: str,
    reason: str | None,
    now: datetime,
    disable_at: datetime | None = None,
) -> int:
    """Meta's status text as sent (cut to the column), and a FLAGGED template's disable date."""
    res = conn.execute(
        update(templates)
        .where(templates.c.name == name, templates.c.language == language)
        .values(status=status[:64], reason=reason, updated_at=now, disable_at=disable_at)
    )
    return int(res.rowcount)


def remove(conn: Connection, name: str, language: str) -> int:
    res = conn.execute(delete(templates).where(templates.c.name == name, templates.c.language == language))
    return int(res.rowcount)


def languages(conn: Connection, name: str) -> dict[str, str]:
    """Every language of template ``name`` with its status text (ticket notify picks among them)."""
    rows = conn.execute(
        select(templates.c.language, templates.c.status)
        .where(templates.c.name == name)
        .order_by(templates.c.language)
    )
    return {r.language: str(r.status) for r in rows}


def contact_language(conn: Connection, *, phone_number_id: str, wa_id: str) -> str | None:
    """The language of the last template sent to this customer: the language they are known to read."""
    row = conn.execute(
        select(messages.c.template_language)
        .join(contacts, contacts.c.id == messages.c.contact_id)
        .where(
            contacts.c.phone_number_id == phone_number_id,
            contacts.c.wa_id == wa_id,
            messages.c.direction == "out",
            messages.c.template_language.is_not(None),
        )
        .order_by(messages.c.seq.desc())
        .limit(1)
    ).first()
    return str(row.template_language) if row is not None else None


def set_columns(
    conn: Connection, *, name: str, language: str, values: Mapping[str, Any], now: datetime
) -> int:
    """Update a catalog entry's category / quality columns (platform changes, actions/platform_changes.py)."""
    res = conn.execute(
        update(templates)
        .where(templates.c.name == name, templates.c.language == language)
        .values(**values, updated_at=now)
    )
    return int(res.rowcount)


def relied_on_names(conn: Connection, ticket_template: str) -> set[str]:
    """Templates carewindow relies on: the ticket template and every template sent to knock for a held
    message (a fallback in use). Read only when a category or quality change arrives."""
    knocks = select(messages.c.knock_message_id).where(messages.c.knock_message_id.is_not(None))
    rows = conn.execute(
        select(messages.c.template_name)
        .where(messages.c.id.in_(knocks.scalar_subquery()), messages.c.template_name.is_not(None))
        .distinct()
    )
    return {ticket_template, *(str(r.template_name) for r in rows)}
