"""``storage.direct``: PostgreSQL's hot statements through psycopg's cursor behave as through SQLAlchemy."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import Engine, event, exc, select, text

from carewindow.storage import contacts as contact_store
from carewindow.storage.direct import Direct
from carewindow.storage.tables import contacts

AT = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
BY_WA_ID = select(contacts).where(contacts.c.wa_id == text(":wa_id")).order_by(contacts.c.id)

# PostgreSQL only: SQLite has no server connection and keeps SQLAlchemy's own path.
pytestmark = pytest.mark.parametrize(
    "db_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)


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
    assert seen == [(stmt.sql, {"n": 41})]


def test_driver_errors_are_sqlalchemys_and_the_connection_recovers(engine: Engine) -> None:
    with engine.connect() as conn:
        with pytest.raises(exc.DataError, match="division by zero") as raised:
            Direct(text("SELECT 1 / :zero")).rows(conn, {"zero": 0})
        assert type(raised.value.orig).__name__ == "DivisionByZero"
        conn.rollback()
        assert Direct(text("SELECT 2")).rows(conn, {}) == [(2,)]


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


def test_a_reconnected_connection_gets_a_cursor_of_its_own(engine: Engine) -> None:
    backend = Direct(text("SELECT pg_backend_pid()"))
    with engine.connect() as conn:
        first = backend.rows(conn, {})
        conn.rollback()
        conn.invalidate()  # the driver connection is closed; the next use reconnects
        second = backend.rows(conn, {})
    assert first != second
