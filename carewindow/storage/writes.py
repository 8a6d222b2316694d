"""The writes of a transaction that nobody reads an answer from, sent together at its end.

On PostgreSQL they go as one statement, each write a data-modifying ``WITH`` part: a group commit
pays one round trip for all of them instead of one each (every round trip is a wake-up of both
processes). The parts run on one snapshot, so they must touch different rows and not depend on each
other; every batch writer writes distinct tables. SQLite (in process, no round trips) writes at once
and never collects anything here.

A part is written by a SQL builder of ``storage.bulk`` that takes the names of its parameters: each
part gets its own (``w<part>_<n>``) when the statement is put together, so the parts' SQL is written
with its final parameters, never renamed afterwards.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Hashable
from typing import Any

from sqlalchemy import Connection

# build(*args, *placeholders) -> one statement's SQL with those psycopg placeholders
Builder = Callable[..., str]
_Spec = tuple[Builder, tuple[Hashable, ...], int]


class Writes:
    """Collects the answerless writes of one transaction (PostgreSQL) and sends them in ``flush``."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._specs: list[_Spec] = []
        self._values: list[Any] = []

    def add(self, build: Builder, args: tuple[Hashable, ...], values: tuple[Any, ...]) -> None:
        """A write whose SQL is ``build(*args, *placeholders)``, one placeholder per value."""
        self._specs.append((build, args, len(values)))
        self._values.extend(values)

    def flush(self) -> None:
        if not self._specs:
            return
        sql, names = combined(tuple(self._specs))
        self._conn.exec_driver_sql(sql, dict(zip(names, self._values, strict=True)))
        self._specs.clear()
        self._values.clear()


@functools.lru_cache(maxsize=128)
def combined(specs: tuple[_Spec, ...]) -> tuple[str, tuple[str, ...]]:
    """One statement for the parts ``specs`` and its parameter names, in the order of their values."""
    parts: list[str] = []
    names: list[str] = []
    for i, (build, args, count) in enumerate(specs):
        own = tuple(f"w{i}_{j}" for j in range(count))
        names.extend(own)
        parts.append(build(*args, *(f"%({n})s" for n in own)))
    if len(parts) == 1:
        return parts[0], tuple(names)
    # The last part is the statement itself: no result set to describe.
    ctes = ", ".join(f"w{i} AS ({sql})" for i, sql in enumerate(parts[:-1]))
    return f"WITH {ctes} {parts[-1]}", tuple(names)
