"""storage/bulk.py writes exactly what SQLAlchemy's own statements write (both databases): the same
stored values, down to the text kept for times (so comparisons and ordering in SQL do not depend on
which path wrote a row). JSON columns hold the same JSON; on PostgreSQL its spacing may differ."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import JSON, Engine, func, insert, select, text, update

from carewindow.storage.bulk import (
    PerDialect,
    Writes,
    insert_returning,
    insert_rows,
    keys,
    listed,
    update_rows,
)
from carewindow.storage.engine import make_engine, write_tx
from carewindow.storage.tables import contacts, message_events, messages, webhook_raw

AT = datetime(2026, 11, 25, 10, 0, 0, 123456, tzinfo=timezone(timedelta(hours=2)))


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    eng = make_engine(db_url)
    with write_tx(eng) as conn:
        conn.execute(
            insert(contacts).values(
                id=1,
                phone_number_id="1",
                wa_id="34600111222",
                consent_status="unknown",
                reengagement_count=0,
                unread_count=0,
                held_count=0,
                created_at=AT,
                updated_at=AT,
            )
        )
    yield eng
    eng.dispose()


def _message(message_id: str, **over: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "id": message_id,
        "contact_id": 1,
        "direction": "out",
        "type": "text",
        "status": "queued",
        "content": {"b": 1, "a": [1, "ñ", None]},
        "request": None,
        "ts": AT,
        "created_at": AT.replace(microsecond=0),
        "updated_at": AT,
        "charge_amount": Decimal("0.008500"),
        "charge_billable": True,
    }
    values.update(over)
    return values


def _raw(engine: Engine, table: str, where: str) -> tuple[Any, ...]:
    """The row as the database keeps it: text on PostgreSQL, SQLite's own values; JSON parsed."""
    t = {"messages": messages, "message_events": message_events}[table]
    with engine.connect() as conn:
        casts = ", ".join(
            f"CAST({c.name} AS TEXT)" if engine.dialect.name == "postgresql" else c.name for c in t.c
        )
        row = conn.execute(text(f"SELECT {casts} FROM {table} WHERE {where}")).one()
    return tuple(
        json.loads(v) if isinstance(c.type, JSON) and v is not None else v
        for c, v in zip(t.c, row, strict=True)
    )


def test_inserted_and_returned_rows_match_sqlalchemys(engine: Engine) -> None:
    with write_tx(engine) as conn:
        conn.execute(insert(messages), [_message("m_sqla")])
        (returned,) = insert_returning(conn, messages, [_message("m_bulk")], tuple(messages.c.keys()))
        (expected,) = conn.execute(select(messages).where(messages.c.id == "m_sqla")).all()
    by_sqla = _raw(engine, "messages", "id = 'm_sqla'")
    by_bulk = _raw(engine, "messages", "id = 'm_bulk'")
    skip = {messages.c.keys().index(c) for c in ("seq", "id")}
    assert [v for i, v in enumerate(by_bulk) if i not in skip] == [
        v for i, v in enumerate(by_sqla) if i not in skip
    ]
    assert {k: v for k, v in returned._mapping.items() if k not in ("seq", "id")} == {
        k: v for k, v in expected._mapping.items() if k not in ("seq", "id")
    }
    assert returned.ts == AT and returned.ts.tzinfo is not None


def test_rows_written_without_answer_and_updates_match_sqlalchemys(engine: Engine) -> None:
    with write_tx(engine) as conn:
        seqs = [r.seq for r in insert_returning(conn, messages, [_message("a"), _message("b")], ("seq",))]
        history = {"status": "sent", "at": AT, "error": {"code": 131047, "why": "ñ"}}
        conn.execute(insert(message_events).values(message_seq=seqs[0], **history))
        insert_rows(conn, message_events, [{"message_seq": seqs[1], **history}])
        # A repeat is skipped, not an error, when asked to.
        insert_rows(
            conn,
            message_events,
            [{"message_seq": seqs[1], **history}],
            skip_conflicts_on=("message_seq", "status"),
        )
        changed = {
            "status": "read",
            "updated_at": AT + timedelta(seconds=5),
            "charge_mismatch": True,
            "error_code": None,
        }
        conn.execute(update(messages).where(messages.c.seq == seqs[0]).values(**changed))
        update_rows(conn, messages, "seq", [{"b_seq": seqs[1], **changed}])
        insert_rows(conn, webhook_raw, [{"received_at": AT, "body": b'{"x": "\\u00f1"}'}])
        stored_body = conn.execute(select(webhook_raw.c.body)).scalar_one()
        by_seq = PerDialect(lambda pg: select(messages.c.id).where(listed(messages.c.seq, "seqs", pg)))
        found = conn.execute(by_seq(conn), {"seqs": keys([seqs[1], seqs[0], seqs[1]])})
        assert sorted(r.id for r in found) == ["a", "b"]
    assert stored_body == b'{"x": "\\u00f1"}'
    events_a = _raw(engine, "message_events", f"message_seq = {seqs[0]}")
    events_b = _raw(engine, "message_events", f"message_seq = {seqs[1]}")
    assert events_a[2:] == events_b[2:]  # all but id and message_seq
    a, b = _raw(engine, "messages", "id = 'a'"), _raw(engine, "messages", "id = 'b'")
    skip = {messages.c.keys().index(c) for c in ("seq", "id")}
    assert [v for i, v in enumerate(a) if i not in skip] == [v for i, v in enumerate(b) if i not in skip]


def test_naive_times_are_refused_on_every_path(engine: Engine) -> None:
    with pytest.raises(Exception, match="naive datetime"), write_tx(engine) as conn:
        insert_rows(
            conn,
            message_events,
            [{"message_seq": 1, "status": "sent", "at": datetime(2026, 1, 1), "error": None}],
        )


def test_insert_returning_skips_conflicts_and_returns_each_new_row_across_chunks(engine: Engine) -> None:
    """Many rows (SQLite splits them into several statements), some clashing with stored wamids and
    with each other: each new row comes back once, with the key the database gave it."""
    with write_tx(engine) as conn:
        insert_rows(conn, messages, [_message("old-3", wamid="w3"), _message("old-50", wamid="w50")])
    rows = [_message(f"n{i}", wamid=f"w{i}") for i in range(120)] + [_message("again-7", wamid="w7")]
    with write_tx(engine) as conn:
        returned = insert_returning(conn, messages, rows, ("wamid", "seq"), skip_conflicts_on=("wamid",))
        stored = dict(conn.execute(select(messages.c.wamid, messages.c.seq)).all())
        ids = dict(conn.execute(select(messages.c.wamid, messages.c.id)).all())
    got = {r.wamid: r.seq for r in returned}
    assert len(returned) == len(got) == 118  # 120 new wamids, 2 already stored, 1 repeated
    assert set(got) == {f"w{i}" for i in range(120)} - {"w3", "w50"}
    assert all(stored[w] == seq for w, seq in got.items())
    assert ids["w3"] == "old-3" and ids["w7"] == "n7"
    in_order = [stored[f"w{i}"] for i in range(120) if f"w{i}" in got]
    assert in_order == sorted(in_order)  # keys given in the rows' order, as one-by-one inserts would


def test_writes_sent_together_store_what_immediate_writes_store(engine: Engine) -> None:
    """Inserts (one skipping a conflict) and updates of several tables, once written one by one and
    once collected in ``Writes`` (one statement on PostgreSQL): the same rows result."""
    with write_tx(engine) as conn:
        seqs = [
            r.seq
            for r in insert_returning(conn, messages, [_message(m) for m in ("a", "b", "c", "d")], ("seq",))
        ]
        insert_rows(conn, message_events, [{"message_seq": seqs[1], "status": "sent", "at": AT}])
        insert_rows(conn, message_events, [{"message_seq": seqs[3], "status": "sent", "at": AT}])
    changed = {"status": "read", "updated_at": AT + timedelta(seconds=5), "error_code": 131047}

    def write(conn: Any, first: int, second: int, writes: Writes | None) -> None:
        events = [
            {
                "message_seq": seqs[second],
                "status": s,
                "at": AT,
                "error": {"why": "ñ"} if s == "sent" else None,
            }
            for s in ("sent", "read")  # "sent" is stored already: skipped
        ]
        insert_rows(conn, message_events, events, skip_conflicts_on=("message_seq", "status"), writes=writes)
        update_rows(conn, messages, "seq", [{"b_seq": seqs[second], **changed}], writes=writes)
        update_rows(conn, contacts, "id", [{"b_id": 1, "unread_count": first + 1}], writes=writes)
        insert_rows(conn, webhook_raw, [{"received_at": AT, "body": b"{}"}], writes=writes)

    with write_tx(engine) as conn:
        write(conn, 0, 1, None)
    with write_tx(engine) as conn:
        together = Writes(conn)
        write(conn, 1, 3, together)
        if engine.dialect.name == "postgresql":  # nothing sent before the flush
            assert conn.execute(select(func.count()).select_from(webhook_raw)).scalar_one() == 1
        together.flush()
    skip = {messages.c.keys().index(c) for c in ("seq", "id")}
    one, other = _raw(engine, "messages", f"seq = {seqs[1]}"), _raw(engine, "messages", f"seq = {seqs[3]}")
    assert [v for i, v in enumerate(one) if i not in skip] == [
        v for i, v in enumerate(other) if i not in skip
    ]
    assert one[messages.c.keys().index("status")] == "read"
    for status in ("sent", "read"):
        where = "message_seq = {} AND status = '" + status + "'"
        assert (
            _raw(engine, "message_events", where.format(seqs[1]))[2:]
            == _raw(engine, "message_events", where.format(seqs[3]))[2:]
        )
    with engine.connect() as conn:
        assert conn.execute(select(contacts.c.unread_count)).scalar_one() == 2
        assert conn.execute(select(func.count()).select_from(webhook_raw)).scalar_one() == 2
