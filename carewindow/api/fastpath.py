"""Plain-ASGI fast paths for the two hottest endpoints (``POST /webhooks/whatsapp``, ``POST /v1/messages``).

Under load most of the server's CPU per request went to the framework around a handler that itself
took a tenth of it: its outer layers, routing, dependency solving, exception layers
(docs/performance.md). ``CareWindowAPI`` sends these two POSTs to their fast path before any of that;
a fast path handles the common case itself and hands anything else to the framework with the body
replayed, so every error answer stays the route's own. It may hand over only before it has written
anything.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class FastPath:
    """One hot endpoint. ``app`` is the whole framework app, which gets whatever this does not answer;
    ``CareWindowAPI`` calls ``handle`` before any of the framework's own layers run."""

    path = ""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.answered = 0  # requests answered here (the rest went to the framework route)

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


class CareWindowAPI(FastAPI):
    """FastAPI, with the hot POSTs answered by their fast paths first (registered in ``fast_paths``)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.fast_paths: dict[str, FastPath] = {}

    def add_fast_path(self, factory: Callable[..., FastPath], **kwargs: Any) -> None:
        fast = factory(self.framework, **kwargs)
        self.fast_paths[fast.path] = fast

    async def framework(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The app without its fast paths: every layer, every route."""
        await super().__call__(scope, receive, send)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            fast = self.fast_paths.get(scope["path"])
            if fast is not None:
                scope["app"] = self  # as the framework sets it: handlers find the runtime there
                await fast.handle(scope, receive, send)
                return
        await super().__call__(scope, receive, send)
