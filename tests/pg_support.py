"""The PostgreSQL server the tests use, made ready: its database created when it is missing.

The tests expect ``CAREWINDOW_TEST_PG_URL``, by default ``postgresql://postgres@127.0.0.1:5432/test``
(user ``postgres``, database ``test``, on the local server). ``prepare(url)`` answers None when that
URL can be used, after creating its database when the server is up but the database is not there
(through the server's ``postgres`` maintenance database, as the same user; the user needs CREATEDB).
Otherwise it answers the reason in the driver's own words (authentication failed, database does not
exist and may not be created, connection refused, ...), never just the exception's class.

Also a script, for scripts/pg: ``python tests/pg_support.py URL`` exits 0 when the URL can be used
and otherwise prints the reason and exits 1.
"""

from __future__ import annotations

import sys
from typing import Any

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"
MAINTENANCE_DB = "postgres"
CONNECT_TIMEOUT = 3


def libpq_url(url: str) -> str:
    """``url`` as libpq takes it (SQLAlchemy's ``postgresql+psycopg://`` spelling accepted)."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def shown(url: str) -> str:
    """``url`` with its password hidden, for messages."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def with_database(url: str, name: str) -> str:
    """``url`` naming database ``name`` instead (its query string kept)."""
    from sqlalchemy.engine import make_url

    return make_url(url).set(database=name).render_as_string(hide_password=False)


def _words(exc: BaseException) -> str:
    """The driver's message on one line (libpq reports each address it tried on its own line)."""
    return " ".join(str(exc).split()) or type(exc).__name__


def prepare(url: str) -> str | None:
    """None when the tests can use ``url`` (its database created if it was missing); else why not."""
    if not url:
        return "no PostgreSQL configured (CAREWINDOW_TEST_PG_URL is empty)"
    try:
        import psycopg
        from psycopg import sql
    except ImportError as exc:
        return f"the PostgreSQL driver is not installed ({exc}): install carewindow[postgresql]"
    dsn = libpq_url(url)
    where = f"PostgreSQL at {shown(url)}"
    try:
        psycopg.connect(dsn, connect_timeout=CONNECT_TIMEOUT, autocommit=True).close()
        return None
    except psycopg.Error as exc:
        first = exc
    # The server may be up without this database: ask its maintenance database whether it exists.
    name = _dbname(dsn)
    if not name or name == MAINTENANCE_DB:
        return f"{where} cannot be used: {_words(first)}"
    try:
        admin = psycopg.connect(
            with_database(dsn, MAINTENANCE_DB), connect_timeout=CONNECT_TIMEOUT, autocommit=True
        )
    except psycopg.Error:
        return f"{where} cannot be used: {_words(first)}"  # the first error says why (refused, auth)
    with admin:
        exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if exists:
            return f"{where} cannot be used: {_words(first)}"
        try:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        except psycopg.errors.DuplicateDatabase:
            pass  # another test process created it at the same moment
        except psycopg.Error as exc:
            return (
                f"{where} cannot be used: database {name!r} does not exist and could not be created "
                f"through the {MAINTENANCE_DB!r} database: {_words(exc)} (create it, or point "
                "CAREWINDOW_TEST_PG_URL at one that exists)"
            )
    try:
        psycopg.connect(dsn, connect_timeout=CONNECT_TIMEOUT, autocommit=True).close()
    except psycopg.Error as exc:
        return f"{where} cannot be used after creating database {name!r}: {_words(exc)}"
    return None


def _dbname(dsn: str) -> str | None:
    from psycopg.conninfo import conninfo_to_dict

    params: dict[str, Any] = conninfo_to_dict(dsn)
    value = params.get("dbname")
    return str(value) if value else None


if __name__ == "__main__":
    reason = prepare(sys.argv[1] if len(sys.argv) > 1 else DEFAULT_URL)
    if reason:
        print(reason, file=sys.stderr)
        sys.exit(1)
