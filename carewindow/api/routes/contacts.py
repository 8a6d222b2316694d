"""``/v1/contacts/{wa_id}``: the thread, the window and consent of one customer."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from carewindow.actions.consent import do_record_consent
from carewindow.actions.errors import NotFound
from carewindow.actions.send import pending_for_contact
from carewindow.api import schemas
from carewindow.api.auth import READ_CONVERSATIONS, SEND, require
from carewindow.api.deps import PrincipalDep, RuntimeDep
from carewindow.api.errors import ApiError
from carewindow.api.present import consent_event_public, message_public, window_public
from carewindow.api.routes.media import media_by_message
from carewindow.policy import ConsentStatus
from carewindow.storage import contacts as contact_store
from carewindow.storage import messages as message_store
from carewindow.storage.engine import connect

router = APIRouter(prefix="/v1/contacts", tags=["contacts"])
NumberQuery = Annotated[
    str | None, Query(max_length=64, description="business number; default: the configured one")
]


def _wa_id(value: str) -> str:
    try:
        return schemas.normalise_wa_id(value)
    except ValueError as exc:
        raise ApiError(
            422, "validation_error", f"wa_id: {exc}", fields=[{"loc": ["wa_id"], "msg": str(exc)}]
        ) from None


def _number(rt: RuntimeDep, principal: PrincipalDep, phone_number_id: str | None) -> str:
    number = phone_number_id or rt.phone_number_id
    if not principal.may_use(number):
        raise ApiError(403, "forbidden", f"This key may not use business number {number}.")
    return number


@router.get("/{wa_id}/messages", response_model=schemas.MessageList, response_model_exclude_none=True)
def list_thread(
    wa_id: str,
    rt: RuntimeDep,
    principal: PrincipalDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    before: Annotated[str | None, Query(max_length=64, description="a message id to page back from")] = None,
    phone_number_id: NumberQuery = None,
) -> schemas.MessageList:
    """The thread, newest first, inbound and outbound."""
    require(principal, READ_CONVERSATIONS, "read conversations")
    wa_id = _wa_id(wa_id)
    number = _number(rt, principal, phone_number_id)
    with connect(rt.engine) as conn:
        contact = contact_store.find(conn, phone_number_id=number, address=wa_id)
        if contact is None:
            return schemas.MessageList(data=[], next_before=None)
        wa_id = contact.wa_id
        anchor: Any = None
        if before:
            anchor = message_store.thread_anchor(conn, before)
            if anchor is None:
                raise NotFound(f"No message {before!r} to page back from.", before=before)
        rows = message_store.thread(conn, contact_id=contact.id, limit=limit, before=anchor)
        files = media_by_message(conn, rows)
    data = [message_public(r, wa_id=wa_id, media=files.get(r.id)) for r in rows]
    return schemas.MessageList(data=data, next_before=data[-1].id if len(data) == limit else None)


@router.get("/{wa_id}/window", response_model=schemas.WindowPublic)
def get_window(
    wa_id: str, rt: RuntimeDep, principal: PrincipalDep, phone_number_id: NumberQuery = None
) -> schemas.WindowPublic:
    """Whether the customer care window is open, until when, and what re-engagement/consent allow."""
    require(principal, READ_CONVERSATIONS | SEND, "read windows")
    wa_id = _wa_id(wa_id)
    number = _number(rt, principal, phone_number_id)
    with connect(rt.engine) as conn:
        contact = contact_store.find(conn, phone_number_id=number, address=wa_id)
        held = pending_for_contact(conn, contact.id) if contact is not None else []
    wa_id = contact.wa_id if contact is not None else wa_id
    return window_public(contact, wa_id=wa_id, now=rt.now(), policy=rt.policy, held=held)


@router.get("/{wa_id}/consent", response_model=schemas.ConsentPublic)
def get_consent(
    wa_id: str, rt: RuntimeDep, principal: PrincipalDep, phone_number_id: NumberQuery = None
) -> schemas.ConsentPublic:
    require(principal, READ_CONVERSATIONS | SEND, "read consent")
    wa_id = _wa_id(wa_id)
    number = _number(rt, principal, phone_number_id)
    with connect(rt.engine) as conn:
        contact = contact_store.find(conn, phone_number_id=number, address=wa_id)
        history = contact_store.consent_history(conn, contact.id) if contact is not None else []
    wa_id = contact.wa_id if contact is not None else wa_id
    items = [consent_event_public(h) for h in history]
    superseded = next(
        (h for h in items if h["scope"] == "templates" and h["status"] == "opted_out" and not h["applied"]),
        None,
    )
    return schemas.ConsentPublic(
        wa_id=wa_id,
        status=contact.consent_status if contact else "unknown",
        source=contact.consent_source if contact else None,
        proof=contact.consent_proof if contact else None,
        updated_at=contact.consent_updated_at if contact else None,
        history=items,
        marketing={
            "status": (contact.marketing_status if contact else None) or "unknown",
            "source": contact.marketing_source if contact else None,
            "updated_at": contact.marketing_updated_at if contact else None,
        },
        superseded_opt_out=superseded,
    )


@router.put("/{wa_id}/consent", response_model=schemas.ConsentPublic)
def put_consent(
    wa_id: str,
    body: schemas.ConsentUpdate,
    rt: RuntimeDep,
    principal: PrincipalDep,
    phone_number_id: NumberQuery = None,
) -> schemas.ConsentPublic:
    """Record an opt-in or opt-out with its source, proof and the time it was given (``at``: e.g. when
    the form was ticked; default now). An opt-out wins over an opt-in within the consent tolerance
    (``CAREWINDOW_CONSENT_TOLERANCE_SECONDS``) in either order; every event stays in the history with
    whether it applied and why."""
    require(principal, SEND, "record consent")
    wa_id = _wa_id(wa_id)
    number = _number(rt, principal, phone_number_id)
    with connect(rt.engine) as conn:
        wa_id = contact_store.resolve_key(conn, phone_number_id=number, address=wa_id)
    now = rt.now()
    at = body.at or now
    if at.tzinfo is None:
        raise ApiError(
            422,
            "validation_error",
            "at: give a timezone (e.g. 2026-11-25T10:00:00Z).",
            fields=[{"loc": ["at"], "msg": "timezone required"}],
        )
    events = do_record_consent(
        rt.engine,
        phone_number_id=number,
        wa_id=wa_id,
        status=ConsentStatus(body.status),
        source=body.source,
        proof=body.proof,
        at=at,
        now=now,
        settings=rt.policy,
    )
    rt.bus.publish(events)
    return get_consent(wa_id, rt, principal, phone_number_id)
