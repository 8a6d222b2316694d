"""The group commit's thread keeps its connection across batches, and gets over losing it."""

from __future__ import annotations

import pytest
from sqlalchemy import Connection, Engine, func, insert, select, text

from carewindow.storage.engine import HeldConnection
from carewindow.storage.errors import Unavailable
from carewindow.storage.group_commit import GroupCommitter
from carewindow.storage.tables import webhook_raw

# PostgreSQL: a server connection that can be lost (SQLite's kept connection: test_group_commit_on_loop.py).
pytestmark = pytest.mark.parametrize(
    "db_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)


def pid(conn: Connection) -> int:
    return int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())


def lost(held: HeldConnection) -> bool:
    return held.lost  # read through a call: the attribute changes behind the type checker's back


def terminate(engine: Engine, backend: int) -> None:
    with engine.connect() as conn:
        conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": backend})


def store(conn: Connection, body: bytes) -> int:
    conn.execute(insert(webhook_raw).values(received_at=func.now(), body=body))
    return pid(conn)


def test_one_connection_across_transactions_and_a_fresh_one_once_it_is_lost(engine: Engine) -> None:
    held = HeldConnection(engine)
    try:
        with held.write_tx() as conn:
            first = pid(conn)
        with held.write_tx() as conn:
            assert pid(conn) == first
        with pytest.raises(ZeroDivisionError), held.write_tx() as conn:
            raise ZeroDivisionError  # a failure of the work, not of the connection
        assert not lost(held)
        with held.write_tx() as conn:
            assert pid(conn) == first  # rolled back and still usable
        terminate(engine, first)
        with pytest.raises(Unavailable), held.write_tx() as conn:
            pid(conn)
        assert lost(held)
        with held.write_tx() as conn:
            assert pid(conn) != first
        assert not lost(held)
    finally:
        held.close()


def test_the_committer_survives_its_connection_being_killed(engine: Engine) -> None:
    committer: GroupCommitter[bytes, int] = GroupCommitter(engine, store)
    committer.start()
    try:
        first = committer.submit_sync(b'{"n": 1}')
        assert committer.submit_sync(b'{"n": 2}') == first  # kept, not checked out anew
        terminate(engine, first)  # as a database restart or a network cut would
        # Without a ping before each batch the dead connection is found by the batch itself, which is
        # then redone on a fresh connection: the caller sees success, not the lost connection.
        assert committer.submit_sync(b'{"n": 3}') != first
    finally:
        committer.stop()
    with engine.connect() as conn:
        bodies = conn.execute(select(webhook_raw.c.body).order_by(webhook_raw.c.id)).scalars().all()
    assert [bytes(b) for b in bodies] == [b'{"n": 1}', b'{"n": 2}', b'{"n": 3}']
