"""Erasing a contact (admin only): one transaction (storage/erasure.py says what goes), then the media
files of the erased rows are deleted from the media store."""

from __future__ import annotations

from datetime import datetime

from carewindow.actions.errors import NotFound
from carewindow.storage import contacts as contact_store
from carewindow.storage import media as media_rows
from carewindow.storage.engine import Engine, write_tx
from carewindow.storage.erasure import erase_contact
from carewindow.storage.media_store import MediaStore


def do_erase_contact(
    engine: Engine, *, phone_number_id: str, wa_id: str, now: datetime, store: MediaStore | None = None
) -> dict[str, int]:
    """Erase the contact addressed by ``wa_id`` (its wa_id, a variant of it or its user id) of
    ``phone_number_id``; rows touched, by kind. NotFound when there is no such contact (an erased one
    is gone under its number already). The media rows go in the same transaction; their bytes are
    deleted from ``store`` after the commit (a crash in between leaves unreferenced bytes, never a row
    pointing at erased ones)."""
    with write_tx(engine) as conn:
        found = contact_store.find(conn, phone_number_id=phone_number_id, address=wa_id)
        contact = (
            contact_store.get(conn, phone_number_id=phone_number_id, wa_id=found.wa_id, for_update=True)
            if found is not None
            else None
        )
        if contact is None:
            raise NotFound(f"No contact {wa_id} on business number {phone_number_id}.", wa_id=wa_id)
        counts = erase_contact(conn, contact.id, now=now)
        keys = media_rows.delete_media_for_contact(conn, contact.id)
    counts["media"] = len(keys)
    if store is not None:
        for key in keys:
            store.delete(key)
    return counts
