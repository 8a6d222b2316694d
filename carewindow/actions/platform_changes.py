"""The 2026 webhook fields, applied inside the ingest transaction (called by ``do_ingest_batch`` only
when a batch carries changes other than messages and statuses: the hot path does not pay for it).

- **Coexistence echoes** (``smb_message_echoes``): a message the business sent from the WhatsApp Business
  app is stored as an outbound message of the thread with ``origin = "app"``; it costs nothing
  (``charge_billable`` false, no amount) and does not open or extend the window (the contact's window
  columns are not touched). An edit replaces its text and keeps the earlier versions in ``content``;
  a revocation marks it ``deleted``. An echo with media gets the same fetch job as an inbound
  message (``actions.media.fetch_row``), so the agent sees the app-sent photo in the thread.
  Echoes are never fed to consent keywords or held-message release.
- **Template category** (``template_category_update``): an impending change is recorded on the catalog
  entry (``impending_category`` / ``impending_category_at``) and announced; a completed one changes the
  entry's category (pricing uses it from then on) and keeps the previous one.
- **Template quality** (``message_template_quality_update``): the entry's ``quality``.

Each change emits a ``template.category_changed`` / ``template.quality_changed`` event; ``alert`` in its
data is true when the template is one carewindow relies on (``relied_on``: the ticket template, a
fallback in use) and the change makes it dearer or riskier (utility -> marketing, quality not GREEN).
Sources: docs/rules.md "Coexistence echoes" and "Template category and quality".
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from carewindow.actions.events import Event
from carewindow.actions.media import fetch_row
from carewindow.storage import contacts as contact_store
from carewindow.storage import media as media_store
from carewindow.storage import messages as message_store
from carewindow.storage import templates as template_store
from carewindow.storage.engine import Connection
from carewindow.storage.ids import new_id
from carewindow.wire.platform_changes import (
    MessageEcho,
    TemplateCategoryChange,
    TemplateQualityChange,
    echoes,
    template_changes,
)
from carewindow.wire.webhook import OtherChange

__all__ = ["APP_ORIGIN", "apply", "apply_platform_changes", "is_alert"]

APP_ORIGIN = "app"
TICKET_TEMPLATE = "ticket_update"  # actions/tickets.py DEFAULT_TEMPLATE (not imported: ingest stays light)
_PREVIEW = 200


def apply(conn: Connection, changes: Sequence[OtherChange], *, now: datetime) -> list[Event]:
    """``apply_platform_changes`` with the templates carewindow relies on read only when needed."""
    relied_on: set[str] = set()
    if template_changes(changes):
        relied_on = template_store.relied_on_names(conn, TICKET_TEMPLATE)
    return apply_platform_changes(conn, changes, now=now, relied_on=relied_on)


def apply_platform_changes(
    conn: Connection, changes: Sequence[OtherChange], *, now: datetime, relied_on: Iterable[str] = ()
) -> list[Event]:
    """Apply a batch's echoes and template category/quality updates; the events they cause."""
    events: list[Event] = []
    for echo in echoes(changes):
        events.extend(_apply_echo(conn, echo, now=now))
    names = set(relied_on)
    for change in template_changes(changes):
        events.extend(_apply_template_change(conn, change, now=now, relied_on=names))
    return events


# ------------------------------------------------------------------------------------ echoes


def _apply_echo(conn: Connection, echo: MessageEcho, *, now: datetime) -> list[Event]:
    if not echo.wa_id or len(echo.wa_id) > 32 or len(echo.wamid) > 256:
        return []  # no customer named, or not an id Meta uses (the raw body is kept)
    if message_store.get_by_wamid(conn, echo.wamid) is not None:
        return []  # a replay
    if echo.kind != "message":
        return _apply_echo_change(conn, echo, now=now)
    contact = contact_store.find(conn, phone_number_id=echo.phone_number_id, address=echo.wa_id)
    if contact is None:
        contact = contact_store.get_or_create(
            conn, phone_number_id=echo.phone_number_id, wa_id=echo.wa_id, now=now
        )
    message_id = new_id("msg")
    message_store.insert_outbound_row(
        conn,
        {
            "id": message_id,
            "contact_id": contact.id,
            "direction": "out",
            "wamid": echo.wamid,
            "type": echo.type[:32],
            "kind": "session",
            "status": "sent",
            "content": dict(echo.raw),
            "text": echo.text,
            "ts": echo.timestamp,
            "created_at": now,
            "updated_at": now,
            "charge_billable": False,  # app-sent messages are free (platform-2026-update.md §1.2)
            "origin": APP_ORIGIN,
        },
    )
    # A photo, voice note, video, document or sticker sent from the app: fetched like an inbound one
    # (the same job, written in this transaction; docs/subsystems/media.md "Echoes").
    media = fetch_row(echo.type, echo.raw, message_id=message_id, contact_id=contact.id, now=now)
    if media is not None:
        media_store.add_many(conn, [media])
    return [
        Event(
            type="message.echo",
            wa_id=contact.wa_id,
            phone_number_id=echo.phone_number_id,
            data={"wamid": echo.wamid, "type": echo.type, "text": echo.text, "origin": APP_ORIGIN},
        )
    ]


def _apply_echo_change(conn: Connection, echo: MessageEcho, *, now: datetime) -> list[Event]:
    """An edit or a revocation of an earlier echo (unknown originals change nothing: the raw is kept)."""
    if echo.original_wamid is None:
        return []
    original = message_store.get_by_wamid(conn, echo.original_wamid)
    if original is None:
        return []
    row = message_store.get_by_seq(conn, original.seq)
    if row is None or row.origin != APP_ORIGIN:
        return []  # only the app's own messages are edited or revoked by echoes
    content: dict[str, Any] = dict(row.content or {})
    earlier = content.get("changes")
    history = list(earlier) if isinstance(earlier, list) else []
    history.append(
        {"kind": echo.kind, "wamid": echo.wamid, "at": echo.timestamp.isoformat(), "text": row.text}
    )
    content["changes"] = history
    values: dict[str, Any] = {"content": content, "updated_at": now}
    if echo.kind == "edit":
        values["text"] = echo.text
    else:
        values["status"] = "deleted"
    message_store.set_status(conn, original.seq, values)
    return [
        Event(
            type="message.echo",
            wa_id=row.wa_id,
            phone_number_id=row.phone_number_id,
            data={
                "wamid": echo.original_wamid,
                "change": echo.kind,
                "text": values.get("text", row.text),
                "origin": APP_ORIGIN,
            },
        )
    ]


# --------------------------------------------------------------------------- template changes


def is_alert(change: TemplateCategoryChange | TemplateQualityChange) -> bool:
    """Whether the change makes a template dearer or riskier: towards MARKETING, or quality not GREEN."""
    if isinstance(change, TemplateCategoryChange):
        target = change.new_category if change.completed else (change.correct_category or change.new_category)
        return target.upper() == "MARKETING"
    return change.new.upper() != "GREEN"


def _apply_template_change(
    conn: Connection,
    change: TemplateCategoryChange | TemplateQualityChange,
    *,
    now: datetime,
    relied_on: set[str],
) -> list[Event]:
    row = template_store.get(conn, change.name, change.language)
    data: dict[str, Any] = {
        "name": change.name,
        "language": change.language,
        "template_id": change.template_id,
    }
    if isinstance(change, TemplateCategoryChange):
        event_type = "template.category_changed"
        data.update(
            completed=change.completed,
            new_category=change.new_category,
            previous_category=change.previous_category,
            correct_category=change.correct_category,
            effective_at=change.effective_at.isoformat() if change.effective_at else None,
        )
        if row is not None:
            if change.completed:
                values: dict[str, Any] = {
                    "category": change.new_category.lower()[:16],
                    "previous_category": (change.previous_category or "")[:32] or None,
                    "category_changed_at": now,
                    "impending_category": None,
                    "impending_category_at": None,
                }
            else:
                values = {
                    "impending_category": (change.correct_category or change.new_category)[:32],
                    "impending_category_at": change.effective_at,
                }
            template_store.set_columns(
                conn, name=change.name, language=change.language, values=values, now=now
            )
    else:
        event_type = "template.quality_changed"
        data.update(previous=change.previous, new=change.new)
        if row is not None:
            template_store.set_columns(
                conn, name=change.name, language=change.language, values={"quality": change.new[:16]}, now=now
            )
    data["relied_on"] = change.name in relied_on
    data["alert"] = data["relied_on"] and is_alert(change)
    return [Event(type=event_type, wa_id="", phone_number_id="", data=data)]


def template_alert(row: Any) -> str | None:
    """What to look at about a catalog entry (the API's ``alert``, the inbox's banner), or None:
    a completed move to MARKETING, an announced one, a quality that is not GREEN, a FLAGGED status."""
    notes: list[str] = []
    category = str(row.category or "").lower()
    previous = str(row.previous_category or "").lower()
    if category == "marketing" and previous and previous != "marketing":
        when = f" on {row.category_changed_at:%Y-%m-%d}" if row.category_changed_at else ""
        notes.append(
            f"Meta recategorised it from {previous.upper()} to MARKETING{when}: priced as marketing now."
        )
    impending = str(row.impending_category or "").lower()
    if impending == "marketing" and category != "marketing":
        when = f" on {row.impending_category_at:%Y-%m-%d %H:%M} UTC" if row.impending_category_at else ""
        notes.append(f"Meta will recategorise it as MARKETING{when} unless it is changed or appealed.")
    quality = str(row.quality or "").upper()
    if quality in ("YELLOW", "RED"):
        notes.append(f"Quality {quality}: Meta may pause or disable it.")
    if str(row.status).upper() == "FLAGGED":
        when = f" on {row.disable_at:%Y-%m-%d %H:%M} UTC" if row.disable_at else ""
        notes.append(f"FLAGGED: still sendable, disabled{when} unless its quality improves.")
    return " ".join(notes) or None
