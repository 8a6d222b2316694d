"""storage's own small error tree: what callers above storage may catch instead of the driver's errors.

Every way into the database that storage hands out (``engine.write_tx``, ``read_tx``, ``connect``,
``HeldConnection``, ``retry_tx``, the group committer) translates SQLAlchemy's and the drivers' errors
into these at its edge, so no layer above storage imports ``sqlalchemy.exc``. The original error stays
as ``__cause__`` (for logs); ``reason`` is the driver's own words, never a statement or its parameters.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError, SQLAlchemyError


class StorageError(Exception):
    """A database operation failed. ``reason``: the driver's words (no SQL, no parameters)."""

    def __init__(self, reason: str, *, retryable: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable  # a deadlock victim or a serialization failure: safe to redo


class Unavailable(StorageError):
    """An outage worth a retry: a lost or refused connection, a locked, busy or full database, a disk
    error. The caller wrote nothing."""


class Conflict(StorageError):
    """A uniqueness or foreign-key rule refused the write (e.g. two requests raced on one key)."""


# SQLite reports schema and SQL mistakes as OperationalError too; those are bugs, not outages.
_SQLITE_BUGS = ("no such table", "no such column", "syntax error", "has no column", "no such function")
_RETRYABLE_SQLSTATES = frozenset({"40P01", "40001"})  # deadlock detected, serialization failure


def translate(exc: SQLAlchemyError) -> StorageError:
    """The storage error for a SQLAlchemy (or wrapped driver) error."""
    orig = getattr(exc, "orig", None)
    reason = f"{type(orig).__name__}: {orig}" if orig is not None else type(exc).__name__
    retryable = getattr(orig, "sqlstate", None) in _RETRYABLE_SQLSTATES
    if isinstance(exc, IntegrityError):
        return Conflict(reason)
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return Unavailable(reason)
    if isinstance(exc, OperationalError) and not retryable:
        text = str(orig).lower()
        if not any(marker in text for marker in _SQLITE_BUGS):
            return Unavailable(reason)
    return StorageError(reason, retryable=retryable)


@contextmanager
def translated() -> Iterator[None]:
    """Raise SQLAlchemy's errors from the block as storage errors (the original as the cause)."""
    try:
        yield
    except SQLAlchemyError as exc:
        raise translate(exc) from exc
