"""Events that go out after a commit: the inbox's live updates (and, later, outgoing webhooks).

Actions return the events they caused; the entry point publishes them once the transaction that
made them true has committed, never before (an event about a rolled-back write would be a lie).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    type: str  # message.received, message.status, message.queued, window.opened, consent.changed ...
    wa_id: str
    phone_number_id: str
    data: Mapping[str, Any] = field(default_factory=dict)


class EventBus:
    """In-process fan-out to subscribers (SSE streams). Slow subscribers drop events, never block us."""

    def __init__(self, max_queue: int = 1000) -> None:
        self._subscribers: set[asyncio.Queue[Event]] = set()
        self._max_queue = max_queue
        # Set when other processes share the database: what is published here is sent to them too.
        self.forward: Callable[[list[Event]], None] | None = None
        # Called with every event delivered here, on the publishing thread's loop (the Graph gateway's
        # waiters, api/graph/wait.py): a callback must be quick and never raise.
        self.listeners: list[Callable[[Event], None]] = []

    def publish(self, events: Iterable[Event]) -> None:
        """Deliver to this process's subscribers and, if configured, to the other processes."""
        events = list(events)
        self.publish_local(events)
        if self.forward is not None and events:
            self.forward(events)

    def publish_local(self, events: Iterable[Event]) -> None:
        """Deliver to this process's subscribers only (events that came from another process)."""
        for event in events:
            for q in self._subscribers:
                with contextlib.suppress(asyncio.QueueFull):
                    q.put_nowait(event)
            for listener in self.listeners:
                listener(event)

    @contextlib.asynccontextmanager
    async def subscribe(self) -> AsyncIterator[asyncio.Queue[Event]]:
        q: asyncio.Queue[Event] = asyncio.Queue(self._max_queue)
        self._subscribers.add(q)
        try:
            yield q
        finally:
            self._subscribers.discard(q)

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)


def to_wire(event: Event) -> dict[str, Any]:
    return {
        "type": event.type,
        "wa_id": event.wa_id,
        "phone_number_id": event.phone_number_id,
        "data": dict(event.data),
    }


def from_wire(d: Mapping[str, Any]) -> Event:
    return Event(
        type=d["type"], wa_id=d["wa_id"], phone_number_id=d["phone_number_id"], data=d.get("data") or {}
    )
