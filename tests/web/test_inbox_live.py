"""The inbox's event stream, driven directly: filtering by number, keepalives, and ending on shutdown."""

from __future__ import annotations

import asyncio

import pytest

from carewindow.actions.events import Event, EventBus
from carewindow.web.live import event_stream, sse_message

pytestmark = pytest.mark.anyio


async def never_disconnected() -> bool:
    return False


def event(number: str, text: str = "secret words") -> Event:
    return Event(type="message.received", wa_id="34600111222", phone_number_id=number, data={"text": text})


async def test_stream_sends_ready_then_only_the_agents_numbers_and_ends_when_closing() -> None:
    bus = EventBus()
    closing = asyncio.Event()
    stream = event_stream(
        bus,
        allowed=lambda n: n == "mine",
        is_disconnected=never_disconnected,
        closing=closing,
        keepalive=0.05,
    )
    first = await anext(stream)
    assert "event: ready" in first
    assert "retry: " in first
    bus.publish([event("other"), event("mine")])
    frame = await anext(stream)
    assert frame.startswith("event: message.received\n")
    assert '"phone_number_id":"mine"' in frame
    assert await anext(stream) == ": keepalive\n\n"
    closing.set()
    with pytest.raises(StopAsyncIteration):
        await anext(stream)
    assert bus.subscriber_count == 0


async def test_stream_stops_when_the_client_is_gone() -> None:
    bus = EventBus()

    async def gone() -> bool:
        return True

    stream = event_stream(bus, allowed=lambda n: True, is_disconnected=gone, keepalive=0.01)
    await anext(stream)
    with pytest.raises(StopAsyncIteration):
        await anext(stream)
    assert bus.subscriber_count == 0


def test_frames_carry_ids_not_customer_text() -> None:
    frame = sse_message(event("mine", text="<img src=x onerror=alert(1)>"))
    assert "onerror" not in frame
    assert frame.endswith("\n\n")
