"""``/v1/messages``: send (decide, store, queue) and read a message with its status history."""

from __future__ import annotations

import email.message
import json
from collections.abc import Sequence
from datetime import timedelta
from functools import lru_cache
from typing import Annotated, Any

import anyio
import orjson
from fastapi import APIRouter, Header
from fastapi.exceptions import RequestValidationError
from pydantic import StringConstraints, TypeAdapter, ValidationError
from starlette.exceptions import HTTPException
from starlette.types import Receive, Scope

from carewindow.actions.errors import NotFound
from carewindow.actions.send import (
    SendCommand,
    SendJob,
    do_cancel,
    do_queue_send,
    pending_for_contact,
    queue_send,
)
from carewindow.api import schemas
from carewindow.api.auth import READ_CONVERSATIONS, SEND, Principal, authenticate, require
from carewindow.api.deps import PrincipalDep, RuntimeDep
from carewindow.api.edge import Answer, header, json_headers, read_body
from carewindow.api.errors import ApiError
from carewindow.api.present import message_public, window_from_decision, window_public
from carewindow.api.routes.media import media_by_message
from carewindow.api.runtime import Runtime, send_queue
from carewindow.policy import OnClosed, SendPurpose, TemplateRef
from carewindow.storage import contacts as contact_store
from carewindow.storage import messages as message_store
from carewindow.storage.engine import Row, connect
from carewindow.wire.media import MEDIA_KINDS

router = APIRouter(prefix="/v1", tags=["messages"])
PATH = "/v1/messages"
IDEMPOTENCY_KEY_MAX = 256
_IDEMPOTENCY_KEY = TypeAdapter(Annotated[str, StringConstraints(max_length=IDEMPOTENCY_KEY_MAX)])
_MISSING = object()  # an empty body


def _ref(spec: schemas.TemplateSpec | None) -> TemplateRef | None:
    if spec is None:
        return None
    params = spec.parameters if isinstance(spec.parameters, dict) else tuple(spec.parameters)
    return TemplateRef(name=spec.name, language=spec.language, params=params, header=spec.header)


# The OpenAPI description of ``POST /v1/messages``, never mounted: ``post_message`` answers it.
documented = APIRouter(prefix="/v1", tags=["messages"])


@documented.post(
    "/messages", status_code=202, response_model=schemas.MessagePublic, response_model_exclude_none=True
)
async def send_message(
    body: schemas.MessageCreate,
    rt: RuntimeDep,
    principal: PrincipalDep,
    idempotency_key: Annotated[str | None, Header(max_length=IDEMPOTENCY_KEY_MAX)] = None,
) -> schemas.MessagePublic:
    """Decide with the window rules; on acceptance store the message and queue it (202)."""
    raise NotImplementedError("answered by post_message through api/edge.py")


async def post_message(rt: Runtime, scope: Scope, receive: Receive) -> Answer:
    """``POST /v1/messages`` (api/edge.py), checked in the order the documented signature gives:
    the body as JSON (422 ``json_invalid``, 400 when it cannot be decoded at all), the key (401), then
    the ``Idempotency-Key`` header and the body against ``schemas.MessageCreate`` (one 422 listing
    both), then ``accept_send`` (403, refusals, 503)."""
    data = _json_body(await read_body(scope, receive), header(scope, b"content-type"))
    principal = await authenticate(rt.keys, header(scope, b"authorization"))
    idempotency_key = header(scope, b"idempotency-key")
    errors: list[dict[str, Any]] = []
    if idempotency_key is not None:
        try:
            _IDEMPOTENCY_KEY.validate_python(idempotency_key)
        except ValidationError as exc:
            errors += _located(exc, ("header", "idempotency-key"))
    body: schemas.MessageCreate | None = None
    if data is _MISSING:
        errors.append({"type": "missing", "loc": ("body",), "msg": "Field required", "input": None})
    else:
        try:
            body = schemas.MessageCreate.model_validate(data, from_attributes=True)
        except ValidationError as exc:
            errors += _located(exc, ("body",))
    if errors or body is None:
        raise RequestValidationError(errors)
    public = await accept_send(rt, principal, body, idempotency_key)
    answer = public.model_dump_json(by_alias=True, exclude_none=True).encode()
    return Answer(202, answer, json_headers(answer))


def _json_body(raw: bytes, content_type: str | None) -> Any:
    """The body as the model is validated from it: parsed JSON when the content type says JSON,
    the bytes as they are otherwise (they fail validation), ``_MISSING`` when empty."""
    if not raw:
        return _MISSING
    if content_type is None or not _is_json(content_type):
        return raw
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        pass
    try:  # what orjson refuses may still be JSON to Python (NaN, huge integers, UTF-16); its errors
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        error = {"type": "json_invalid", "loc": ("body", exc.pos), "msg": "JSON decode error", "input": {}}
        # The document goes along, as FastAPI's does, so the answer can say the line and column.
        raise RequestValidationError([{**error, "ctx": {"error": exc.msg}}], body=exc.doc) from None
    except Exception:  # not text at all (invalid UTF-8), or nested past the parser's depth
        raise HTTPException(400, "There was an error parsing the body") from None


@lru_cache(maxsize=64)
def _is_json(content_type: str) -> bool:
    """``application/json`` or ``application/*+json``, parameters aside (FastAPI's rule)."""
    message = email.message.Message()
    message["content-type"] = content_type
    if message.get_content_maintype() != "application":
        return False
    subtype = message.get_content_subtype()
    return subtype == "json" or subtype.endswith("+json")


def _located(exc: ValidationError, prefix: tuple[str, ...]) -> list[dict[str, Any]]:
    return [{**e, "loc": (*prefix, *e["loc"])} for e in exc.errors(include_url=False)]


async def accept_send(
    rt: Runtime, principal: Principal, body: schemas.MessageCreate, idempotency_key: str | None
) -> schemas.MessagePublic:
    """The send use case behind ``post_message``, once the key and the body are known."""
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
    if contact_store.needs_resolving(body.to):  # a user id or a 521…/549… number: the stored key
        key = await anyio.to_thread.run_sync(lambda: _resolve(rt, number, body.to))
        body = body.model_copy(update={"to": key})
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
        purpose=SendPurpose(body.purpose),
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
        # A held message is listed in the answer's window with the others held for the contact: one
        # read, on the deferred path only (accepted and refused sends answer from the decision alone).
        held = (
            await anyio.to_thread.run_sync(lambda: _pending(rt, outcome.message.contact_id))
            if outcome.message.status == "held"
            else ()
        )
        window = window_from_decision(wa_id=body.to, decision=outcome.decision, policy=rt.policy, held=held)
    else:  # an earlier message returned for its idempotency key, or a scheduled one: read the window now
        window = await anyio.to_thread.run_sync(lambda: _window(rt, number, body.to))
    return message_public(
        outcome.message, wa_id=body.to, fallback_message_id=outcome.fallback_message_id, window=window
    )


def _hold(rt: Runtime) -> timedelta:
    return timedelta(hours=rt.settings.hold_period_hours)


def _pending(rt: Runtime, contact_id: int) -> Sequence[Row[Any]]:
    with connect(rt.engine) as conn:
        return pending_for_contact(conn, contact_id)


def _resolve(rt: Runtime, number: str, address: str) -> str:
    with connect(rt.engine) as conn:
        return contact_store.resolve_key(conn, phone_number_id=number, address=address)


def _window(rt: Runtime, number: str, wa_id: str) -> schemas.WindowPublic:
    with connect(rt.engine) as conn:
        contact = contact_store.get(conn, phone_number_id=number, wa_id=wa_id)
        pending = pending_for_contact(conn, contact.id) if contact is not None else ()
    return window_public(contact, wa_id=wa_id, now=rt.now(), policy=rt.policy, held=pending)


@router.get("/messages/{message_id}", response_model=schemas.MessagePublic, response_model_exclude_none=True)
def get_message(message_id: str, rt: RuntimeDep, principal: PrincipalDep) -> schemas.MessagePublic:
    """The message with its status history (queued, sent, delivered, read, failed + error, held)."""
    require(principal, READ_CONVERSATIONS | SEND, "read messages")
    with connect(rt.engine) as conn:
        row = message_store.get_by_id(conn, message_id)
        if row is None or not principal.may_use(row.phone_number_id):
            raise NotFound(f"No message {message_id!r}.", id=message_id)
        history = message_store.history(conn, row.seq)
        files = media_by_message(conn, [row]) if row.type in MEDIA_KINDS else {}
    return message_public(row, wa_id=row.wa_id, history=history, media=files.get(row.id))


@router.delete(
    "/messages/{message_id}", response_model=schemas.MessagePublic, response_model_exclude_none=True
)
async def cancel_message(message_id: str, rt: RuntimeDep, principal: PrincipalDep) -> schemas.MessagePublic:
    """Cancel a scheduled or held message, or a queued one the provider has not been given yet."""
    require(principal, SEND, "cancel messages")
    with connect(rt.engine) as conn:
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
