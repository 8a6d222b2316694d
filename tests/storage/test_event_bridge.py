"""Live events cross processes on PostgreSQL (LISTEN/NOTIFY): an inbox stream served by one process
hears about what another process committed."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson
import pytest
from service_support import Clock, make_settings

from carewindow.actions.events import Event
from carewindow.api.app import create_app
from carewindow.storage.pubsub import _MAX_PAYLOAD, PgEventBridge, _chunks

pytestmark = pytest.mark.anyio


async def test_an_event_published_in_one_process_reaches_subscribers_of_another(db_url: str) -> None:
    if db_url.startswith("sqlite"):
        pytest.skip("SQLite serves from one process: the in-process bus already reaches every stream")
    clock = Clock()
    a = create_app(make_settings(db_url), clock=clock, run_worker=False)
    b = create_app(make_settings(db_url), clock=clock, run_worker=False)
    async with a.router.lifespan_context(a), b.router.lifespan_context(b):
        rt_a, rt_b = a.state.runtime, b.state.runtime
        async with rt_b.bus.subscribe() as inbox_b, rt_a.bus.subscribe() as inbox_a:
            sent = Event(
                type="message.status", wa_id="34600111222", phone_number_id="1", data={"status": "read"}
            )
            received = None
            for _ in range(40):  # the listener may still be connecting: publish until it hears
                rt_a.bus.publish([sent])
                try:
                    received = await asyncio.wait_for(inbox_b.get(), timeout=0.25)
                    break
                except TimeoutError:
                    continue
            assert received == sent
            # The publishing process delivers locally once, and ignores its own notifications.
            local = [inbox_a.get_nowait() for _ in range(inbox_a.qsize())]
            assert local and all(e == sent for e in local)
            await asyncio.sleep(0.5)
            assert inbox_a.empty()


def test_payloads_stay_under_the_notify_limit() -> None:
    big = {"type": "message.received", "wa_id": "1", "phone_number_id": "1", "data": {"text": "x" * 3000}}
    chunks = _chunks("origin", [big] * 5)
    assert len(chunks) >= 3 and all(len(c.encode()) <= _MAX_PAYLOAD for c in chunks)
    huge = {**big, "data": {"text": "x" * 10_000}}
    assert _chunks("origin", [huge]) == []  # a hint too large to send is dropped, not sent broken


def test_small_events_share_payloads_and_none_is_lost() -> None:
    events = [{"type": "message.status", "n": i, "data": {"status": "read"}} for i in range(500)]
    chunks = _chunks("origin", events)
    assert len(chunks) <= 6  # ~50 bytes each: about 140 to a payload, not one NOTIFY per event
    assert all(len(c.encode()) <= _MAX_PAYLOAD for c in chunks)
    docs = [orjson.loads(c) for c in chunks]
    assert all(d["origin"] == "origin" for d in docs)
    assert [e for d in docs for e in d["events"]] == events


def test_sends_within_the_linger_share_one_notify_and_stop_flushes() -> None:
    batches: list[list[dict[str, Any]]] = []
    bridge = PgEventBridge("postgresql://unused", linger=0.2)

    def notify(conn: Any, batch: list[dict[str, Any]]) -> Any:
        batches.append(batch)
        return conn

    bridge._notify = notify  # type: ignore[method-assign]  # no database: record what would go out
    bridge.start()
    for i in range(200):
        bridge.send([{"n": i}])
    deadline = time.monotonic() + 5
    while not batches and time.monotonic() < deadline:
        time.sleep(0.01)
    bridge.send([{"n": 200}])  # queued, then flushed by stop before the linger ends
    bridge.stop()
    assert [e["n"] for b in batches for e in b] == list(range(201))
    assert len(batches) <= 3
