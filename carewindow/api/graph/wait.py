"""Waiting for Meta's answer to a gateway send (docs/gateway.md, "The id a client gets back").

The gateway answers a send after Meta answered it, with Meta's own wamid: the id every later status
webhook carries, byte for byte, so the raw webhooks fanned out to the client match what it stored.
The message goes the /v1 way meanwhile: decided, stored with its outbox row in one commit, sent by the
delivery worker (which owns retries and exactly-once). This module only waits for the answer: the
worker's ``message.status`` event (published after its commit, with the wamid; on PostgreSQL other
processes' workers reach this bus too) wakes the one waiter it is about, and a read of the row every
``POLL_SECONDS`` covers a worker whose events do not reach this process.

When Meta's answer does not come in time, an outbox row nobody has claimed yet is cancelled (nothing
went out: the client may retry, no duplicate); a row already in the provider's hands is waited for a
lease longer, since cancelling it could no longer stop it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import anyio

from carewindow.actions.events import Event, EventBus
from carewindow.actions.send import do_cancel
from carewindow.api.runtime import Runtime
from carewindow.storage import messages as message_store
from carewindow.storage.engine import Row, connect

POLL_SECONDS = 0.25
FINAL = frozenset({"sent", "delivered", "read", "failed", "uncertain", "cancelled", "expired"})


@dataclass(frozen=True, slots=True)
class Answered:
    """What became of a gateway send: Meta's ``wamid``; or the stored ``row`` (a failure, read for its
    error); ``cancelled`` when it was cancelled unsent; all empty when it is with the provider still."""

    wamid: str | None = None
    row: Row[Any] | None = None
    cancelled: bool = False


def _row(rt: Runtime, message_id: str) -> Row[Any] | None:
    with connect(rt.engine) as conn:
        return message_store.get_by_id(conn, message_id)


def _answered(row: Row[Any] | None) -> Answered | None:
    if row is None or (row.wamid is None and row.status not in FINAL):
        return None
    return Answered(wamid=row.wamid, row=row)


class _Waiters:
    """The gateway sends of one process waiting for Meta's answer, by message id: one bus listener
    wakes only the waiter an event is about (a queue per waiter would wake every waiter per event)."""

    def __init__(self) -> None:
        self.by_id: dict[str, list[asyncio.Future[Event]]] = {}

    def __call__(self, event: Event) -> None:
        if event.type != "message.status":
            return
        for fut in self.by_id.get(str(event.data.get("id")), ()):
            if not fut.done():
                fut.set_result(event)


_waiters: weakref.WeakKeyDictionary[EventBus, _Waiters] = weakref.WeakKeyDictionary()


def _registry(bus: EventBus) -> _Waiters:
    waiters = _waiters.get(bus)
    if waiters is None:
        waiters = _waiters[bus] = _Waiters()
        bus.listeners.append(waiters)
    return waiters


@contextlib.contextmanager
def watching(rt: Runtime) -> Iterator[_Waiters]:
    """Listen for answers from before the send on (so none is missed)."""
    yield _registry(rt.bus)


async def _next(waiters: _Waiters, message_id: str, timeout: float) -> Event | None:
    fut: asyncio.Future[Event] = asyncio.get_running_loop().create_future()
    waiting = waiters.by_id.setdefault(message_id, [])
    waiting.append(fut)
    try:
        return await asyncio.wait_for(fut, timeout=timeout)
    except TimeoutError:
        return None
    finally:
        waiting.remove(fut)
        if not waiting:
            waiters.by_id.pop(message_id, None)


async def _watch(rt: Runtime, waiters: _Waiters, message_id: str, seconds: float) -> Answered | None:
    """Meta's answer (the worker's ``message.status`` event carries the wamid: no read needed), else
    the row read every ``POLL_SECONDS``; None after ``seconds`` without an answer."""
    deadline = time.monotonic() + seconds
    while True:
        event = await _next(waiters, message_id, max(0.0, min(deadline - time.monotonic(), POLL_SECONDS)))
        wamid = event.data.get("wamid") if event is not None else None
        if isinstance(wamid, str) and wamid:
            return Answered(wamid=wamid)
        # No event (another process's worker?) or another status (failed, ...): the row says.
        found = _answered(await anyio.to_thread.run_sync(_row, rt, message_id))
        if found is not None:
            return found
        if time.monotonic() >= deadline:
            return None


async def await_meta(rt: Runtime, waiters: _Waiters, message_id: str, *, seconds: float) -> Answered:
    """Meta's answer to message ``message_id``; when none came within ``seconds``, the message is
    cancelled if nobody has handed it to Meta yet, else waited for a lease longer."""
    found = await _watch(rt, waiters, message_id, seconds)
    if found is not None:
        return found
    cancelled, events = await anyio.to_thread.run_sync(lambda: do_cancel(rt.engine, message_id, now=rt.now()))
    if events:
        rt.bus.publish(events)
        return Answered(row=cancelled, cancelled=True)
    return await _watch(rt, waiters, message_id, rt.settings.lease_seconds) or Answered()
