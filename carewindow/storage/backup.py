"""``carewindow backup PATH``: a consistent copy of a live SQLite database (docs/operations.md).

SQLite's online backup API (``sqlite3.Connection.backup``) copies the database page by page while
the server keeps writing: the copy is the database as of one moment, WAL included, never a torn file.
PostgreSQL is backed up with its own tools (``pg_dump``); see docs/operations.md.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

__all__ = ["backup_sqlite"]


def backup_sqlite(
    source: Path, dest: Path, *, pages: int = 1024, progress: Callable[[int, int], None] | None = None
) -> int:
    """Copy the SQLite database ``source`` to ``dest`` (which must not exist) with the online backup
    API, ``pages`` pages per step so writers are not held up; returns the copy's size in bytes.
    Raises FileExistsError or FileNotFoundError, and sqlite3.Error from the copy."""
    if dest.exists():
        raise FileExistsError(f"{dest} exists: give a new file")
    if not source.is_file():
        raise FileNotFoundError(f"no database at {source}")
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    tmp = dest.with_name(dest.name + ".partial")
    try:
        out = sqlite3.connect(tmp)
        try:
            src.backup(
                out,
                pages=pages,
                progress=(lambda _s, rem, total: progress(total - rem, total)) if progress else None,
            )
            check = out.execute("PRAGMA integrity_check").fetchone()
            if not check or check[0] != "ok":
                raise sqlite3.DatabaseError(f"the copy failed its integrity check: {check}")
        finally:
            out.close()
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    finally:
        src.close()
    tmp.rename(dest)
    return dest.stat().st_size
