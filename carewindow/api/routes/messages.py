"""``/v1/messages``: send (decide, store, queue) and read a message with its status history."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

import anyio
from fastapi import APIRouter, Header

from carewindow.actions.errors import NotFound
from carewindow.actions.send import SendCommand, do_cancel, do_queue_send, queue_send
from carewindow.actions.send_batch import SendJob
from carewindow.api import schemas
from carewindow.api.auth import READ_CONVERSATIONS, SEND, require
from carewindow.api.deps import PrincipalDep, RuntimeDep
from carewindow.api.errors import ApiError
from carewindow.api.present import message_public, window_from_decision, window_public
from carewindow.api.runtime import send_queue
from carewindow.policy import OnClosed, TemplateRef
from carewindow.storage import contacts as contact_store
from carewindow.storage import messages as message_store

router = APIRouter(prefix="/v1", tags=["messages"])


def _ref(spec: schemas.TemplateSpec | None) -> TemplateRef | None:
    if spec is None:
        return None
    params = spec.parameters if isinstance(spec.parameters, dict) else tuple(spec.parameters)
    return TemplateRef(name=spec.name, language=spec.language, params=params)


@router.post(
    "/messages", status_code=202, response_model=schemas.MessagePublic, response_model_exclude_none=True
)
async def send_message(
    body: schemas.MessageCreate,
    rt: RuntimeDep,
    principal: PrincipalDep,
    idempotency_key: Annotated[str | None, Header(max_length=256)] = None,
) -> schemas.MessagePublic:
    """Decide with the window rules; on acceptance store the message and queue it (202)."""
    require(principal, SEND, "send messages")
    number = body.phone_number_id or rt.phone_number_id
    if not principal.may_use(number):
        raise ApiError(403, "forbidden", f"This key may not send from business number {number}.")
    if body.type != "template" and body.content() is None:
        raise ApiError(
            422,
            "validation_error",
            f"{body.type}: a {body.type} message needs a '{body.type}' object.",
            fields=[{"loc": [body.type], "msg": "required"}],
        )
    cmd = SendCommand(
        to=body.to,
        message_type=body.type,
        content=body.content() if body.type != "template" else None,
        template=_ref(body.template),
        on_closed=OnClosed(body.on_closed),
        fallback=_ref(body.fallback_template),
        ticket_id=body.ticket_id,
        idempotency_key=idempotency_key or body.idempotency_key,
        context_wamid=body.context.message_id if body.context else None,
        send_at=body.send_at,
    )
    job = SendJob(cmd=cmd, phone_number_id=number, settings=rt.policy, now=rt.now(), hold_period=_hold(rt))
    committer = send_queue(rt)
    if committer is not None:
        outcome = await queue_send(rt.engine, committer, job)
    else:
        outcome = await anyio.to_thread.run_sync(
            lambda: do_queue_send(
                rt.engine,
                cmd,
                phone_number_id=number,
                settings=rt.policy,
                now=job.now,
                hold_period=job.hold_period,
            )
        )
    rt.bus.publish(outcome.events)
    if rt.worker is not None:
        rt.worker.wake()
    if outcome.decision is not None:
        window = window_from_decision(wa_id=body.to, decision=outcome.decision, policy=rt.policy)
    else:  # an earlier message returned for its idempotency key, or a scheduled one: read the window now
        window = await anyio.to_thread.run_sync(lambda: _window(rt, number, body.to))
    return message_public(
        outcome.message, wa_id=body.to, fallback_message_id=outcome.fallback_message_id, window=window
    )


def _hold(rt: RuntimeDep) -> timedelta:
    return timedelta(hours=rt.settings.hold_period_hours)


def _window(rt: RuntimeDep, number: str, wa_id: str) -> schemas.WindowPublic:
    with rt.engine.connect() as conn:
        contact = contact_store.get(conn, phone_number_id=number, wa_id=wa_id)
    return window_public(contact, wa_id=wa_id, now=rt.now(), policy=rt.policy)


@router.get("/messages/{message_id}", response_model=schemas.MessagePublic, response_model_exclude_none=True)
def get_message(message_id: str, rt: RuntimeDep, principal: PrincipalDep) -> schemas.MessagePublic:
    """The message with its status history (queued, sent, delivered, read, failed + error, held)."""
    require(principal, READ_CONVERSATIONS | SEND, "read messages")
    with rt.engine.connect() as conn:
        row = message_store.get_by_id(conn, message_id)
        if row is None or not principal.may_use(row.phone_number_id):
            raise NotFound(f"No message {message_id!r}.", id=message_id)
        history = message_store.history(conn, row.seq)
    return message_public(row, wa_id=row.wa_id, history=history)


@router.delete(
    "/messages/{message_id}", response_model=schemas.MessagePublic, response_model_exclude_none=True
)
async def cancel_message(message_id: str, rt: RuntimeDep, principal: PrincipalDep) -> schemas.MessagePublic:
    """Cancel a scheduled or held message, or a queued one the provider has not been given yet."""
    require(principal, SEND, "cancel messages")
    with rt.engine.connect() as conn:
        found = message_store.get_by_id(conn, message_id)
    if found is None or not principal.may_use(found.phone_number_id):
        raise NotFound(f"No message {message_id!r}.", id=message_id)
    row, events = await anyio.to_thread.run_sync(lambda: do_cancel(rt.engine, message_id, now=rt.now()))
    assert row is not None
    if not events:
        raise ApiError(
            409,
            "conflict",
            f"Message {message_id} is {row.status} and can no longer be cancelled.",
            message_status=row.status,
        )
    rt.bus.publish(events)
    return message_public(row, wa_id=row.wa_id)
