"""``/v1/tickets/{ticket_id}``: a ticket's thread with its contact's window, and notify."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import anyio
from fastapi import APIRouter

from carewindow.actions import tickets as ticket_actions
from carewindow.actions.errors import NotFound
from carewindow.api import schemas
from carewindow.api.auth import READ_CONVERSATIONS, SEND, require
from carewindow.api.deps import PrincipalDep, RuntimeDep
from carewindow.api.present import message_public, window_public
from carewindow.api.routes.messages import _ref
from carewindow.api.runtime import send_queue
from carewindow.storage import contacts as contact_store
from carewindow.storage.engine import Engine, connect

router = APIRouter(prefix="/v1/tickets", tags=["tickets"])


@router.get("/{ticket_id}")
def get_ticket(ticket_id: str, rt: RuntimeDep, principal: PrincipalDep) -> dict[str, Any]:
    """The ticket's messages (oldest first) and the window of its contact."""
    require(principal, READ_CONVERSATIONS, "read tickets")
    with connect(rt.engine) as conn:
        rows = [r for r in ticket_actions.thread(conn, ticket_id) if principal.may_use(r.phone_number_id)]
        if not rows:
            raise NotFound(f"No messages carry ticket {ticket_id!r}.", ticket_id=ticket_id)
        last = rows[-1]
        contact = contact_store.get(conn, phone_number_id=last.phone_number_id, wa_id=last.wa_id)
    return {
        "ticket_id": ticket_id,
        "wa_id": last.wa_id,
        "messages": [message_public(r, wa_id=r.wa_id).model_dump(exclude_none=True) for r in rows],
        "window": window_public(contact, wa_id=last.wa_id, now=rt.now(), policy=rt.policy).model_dump(),
    }


@router.post(
    "/{ticket_id}/notify",
    status_code=202,
    response_model=schemas.MessagePublic,
    response_model_exclude_none=True,
)
async def notify(
    ticket_id: str, body: schemas.TicketNotify, rt: RuntimeDep, principal: PrincipalDep
) -> schemas.MessagePublic:
    """Tell the customer about the ticket: now if the window is open, else knock with a template and
    deliver the text when they reply (no consent: ``no_consent``)."""
    require(principal, SEND, "send messages")
    number = rt.phone_number_id
    now = rt.now()
    to = body.to
    if contact_store.needs_resolving(to):  # a user id or a 521…/549… number: the stored key
        to = await anyio.to_thread.run_sync(lambda: _resolve(rt.engine, number, body.to))
    outcome = await anyio.to_thread.run_sync(
        lambda: ticket_actions.do_notify(
            rt.engine,
            ticket_id=ticket_id,
            to=to,
            text=body.text,
            template=_ref(body.template),
            default_language=rt.settings.ticket_template_language,
            phone_number_id=number,
            settings=rt.policy,
            now=now,
            hold_period=timedelta(hours=rt.settings.hold_period_hours),
            committer=send_queue(rt),
            language=body.language,
        )
    )
    rt.bus.publish(outcome.events)
    if rt.worker is not None:
        rt.worker.wake()
    return message_public(outcome.message, wa_id=to, fallback_message_id=outcome.fallback_message_id)


def _resolve(engine: Engine, number: str, address: str) -> str:
    with connect(engine) as conn:
        return contact_store.resolve_key(conn, phone_number_id=number, address=address)
