"""The PostgreSQL hot paths' statements straight to psycopg's cursor, past SQLAlchemy's per-statement work.

Around one statement SQLAlchemy costs about as much CPU again as psycopg itself: an execution
context, result metadata read from ``cursor.description`` (psycopg builds a ``Column`` object for
every column of every execute to answer it), a row object per row (docs/performance.md). A ``Direct``
statement is compiled once and runs on the transaction's own driver connection, on a cursor kept with
it; rows come back as tuples or dicts, converted by the columns' own SQLAlchemy types. It still
tells ``before_cursor_execute`` listeners (the statement-count and plan tests listen there), and a
driver error comes out as SQLAlchemy's, as from ``Connection.execute``. Parameters go to the driver
as given: strings, numbers, lists of them, JSON as text. SQLite keeps SQLAlchemy's path (no
round trips, in process).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

import psycopg
from sqlalchemy import ColumnElement, Connection, exc
from sqlalchemy.dialects.postgresql import psycopg as pg_psycopg
from sqlalchemy.sql.expression import ClauseElement

_DIALECT = pg_psycopg.dialect()  # type: ignore[no-untyped-call]
_CURSOR = "carewindow.direct_cursor"


class Direct:
    """``statement`` (a SQLAlchemy statement or ``text``) for PostgreSQL through psycopg; ``columns``
    are the result's, in order, whose types convert the values (none: rows as the driver gives them)."""

    def __init__(self, statement: ClauseElement, columns: Sequence[ColumnElement[Any]] = ()) -> None:
        self.sql = str(statement.compile(dialect=_DIALECT))
        self.names = tuple(str(c.key) for c in columns)
        self._convert: tuple[Callable[[Any], Any] | None, ...] = tuple(
            c.type.dialect_impl(_DIALECT).result_processor(_DIALECT, None) for c in columns
        )
        self._any_conversion = any(self._convert)

    def rows(self, conn: Connection, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        cursor = self._run(conn, params)
        rows = cursor.fetchall()
        if not self._any_conversion:
            return rows
        convert = self._convert
        return [tuple(f(v) if f else v for f, v in zip(convert, row, strict=True)) for row in rows]

    def dicts(self, conn: Connection, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        names = self.names
        return [dict(zip(names, row, strict=True)) for row in self.rows(conn, params)]

    def execute(self, conn: Connection, params: Mapping[str, Any]) -> None:
        self._run(conn, params)

    def _run(self, conn: Connection, params: Mapping[str, Any]) -> psycopg.Cursor[tuple[Any, ...]]:
        if not conn.in_transaction():
            conn.begin()  # what Connection.execute's autobegin does: commit() and rollback() then apply
        pooled = conn.connection
        driver = pooled.driver_connection
        cursor = pooled.info.get(_CURSOR)
        if cursor is None or cursor.connection is not driver:  # a reconnected record: a new cursor
            cursor = pooled.info[_CURSOR] = driver.cursor()  # type: ignore[union-attr]
        cursor = cast("psycopg.Cursor[tuple[Any, ...]]", cursor)
        conn.dispatch.before_cursor_execute(conn, cursor, self.sql, params, None, False)
        try:
            cursor.execute(self.sql, params, prepare=True)
        except psycopg.Error as err:
            raise exc.DBAPIError.instance(self.sql, params, err, psycopg.Error) from err
        return cursor
