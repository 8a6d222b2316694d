"""Waiting for Meta's answer to a gateway send (docs/gateway.md, "The id a client gets back").

The gateway answers a send after Meta answered it, with Meta's own wamid: the id every later status
webhook carries, byte for byte, so the raw webhooks fanned out to the client match what it stored.
The message goes the /v1 way meanwhile: decided, stored with its outbox row in one commit, sent by the
delivery worker (which owns retries and exactly-once). This module only watches the stored row: the
event bus wakes it (the worker publishes ``message.status`` after its commit; on PostgreSQL other
processes' workers reach this bus too), and a read every ``POLL_SECONDS`` covers a worker whose events
do not reach this process.

When Meta's answer does not come in time, an outbox row nobody has claimed yet is cancelled (nothing
went out: the client may retry, no duplicate); a row already in the provider's hands is waited for a
lease longer, since cancelling it could no longer stop it.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import anyio

from carewindow.actions.events import Event
from carewindow.actions.send import do_cancel
from carewindow.api.runtime import Runtime
from carewindow.storage import messages as message_store
from carewindow.storage.engine import Row, connect

POLL_SECONDS = 0.25
FINAL = frozenset({"sent", "delivered", "read", "failed", "uncertain", "cancelled", "expired"})


def _row(rt: Runtime, message_id: str) -> Row[Any] | None:
    with connect(rt.engine) as conn:
        return message_store.get_by_id(conn, message_id)


def _settled(row: Row[Any] | None) -> bool:
    return row is not None and (row.wamid is not None or row.status in FINAL)


async def _watch(
    rt: Runtime, queue: asyncio.Queue[Event], message_id: str, seconds: float
) -> Row[Any] | None:
    """The message's row once Meta answered (a wamid or a final status), else None after ``seconds``."""
    deadline = time.monotonic() + seconds
    while True:
        row = await anyio.to_thread.run_sync(_row, rt, message_id)
        if _settled(row):
            return row
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        wait_until = time.monotonic() + min(left, POLL_SECONDS)
        while (left := wait_until - time.monotonic()) > 0:
            try:
                event = await asyncio.wait_for(queue.get(), timeout=left)
            except TimeoutError:
                break
            if event.type == "message.status" and event.data.get("id") == message_id:
                break


async def await_meta(
    rt: Runtime, queue: asyncio.Queue[Event], message_id: str, *, seconds: float
) -> tuple[Row[Any] | None, bool]:
    """(row, cancelled): the row once Meta answered; or (row, True) when the message was cancelled
    unsent after ``seconds``; or (None, False) when it is with the provider and still unanswered."""
    row = await _watch(rt, queue, message_id, seconds)
    if row is not None:
        return row, False
    cancelled, events = await anyio.to_thread.run_sync(lambda: do_cancel(rt.engine, message_id, now=rt.now()))
    if events:
        rt.bus.publish(events)
        return cancelled, True
    row = await _watch(rt, queue, message_id, rt.settings.lease_seconds)
    return row, False
