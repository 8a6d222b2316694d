"""The group commit on the event loop (SQLite's): one transaction per turn of the loop, every
submitter answered after it, a bad item failing alone, callers from other threads served."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import Connection, Engine, func, insert, select

from carewindow.storage.engine import write_tx
from carewindow.storage.group_commit import GroupCommitter
from carewindow.storage.tables import webhook_raw

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.parametrize("db_url", ["sqlite"], indirect=True),
]


def store(conn: Connection, body: bytes) -> int:
    if body == b"bad":
        raise ValueError("not storable")
    conn.execute(insert(webhook_raw).values(received_at=func.now(), body=body))
    return id(conn.connection.dbapi_connection)  # which driver connection wrote it


def stored(engine: Engine) -> list[bytes]:
    with engine.connect() as conn:
        return [
            bytes(b) for b in conn.execute(select(webhook_raw.c.body).order_by(webhook_raw.c.id)).scalars()
        ]


def on_loop(engine: Engine) -> GroupCommitter[bytes, int]:
    return GroupCommitter(engine, store, name="test", on_loop=True)


@pytest.fixture
async def committer(engine: Engine) -> AsyncIterator[GroupCommitter[bytes, int]]:
    """Started on the test's own event loop, stopped after it."""
    started = on_loop(engine)
    started.start()
    yield started
    started.stop()


async def test_one_turn_of_the_loop_is_one_transaction_on_one_kept_connection(
    engine: Engine, committer: GroupCommitter[bytes, int]
) -> None:
    bodies = [f'{{"n": {i}}}'.encode() for i in range(20)]
    first = await asyncio.gather(*(committer.submit(b) for b in bodies))
    assert (committer.batches, committer.items) == (1, 20)
    assert stored(engine) == bodies  # written in submission order, all before any answer
    second = await asyncio.gather(*(committer.submit(b"later") for _ in range(3)))
    assert (committer.batches, committer.items) == (2, 23)
    assert len(set(first) | set(second)) == 1  # the same driver connection, kept between batches


async def test_a_bad_item_fails_alone(engine: Engine, committer: GroupCommitter[bytes, int]) -> None:
    results = await asyncio.gather(
        committer.submit(b"a"), committer.submit(b"bad"), committer.submit(b"b"), return_exceptions=True
    )
    assert isinstance(results[0], int) and isinstance(results[2], int)
    assert isinstance(results[1], ValueError)
    assert stored(engine) == [b"a", b"b"]  # the neighbours were redone one by one


async def test_callers_in_other_threads_and_other_loops_are_committed_on_the_loop(
    engine: Engine, committer: GroupCommitter[bytes, int]
) -> None:
    answers: list[object] = []

    def from_thread() -> None:
        answers.append(committer.submit_sync(b"sync"))
        answers.append(asyncio.run(committer.submit(b"other loop")))

    thread = threading.Thread(target=from_thread)
    thread.start()
    while thread.is_alive():  # the loop must keep turning to commit for the thread
        await asyncio.sleep(0.01)
    assert len(answers) == 2 and all(isinstance(a, int) for a in answers)
    assert stored(engine) == [b"sync", b"other loop"]


async def test_stop_writes_what_the_last_turn_submitted(engine: Engine) -> None:
    committer = on_loop(engine)
    committer.start()
    waiting = asyncio.ensure_future(committer.submit(b"last"))
    await asyncio.sleep(0)  # submitted, its commit not run yet
    committer.stop()
    assert await waiting
    assert stored(engine) == [b"last"]


async def test_writers_in_other_threads_still_queue_on_the_writer_lock(
    engine: Engine, committer: GroupCommitter[bytes, int]
) -> None:
    await committer.submit(b"first")  # the committer now keeps its connection
    done = threading.Event()

    def other_writer() -> None:
        for i in range(20):
            with write_tx(engine) as conn:
                conn.execute(insert(webhook_raw).values(received_at=func.now(), body=b"t%d" % i))
        done.set()

    thread = threading.Thread(target=other_writer)
    thread.start()
    for i in range(20):
        await committer.submit(b"c%d" % i)
    thread.join(30)
    assert done.is_set()
    assert len(stored(engine)) == 41  # no "database is locked", nothing lost


def test_submit_sync_before_start_says_so(engine: Engine) -> None:
    with pytest.raises(RuntimeError, match="start"):
        on_loop(engine).submit_sync(b"x")


async def test_more_than_a_batch_in_one_turn_goes_in_several_transactions(engine: Engine) -> None:
    committer: GroupCommitter[bytes, int] = GroupCommitter(
        engine, store, name="test", on_loop=True, max_batch=8
    )
    committer.start()
    try:
        answers = await asyncio.gather(*(committer.submit(b"%d" % i) for i in range(20)))
        assert len(answers) == 20
        assert (committer.batches, committer.items) == (3, 20)  # 8 + 8 + 4
        assert stored(engine) == [b"%d" % i for i in range(20)]
    finally:
        committer.stop()
