"""Small contact updates made by agents."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine, update

from carewindow.storage.engine import write_tx
from carewindow.storage.tables import contacts


def do_mark_read(engine: Engine, *, contact_id: int, now: datetime) -> None:
    """An agent looked at the conversation: nothing in it is unread any more."""
    with write_tx(engine) as conn:
        conn.execute(
            update(contacts)
            .where(contacts.c.id == contact_id, contacts.c.unread_count != 0)
            .values(unread_count=0, updated_at=now)
        )
