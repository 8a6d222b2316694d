"""The raw webhook bodies, kept as received."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection

from carewindow.storage.bulk import insert_rows
from carewindow.storage.tables import webhook_raw
from carewindow.storage.writes import Writes


def add_bodies(
    conn: Connection, bodies: Sequence[tuple[datetime, bytes]], *, writes: Writes | None = None
) -> None:
    """Keep each (received_at, body) in one insert (with ``writes``, sent with the transaction's)."""
    insert_rows(conn, webhook_raw, [{"received_at": at, "body": body} for at, body in bodies], writes=writes)
