"""A send that got no answer (read timeout, dropped connection) is never sent again: it waits out its
lease and ends ``uncertain``, like a crash between the provider's answer and our commit. A send that
never reached the provider (connect error) is retried. See docs/reliability.md, "the crash gap"."""

from __future__ import annotations

import pytest
from hot_paths import queue_texts
from service_support import Clock
from sqlalchemy import Engine
from test_delivery_worker import status_of, worker

from carewindow.providers.base import ProviderTimeout, ProviderUnavailable
from carewindow.providers.fake import FakeProvider

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    "error",
    [
        ProviderTimeout("read timed out", maybe_sent=True),
        ProviderUnavailable("peer closed the connection", maybe_sent=True),
    ],
    ids=["read-timeout", "dropped"],
)
async def test_no_answer_is_not_resent_and_ends_uncertain(engine: Engine, error: Exception) -> None:
    clock = Clock()
    [mid] = queue_texts(engine, 1, clock.now)
    fake = FakeProvider([error])
    w = worker(engine, fake, clock, lease_seconds=30)
    await w.run_once()
    assert w.uncertain == 1
    assert status_of(engine, mid).status == "queued"  # still in flight, under its lease
    clock.advance(seconds=10)
    assert await w.run_once() == 0  # not retried while the lease runs
    clock.advance(seconds=21)
    await w.run_once()
    row = status_of(engine, mid)
    assert row.status == "uncertain" and row.error_code == "delivery_uncertain"
    assert len(fake.sent) == 1  # one attempt (the one without an answer), never a second


async def test_connect_failure_is_retried_and_sent_once(engine: Engine) -> None:
    clock = Clock()
    [mid] = queue_texts(engine, 1, clock.now)
    fake = FakeProvider([ProviderUnavailable("connection refused", maybe_sent=False)])
    w = worker(engine, fake, clock)
    await w.run_once()
    assert status_of(engine, mid).status == "queued"
    clock.advance(seconds=120)
    await w.run_once()
    assert status_of(engine, mid).status == "sent"
    assert len(fake.sent) == 2  # the refused attempt, then the one that went out
