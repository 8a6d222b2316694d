"""``storage.direct``: the hot statements through the driver's cursor behave as through SQLAlchemy."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import Engine, event, exc, select, text

from carewindow.storage import contacts as contact_store
from carewindow.storage.bulk import listed
from carewindow.storage.direct import Direct
from carewindow.storage.tables import contacts

AT = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
BY_WA_ID = select(contacts).where(contacts.c.wa_id == text(":wa_id")).order_by(contacts.c.id)


def add_contact(engine: Engine, wa_id: str, created_at: datetime) -> None:
    with engine.begin() as conn:
        contact_store.create_many(conn, {("100000000000001", wa_id): created_at})


def test_rows_are_what_sqlalchemy_reads(engine: Engine) -> None:
    # Stored from another offset: the same instant comes back, converted as SQLAlchemy converts it.
    add_contact(engine, "34600111222", AT.astimezone(timezone(timedelta(hours=5))))
    with engine.connect() as conn:
        expected = [dict(r._mapping) for r in conn.execute(BY_WA_ID, {"wa_id": "34600111222"})]
        got = Direct(BY_WA_ID, list(contacts.c)).dicts(conn, {"wa_id": "34600111222"})
    assert got == expected
    assert got[0]["created_at"] == AT and got[0]["created_at"].utcoffset() == timedelta(0)


def test_listeners_see_the_statement(engine: Engine) -> None:
    seen: list[tuple[str, Any]] = []

    def grab(_conn: Any, _cursor: Any, statement: str, params: Any, *_: Any) -> None:
        seen.append((statement, params))

    stmt = Direct(text("SELECT :n + 1"))
    event.listen(engine, "before_cursor_execute", grab)
    try:
        with engine.connect() as conn:
            assert stmt.rows(conn, {"n": 41}) == [(42,)]
    finally:
        event.remove(engine, "before_cursor_execute", grab)
    # (SQLite's BEGIN is carewindow's own statement, sent when the transaction begins.)
    assert [s for s in seen if s[0] != "BEGIN"] == [(stmt.sql(engine.dialect.name), {"n": 41})]


def test_driver_errors_are_sqlalchemys_and_the_connection_recovers(engine: Engine) -> None:
    add_contact(engine, "34600111222", AT)
    duplicate = Direct(
        text(
            "INSERT INTO contacts (phone_number_id, wa_id, consent_status, reengagement_count, "
            "unread_count, held_count, created_at, updated_at) "
            "SELECT phone_number_id, wa_id, consent_status, 0, 0, 0, created_at, updated_at FROM contacts"
        )
    )
    with engine.connect() as conn:
        with pytest.raises(exc.IntegrityError, match=r"(?i)unique") as raised:
            duplicate.execute(conn, {})
        assert "Integrity" in type(raised.value.orig).__name__ or "Unique" in type(raised.value.orig).__name__
        conn.rollback()
        assert Direct(text("SELECT 2")).rows(conn, {}) == [(2,)]


def test_sqlite_parameters_pass_their_columns_conversions(engine: Engine) -> None:
    # A key list goes as JSON to json_each, a time as SQLAlchemy's stored text; rows convert back.
    add_contact(engine, "34600111222", AT)
    add_contact(engine, "34600111333", AT)
    by_ids = Direct(
        select(contacts).where(listed(contacts.c.wa_id, "wa_ids", engine.dialect.name == "postgresql")),
        list(contacts.c),
    )
    with engine.connect() as conn:
        got = by_ids.dicts(conn, {"wa_ids": ["34600111333", "34600999999"]})
    assert [(r["wa_id"], r["created_at"]) for r in got] == [("34600111333", AT)]


def test_writes_belong_to_the_connections_transaction(engine: Engine) -> None:
    add_contact(engine, "34600111222", AT)
    touch = Direct(text("UPDATE contacts SET unread_count = 7 WHERE wa_id = :wa_id"))
    with engine.connect() as conn:
        touch.execute(conn, {"wa_id": "34600111222"})  # begins, as Connection.execute would
        assert conn.in_transaction()
        conn.rollback()
    with engine.connect() as conn:
        assert conn.execute(select(contacts.c.unread_count)).scalar_one() == 0
        touch.execute(conn, {"wa_id": "34600111222"})
        conn.commit()
    with engine.connect() as conn:
        assert conn.execute(select(contacts.c.unread_count)).scalar_one() == 7


@pytest.mark.parametrize("db_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True)
def test_a_reconnected_connection_gets_a_cursor_of_its_own(engine: Engine) -> None:
    backend = Direct(text("SELECT pg_backend_pid()"))
    with engine.connect() as conn:
        first = backend.rows(conn, {})
        conn.rollback()
        conn.invalidate()  # the driver connection is closed; the next use reconnects
        second = backend.rows(conn, {})
    assert first != second
