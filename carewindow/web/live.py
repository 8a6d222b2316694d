"""``/inbox/events``: Server-Sent Events from the runtime's event bus, for one signed-in agent.

Events carry only what changed (type, wa_id, message id/status); the page then fetches the parts it
shows from the server, which stays the single source of truth. Customer text never travels here.
"""

from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from types import FrameType
from typing import Any

import orjson

from carewindow.actions.events import Event, EventBus

KEEPALIVE_SECONDS = 15.0
# Clients reconnect after this many ms when the stream drops (a restart, a proxy timeout).
RETRY_MS = 2000
_FORWARDED = ("id", "status", "error_code")


def sse_message(event: Event) -> str:
    """One SSE frame for ``event``: ``event: <type>`` and a small JSON ``data`` line."""
    data: dict[str, object] = {
        "type": event.type,
        "wa_id": event.wa_id,
        "phone_number_id": event.phone_number_id,
    }
    data.update({k: event.data[k] for k in _FORWARDED if k in event.data})
    return f"event: {event.type}\ndata: {orjson.dumps(data).decode()}\n\n"


async def event_stream(
    bus: EventBus,
    *,
    allowed: Callable[[str], bool],
    is_disconnected: Callable[[], Awaitable[bool]],
    closing: asyncio.Event | None = None,
    keepalive: float = KEEPALIVE_SECONDS,
) -> AsyncIterator[str]:
    """Yield SSE frames for events on numbers ``allowed`` lets through, with keepalive comments,
    until the client goes away or ``closing`` is set.

    The first frame (``event: ready``) is sent once the subscription exists: the page refreshes on
    it, so nothing that happened between rendering the page and subscribing is missed.
    """
    async with bus.subscribe() as queue:
        yield f"retry: {RETRY_MS}\nevent: ready\ndata: {{}}\n\n"
        getter: asyncio.Future[Event] | None = None
        stop = asyncio.ensure_future(closing.wait()) if closing is not None else None
        try:
            while True:
                if getter is None:
                    getter = asyncio.ensure_future(queue.get())
                waits: set[asyncio.Future[Any]] = {getter} if stop is None else {getter, stop}
                done, _ = await asyncio.wait(waits, timeout=keepalive, return_when=asyncio.FIRST_COMPLETED)
                if stop is not None and stop in done:
                    return
                if getter in done:
                    event = getter.result()
                    getter = None
                    if allowed(event.phone_number_id):
                        yield sse_message(event)
                    continue
                if await is_disconnected():
                    return
                yield ": keepalive\n\n"
        finally:
            for task in (getter, stop):
                if task is not None:
                    task.cancel()


_closing: dict[asyncio.AbstractEventLoop, asyncio.Event] = {}


def closing_event() -> asyncio.Event:
    """An event set when this process is asked to stop (SIGINT/SIGTERM), for the running loop.

    uvicorn waits for every open response before it shuts down, and an event stream never ends on its
    own: without this, one open inbox tab would keep a stopping server alive. The handler chains to
    the server's own (installed by uvicorn before any request is served); where no Python-level
    handler is installed (tests in process, other threads) nothing is hooked.
    """
    loop = asyncio.get_running_loop()
    event = _closing.get(loop)
    if event is not None:
        return event
    event = _closing[loop] = asyncio.Event()
    if threading.current_thread() is not threading.main_thread():
        return event
    for sig in (signal.SIGINT, signal.SIGTERM):
        previous = signal.getsignal(sig)
        if not callable(previous):
            continue

        def handler(signum: int, frame: FrameType | None, previous: Any = previous) -> None:
            loop.call_soon_threadsafe(event.set)
            previous(signum, frame)

        signal.signal(sig, handler)
    return event
