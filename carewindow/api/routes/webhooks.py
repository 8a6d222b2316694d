"""``/webhooks/whatsapp``: Meta's verification handshake and webhook deliveries.

See docs/subsystems/webhook-ingest.md.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import PlainTextResponse, Response
from starlette.types import Receive, Scope

from carewindow.actions.ingest import IngestJob
from carewindow.api.deps import RuntimeDep
from carewindow.api.edge import Answer, BodyTooLarge, header, json_headers, read_body
from carewindow.api.errors import ApiError
from carewindow.api.runtime import Runtime
from carewindow.wire import signature
from carewindow.wire.errors import WebhookFormatError
from carewindow.wire.webhook import parse_webhook

router = APIRouter(tags=["webhooks"])
PATH = "/webhooks/whatsapp"
_OK_BODY = b'{"status":"ok"}'
_OK = Answer(200, _OK_BODY, json_headers(_OK_BODY))
_SIGNATURE = signature.HEADER.lower().encode()


@router.get(PATH, response_class=PlainTextResponse)
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


# The OpenAPI description of ``POST /webhooks/whatsapp``, never mounted: ``post_webhook`` answers it.
documented = APIRouter(tags=["webhooks"])


@documented.post(PATH, responses={400: {}, 401: {}, 413: {}, 503: {}})
async def receive_webhook() -> Response:
    """Store a webhook delivery; 200 only after the commit that holds it."""
    raise NotImplementedError("answered by post_webhook through api/edge.py")


async def post_webhook(rt: Runtime, scope: Scope, receive: Receive) -> Answer:
    """``POST /webhooks/whatsapp``, the hot path of every deployment (api/edge.py): the body within
    ``max_webhook_bytes`` (413), its signature (401), a webhook (400), then one submit to the ingest
    group commit; the 200 waits for the commit that holds it."""
    limit = rt.settings.max_webhook_bytes
    try:
        raw = await read_body(scope, receive, limit)
    except BodyTooLarge:
        message = f"Webhook body exceeds {limit} bytes."
        raise ApiError(413, "payload_too_large", message, limit=limit) from None
    if rt.app_secret and not signature.verify(raw, header(scope, _SIGNATURE), rt.app_secret):
        raise ApiError(401, "unauthorized", "Missing or invalid X-Hub-Signature-256 for this body.")
    try:
        batch = parse_webhook(raw)
    except WebhookFormatError as exc:
        raise ApiError(400, "invalid_webhook", f"Not a WhatsApp webhook: {exc}") from None
    result = await rt.ingest.submit(IngestJob(body=raw, batch=batch, received_at=rt.now()))
    rt.bus.publish(result.events)
    return _OK
