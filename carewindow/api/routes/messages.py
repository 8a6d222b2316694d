"""``/v1/messages``: send (decide, store, queue) and read a message with its status history."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import timedelta
from typing import Annotated, Any

import anyio
import orjson
from fastapi import APIRouter, Header
from pydantic import ValidationError
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from carewindow.actions.errors import NotFound
from carewindow.actions.send import SendCommand, SendJob, do_cancel, do_queue_send, queue_send
from carewindow.api import schemas
from carewindow.api.auth import READ_CONVERSATIONS, SEND, Principal, bearer_key, require
from carewindow.api.deps import PrincipalDep, RuntimeDep
from carewindow.api.errors import ApiError
from carewindow.api.fastpath import FastPath, header, respond
from carewindow.api.present import message_public, window_from_decision, window_public
from carewindow.api.runtime import Runtime, send_queue
from carewindow.policy import OnClosed, TemplateRef
from carewindow.storage import contacts as contact_store
from carewindow.storage import messages as message_store
from carewindow.storage.engine import connect

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
    return await accept_send(rt, principal, body, idempotency_key)


async def accept_send(
    rt: Runtime, principal: Principal, body: schemas.MessageCreate, idempotency_key: str | None
) -> schemas.MessagePublic:
    """The send route's work, shared with ``SendFastPath``."""
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


class SendFastPath(FastPath):
    """``POST /v1/messages`` as plain ASGI (api/fastpath.py): with a JSON body that validates and a key
    that may send, ``accept_send`` runs here and its answer, or its error through the app's own
    exception handlers, goes out as the route would send it. Anything else goes to the route before
    anything is written (a bad key, a malformed header, a body that does not validate)."""

    path = "/v1/messages"

    def __init__(
        self, app: ASGIApp, *, secure: Callable[[Iterable[tuple[bytes, bytes]]], list[tuple[bytes, bytes]]]
    ) -> None:
        super().__init__(app)
        self._secure = secure

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        rt: Runtime = scope["app"].state.runtime
        body = await self.read_body(scope, receive, send, _MAX_BODY)
        if body is None:
            return
        idempotency_key = header(scope, b"idempotency-key")
        try:
            principal = await _principal(rt, header(scope, b"authorization"))
        except Exception:  # e.g. the database is down while reading a stored key: the route answers 503
            principal = None
        model = _model(body) if _is_json(header(scope, b"content-type")) else None
        if (
            principal is None
            or model is None
            or (idempotency_key is not None and len(idempotency_key) > _MAX_IDEMPOTENCY_KEY)
        ):
            await self.hand_over(scope, receive, send, body)
            return
        try:
            public = await accept_send(
                rt, principal, model, idempotency_key.decode("latin-1") if idempotency_key else None
            )
        except Exception as exc:
            handler = _handler(scope["app"].exception_handlers, exc)
            if handler is None:
                raise  # the framework's server error answer, as from the route
            self.answered += 1
            response = await handler(Request(scope), exc)
            await response(scope, receive, self._secured(send))
            return
        self.answered += 1
        answer = public.model_dump_json(by_alias=True, exclude_none=True).encode()
        headers = [(b"content-length", str(len(answer)).encode()), (b"content-type", b"application/json")]
        await respond(send, 202, answer, self._secure(headers))

    def _secured(self, send: Send) -> Send:
        async def secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": self._secure(message.get("headers", ()))}
            await send(message)

        return secured


_MAX_BODY = 1 << 20  # larger bodies (far over any valid message) get the route's own answer
_MAX_IDEMPOTENCY_KEY = 256  # as the route's Header(max_length=256)


async def _principal(rt: Runtime, authorization: bytes | None) -> Principal | None:
    try:
        key = bearer_key(authorization.decode("latin-1") if authorization is not None else None)
    except ApiError:
        return None  # the route gives the 401
    principal = rt.keys.resolve_env(key)
    if principal is None:  # a key from the database: read as the route does, off the event loop
        principal = await anyio.to_thread.run_sync(rt.keys.resolve, key)
    return principal if principal is not None and principal.role in SEND else None


def _is_json(content_type: bytes | None) -> bool:
    return content_type is not None and content_type.split(b";", 1)[0].strip().lower() == b"application/json"


def _model(body: bytes) -> schemas.MessageCreate | None:
    try:
        return schemas.MessageCreate.model_validate(orjson.loads(body))
    except (orjson.JSONDecodeError, ValidationError):
        return None


def _handler(handlers: Mapping[Any, Any], exc: Exception) -> Any:
    """The app's handler for ``exc``, looked up along its class hierarchy as the framework does."""
    for cls in type(exc).__mro__:
        if cls in handlers:
            return handlers[cls]
    return None


def _hold(rt: Runtime) -> timedelta:
    return timedelta(hours=rt.settings.hold_period_hours)


def _window(rt: Runtime, number: str, wa_id: str) -> schemas.WindowPublic:
    with connect(rt.engine) as conn:
        contact = contact_store.get(conn, phone_number_id=number, wa_id=wa_id)
    return window_public(contact, wa_id=wa_id, now=rt.now(), policy=rt.policy)


@router.get("/messages/{message_id}", response_model=schemas.MessagePublic, response_model_exclude_none=True)
def get_message(message_id: str, rt: RuntimeDep, principal: PrincipalDep) -> schemas.MessagePublic:
    """The message with its status history (queued, sent, delivered, read, failed + error, held)."""
    require(principal, READ_CONVERSATIONS | SEND, "read messages")
    with connect(rt.engine) as conn:
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
