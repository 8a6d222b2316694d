"""Plain-ASGI fast paths for the two hottest endpoints (``POST /webhooks/whatsapp``, ``POST /v1/messages``).

Under load most of the server's CPU per request went to the framework around a handler that itself
took a tenth of it: routing, dependency solving, exception layers (docs/performance.md). A fast path
handles the common case itself and hands anything else to the framework route with the body replayed,
so every error answer stays the route's own. It may hand over only before it has written anything.
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class FastPath:
    """Base: matches one method and path; subclasses implement ``handle``."""

    method = "POST"
    path = ""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.answered = 0  # requests answered here (the rest went to the framework route)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != self.path or scope["method"] != self.method:
            await self.app(scope, receive, send)
            return
        await self.handle(scope, receive, send)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        raise NotImplementedError

    async def read_body(self, scope: Scope, receive: Receive, send: Send, limit: int) -> bytes | None:
        """The whole body, or None after handing the request to the framework (declared or actual size
        over ``limit``, or the client left)."""
        declared = header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await self.app(scope, receive, send)
            return None
        body = b""
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":  # the client left: let the framework deal with it
                await self.app(scope, replay(body, receive, more=True, last=message), send)
                return None
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > limit:
                await self.app(scope, replay(body, receive, more=more), send)
                return None
        return body

    async def hand_over(self, scope: Scope, receive: Receive, send: Send, body: bytes) -> None:
        """Let the framework route answer, as if nothing had been read."""
        await self.app(scope, replay(body, receive, more=False), send)


def header(scope: Scope, name: bytes) -> bytes | None:
    """The first value of header ``name`` (lower case), as the framework's ``headers.get`` gives."""
    for k, v in scope["headers"]:
        if k == name:
            return bytes(v)
    return None


async def respond(send: Send, status: int, body: bytes, headers: Iterable[tuple[bytes, bytes]]) -> None:
    start: Message = {"type": "http.response.start", "status": status, "headers": list(headers)}
    await send(start)
    await send({"type": "http.response.body", "body": body, "more_body": False})


def replay(body: bytes, receive: Receive, *, more: bool, last: Message | None = None) -> Receive:
    """A ``receive`` that gives ``body`` (already read) first, then continues with the real one."""
    pending: list[Message] = [{"type": "http.request", "body": body, "more_body": more}]
    if last is not None:
        pending.append(last)

    async def replayed() -> Message:
        return pending.pop(0) if pending else await receive()

    return replayed
