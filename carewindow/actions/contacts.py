"""Small contact updates made by agents."""

from __future__ import annotations

from datetime import datetime

from carewindow.storage import contacts as contact_store
from carewindow.storage.engine import Engine, write_tx


def do_mark_read(engine: Engine, *, contact_id: int, now: datetime) -> None:
    """An agent looked at the conversation: nothing in it is unread any more."""
    with write_tx(engine) as conn:
        contact_store.mark_read(conn, contact_id, now=now)
