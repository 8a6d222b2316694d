"""The batch writers' statements: many rows per ``INSERT`` or ``UPDATE``, few round trips, SQL built once.

A multi-row ``VALUES`` list (SQLAlchemy's "insertmanyvalues") changes its text with the batch size:
psycopg then converts every such statement's placeholders anew (its cache stops at 4 KB of SQL) and
PostgreSQL plans it anew; for the send batch's message insert that was a third of the server's CPU
(docs/performance.md). On PostgreSQL the rows travel instead as one JSON array, unpacked by
``json_populate_recordset`` into the table's own column types: one statement text per column set,
written out below (``_insert_sql``, ``_update_sql``) from the table's column names. Writes nobody reads
back can join ``storage.writes.Writes`` (one statement for a whole transaction there).
SQLite has no round trips to save: its rows go to the driver as one ``executemany`` (or one multi-row
``VALUES`` when their keys must come back), their values converted by ``storage.direct``'s functions
as SQLAlchemy would store them. Every statement runs through ``Connection.exec_driver_sql``.
``PerDialect`` and ``listed`` build lookups by a list of keys once per dialect.
"""

from __future__ import annotations

import functools
import itertools
import operator
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Generic, TypeVar

import orjson
from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    ColumnElement,
    Connection,
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
from sqlalchemy.dialects import postgresql

from carewindow.storage import direct
from carewindow.storage.engine import dialect_insert, is_sqlite
from carewindow.storage.writes import Writes

__all__ = [
    "PerDialect",
    "Writes",
    "insert_returning",
    "insert_returning_tuples",
    "insert_rows",
    "keys",
    "listed",
    "update_rows",
]

S = TypeVar("S")


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
    row (in no promised order), as SQLAlchemy reads them; with ``skip_conflicts_on``, rows that clash
    on that unique key are skipped (not returned)."""
    if not rows:
        return []
    conflict = tuple(skip_conflicts_on)
    if not is_sqlite(conn):
        given = tuple(rows[0])
        defaults = _scalar_defaults(table, given)
        sql = _insert_sql(table, given + tuple(defaults), tuple(returning), conflict, ":rows")
        doc = _pg_rows(table, rows, given, defaults)
        return conn.execute(_typed(table, sql, tuple(returning)), {"rows": doc}).all()
    stmt = dialect_insert(conn, table)
    if conflict:
        stmt = stmt.on_conflict_do_nothing(index_elements=list(conflict))
    return conn.execute(stmt.returning(*(table.c[c] for c in returning)), list(rows)).all()


def insert_returning_tuples(
    conn: Connection,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    returning: Sequence[str],
    *,
    skip_conflicts_on: Sequence[str] = (),
) -> list[tuple[Any, ...]]:
    """``insert_returning``'s answer as the driver gives it (rows that unpack as tuples, no type
    conversion), for columns it gives back as Python wants them (integers and strings): the hot
    paths' (key, id) pairs."""
    if not rows:
        return []
    ret, conflict = tuple(returning), tuple(skip_conflicts_on)
    if not _plain(table, ret):
        raise ValueError(f"{table.name}: {ret} need conversion; use insert_returning")
    given = tuple(rows[0])
    defaults = _scalar_defaults(table, given)
    names = given + tuple(defaults)
    if not is_sqlite(conn):
        sql = _insert_sql(table, names, ret, conflict, "%(rows)s")
        return list(conn.exec_driver_sql(sql, {"rows": _pg_rows(table, rows, given, defaults)}))
    # One multi-row INSERT … VALUES … RETURNING per chunk: SQLAlchemy's own path for this
    # (insertmanyvalues) was the costliest statement of an ingest batch on SQLite.
    params = _sqlite_params(table, rows, given, defaults)
    per_chunk = max(1, _SQLITE_MAX_PARAMS // len(names))
    out: list[tuple[Any, ...]] = []
    for start in range(0, len(params), per_chunk):
        chunk = params[start : start + per_chunk]
        flat = tuple(itertools.chain.from_iterable(chunk))
        sql = _sqlite_insert(table, names, conflict, rows=len(chunk), returning=ret)
        out.extend(conn.exec_driver_sql(sql, flat))
    return out


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
    names = given + tuple(defaults)
    conflict = tuple(skip_conflicts_on)
    if is_sqlite(conn):
        params = _sqlite_params(table, rows, given, defaults)
        conn.exec_driver_sql(_sqlite_insert(table, names, conflict), params)
        return
    _write(conn, writes, _insert_sql, (table, names, (), conflict), (_pg_rows(table, rows, given, defaults),))


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
    b_key = f"b_{key}"
    ordered = sorted(rows, key=operator.itemgetter(b_key))
    given = tuple(k for k in ordered[0] if k != b_key)
    if is_sqlite(conn):
        params = _sqlite_params(table, ordered, (*given, b_key), columns=(*given, key))
        conn.exec_driver_sql(_sqlite_update(table, key, given), params)
        return
    # json_populate_recordset fills the table's columns by name: the key's column from b_<key>.
    doc = direct.pg_json([{**r, key: r[b_key]} for r in ordered], _times(table, given))
    _write(conn, writes, _update_sql, (table, key, given), (doc, [r[b_key] for r in ordered]))


def _write(
    conn: Connection,
    writes: Writes | None,
    build: Callable[..., str],
    args: tuple[Any, ...],
    values: tuple[Any, ...],
) -> None:
    """The statement ``build(*args, *placeholders)`` now, or as a part of ``writes``."""
    if writes is not None:
        writes.add(build, args, values)
        return
    names = tuple(f"p{i}" for i in range(len(values)))
    sql = build(*args, *(f"%({n})s" for n in names))
    conn.exec_driver_sql(sql, dict(zip(names, values, strict=True)))


# ---------------------------------------------------------------------------------------- PostgreSQL


def _pg_rows(
    table: Table, rows: Sequence[Mapping[str, Any]], given: tuple[str, ...], defaults: Mapping[str, Any]
) -> str:
    """``rows`` (and the defaults of the columns they leave out) as one JSON array of objects."""
    if defaults:
        return direct.pg_json([{**r, **defaults} for r in rows], _times(table, given))
    return direct.pg_json(rows, _times(table, given))


@functools.lru_cache(maxsize=128)
def _times(table: Table, names: tuple[str, ...]) -> tuple[str, ...]:
    """Which of the columns ``names`` hold times (refused when naive)."""
    return tuple(n for n in names if _is_time(table.c[n].type))


def _is_time(col_type: Any) -> bool:
    return isinstance(col_type.impl if isinstance(col_type, TypeDecorator) else col_type, DateTime)


def _q(name: str) -> str:
    """A table or column name as an SQL identifier (ours are plain lower-case names)."""
    return f'"{name}"'


@functools.lru_cache(maxsize=64)
def _insert_sql(
    table: Table, names: tuple[str, ...], returning: tuple[str, ...], conflict: tuple[str, ...], rows: str
) -> str:
    """``INSERT`` of the columns ``names`` from the JSON array in parameter ``rows`` (a placeholder:
    ``%(rows)s`` for the driver, ``:rows`` for ``text``)."""
    t = _q(table.name)
    cols = ", ".join(_q(table.c[k].name) for k in names)  # KeyError for anything not a column
    skip = f" ON CONFLICT ({', '.join(_q(table.c[k].name) for k in conflict)}) DO NOTHING" if conflict else ""
    ret = f" RETURNING {', '.join(_q(table.c[k].name) for k in returning)}" if returning else ""
    # WITH ORDINALITY + ORDER BY: ids from the table's sequence follow the rows' order.
    return (
        f"INSERT INTO {t} ({cols}) SELECT {cols} "  # noqa: S608 - our own identifiers
        f"FROM json_populate_recordset(NULL::{t}, CAST({rows} AS json)) WITH ORDINALITY AS r "
        f"ORDER BY r.ordinality{skip}{ret}"
    )


@functools.lru_cache(maxsize=64)
def _update_sql(table: Table, key: str, columns: tuple[str, ...], rows: str, key_list: str) -> str:
    """``UPDATE`` of ``columns`` from the JSON array in ``rows``, the rows found by the list
    ``key_list`` of their keys (placeholders)."""
    t = _q(table.name)
    sets = ", ".join(f"{_q(table.c[c].name)} = r.{_q(table.c[c].name)}" for c in columns)
    k = _q(table.c[key].name)
    key_type = table.c[key].type.compile(dialect=_PG)
    # The ANY list is what makes the plan find the rows by index: joined to the function alone (no
    # row estimate), PostgreSQL hashed it against a scan of the whole table.
    return (
        f"UPDATE {t} SET {sets} "  # noqa: S608 - our own identifiers
        f"FROM json_populate_recordset(NULL::{t}, CAST({rows} AS json)) AS r "
        f"WHERE {t}.{k} = ANY(CAST({key_list} AS {key_type}[])) AND {t}.{k} = r.{k}"
    )


_PG = postgresql.dialect()  # type: ignore[no-untyped-call]


@functools.lru_cache(maxsize=64)
def _typed(table: Table, sql: str, returning: tuple[str, ...]) -> Any:
    """``sql`` as a ``text`` whose result columns SQLAlchemy reads with the table's types."""
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


# -------------------------------------------------------------------------------------------- SQLite
# Values converted here exactly as SQLAlchemy stores them (tests/storage/test_bulk.py compares the
# stored bytes).

# Parameters per statement: SQLite's historical default limit, safe on every build.
_SQLITE_MAX_PARAMS = 999


@functools.lru_cache(maxsize=256)
def _sqlite_insert(
    table: Table,
    names: tuple[str, ...],
    conflict: tuple[str, ...],
    *,
    rows: int = 1,
    returning: tuple[str, ...] = (),
) -> str:
    cols = ", ".join(_q(table.c[k].name) for k in names)
    marks = ", ".join([f"({', '.join('?' for _ in names)})"] * rows)
    skip = f" ON CONFLICT ({', '.join(_q(table.c[k].name) for k in conflict)}) DO NOTHING" if conflict else ""
    ret = f" RETURNING {', '.join(_q(table.c[k].name) for k in returning)}" if returning else ""
    return f"INSERT INTO {_q(table.name)} ({cols}) VALUES {marks}{skip}{ret}"  # noqa: S608 - ours


@functools.lru_cache(maxsize=64)
def _sqlite_update(table: Table, key: str, columns: tuple[str, ...]) -> str:
    sets = ", ".join(f"{_q(table.c[c].name)} = ?" for c in columns)
    return f"UPDATE {_q(table.name)} SET {sets} WHERE {_q(table.c[key].name)} = ?"  # noqa: S608


@functools.lru_cache(maxsize=64)
def _plain(table: Table, columns: tuple[str, ...]) -> bool:
    """Whether the driver gives these columns back as Python wants them (no conversion needed)."""
    return all(
        isinstance(table.c[c].type, Integer | String) and not isinstance(table.c[c].type, TypeDecorator)
        for c in columns
    )


def _sqlite_params(
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    fields: tuple[str, ...],
    defaults: Mapping[str, Any] | None = None,
    *,
    columns: tuple[str, ...] | None = None,
) -> list[tuple[Any, ...]]:
    """Each row's values of ``fields`` (filling ``columns``, by default the same names), then of
    ``defaults`` (the same for every row), converted as SQLAlchemy stores them."""
    pick, conversions = _sqlite_plan(table, fields, columns or fields)
    fixed = tuple(_sqlite_value(table, c, v) for c, v in (defaults or {}).items())
    out = []
    for row in rows:
        values = pick(row)
        if conversions:
            values = list(values)
            for i, convert in conversions:
                values[i] = convert(values[i])
        out.append((*values, *fixed))
    return out


@functools.lru_cache(maxsize=64)
def _sqlite_plan(
    table: Table, fields: tuple[str, ...], columns: tuple[str, ...]
) -> tuple[Callable[[Mapping[str, Any]], Sequence[Any]], tuple[tuple[int, Callable[[Any], Any]], ...]]:
    """How to take a row's values of ``fields`` (in one call) and which of them to convert how."""
    getter = operator.itemgetter(*fields)
    pick: Callable[[Mapping[str, Any]], Sequence[Any]] = (
        getter if len(fields) > 1 else (lambda row: (getter(row),))
    )
    conversions = tuple(
        (i, convert)
        for i, c in enumerate(columns)
        if (convert := _sqlite_conversion(table.c[c].type)) is not None
    )
    return pick, conversions


def _sqlite_value(table: Table, column: str, value: Any) -> Any:
    convert = _sqlite_conversion(table.c[column].type)
    return value if convert is None else convert(value)


def _sqlite_conversion(col_type: Any) -> Callable[[Any], Any] | None:
    """Our function that turns a column's Python value into what SQLite keeps, by the column's kind."""
    if isinstance(col_type, TypeDecorator):
        col_type = col_type.impl  # carewindow's UTCDateTime: DateTime(timezone=True)
    if isinstance(col_type, DateTime):
        return direct.sqlite_time
    if isinstance(col_type, JSON):
        return direct.sqlite_json
    if isinstance(col_type, Numeric) and not isinstance(col_type, Integer | Float):
        return direct.sqlite_number
    if isinstance(col_type, Boolean):
        return direct.sqlite_flag
    if isinstance(col_type, Date):
        return direct.sqlite_date
    return None
