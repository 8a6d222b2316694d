"""The hot paths' statements straight to the driver's cursor (psycopg or sqlite3), past SQLAlchemy's
per-statement work.

Around one statement SQLAlchemy costs about as much CPU again as the driver itself: an execution
context, result metadata read from ``cursor.description`` (psycopg builds a ``Column`` object for
every column of every execute to answer it), a row object per row (docs/performance.md). A ``Direct``
statement is compiled once per dialect and runs on the transaction's own driver connection, on a
cursor kept with it; rows come back as tuples or dicts, converted by the columns' own SQLAlchemy
types. It still tells ``before_cursor_execute`` listeners (the statement-count and plan tests listen
there), and a driver error comes out as SQLAlchemy's, as from ``Connection.execute``.

Parameters: on PostgreSQL they go to psycopg as given (strings, numbers, lists of them, JSON as text);
on SQLite they first pass the bound columns' own conversions (times to stored text, key lists to
JSON), as SQLAlchemy would apply them. ``run_sql`` is the same for SQL text with the driver's own
parameters (the bulk writers').
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

import psycopg
from sqlalchemy import ColumnElement, Connection, exc
from sqlalchemy.dialects import sqlite
from sqlalchemy.dialects.postgresql import psycopg as pg_psycopg
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import ClauseElement

from carewindow.storage.tables import UTCDateTime

_DIALECTS: dict[str, Dialect] = {
    "postgresql": pg_psycopg.dialect(),  # type: ignore[no-untyped-call]
    "sqlite": sqlite.dialect(paramstyle="named"),  # sqlite3 takes :name parameters from a dict
}
_DRIVER_ERRORS: dict[str, type[Exception]] = {"postgresql": psycopg.Error, "sqlite": sqlite3.Error}
_CURSOR = "carewindow.direct_cursor"


@dataclass(frozen=True)
class _Form:
    """A statement as one dialect runs it."""

    sql: str
    convert: Callable[[tuple[Any, ...]], tuple[Any, ...]] | None  # a row's; None: as the driver gives it
    to_dict: Callable[[tuple[Any, ...]], dict[str, Any]]  # a driver row, converted, by column name
    fixed: Mapping[str, Any]  # the statement's own literal parameters (SQLite), already converted
    binds: Mapping[str, Callable[[Any], Any]]  # conversions of given parameters (SQLite)


class Direct:
    """``statement`` (a SQLAlchemy statement or ``text``) through the driver; ``columns`` are the
    result's, in order, whose types convert the values (none: rows as the driver gives them)."""

    def __init__(self, statement: ClauseElement, columns: Sequence[ColumnElement[Any]] = ()) -> None:
        self._statement = statement
        self._columns = tuple(columns)
        self.names = tuple(str(c.key) for c in columns)
        self._forms: dict[str, _Form] = {}

    def sql(self, dialect_name: str) -> str:
        return self._form(dialect_name).sql

    def rows(self, conn: Connection, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        form = self._form(conn.dialect.name)
        rows: list[tuple[Any, ...]] = run_sql(conn, form.sql, _params(form, params)).fetchall()
        if form.convert is None:
            return rows
        return list(map(form.convert, rows))

    def dicts(self, conn: Connection, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        form = self._form(conn.dialect.name)
        return list(map(form.to_dict, run_sql(conn, form.sql, _params(form, params)).fetchall()))

    def execute(self, conn: Connection, params: Mapping[str, Any]) -> None:
        form = self._form(conn.dialect.name)
        run_sql(conn, form.sql, _params(form, params))

    def _form(self, dialect_name: str) -> _Form:
        form = self._forms.get(dialect_name)
        if form is None:
            form = self._forms[dialect_name] = self._compile(_DIALECTS[dialect_name])
        return form

    def _compile(self, dialect: Dialect) -> _Form:
        compiled = cast(SQLCompiler, self._statement.compile(dialect=dialect))
        items = [(f"row[{i}]", _result_processor(c.type, dialect)) for i, c in enumerate(self._columns)]
        convert = row_maker(items) if any(p for _, p in items) else None
        to_dict = row_maker(items, keys=self.names)
        fixed: dict[str, Any] = {}
        binds: dict[str, Callable[[Any], Any]] = {}
        if dialect.name == "sqlite":
            for name, bind in compiled.binds.items():
                process = bind.type.dialect_impl(dialect).bind_processor(dialect)
                if process is not None:
                    binds[name] = process
                if bind.value is not None and not bind.callable:
                    fixed[name] = process(bind.value) if process else bind.value
        return _Form(str(compiled), convert, to_dict, fixed, binds)


def _result_processor(type_: Any, dialect: Dialect) -> Callable[[Any], Any] | None:
    if dialect.name == "sqlite" and isinstance(type_, UTCDateTime):
        return _sqlite_utc_time  # one call, where the decorator's wrapping of the column type's took three
    return cast(Callable[[Any], Any] | None, type_.dialect_impl(dialect).result_processor(dialect, None))


def _sqlite_utc_time(stored: str | None) -> datetime | None:
    """A stored time as ``UTCDateTime`` reads it on SQLite (its text has no offset: UTC)."""
    if stored is None:
        return None
    value = datetime.fromisoformat(stored)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def row_maker(
    items: Sequence[tuple[str, Callable[[Any], Any] | None]],
    scope: Mapping[str, Any] | None = None,
    *,
    keys: Sequence[str] | None = None,
) -> Callable[[Any], Any]:
    """``row -> (f0(<item 0>), <item 1>, …)``, or with ``keys`` the dict ``{key 0: f0(<item 0>), …}``,
    generated once: each item is a Python expression over ``row`` (and the names of ``scope``) with
    the function to apply to it, if any. One call per row instead of an interpreted loop over its
    columns, which was most of the hot paths' Python work on SQLite (docs/performance.md)."""
    names: dict[str, Any] = dict(scope or {})
    parts = []
    for i, (expression, convert) in enumerate(items):
        if convert is None:
            parts.append(expression)
        else:
            names[f"_f{i}"] = convert
            parts.append(f"_f{i}({expression})")
    if keys is None:
        made = f"({', '.join(parts)},)"
    else:
        made = "{" + ", ".join(f"{k!r}: {part}" for k, part in zip(keys, parts, strict=True)) + "}"
    exec(f"def make(row):\n    return {made}", names)  # noqa: S102 - generated from our own names
    return cast(Callable[[Any], Any], names["make"])


def _params(form: _Form, given: Mapping[str, Any]) -> Mapping[str, Any]:
    if not form.binds and not form.fixed:
        return given
    out = dict(form.fixed)
    binds = form.binds
    for name, value in given.items():
        process = binds.get(name)
        out[name] = process(value) if process is not None else value
    return out


def run_sql(conn: Connection, sql: str, params: Any, *, many: bool = False) -> Any:
    """``sql`` with the driver's own parameters (a sequence of them with ``many``), on the transaction's
    driver cursor: ``exec_driver_sql`` without SQLAlchemy's per-statement work. Returns the cursor."""
    if not conn.in_transaction():
        conn.begin()  # what Connection.execute's autobegin does: commit() and rollback() then apply
    pooled = conn.connection
    driver = pooled.driver_connection
    cursor = pooled.info.get(_CURSOR)
    if cursor is None or cursor.connection is not driver:  # a reconnected record: a new cursor
        cursor = pooled.info[_CURSOR] = driver.cursor()  # type: ignore[union-attr]
    conn.dispatch.before_cursor_execute(conn, cursor, sql, params, None, many)
    dialect = conn.dialect.name
    error = _DRIVER_ERRORS[dialect]
    try:
        if many:
            cursor.executemany(sql, params)
        elif dialect == "postgresql":
            cursor.execute(sql, params, prepare=True)
        else:
            cursor.execute(sql, params)
    except error as err:
        raise exc.DBAPIError.instance(sql, params, err, error) from err
    return cursor
