"""Events that go out after a commit: the inbox's live updates (and, later, outgoing webhooks).

Actions return the events they caused; the entry point publishes them once the transaction that
made them true has committed, never before (an event about a rolled-back write would be a lie).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterable, Mapping
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

    def publish(self, events: Iterable[Event]) -> None:
        for event in events:
            for q in self._subscribers:
                with contextlib.suppress(asyncio.QueueFull):
                    q.put_nowait(event)

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
