"""``/webhooks/whatsapp``: Meta's verification handshake and webhook deliveries.

See docs/subsystems/webhook-ingest.md.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import PlainTextResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from carewindow.actions.ingest import IngestJob
from carewindow.api.deps import RuntimeDep
from carewindow.api.errors import ApiError
from carewindow.api.fastpath import FastPath, header, respond
from carewindow.wire import signature
from carewindow.wire.errors import WebhookFormatError
from carewindow.wire.webhook import parse_webhook

router = APIRouter(tags=["webhooks"])
_OK_BODY = b'{"status":"ok"}'
_OK = Response(_OK_BODY, media_type="application/json")
OK_HEADERS = ((b"content-type", b"application/json"), (b"content-length", str(len(_OK_BODY)).encode()))
PATH = "/webhooks/whatsapp"


@router.get("/webhooks/whatsapp", response_class=PlainTextResponse)
def verify_subscription(
    rt: RuntimeDep,
    mode: Annotated[str | None, Query(alias="hub.mode")] = None,
    token: Annotated[str | None, Query(alias="hub.verify_token")] = None,
    challenge: Annotated[str | None, Query(alias="hub.challenge")] = None,
) -> PlainTextResponse:
    """Answer Meta's subscription check with the challenge when the verify token matches."""
    expected = rt.settings.meta_verify_token
    if mode != "subscribe" or not expected or token is None or challenge is None:
        raise ApiError(
            403, "forbidden", "Verification failed: expected hub.mode=subscribe and the verify token."
        )
    if not hmac.compare_digest(token.encode(), expected.encode()):
        raise ApiError(403, "forbidden", "Verification failed: hub.verify_token does not match.")
    return PlainTextResponse(challenge)


@router.post("/webhooks/whatsapp", responses={400: {}, 401: {}, 413: {}, 503: {}})
async def receive_webhook(request: Request, rt: RuntimeDep) -> Response:
    """Store a webhook delivery; 200 only after the commit that holds it."""
    limit = rt.settings.max_webhook_bytes
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ApiError(413, "payload_too_large", f"Webhook body exceeds {limit} bytes.", limit=limit)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise ApiError(413, "payload_too_large", f"Webhook body exceeds {limit} bytes.", limit=limit)
    raw = bytes(body)
    if rt.app_secret and not signature.verify(raw, request.headers.get(signature.HEADER), rt.app_secret):
        raise ApiError(401, "unauthorized", "Missing or invalid X-Hub-Signature-256 for this body.")
    try:
        batch = parse_webhook(raw)
    except WebhookFormatError as exc:
        raise ApiError(400, "invalid_webhook", f"Not a WhatsApp webhook: {exc}") from None
    result = await rt.ingest.submit(IngestJob(body=raw, batch=batch, received_at=rt.now()))
    rt.bus.publish(result.events)
    return _OK


class WebhookFastPath(FastPath):
    """``POST /webhooks/whatsapp`` as plain ASGI: the hot path of every deployment (api/fastpath.py).

    Only the success path is handled here, with the same checks as ``receive_webhook`` in the same
    order. Anything else (a declared or actual body over the limit, a bad signature, a body that is not
    a webhook, an error while storing) is handed to the framework route with the body replayed, so
    every error answer is the route's own. Storing is idempotent, so a retry there after an error is
    safe. The 200 still waits for the commit that holds the body.
    """

    path = PATH

    def __init__(self, app: ASGIApp, *, ok_headers: list[tuple[bytes, bytes]]) -> None:
        super().__init__(app)
        self._headers = ok_headers

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        rt = scope["app"].state.runtime
        body = await self.read_body(scope, receive, send, rt.settings.max_webhook_bytes)
        if body is None:
            return
        sig = header(scope, b"x-hub-signature-256")
        if rt.app_secret and not signature.verify(
            body, sig.decode("latin-1") if sig is not None else None, rt.app_secret
        ):
            await self.hand_over(scope, receive, send, body)
            return
        try:
            batch = parse_webhook(body)
            result = await rt.ingest.submit(IngestJob(body=body, batch=batch, received_at=rt.now()))
        except Exception:
            await self.hand_over(scope, receive, send, body)
            return
        rt.bus.publish(result.events)
        self.answered += 1
        await respond(send, 200, _OK_BODY, self._headers)
