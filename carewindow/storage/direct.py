"""Hot statements written out in SQL for each database, run through SQLAlchemy's public
``Connection.exec_driver_sql``, and the small conversions their values need.

A ``HotSql`` is one named statement, hand-written once for PostgreSQL (psycopg's ``%(name)s``
parameters) and once for SQLite (sqlite3's ``:name`` or ``?``). ``exec_driver_sql`` gives it a proper
execution context: it begins the transaction, fires ``before_cursor_execute`` (the statement-count
and plan tests listen there), translates driver errors as ``Connection.execute`` does; what it skips
is compiling a SQLAlchemy construct and converting values through the columns' types. The values
those statements take or give are converted here, explicitly, by the functions below: times to the
text SQLite keeps (and back), JSON to its text on SQLite, flags to 0/1.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import orjson
from sqlalchemy import Connection, CursorResult

NAIVE = "naive datetime given to the database; carewindow stores UTC-aware times"


@dataclass(frozen=True, slots=True)
class HotSql:
    """One hot statement, written out for each database in its driver's parameter style."""

    name: str
    postgresql: str
    sqlite: str

    def for_dialect(self, conn: Connection) -> str:
        return self.sqlite if conn.dialect.name == "sqlite" else self.postgresql


def run(conn: Connection, statement: HotSql, params: Mapping[str, Any] | Sequence[Any]) -> CursorResult[Any]:
    """``statement`` with the driver's own parameters, through ``exec_driver_sql``."""
    return conn.exec_driver_sql(statement.for_dialect(conn), params)


def dicts(result: CursorResult[Any]) -> list[dict[str, Any]]:
    """The rows of ``result`` as mutable dicts by column name."""
    names = tuple(result.keys())
    return [dict(zip(names, row)) for row in result]  # noqa: B905 - one row, its own columns


# ------------------------------------------------------------------------------------------ values


def utc(value: datetime | None) -> datetime | None:
    """A time as carewindow stores it: aware, in UTC; a naive time is refused (as ``UTCDateTime``)."""
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError(NAIVE)
    return value if value.tzinfo is UTC else value.astimezone(UTC)


@functools.lru_cache(maxsize=4096)  # a batch repeats times (receipt, unchanged contact columns)
def sqlite_time(value: datetime | None) -> str | None:
    """The text SQLite keeps for a time (SQLAlchemy's ``DATETIME`` form, UTC, no offset):
    ``YYYY-MM-DD HH:MM:SS.ffffff``."""
    stored = utc(value)
    if stored is None:
        return None
    return stored.isoformat(" ", "microseconds")[:-6]  # without the "+00:00"


@functools.lru_cache(maxsize=4096)  # rows of one batch share times (creation, receipt)
def read_sqlite_time(stored: str | None) -> datetime | None:
    """A time SQLite kept, as an aware UTC time (its text has no offset: UTC)."""
    if stored is None:
        return None
    value = datetime.fromisoformat(stored)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def read_pg_time(text: str | None) -> datetime | None:
    """A time PostgreSQL wrote in JSON (``row_to_json``: ISO 8601 with the session's offset)."""
    return None if text is None else datetime.fromisoformat(text)


def sqlite_json(value: Any) -> str | None:
    """A JSON column's text on SQLite (``json.dumps``, as SQLAlchemy's JSON type keeps it)."""
    return None if value is None else json.dumps(value)


def read_sqlite_json(stored: str | None) -> Any:
    return None if stored is None else json.loads(stored)


def sqlite_flag(value: bool | None) -> int | None:
    return None if value is None else int(value)


def read_sqlite_flag(stored: int | None) -> bool | None:
    return None if stored is None else bool(stored)


def sqlite_number(value: Decimal | float | None) -> float | None:
    """A ``Numeric`` on SQLite (kept as a float there, as SQLAlchemy binds it)."""
    return None if value is None else float(value)


def sqlite_date(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


def key_list(values: Sequence[Any]) -> str:
    """A list of keys as the JSON array SQLite's ``json_each`` unpacks."""
    return orjson.dumps(list(values)).decode()


def pg_json(rows: Sequence[Mapping[str, Any]], times: Sequence[str] = ()) -> str:
    """Rows as the JSON array PostgreSQL's ``json_populate_recordset`` and ``json_to_recordset`` read:
    the time fields ``times`` refused when naive (an aware time goes with its offset), exact decimals,
    ``bytea`` hex."""
    for row in rows if times else ():
        for name in times:
            value = row[name]
            if value is not None and value.tzinfo is None:
                raise ValueError(NAIVE)
    return orjson.dumps(rows, default=_pg_json_value).decode()


def _pg_json_value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)  # exact: PostgreSQL reads the digits as numeric
    if isinstance(value, bytes):
        return "\\x" + value.hex()  # bytea's hex input format
    raise TypeError(f"cannot store {type(value).__name__} through JSON")
