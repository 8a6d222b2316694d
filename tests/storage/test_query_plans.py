"""Hot lookups reach their rows through an index on every key column, whatever the table statistics.

A plan that finds the rows of one business number by index and then filters the customer column
costs time per contact of that number: flat on a small table, linear at a million contacts. Fresh or
fast-growing tables have no statistics yet, which is when PostgreSQL picked such a plan for the
contact lookup of every ingest and send batch. Each test captures the statement the code runs and
asks the database for its plan, on tables nobody has analyzed.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pytest
from hot_paths import POLICY, ingest_jobs, queue_texts, seed_send_targets, seed_sent_messages, send_jobs
from service_support import Clock
from sqlalchemy import Connection, Engine, event, insert, select, update

from carewindow.actions import held, tickets
from carewindow.actions.ingest import do_ingest_batch
from carewindow.actions.send import do_send_batch
from carewindow.providers.fake import FakeProvider
from carewindow.storage import contacts as contact_store
from carewindow.storage.engine import make_engine, write_tx
from carewindow.storage.tables import contacts, message_events, messages
from carewindow.worker.delivery import DeliveryWorker

NUMBER = "100000000000001"
OTHER_NUMBER = "100000000000002"
CONTACTS = 3000


# Tables that grow with traffic or with the customer base; a full scan of any of them per batch is a
# cost that grows with the data (the small ones, templates or rate buckets, may be scanned).
BIG_TABLES = ("contacts", "messages", "message_events")


@contextmanager
def captured(target: Connection | Engine) -> Iterator[list[tuple[str, Any]]]:
    """(statement, parameters) of everything run; for an executemany, its first parameter set."""
    seen: list[tuple[str, Any]] = []

    def grab(_c: Any, _cur: Any, statement: str, params: Any, _ctx: Any, many: bool) -> None:
        # insertmanyvalues reports its multi-row VALUES as "many" with one flat parameter set
        nested = many and params and isinstance(params[0], tuple | list | dict)
        seen.append((statement, params[0] if nested else params))

    event.listen(target, "before_cursor_execute", grab)
    try:
        yield seen
    finally:
        event.remove(target, "before_cursor_execute", grab)


def full_scans(conn: Connection, statement: str, params: Any) -> list[str]:
    """The big tables the plan of ``statement`` reads in full."""
    if conn.dialect.name == "sqlite":
        plan = [str(r[-1]) for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, params)]
        pattern = re.compile(r"^SCAN (\w+)")
    else:
        plan = [str(r[0]) for r in conn.exec_driver_sql("EXPLAIN (COSTS OFF) " + statement, params)]
        pattern = re.compile(r"Seq Scan on (\w+)")
    return [m.group(1) for line in plan if (m := pattern.search(line.strip())) and m.group(1) in BIG_TABLES]


def _seed(conn: Connection) -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    rows = [
        {
            "phone_number_id": number,
            "wa_id": f"3460{i:07d}",
            "consent_status": "unknown",
            "reengagement_count": 0,
            "unread_count": 0,
            "held_count": 0,
            "created_at": now,
            "updated_at": now,
        }
        for number in (NUMBER, OTHER_NUMBER)
        for i in range(CONTACTS)
    ]
    conn.execute(insert(contacts), rows)


def test_contact_lookup_by_keys_uses_the_index_on_both_columns(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        with write_tx(engine) as conn:
            _seed(conn)
        keys = [(NUMBER, "34600000017"), (NUMBER, "34600002999"), (OTHER_NUMBER, "34600000017")]
        with write_tx(engine) as conn:
            with captured(conn) as seen:
                found = contact_store.get_many(conn, keys, for_update=True)
            assert sorted(found) == sorted(keys)  # exact pairs, nothing across numbers
            statement, params = seen[-1]
            if engine.dialect.name == "sqlite":
                plan = " ".join(
                    str(r[-1]) for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, params)
                )
                assert "contacts USING INDEX" in plan and "wa_id=?" in plan, plan
            else:
                lines = [
                    str(r[0])
                    for r in conn.exec_driver_sql("EXPLAIN (ANALYZE, COSTS OFF) " + statement, params)
                ]
                plan = "\n".join(lines)
                conds = [ln for ln in lines if "Index Cond" in ln]
                assert any("wa_id" in ln and "phone_number_id" in ln for ln in conds), plan
                assert "Rows Removed by Filter" not in plan, plan
    finally:
        engine.dispose()


@pytest.mark.anyio
async def test_hot_batches_read_no_big_table_in_full(db_url: str) -> None:
    """Ingest, send and delivery batches on tables of thousands of rows: every statement they run
    reaches the big tables through an index (a full scan would make cost per batch grow with data)."""
    engine = make_engine(db_url)
    clock = Clock(datetime(2026, 11, 25, 10, 0, tzinfo=UTC))
    try:
        now = clock()
        with write_tx(engine) as conn:
            _seed(conn)
        wamids = seed_sent_messages(engine, 20_000, now, "big")
        with write_tx(engine) as conn:
            seqs = conn.execute(select(messages.c.seq).order_by(messages.c.seq)).scalars().all()
            conn.execute(
                insert(message_events), [{"message_seq": q, "status": "sent", "at": now} for q in seqs]
            )
        if engine.dialect.name == "postgresql":
            with engine.connect() as conn:  # as autovacuum would have by now on tables this size
                conn.exec_driver_sql("ANALYZE contacts, messages, message_events")
                conn.commit()
        seed_send_targets(engine, now)
        worker = DeliveryWorker(
            engine=engine, provider=FakeProvider(), policy=POLICY, clock=clock, rng=random.Random(7)
        )
        with captured(engine) as seen:
            with write_tx(engine) as conn:
                do_ingest_batch(conn, ingest_jobs(32, now, "1", wamids[500:]), settings=POLICY)
            with write_tx(engine) as conn:
                do_send_batch(conn, send_jobs(16, now, "2"))
            queue_texts(engine, 5, now, wa_id="34600300001")
            assert await worker.run_once() >= 5  # these and the send batch's
        statements = {
            (st, repr(p)): (st, p)
            for st, p in seen
            if st.lstrip().upper().startswith(("SELECT", "INSERT", "UPDATE", "DELETE", "WITH"))
        }
        assert len(statements) >= 15, "the hot paths ran fewer statements than expected"
        scans = []
        with engine.connect() as conn:
            for statement, params in statements.values():
                where = " ".join(statement.split())[-300:]
                scans += [(table, where) for table in full_scans(conn, statement, params)]
        assert not scans, scans
    finally:
        engine.dispose()


def test_ticket_and_hold_lookups_use_their_indexes(db_url: str) -> None:
    """A ticket's thread and the expiry of held messages find their rows by index among many."""
    engine = make_engine(db_url)
    try:
        now = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
        seed_sent_messages(engine, 20_000, now, "p")
        with write_tx(engine) as conn:
            seqs = conn.execute(select(messages.c.seq).order_by(messages.c.seq).limit(40)).scalars().all()
            conn.execute(
                update(messages)
                .where(messages.c.seq.in_(seqs[:20]))
                .values(ticket_id="T-1", status="held", hold_until=now)
            )
        if engine.dialect.name == "postgresql":
            with engine.connect() as conn:
                conn.exec_driver_sql("ANALYZE messages")
                conn.commit()
        with write_tx(engine) as conn, captured(conn) as seen:
            assert len(tickets.thread(conn, "T-1")) == 20
            expired = held.expire_due(conn, now=now)
            assert len(expired) == 20
        lookups = [(st, p) for st, p in seen if "ticket_id =" in st or "hold_until <=" in st]
        assert len(lookups) == 2, [st for st, _ in seen]
        with engine.connect() as conn:
            for statement, params in lookups:
                if engine.dialect.name == "sqlite":
                    rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, params)
                else:
                    rows = conn.exec_driver_sql("EXPLAIN (COSTS OFF) " + statement, params)
                plan = " ".join(str(r[-1] if engine.dialect.name == "sqlite" else r[0]) for r in rows)
                assert "ix_messages_ticket_id" in plan or "ix_messages_hold_until" in plan, plan
    finally:
        engine.dispose()
