"""The ceiling: a bare Starlette app that reads the webhook body and answers 200, nothing else.

Served with the same uvicorn settings as ``carewindow serve``; no Python service can beat it here.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

_OK = b'{"status":"ok"}'


async def webhook(request: Request) -> Response:
    await request.body()
    return Response(_OK, media_type="application/json")


async def healthz(request: Request) -> Response:
    return Response(_OK, media_type="application/json")


app = Starlette(routes=[Route("/webhooks/whatsapp", webhook, methods=["POST"]), Route("/healthz", healthz)])
