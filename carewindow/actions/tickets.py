"""Tickets: a thread across messages, and the seed's "notify" flow that carries an update across the gap."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from carewindow.actions.errors import NotFound
from carewindow.actions.send import SendCommand, SendJob, SendOutcome, do_queue_send
from carewindow.policy import OnClosed, PolicySettings, TemplateRef, parse_placeholders
from carewindow.storage import messages as message_store
from carewindow.storage import templates as template_store
from carewindow.storage.engine import Connection, Engine, Row, connect
from carewindow.storage.group_commit import GroupCommitter

DEFAULT_TEMPLATE = "ticket_update"


def thread(conn: Connection, ticket_id: str, *, limit: int = 500) -> Sequence[Row[Any]]:
    """The ticket's messages, oldest first, with their contact."""
    return message_store.ticket_thread(conn, ticket_id, limit=limit)


def knock_params(conn: Connection, *, name: str, language: str, ticket_id: str) -> TemplateRef:
    """The ticket id as the template's parameter: named ``ticket_id`` or the single positional one."""
    row = template_store.get(conn, name, language)
    if row is None:
        return TemplateRef(name=name, language=language, params={"ticket_id": ticket_id})
    fmt, names = parse_placeholders(row.body)
    if fmt is not None and fmt.value == "named":
        return TemplateRef(name=name, language=language, params={n: ticket_id for n in names})
    return TemplateRef(name=name, language=language, params=tuple(ticket_id for _ in names))


def do_notify(
    engine: Engine,
    *,
    ticket_id: str,
    to: str,
    text: str,
    template: TemplateRef | None,
    default_language: str,
    phone_number_id: str,
    settings: PolicySettings,
    now: datetime,
    hold_period: timedelta,
    committer: GroupCommitter[SendJob, Any] | None = None,
) -> SendOutcome:
    """Inside the window the text goes now, free; outside it, with consent, the ticket-update template
    goes and the text waits for the customer's reply; without consent, ``no_consent``."""
    if not ticket_id.strip():
        raise NotFound("A ticket id is required.")
    if template is None or not template.params:
        name = template.name if template else DEFAULT_TEMPLATE
        language = template.language if template else default_language
        with connect(engine) as conn:
            template = knock_params(conn, name=name, language=language, ticket_id=ticket_id)
    cmd = SendCommand(
        to=to,
        message_type="text",
        content={"body": text},
        on_closed=OnClosed.DEFER,
        fallback=template,
        ticket_id=ticket_id,
    )
    return do_queue_send(
        engine,
        cmd,
        phone_number_id=phone_number_id,
        settings=settings,
        now=now,
        hold_period=hold_period,
        committer=committer,
    )
