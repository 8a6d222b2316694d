"""Hot lookups reach their rows through an index on every key column, whatever the table statistics.

A plan that finds the rows of one business number by index and then filters the customer column
costs time per contact of that number: flat on a small table, linear at a million contacts. Fresh or
fast-growing tables have no statistics yet, which is when PostgreSQL picked such a plan for the
contact lookup of every ingest and send batch. Each test captures the statement the code runs and
asks the database for its plan, on a table nobody has analyzed.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, event, insert

from carewindow.storage import contacts as contact_store
from carewindow.storage.engine import make_engine, write_tx
from carewindow.storage.tables import contacts

NUMBER = "100000000000001"
OTHER_NUMBER = "100000000000002"
CONTACTS = 3000


@contextmanager
def captured(conn: Connection) -> Iterator[list[tuple[str, Any]]]:
    seen: list[tuple[str, Any]] = []

    def grab(_c: Any, _cur: Any, statement: str, params: Any, _ctx: Any, _many: bool) -> None:
        seen.append((statement, params))

    event.listen(conn, "before_cursor_execute", grab)
    try:
        yield seen
    finally:
        event.remove(conn, "before_cursor_execute", grab)


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
