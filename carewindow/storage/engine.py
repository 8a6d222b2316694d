"""Engines for SQLite (embedded default) and PostgreSQL (scale-out). Dialect switches live here only."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext, suppress
from pathlib import Path
from typing import Any, TypeVar

# Connection, Engine and Row are re-exported (``as``): the layers above storage name them in signatures
# without importing SQLAlchemy themselves.
from sqlalchemy import Connection as Connection
from sqlalchemy import Engine as Engine
from sqlalchemy import Row as Row
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import StaticPool

from carewindow.storage.errors import StorageError, translated

# Re-exported: the types that callers outside storage name in their signatures.
__all__ = ["Connection", "Engine", "Row"]

_IMMEDIATE = "carewindow_immediate"
T = TypeVar("T")


def is_sqlite(engine: Engine | Connection) -> bool:
    return engine.dialect.name == "sqlite"


def in_process(engine: Engine | Connection) -> bool:
    """Whether the database runs inside this process (SQLite): its writes are CPU work under the GIL,
    and one process owns it, so there is nobody to share live events with. PostgreSQL: a server that
    many processes share, whose writes are waits."""
    return is_sqlite(engine)


def normalise_url(url: str) -> str:
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def make_engine(url: str, *, pool_size: int = 10, echo: bool = False) -> Engine:
    """Create the engine with the pragmas/pool a carewindow process needs for ``url``."""
    url = normalise_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(url, echo=echo)
    try:
        return create_engine(
            url,
            echo=echo,
            pool_size=pool_size,
            max_overflow=pool_size,
            pool_pre_ping=True,  # survive a PostgreSQL restart without restarting carewindow
            pool_recycle=1800,
        )
    except ImportError as exc:  # SQLAlchemy imports the driver here
        if parsed.get_backend_name() != "postgresql":
            raise
        raise StorageError(
            f"a PostgreSQL database needs the psycopg driver, which this installation lacks ({exc}): "
            "install carewindow with its postgresql extra: pip install 'carewindow[postgresql]'"
        ) from None


def _require_sqlite_json() -> None:
    """Key lists travel as JSON arrays (``storage.bulk.listed``): say so at once if that cannot work."""
    probe = sqlite3.connect(":memory:")
    try:
        probe.execute("SELECT value FROM json_each('[1]')")
    except sqlite3.OperationalError as err:
        raise RuntimeError(
            f"SQLite {sqlite3.sqlite_version} has no JSON functions; carewindow needs SQLite 3.38 or "
            "newer, or a build with JSON1"
        ) from err
    finally:
        probe.close()


def _sqlite_engine(url: str, *, echo: bool) -> Engine:
    _require_sqlite_json()
    parsed = make_url(url)
    memory = parsed.database in (None, "", ":memory:")
    if not memory and parsed.database:
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    # How long a writer waits for SQLite's lock before "database is locked" (a 503): 30 s unless the URL
    # says otherwise, e.g. sqlite:///var/carewindow.db?timeout=2 (seconds, SQLAlchemy's own parameter).
    busy = float(parsed.query.get("timeout", 30))  # type: ignore[arg-type]
    kwargs: dict[str, Any] = {"connect_args": {"check_same_thread": False, "timeout": busy}}
    if memory:
        kwargs["poolclass"] = StaticPool
    engine = create_engine(url, echo=echo, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: sqlite3.Connection, _record: object) -> None:
        # Take over transaction control from pysqlite so that BEGIN IMMEDIATE is possible (see below).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")  # readers never block the writer
        cur.execute("PRAGMA synchronous=NORMAL")  # durable across process crashes in WAL mode
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={int(busy * 1000)}")
        cur.execute("PRAGMA cache_size=-65536")
        cur.execute("PRAGMA temp_store=MEMORY")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # Writers start with IMMEDIATE: a deferred transaction that later writes can fail with
        # SQLITE_BUSY instead of waiting, which would turn contention into errors.
        immediate = conn.get_execution_options().get(_IMMEDIATE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


_writer_locks: dict[int, threading.Lock] = {}
_writer_locks_guard = threading.Lock()


def _writer_lock(engine: Engine) -> threading.Lock:
    with _writer_locks_guard:
        return _writer_locks.setdefault(id(engine), threading.Lock())


@contextmanager
def write_tx(engine: Engine) -> Iterator[Connection]:
    """A transaction that will write: BEGIN IMMEDIATE on SQLite, a normal one on PostgreSQL.

    On SQLite, writers of one process queue on a lock first: SQLite lets one writer in at a time anyway,
    and its busy handler waits by sleeping and polling (tens to hundreds of ms under contention), while a
    lock hands over the moment the previous writer commits. Other processes still meet busy_timeout.
    """
    if not is_sqlite(engine):
        with translated(), engine.connect() as conn, conn.begin():
            yield conn
        return
    with translated(), _writer_lock(engine), engine.connect() as conn:
        conn = conn.execution_options(**{_IMMEDIATE: True})
        with conn.begin():
            yield conn


class HeldConnection:
    """One connection a long-lived writer (a group-commit thread) keeps across its transactions.

    Checking a pooled PostgreSQL connection out for every batch costs the pool's pre-ping, a
    ``SELECT 1`` round trip, plus the pool's own work; a writer committing hundreds of times a second
    keeps its connection instead. A failed transaction gives it back (the pool discards it if broken)
    and the next one checks out anew; ``lost`` tells the writer whether the failure was the connection
    going away (a database restart, a cut), so that it can redo the transaction: that replaces the
    ping. On SQLite the checkout and check-in around every batch were pure Python work; a
    transaction there still queues on the process's writer lock and begins IMMEDIATE, as with
    ``write_tx``. One thread only."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._conn: Connection | None = None
        self._sqlite = is_sqlite(engine)
        self.lost = False  # the last transaction failed because its connection was gone

    @contextmanager
    def write_tx(self) -> Iterator[Connection]:
        with translated(), _writer_lock(self._engine) if self._sqlite else nullcontext():
            if self._conn is None:
                self._conn = self._engine.connect()
                if self._sqlite:
                    self._conn = self._conn.execution_options(**{_IMMEDIATE: True})
            self.lost = False
            try:
                with self._conn.begin():
                    yield self._conn
            except BaseException:
                self.lost = _gone(self._conn)
                self.close()
                raise

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with suppress(Exception):  # a broken connection: the pool discards it
                conn.close()


def _gone(conn: Connection) -> bool:
    """Whether ``conn`` lost its database connection (SQLAlchemy saw it, or the driver did)."""
    if conn.invalidated:
        return True
    with suppress(Exception):
        driver = conn.connection.driver_connection
        return bool(getattr(driver, "broken", False) or getattr(driver, "closed", False))
    return True


@contextmanager
def read_tx(engine: Engine) -> Iterator[Connection]:
    """A read-only transaction; errors come out as ``storage.errors``."""
    with translated(), engine.connect() as conn, conn.begin():
        yield conn


@contextmanager
def connect(engine: Engine) -> Iterator[Connection]:
    """A connection for reads outside an explicit transaction; errors come out as ``storage.errors``."""
    with translated(), engine.connect() as conn:
        yield conn


def ping(engine: Engine) -> None:
    """One round trip to the database (``SELECT 1``); raises ``storage.errors`` when it cannot answer."""
    with connect(engine) as conn:
        conn.execute(text("SELECT 1"))


def dialect_insert(conn: Connection | Engine, table: Any) -> Any:
    """An INSERT that supports ``on_conflict_do_nothing`` on both SQLite and PostgreSQL."""
    if is_sqlite(conn):
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return sqlite_insert(table)
    from sqlalchemy.dialects.postgresql import insert as pg_insert

    return pg_insert(table)


def is_retryable(exc: BaseException) -> bool:
    """A transaction PostgreSQL aborted to break a deadlock or a serialization conflict: safe to redo."""
    return isinstance(exc, StorageError) and exc.retryable


def retry_tx(fn: Callable[[], T], *, attempts: int = 5) -> T:
    """Run ``fn`` (which opens its own transaction) again when the database aborted it as a deadlock
    victim; any other error, or the last attempt's, propagates."""
    for attempt in range(1, attempts + 1):
        try:
            with translated():
                return fn()
        except StorageError as exc:
            if attempt == attempts or not is_retryable(exc):
                raise
            time.sleep(0.005 * attempt)
    raise AssertionError("unreachable")
