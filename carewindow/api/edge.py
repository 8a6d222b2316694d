"""The HTTP edge: ``HotRoutes``, a plain-ASGI dispatcher composed around the FastAPI app.

The two hottest endpoints (``POST /webhooks/whatsapp``, ``POST /v1/messages``) are answered here and
only here; FastAPI has no route for them (docs/performance.md: under load most of the server's CPU per
request went to the framework's routing, dependency solving and exception layers around a handler
that itself took a tenth of it). A hot handler returns its ``Answer`` or raises; whatever it raises
is answered by ``errors.error_answer``, the same function behind the FastAPI app's exception
handlers, so every path answers the contract's error JSON. Middleware the project adds wraps this
dispatcher (api/app.py), so it sees the hot endpoints like every other route.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import NamedTuple

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from carewindow.api.errors import error_answer


class Answer(NamedTuple):
    """A hot handler's successful answer."""

    status: int
    body: bytes
    headers: list[tuple[bytes, bytes]]  # raw ASGI headers, content-type and content-length included


Handler = Callable[[Scope, Receive], Awaitable[Answer]]


class BodyTooLarge(Exception):
    """The request body (declared or sent) is over the handler's limit."""


class ClientGone(Exception):
    """The client disconnected before it had sent the whole body."""


class HotRoutes:
    """``routes`` maps (method, path) to the only implementation of that endpoint; every other
    request goes to ``app`` untouched. Another method on a hot path answers 405 as a route would,
    unless the path is in ``shared``: ``app`` serves its other methods (``GET /webhooks/whatsapp``)."""

    def __init__(
        self, app: ASGIApp, routes: Mapping[tuple[str, str], Handler], *, shared: Iterable[str] = ()
    ) -> None:
        self.app = app
        self.routes = dict(routes)
        kept = set(shared)
        self._allow = {
            path: ", ".join(sorted(m for m, p in self.routes if p == path))
            for _, path in self.routes
            if path not in kept
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            handler = self.routes.get((scope["method"], scope["path"]))
            if handler is not None:
                await answer(handler, scope, receive, send)
                return
            allow = self._allow.get(scope["path"])
            if allow is not None:
                exc = HTTPException(405, headers={"Allow": allow})
                await error_answer(exc)(scope, receive, send)
                return
        await self.app(scope, receive, send)


async def answer(handler: Handler, scope: Scope, receive: Receive, send: Send) -> None:
    """Run ``handler`` and send its answer, or the contract's answer to what it raised."""
    try:
        status, body, headers = await handler(scope, receive)
    except ClientGone:
        return  # nobody is left to answer
    except Exception as exc:
        await error_answer(exc)(scope, receive, send)
        return
    # A copy: a handler may answer with one list every time, and middleware may add to what it gets.
    start: Message = {"type": "http.response.start", "status": status, "headers": list(headers)}
    await send(start)
    await send({"type": "http.response.body", "body": body, "more_body": False})


def header(scope: Scope, name: bytes) -> str | None:
    """The first value of header ``name`` (lower case), decoded as Starlette's ``headers.get`` does."""
    for k, v in scope["headers"]:
        if k == name:
            return bytes(v).decode("latin-1")
    return None


async def read_body(scope: Scope, receive: Receive, limit: int | None = None) -> bytes:
    """The whole request body; ``BodyTooLarge`` as soon as the declared or received size is over
    ``limit`` (before reading, when ``Content-Length`` says so), ``ClientGone`` if the client left."""
    if limit is not None:
        declared = header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise ClientGone
        chunk = message.get("body", b"")
        if chunk:
            chunks.append(chunk)
            size += len(chunk)
            if limit is not None and size > limit:
                raise BodyTooLarge
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def json_headers(body: bytes) -> list[tuple[bytes, bytes]]:
    """The headers of a JSON answer, as Starlette's ``Response`` gives them."""
    return [(b"content-length", str(len(body)).encode()), (b"content-type", b"application/json")]
