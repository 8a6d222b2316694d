"""Erasing a contact (admin only): one transaction (storage/erasure.py says what goes)."""

from __future__ import annotations

from datetime import datetime

from carewindow.actions.errors import NotFound
from carewindow.storage import contacts as contact_store
from carewindow.storage.engine import Engine, write_tx
from carewindow.storage.erasure import erase_contact


def do_erase_contact(engine: Engine, *, phone_number_id: str, wa_id: str, now: datetime) -> dict[str, int]:
    """Erase the contact ``wa_id`` of ``phone_number_id``; rows touched, by kind. NotFound when there
    is no such contact (an erased one is gone under its number already)."""
    with write_tx(engine) as conn:
        contact = contact_store.get(conn, phone_number_id=phone_number_id, wa_id=wa_id, for_update=True)
        if contact is None:
            raise NotFound(f"No contact {wa_id} on business number {phone_number_id}.", wa_id=wa_id)
        return erase_contact(conn, contact.id, now=now)
