"""``storage.direct``: the named hot statements, run through ``exec_driver_sql``, read and write what
SQLAlchemy's own statements read and write (both databases), and behave as any statement does."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Column, Engine, Integer, MetaData, Table, create_engine, event, exc, insert, select

from carewindow.storage import contacts as contact_store
from carewindow.storage import direct
from carewindow.storage import messages as message_store
from carewindow.storage.direct import HotSql
from carewindow.storage.engine import write_tx
from carewindow.storage.tables import UTCDateTime, contacts, message_events, messages

AT = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
NUMBER = "100000000000001"
ERROR = {"code": 1}
ECHO = HotSql("echo", postgresql="SELECT %(n)s + 1", sqlite="SELECT :n + 1")


def add_contact(engine: Engine, wa_id: str, created_at: datetime, number: str = NUMBER) -> None:
    with engine.begin() as conn:
        contact_store.create_many(conn, {(number, wa_id): created_at})


def test_contacts_by_keys_are_what_sqlalchemy_reads(engine: Engine) -> None:
    # Stored from another offset: the same instant comes back, as SQLAlchemy reads it.
    add_contact(engine, "34600111222", AT.astimezone(timezone(timedelta(hours=5))))
    add_contact(engine, "34600111333", AT)
    add_contact(engine, "34600111222", AT, number="100000000000002")  # same wa_id, other number
    with write_tx(engine) as conn:
        conn.execute(
            contacts.update()
            .where(contacts.c.wa_id == "34600111222")
            .values(
                conversations=[{"category": "service", "opened_at": "x", "expires_at": "y"}],
                last_inbound_at=AT + timedelta(microseconds=7),
            )
        )
    wanted = [(NUMBER, "34600111222"), (NUMBER, "34600999999"), ("100000000000002", "34600111333")]
    for locked in (False, True):
        with write_tx(engine) as conn:
            expected = {
                (r.phone_number_id, r.wa_id): dict(r._mapping)
                for r in conn.execute(select(contacts).where(contacts.c.wa_id == "34600111222"))
                if r.phone_number_id == NUMBER
            }
            got = contact_store.get_many(conn, wanted, for_update=locked)
        assert got == expected
        row = got[(NUMBER, "34600111222")]
        assert row["created_at"] == AT and row["created_at"].utcoffset() == timedelta(0)


def test_take_statuses_records_new_history_and_reads_the_message_as_sqlalchemy_does(engine: Engine) -> None:
    add_contact(engine, "34600111222", AT)
    with write_tx(engine) as conn:
        (cid,) = conn.execute(select(contacts.c.id)).scalars()
        for i, billable in enumerate((True, None)):
            conn.execute(
                insert(messages).values(
                    id=f"m{i}",
                    contact_id=cid,
                    direction="out",
                    wamid=f"w{i}",
                    type="text",
                    status="sent",
                    ts=AT,
                    created_at=AT,
                    updated_at=AT,
                    charge_billable=billable,
                    charge_mismatch=False,
                )
            )
        seq0 = conn.execute(select(messages.c.seq).where(messages.c.wamid == "w0")).scalar_one()
        conn.execute(insert(message_events).values(message_seq=seq0, status="sent", at=AT))
    events = [
        {
            "wamid": w,
            "status": s,
            "at": AT + timedelta(seconds=1),
            "error": {"code": 1} if s == "read" else None,
        }
        for w, s in (("w0", "sent"), ("w0", "read"), ("w1", "delivered"), ("nobody", "read"))
    ]
    with write_tx(engine) as conn:
        got = message_store.record_statuses(conn, events)
        expected = {
            r.wamid: dict(r._mapping)
            for r in conn.execute(select(*(messages.c[c] for c in got["w0"] if c != "added")))
        }
        history = conn.execute(
            select(
                message_events.c.message_seq,
                message_events.c.status,
                message_events.c.at,
                message_events.c.error,
            ).order_by(message_events.c.id)
        ).all()
    assert {w: {k: v for k, v in r.items() if k != "added"} for w, r in got.items()} == expected
    assert got["w0"]["charge_billable"] is True and got["w1"]["charge_billable"] is None
    assert got["w0"]["charge_mismatch"] is False
    assert (got["w0"]["added"], got["w1"]["added"]) == ({"read"}, {"delivered"})
    seq1 = got["w1"]["seq"]
    assert [tuple(h) for h in history] == [
        (seq0, "sent", AT, None),
        (seq0, "read", AT + timedelta(seconds=1), {"code": 1}),
        (seq1, "delivered", AT + timedelta(seconds=1), None),
    ]


def test_listeners_see_the_statement(engine: Engine) -> None:
    seen: list[tuple[str, Any]] = []

    def grab(_conn: Any, _cursor: Any, statement: str, params: Any, *_: Any) -> None:
        seen.append((statement, params))

    event.listen(engine, "before_cursor_execute", grab)
    try:
        with engine.connect() as conn:
            assert list(direct.run(conn, ECHO, {"n": 41})) == [(42,)]
    finally:
        event.remove(engine, "before_cursor_execute", grab)
    # (SQLite's BEGIN is carewindow's own statement, sent when the transaction begins.)
    assert [s for s in seen if s[0] != "BEGIN"] == [(ECHO.for_dialect(engine.connect()), {"n": 41})]


def test_driver_errors_are_sqlalchemys_and_the_connection_recovers(engine: Engine) -> None:
    add_contact(engine, "34600111222", AT)
    duplicate = HotSql(
        "duplicate contacts",
        *(
            "INSERT INTO contacts (phone_number_id, wa_id, consent_status, reengagement_count, "
            "unread_count, held_count, created_at, updated_at) "
            "SELECT phone_number_id, wa_id, consent_status, 0, 0, 0, created_at, updated_at FROM contacts",
        )
        * 2,
    )
    with engine.connect() as conn:
        with pytest.raises(exc.IntegrityError, match=r"(?i)unique"):
            direct.run(conn, duplicate, {})
        conn.rollback()
        assert list(direct.run(conn, ECHO, {"n": 1})) == [(2,)]


def test_writes_belong_to_the_connections_transaction(engine: Engine) -> None:
    add_contact(engine, "34600111222", AT)
    touch = HotSql(
        "touch",
        postgresql="UPDATE contacts SET unread_count = 7 WHERE wa_id = %(wa_id)s",
        sqlite="UPDATE contacts SET unread_count = 7 WHERE wa_id = :wa_id",
    )
    with engine.connect() as conn:
        direct.run(conn, touch, {"wa_id": "34600111222"})  # begins, as Connection.execute would
        assert conn.in_transaction()
        conn.rollback()
    with engine.connect() as conn:
        assert conn.execute(select(contacts.c.unread_count)).scalar_one() == 0
        direct.run(conn, touch, {"wa_id": "34600111222"})
        conn.commit()
    with engine.connect() as conn:
        assert conn.execute(select(contacts.c.unread_count)).scalar_one() == 7


_TIMES = MetaData()
_TIMES_TABLE = Table("times", _TIMES, Column("id", Integer, primary_key=True), Column("at", UTCDateTime()))


@settings(max_examples=200, deadline=None)
@given(
    at=st.datetimes(
        min_value=datetime(1970, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.timezones()
    )
)
def test_sqlite_times_are_kept_and_read_as_sqlalchemy_keeps_and_reads_them(at: datetime) -> None:
    engine = create_engine("sqlite://")
    _TIMES.create_all(engine)
    with engine.begin() as conn:
        conn.execute(insert(_TIMES_TABLE).values(id=1, at=at))
        kept = conn.exec_driver_sql("SELECT at FROM times").scalar_one()
        read = conn.execute(select(_TIMES_TABLE.c.at)).scalar_one()
    assert direct.sqlite_time(at) == kept
    assert direct.read_sqlite_time(kept) == read == at.astimezone(UTC)
    with pytest.raises(ValueError, match="naive datetime"):
        direct.sqlite_time(at.replace(tzinfo=None))


def test_key_lists_and_json_round_trip() -> None:
    assert direct.key_list(["b", "a"]) == '["b","a"]'
    assert direct.read_sqlite_json(direct.sqlite_json({"a": [1, "ñ", None]})) == {"a": [1, "ñ", None]}
    assert direct.sqlite_json(None) is None
    assert (direct.sqlite_flag(True), direct.read_sqlite_flag(0), direct.read_sqlite_flag(None)) == (
        1,
        False,
        None,
    )
    with pytest.raises(ValueError, match="naive datetime"):
        direct.pg_json([{"at": datetime(2026, 1, 1)}], ("at",))
    assert direct.pg_json([{"at": AT}], ("at",)) == '[{"at":"2026-11-25T10:00:00+00:00"}]'
