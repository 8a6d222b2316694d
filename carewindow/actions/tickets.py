"""Tickets: a thread across messages, and the seed's "notify" flow that carries an update across the gap."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from carewindow.actions.errors import NotFound
from carewindow.actions.send import SendCommand, SendJob, SendOutcome, do_queue_send
from carewindow.policy import OnClosed, PolicySettings, TemplateRef, TemplateStatus, parse_placeholders
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
    language: str | None = None,
) -> SendOutcome:
    """Inside the window the text goes now, free; outside it, with consent, the ticket-update template
    goes and the text waits for the customer's reply; without consent, ``no_consent``."""
    if not ticket_id.strip():
        raise NotFound("A ticket id is required.")
    if template is None or not template.params:
        name = template.name if template else DEFAULT_TEMPLATE
        with connect(engine) as conn:
            if template is not None:
                chosen = template.language
            else:
                chosen = pick_language(
                    conn,
                    name=name,
                    requested=language,
                    known=template_store.contact_language(conn, phone_number_id=phone_number_id, wa_id=to),
                    default=default_language,
                )
            template = knock_params(conn, name=name, language=chosen, ticket_id=ticket_id)
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


def pick_language(
    conn: Connection, *, name: str, requested: str | None, known: str | None, default: str
) -> str:
    """The language the ticket template goes out in (docs/rules.md "Ticket notify"): the one the request
    names; else the customer's known language (of the last template they got) when the template is
    sendable in it; else the single sendable language; else the configured default when sendable.
    ``NotFound`` (``template_not_found``) names the languages that exist, and their statuses."""
    found = template_store.languages(conn, name)
    sendable = [lang for lang, status in found.items() if TemplateStatus.parse(status).sendable]
    if requested is not None:
        if requested in found:
            return requested  # a status that cannot be sent is refused by the policy, with its reason
        raise _no_language(name, found, f"no {requested!r} translation")
    for candidate in (known, default):
        if candidate is not None and candidate in sendable:
            return candidate
    if len(sendable) == 1:
        return sendable[0]
    if not found:
        raise _no_language(name, found, "it is not in the catalog")
    reason = "more than one sendable language" if sendable else "none of its languages can be sent"
    raise _no_language(name, found, reason)


def _no_language(name: str, found: dict[str, str], reason: str) -> NotFound:
    listed = ", ".join(f"{lang} ({status})" for lang, status in found.items()) or "none"
    error = NotFound(
        f"Template {name!r} cannot be picked for this ticket: {reason}. Languages: {listed}. "
        'Name one in the request ("language").',
        template=name,
        languages=found,
    )
    error.code = "template_not_found"
    return error
