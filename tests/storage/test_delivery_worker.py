"""The delivery worker against a scripted provider: retries, permanent errors, crash gaps, leases,
rate limits, several workers. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hot_paths import NUMBER, POLICY, open_window, queue_texts
from service_support import Clock
from sqlalchemy import Engine, func, select

from carewindow.actions import delivery
from carewindow.actions.send import SendCommand, do_queue_send
from carewindow.providers.base import ProviderGraphError, ProviderTimeout
from carewindow.providers.fake import FakeProvider
from carewindow.storage import messages as message_store
from carewindow.storage.engine import make_engine
from carewindow.storage.tables import messages, outbox
from carewindow.wire.graph_errors import GraphError
from carewindow.worker.delivery import DeliveryWorker

pytestmark = pytest.mark.anyio


def status_of(engine: Engine, message_id: str) -> Any:
    with engine.connect() as conn:
        return message_store.get_by_id(conn, message_id)


def worker(engine: Engine, provider: FakeProvider, clock: Clock, **kw: Any) -> DeliveryWorker:
    return DeliveryWorker(
        engine=engine, provider=provider, policy=POLICY, clock=clock, rng=random.Random(7), **kw
    )


async def test_sends_once_and_records_wamid(engine: Engine) -> None:
    clock = Clock()
    [mid] = queue_texts(engine, 1, clock.now)
    fake = FakeProvider()
    w = worker(engine, fake, clock)
    assert await w.run_once() == 1
    assert await w.run_once() == 0
    row = status_of(engine, mid)
    assert row.status == "sent" and row.wamid.startswith("wamid.")
    assert len(fake.sent) == 1
    assert fake.sent[0]["to"] == "34600111555" and fake.sent[0]["text"] == {"body": "m0"}


async def test_transient_errors_are_retried_with_backoff(engine: Engine) -> None:
    clock = Clock()
    [mid] = queue_texts(engine, 1, clock.now)
    fake = FakeProvider([ProviderGraphError(GraphError.for_code(130429)), ProviderTimeout("slow")])
    w = worker(engine, fake, clock)
    await w.run_once()
    assert status_of(engine, mid).status == "queued"
    assert await w.run_once() == 0  # not due yet: backoff
    clock.advance(seconds=2)
    await w.run_once()
    assert status_of(engine, mid).status == "queued"
    clock.advance(seconds=5)
    await w.run_once()
    assert status_of(engine, mid).status == "sent"
    assert len(fake.sent) == 3


async def test_permanent_error_fails_with_platform_code(engine: Engine) -> None:
    clock = Clock()
    [mid] = queue_texts(engine, 1, clock.now)
    error = GraphError.for_code(131026, details="Receiver is incapable of receiving this message.")
    w = worker(engine, FakeProvider([ProviderGraphError(error)]), clock)
    await w.run_once()
    row = status_of(engine, mid)
    assert row.status == "failed" and row.error_code == "131026"
    # Meta's title and details are kept (they were the exception's class name and message alone).
    assert row.error_title == "Message undeliverable"
    assert row.error_message == (
        "(#131026) Message undeliverable: Receiver is incapable of receiving this message."
    )
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(outbox)).scalar_one() == 0


async def test_attempts_are_bounded(engine: Engine) -> None:
    clock = Clock()
    [mid] = queue_texts(engine, 1, clock.now)
    fake = FakeProvider([ProviderTimeout("t")] * 5)
    w = worker(engine, fake, clock, max_attempts=3)
    for _ in range(6):
        await w.run_once()
        clock.advance(minutes=10)
    assert status_of(engine, mid).status == "failed"
    assert len(fake.sent) == 3


async def test_session_message_not_sent_after_window_closed(engine: Engine) -> None:
    clock = Clock()
    [mid] = queue_texts(engine, 1, clock.now - timedelta(hours=23, minutes=59))
    clock.advance(minutes=2)
    fake = FakeProvider()
    await worker(engine, fake, clock).run_once()
    row = status_of(engine, mid)
    assert row.status == "failed" and row.error_code == "window_closed"
    assert fake.sent == []


async def test_expired_lease_is_reclaimed_and_crash_gap_is_reported(engine: Engine) -> None:
    clock = Clock()
    a, b = queue_texts(engine, 2, clock.now)
    # A worker claimed both, stamped only the first as in flight, then died.
    claimed, _ = delivery.claim(
        engine,
        worker_id="dead",
        now=clock.now,
        lease=timedelta(seconds=30),
        limit=10,
        rate=80,
        burst=80,
        settings=POLICY,
    )
    delivery.mark_in_flight(
        engine, [c for c in claimed if c.message_id == a], worker_id="dead", now=clock.now
    )
    fake = FakeProvider()
    w = worker(engine, fake, clock)
    assert await w.run_once() == 0  # leases still held
    clock.advance(seconds=31)
    await w.run_once()
    assert status_of(engine, a).status == "uncertain"  # may have been sent: never sent twice
    assert status_of(engine, b).status == "sent"  # claimed but never attempted: sent once
    assert [body["text"] for body in fake.sent] == [{"body": "m1"}]


async def test_rate_limit_spreads_sends(engine: Engine) -> None:
    clock = Clock()
    queue_texts(engine, 10, clock.now)
    fake = FakeProvider()
    w = worker(engine, fake, clock, rate_per_second=4)
    await w.run_once()
    assert len(fake.sent) == 4  # a full bucket holds one second's worth
    await w.run_once()
    assert len(fake.sent) == 4  # no time passed, no tokens
    clock.advance(seconds=1)
    await w.run_once()
    assert len(fake.sent) == 8
    clock.advance(seconds=1)
    await w.run_once()
    assert len(fake.sent) == 10


async def test_several_workers_send_each_message_exactly_once(engine: Engine, db_url: str) -> None:
    if db_url.startswith("sqlite"):
        pytest.skip("SQLite runs one worker by design; concurrency is PostgreSQL's job")
    clock = Clock()
    ids = queue_texts(engine, 120, clock.now)
    fake = FakeProvider()
    engines = [make_engine(db_url) for _ in range(3)]
    workers = [worker(e, fake, clock, batch_size=7, rate_per_second=10_000) for e in engines]

    async def drain(w: DeliveryWorker) -> None:
        while await w.run_once():
            await asyncio.sleep(0)

    await asyncio.gather(*(drain(w) for w in workers))
    for e in engines:
        e.dispose()
    bodies = [b["text"]["body"] for b in fake.sent]  # type: ignore[index]
    assert sorted(bodies) == sorted(f"m{i}" for i in range(120))
    with engine.connect() as conn:
        statuses = conn.execute(select(messages.c.status).where(messages.c.id.in_(ids))).scalars().all()
    assert set(statuses) == {"sent"}
    assert sum(w.sent for w in workers) == 120


async def test_idempotency_key_returns_the_same_message(engine: Engine) -> None:
    now = datetime.now(UTC)
    open_window(engine, "34600111555", now)
    cmd = SendCommand(to="34600111555", message_type="text", content={"body": "once"}, idempotency_key="k-1")
    first = do_queue_send(
        engine, cmd, phone_number_id=NUMBER, settings=POLICY, now=now, hold_period=timedelta(1)
    )
    again = do_queue_send(
        engine, cmd, phone_number_id=NUMBER, settings=POLICY, now=now, hold_period=timedelta(1)
    )
    assert first.message.id == again.message.id
    assert again.decision is None
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(outbox)).scalar_one() == 1
