"""The batch writers' statements: many rows per ``INSERT`` or ``UPDATE``, few round trips, SQL built once.

A multi-row ``VALUES`` list (SQLAlchemy's "insertmanyvalues") changes its text with the batch size:
psycopg then converts every such statement's placeholders anew (its cache stops at 4 KB of SQL) and
PostgreSQL plans it anew; for the send batch's message insert that was a third of the server's CPU
(docs/performance.md). On PostgreSQL the rows travel instead as one JSON array, unpacked by
``json_populate_recordset`` into the table's own column types: one statement text per column set.
``Writes`` sends the writes of a transaction that nobody reads back as one statement there.
SQLite has no round trips to save: its rows go straight to the driver (``executemany`` or one
multi-row ``VALUES``), converted as SQLAlchemy would store them. ``PerDialect`` and ``listed`` build
lookups by a list of keys once per dialect.
"""

from __future__ import annotations

import functools
import itertools
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Generic, TypeVar

import orjson
from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    ColumnElement,
    Connection,
    CursorResult,
    Date,
    DateTime,
    Float,
    Integer,
    Numeric,
    Row,
    String,
    Table,
    TypeDecorator,
    any_,
    bindparam,
    func,
    select,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite

from carewindow.storage.direct import Direct, row_maker, run_sql
from carewindow.storage.engine import dialect_insert, is_sqlite

S = TypeVar("S")
_PG = postgresql.dialect()  # type: ignore[no-untyped-call]
_SQLITE = sqlite.dialect()


class PerDialect(Generic[S]):
    """A statement built once for SQLite and once for PostgreSQL (they take a list of keys
    differently), so a hot path neither rebuilds it nor recomputes its cache key on every call.
    Use as a decorator on ``build(postgresql: bool)``."""

    def __init__(self, build: Callable[[bool], S]) -> None:
        self._build = build
        self._built: dict[bool, S] = {}

    def __call__(self, conn: Connection) -> S:
        pg = not is_sqlite(conn)
        stmt = self._built.get(pg)
        if stmt is None:
            stmt = self._built[pg] = self._build(pg)
        return stmt


class _KeyList(TypeDecorator[list[Any]]):
    """A list of keys bound as one JSON array (SQLite's ``json_each`` unpacks it)."""

    impl = String
    cache_ok = True

    def process_bind_param(self, value: list[Any] | None, dialect: Any) -> str | None:
        return None if value is None else orjson.dumps(value).decode()


def listed(column: Column[Any], name: str, postgresql_: bool) -> ColumnElement[bool]:
    """``column`` is one of the list ``:name``, in one SQL text whatever the number of keys: on
    PostgreSQL ``column = ANY(:name)`` (psycopg prepares it after a few uses, so PostgreSQL stops
    planning it anew), on SQLite ``column IN (SELECT value FROM json_each(:name))``. An expanding
    ``IN (…)`` re-rendered the statement on every call (a sixth of the SQLite ingest batch's CPU) and
    missed sqlite3's statement cache. Pass the keys with ``keys()``."""
    if postgresql_:
        return column == any_(bindparam(name, type_=postgresql.ARRAY(column.type)))
    each = func.json_each(bindparam(name, type_=_KeyList())).table_valued("value")
    return column.in_(select(each.c.value))


def keys(values: Iterable[Any]) -> list[Any]:
    """The distinct keys in order: locks and index walks in one order for every caller."""
    return sorted(set(values))


def insert_returning(
    conn: Connection,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    returning: Sequence[str],
    *,
    skip_conflicts_on: Sequence[str] = (),
) -> Sequence[Row[Any]]:
    """Insert ``rows`` (same keys in each, in this order of ids) and return ``returning`` of each new
    row (in no promised order); with ``skip_conflicts_on``, rows that clash on that unique key are
    skipped (not returned)."""
    if not rows:
        return []
    if not is_sqlite(conn):
        return _pg_insert(conn, table, rows, tuple(returning), tuple(skip_conflicts_on)).all()
    stmt = dialect_insert(conn, table)
    if skip_conflicts_on:
        stmt = stmt.on_conflict_do_nothing(index_elements=list(skip_conflicts_on))
    return conn.execute(stmt.returning(*(table.c[c] for c in returning)), list(rows)).all()


def insert_returning_tuples(
    conn: Connection,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    returning: Sequence[str],
    *,
    skip_conflicts_on: Sequence[str] = (),
) -> list[tuple[Any, ...]]:
    """``insert_returning``'s answer as plain tuples: on PostgreSQL straight through the driver
    (``storage.direct``), for the hot paths."""
    if not rows:
        return []
    if is_sqlite(conn):
        if _plain(table, tuple(returning)):
            return _sqlite_insert_returning(conn, table, rows, tuple(returning), tuple(skip_conflicts_on))
        found = insert_returning(conn, table, rows, returning, skip_conflicts_on=skip_conflicts_on)
        return [tuple(r) for r in found]
    sql, doc = _pg_insert_parts(table, rows, tuple(returning), tuple(skip_conflicts_on))
    return _direct_returning(table, sql, tuple(returning)).rows(conn, {"rows": doc})


@functools.lru_cache(maxsize=64)
def _direct_returning(table: Table, sql: str, returning: tuple[str, ...]) -> Direct:
    return Direct(text(sql), [table.c[c] for c in returning])


def insert_rows(
    conn: Connection,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    *,
    skip_conflicts_on: Sequence[str] = (),
    writes: Writes | None = None,
) -> None:
    """``insert_returning`` without the answer (the pipelined executemany it replaces costs psycopg
    Python work per row). With ``writes``, sent with the other writes of the transaction."""
    if not rows:
        return
    given = tuple(rows[0])
    defaults = _scalar_defaults(table, given)
    if is_sqlite(conn):
        sql_text = _sqlite_insert(table, given + tuple(defaults), tuple(skip_conflicts_on))
        run_sql(conn, sql_text, _sqlite_params(table, rows, given, defaults), many=True)
        return
    sql, doc = _pg_insert_parts(table, rows, (), tuple(skip_conflicts_on))
    _write(conn, writes, (sql, ("rows",)), (doc,))


def update_rows(
    conn: Connection,
    table: Table,
    key: str,
    rows: Sequence[Mapping[str, Any]],
    *,
    writes: Writes | None = None,
) -> None:
    """Set each row's columns where ``key`` equals its ``b_<key>``, in key order. On PostgreSQL the
    caller must hold the rows' locks already (taken in key order), since one UPDATE … FROM locks in no
    promised order. With ``writes``, sent with the other writes of the transaction."""
    if not rows:
        return
    ordered = sorted(rows, key=lambda r: r[f"b_{key}"])
    given = tuple(k for k in ordered[0] if k != f"b_{key}")
    if is_sqlite(conn):
        params = _sqlite_params(table, ordered, given, keyed_by=key)
        run_sql(conn, _sqlite_update(table, key, given), params, many=True)
        return
    part = (_update_sql(table, key, given), ("rows", "keys"))
    doc = _json_rows(table, ordered, given, {}, keyed_by=key)
    _write(conn, writes, part, (doc, [r[f"b_{key}"] for r in ordered]))


def _write(
    conn: Connection, writes: Writes | None, part: tuple[str, tuple[str, ...]], values: tuple[Any, ...]
) -> None:
    """Run ``part`` (SQL and its parameter names) now, or add it to ``writes``."""
    if writes is not None:
        writes.add(part, values)
    else:
        conn.execute(_text(part[0]), dict(zip(part[1], values, strict=True)))


class Writes:
    """The writes of a transaction that nobody reads an answer from, sent together at its end.

    On PostgreSQL they go as one statement, each write a data-modifying ``WITH`` part: a group commit
    pays one round trip for all of them instead of one each (every round trip is a wake-up of both
    processes). The parts run on one snapshot, so they must touch different rows and not depend on each
    other; every batch writer here writes distinct tables. SQLite (in process, no round trips) writes
    at once and ignores this."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._parts: list[tuple[str, tuple[str, ...]]] = []
        self._values: list[Any] = []

    def add(self, part: tuple[str, tuple[str, ...]], values: tuple[Any, ...]) -> None:
        self._parts.append(part)
        self._values.extend(values)

    def flush(self) -> None:
        if not self._parts:
            return
        statement, names = _combined(tuple(self._parts))
        statement.execute(self._conn, dict(zip(names, self._values, strict=True)))
        self._parts.clear()
        self._values.clear()


@functools.lru_cache(maxsize=128)
def _combined(parts: tuple[tuple[str, tuple[str, ...]], ...]) -> tuple[Direct, tuple[str, ...]]:
    """One statement for ``parts`` (SQL with ``:name`` parameters): the names get the part's number."""
    if len(parts) == 1:
        return Direct(text(parts[0][0])), parts[0][1]
    ctes, names = [], []
    for i, (sql, params) in enumerate(parts):
        for p in params:
            sql = sql.replace(f":{p})", f":{p}_{i})").replace(f":{p} ", f":{p}_{i} ")
            names.append(f"{p}_{i}")
        ctes.append(f"w{i} AS ({sql})")
    return Direct(text(f"WITH {', '.join(ctes)} SELECT 1")), tuple(names)


@functools.lru_cache(maxsize=128)
def _text(sql: str) -> Any:
    return text(sql)


def _pg_insert(
    conn: Connection,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    returning: tuple[str, ...],
    conflict: tuple[str, ...],
) -> CursorResult[Any]:
    sql, doc = _pg_insert_parts(table, rows, returning, conflict)
    return conn.execute(_returning_statement(table, sql, returning), {"rows": doc})


def _pg_insert_parts(
    table: Table, rows: Sequence[Mapping[str, Any]], returning: tuple[str, ...], conflict: tuple[str, ...]
) -> tuple[str, str]:
    """The insert's SQL (parameter ``:rows``) and its rows as one JSON document, defaults added."""
    given = tuple(rows[0])
    defaults = _scalar_defaults(table, given)
    return _insert_sql(table, given + tuple(defaults), returning, conflict), _json_rows(
        table, rows, given, defaults
    )


def _json_rows(
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    given: tuple[str, ...],
    extra: Mapping[str, Any],
    *,
    keyed_by: str | None = None,
) -> str:
    """``rows`` as one JSON array of objects: the columns ``given``, ``extra``'s (the same for every
    row) and, for an UPDATE ``keyed_by`` a column, that column from each row's ``b_<column>``."""
    make = _json_row(table, *_fields_and_columns(given, keyed_by), tuple(extra.items()))
    return orjson.dumps(list(map(make, rows)), default=_json_default).decode()


@functools.lru_cache(maxsize=64)
def _json_row(
    table: Table, fields: tuple[str, ...], columns: tuple[str, ...], extra: tuple[tuple[str, Any], ...]
) -> Callable[[Mapping[str, Any]], dict[str, Any]]:
    """``row -> {"a": row["a"], "b": bind_b(row["b"]), …, <extra>}``, generated once per column set;
    each column's own conversion of a Python value before it is stored (e.g. times to UTC)."""
    items = [(f"row[{f!r}]", _binder(table.c[c].type)) for f, c in zip(fields, columns, strict=True)]
    scope = {f"d{j}": value for j, (_, value) in enumerate(extra)}
    items += [(f"d{j}", None) for j in range(len(extra))]
    return row_maker(items, scope, keys=[*columns, *(c for c, _ in extra)])


def _binder(col_type: Any) -> Callable[[Any], Any] | None:
    if isinstance(col_type, TypeDecorator):
        return functools.partial(col_type.process_bind_param, dialect=_PG)
    return None


@functools.lru_cache(maxsize=64)
def _update_sql(table: Table, key: str, columns: tuple[str, ...]) -> str:
    quote = _PG.identifier_preparer.quote
    name = quote(table.name)
    sets = ", ".join(f"{quote(table.c[c].name)} = r.{quote(table.c[c].name)}" for c in columns)
    k = quote(table.c[key].name)
    key_type = table.c[key].type.compile(dialect=_PG)
    # The ANY list is what makes the plan find the rows by index: joined to the function alone (no
    # row estimate), PostgreSQL hashed it against a scan of the whole table.
    return (
        f"UPDATE {name} SET {sets} "  # noqa: S608 - our own identifiers, quoted
        f"FROM json_populate_recordset(NULL::{name}, CAST(:rows AS json)) AS r "
        f"WHERE {name}.{k} = ANY(CAST(:keys AS {key_type}[])) AND {name}.{k} = r.{k}"
    )


@functools.lru_cache(maxsize=64)
def _insert_sql(
    table: Table, keys: tuple[str, ...], returning: tuple[str, ...], conflict: tuple[str, ...]
) -> str:
    quote = _PG.identifier_preparer.quote
    name = quote(table.name)
    cols = ", ".join(quote(table.c[k].name) for k in keys)  # KeyError for anything not a column
    ret = ", ".join(quote(table.c[k].name) for k in returning)
    skip = f" ON CONFLICT ({', '.join(quote(table.c[k].name) for k in conflict)}) DO NOTHING"
    # WITH ORDINALITY + ORDER BY: ids from the table's sequence follow the rows' order.
    return (
        f"INSERT INTO {name} ({cols}) SELECT {cols} "  # noqa: S608 - our own identifiers, quoted
        f"FROM json_populate_recordset(NULL::{name}, CAST(:rows AS json)) WITH ORDINALITY AS r "
        f"ORDER BY r.ordinality{skip if conflict else ''}{' RETURNING ' + ret if returning else ''}"
    )


@functools.lru_cache(maxsize=64)
def _returning_statement(table: Table, sql: str, returning: tuple[str, ...]) -> Any:
    return text(sql).columns(*(table.c[c] for c in returning))


@functools.lru_cache(maxsize=64)
def _scalar_defaults(table: Table, given: tuple[str, ...]) -> dict[str, Any]:
    """Python-side scalar defaults of the columns ``given`` leaves out (what SQLAlchemy would add)."""
    out: dict[str, Any] = {}
    for col in table.c:
        if col.key in given or col.default is None:
            continue
        if not getattr(col.default, "is_scalar", False):
            raise ValueError(f"{table.name}.{col.key}: only scalar column defaults are supported here")
        out[col.key] = col.default.arg  # type: ignore[attr-defined]
    return out


# SQLite: executemany straight to the driver (its loop over rows is C); the values are converted here
# exactly as SQLAlchemy stores them (tests/storage/test_bulk.py compares the stored bytes).


@functools.lru_cache(maxsize=256)
def _sqlite_insert(
    table: Table,
    keys: tuple[str, ...],
    conflict: tuple[str, ...],
    *,
    rows: int = 1,
    returning: tuple[str, ...] = (),
) -> str:
    quote = _SQLITE.identifier_preparer.quote
    cols = ", ".join(quote(table.c[k].name) for k in keys)
    marks = ", ".join([f"({', '.join('?' for _ in keys)})"] * rows)
    skip = (
        f" ON CONFLICT ({', '.join(quote(table.c[k].name) for k in conflict)}) DO NOTHING" if conflict else ""
    )
    ret = f" RETURNING {', '.join(quote(table.c[k].name) for k in returning)}" if returning else ""
    return f"INSERT INTO {quote(table.name)} ({cols}) VALUES {marks}{skip}{ret}"  # noqa: S608 - our identifiers


@functools.lru_cache(maxsize=64)
def _sqlite_update(table: Table, key: str, columns: tuple[str, ...]) -> str:
    quote = _SQLITE.identifier_preparer.quote
    sets = ", ".join(f"{quote(table.c[c].name)} = ?" for c in columns)
    return f"UPDATE {quote(table.name)} SET {sets} WHERE {quote(table.c[key].name)} = ?"  # noqa: S608


# Parameters per statement: SQLite's historical default limit, safe on every build.
_SQLITE_MAX_PARAMS = 999


def _sqlite_insert_returning(
    conn: Connection,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    returning: tuple[str, ...],
    conflict: tuple[str, ...],
) -> list[tuple[Any, ...]]:
    """One multi-row ``INSERT … RETURNING`` per chunk, straight to the driver: SQLAlchemy's own path
    for this (insertmanyvalues) was the costliest statement of an ingest batch on SQLite."""
    given = tuple(rows[0])
    defaults = _scalar_defaults(table, given)
    names = given + tuple(defaults)
    params = _sqlite_params(table, rows, given, defaults)
    per_chunk = max(1, _SQLITE_MAX_PARAMS // len(names))
    out: list[tuple[Any, ...]] = []
    for start in range(0, len(params), per_chunk):
        chunk = params[start : start + per_chunk]
        sql_text = _sqlite_insert(table, names, conflict, rows=len(chunk), returning=returning)
        out.extend(run_sql(conn, sql_text, tuple(itertools.chain.from_iterable(chunk))).fetchall())
    return out


@functools.lru_cache(maxsize=64)
def _plain(table: Table, columns: tuple[str, ...]) -> bool:
    """Whether SQLite gives these columns back as Python wants them (no result conversion needed)."""
    return all(
        isinstance(table.c[c].type, Integer | String) and not isinstance(table.c[c].type, TypeDecorator)
        for c in columns
    )


def _sqlite_params(
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    given: tuple[str, ...],
    defaults: Mapping[str, Any] | None = None,
    *,
    keyed_by: str | None = None,
) -> list[tuple[Any, ...]]:
    """Each row's values of the columns ``given``, then of ``defaults`` (the same for every row), then,
    for an UPDATE ``keyed_by`` a column, its ``b_<column>`` value; converted as SQLAlchemy stores them."""
    extra = tuple((defaults or {}).items())
    return list(map(_sqlite_row(table, *_fields_and_columns(given, keyed_by), extra), rows))


def _fields_and_columns(
    given: tuple[str, ...], keyed_by: str | None
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The keys to read from each row and the columns they fill: an UPDATE's key comes as ``b_<key>``."""
    if keyed_by is None:
        return given, given
    return (*given, f"b_{keyed_by}"), (*given, keyed_by)


@functools.lru_cache(maxsize=64)
def _sqlite_row(
    table: Table, fields: tuple[str, ...], columns: tuple[str, ...], extra: tuple[tuple[str, Any], ...]
) -> Callable[[Mapping[str, Any]], tuple[Any, ...]]:
    """``row -> (row["a"], c1(row["b"]), …, <defaults>)``, generated once per column set."""
    items = [
        (f"row[{name!r}]", _sqlite_converter(table.c[c].type))
        for name, c in zip(fields, columns, strict=True)
    ]
    scope: dict[str, Any] = {}
    for j, (column, value) in enumerate(extra):
        convert = _sqlite_converter(table.c[column].type)
        scope[f"d{j}"] = convert(value) if convert is not None else value
        items.append((f"d{j}", None))
    return row_maker(items, scope)


def _sqlite_converter(col_type: Any) -> Any:
    if isinstance(col_type, TypeDecorator) and isinstance(col_type.impl, DateTime):
        # One cached call per time value (a batch repeats a few receipt times): the decorator's own
        # conversion, then the stored text. Refusals (naive times) raise as the decorator does.
        bind_time = col_type.process_bind_param

        @functools.lru_cache(maxsize=4096)
        def stored_time(value: datetime | None) -> str | None:
            return _sqlite_datetime(bind_time(value, _SQLITE))

        return stored_time
    if isinstance(col_type, TypeDecorator):
        bind = functools.partial(col_type.process_bind_param, dialect=_SQLITE)
        inner = _sqlite_converter(col_type.impl)

        def decorated(value: Any) -> Any:
            value = bind(value)
            return inner(value) if inner and value is not None else value

        return decorated
    if isinstance(col_type, DateTime):
        return _sqlite_datetime
    if isinstance(col_type, JSON):
        return lambda v: None if v is None else json.dumps(v)  # SQLAlchemy's default serializer
    if isinstance(col_type, Numeric) and not isinstance(col_type, Integer | Float):
        return lambda v: None if v is None else float(v)
    if isinstance(col_type, Boolean):
        return lambda v: None if v is None else int(v)
    if isinstance(col_type, Date):
        return lambda v: None if v is None else v.isoformat()
    return None


@functools.lru_cache(maxsize=4096)  # a batch repeats times (receipt, unchanged contact columns)
def _sqlite_datetime(value: datetime | None) -> str | None:
    """SQLAlchemy's SQLite ``DATETIME`` text of the UTC time: ``YYYY-MM-DD HH:MM:SS.ffffff``."""
    if value is None:
        return None
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return value.isoformat(" ", "microseconds")[:-6]  # without the "+00:00"


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)  # exact: PostgreSQL reads the digits as numeric
    if isinstance(value, bytes):
        return "\\x" + value.hex()  # bytea's hex input format
    raise TypeError(f"cannot store {type(value).__name__} through JSON")
