"""Contact erasure removes the contact's media rows and bytes (storage.media.delete_media_for_contact,
actions.media.erase_contact_media), and nobody else's."""

from __future__ import annotations

import pytest
from service_support import Service
from sqlalchemy import select

from carewindow.actions.media import erase_contact_media
from carewindow.storage import media as media_store
from carewindow.storage.media_store import MediaStoreError
from carewindow.storage.tables import contacts

pytestmark = pytest.mark.anyio


async def photo(svc: Service, wa_id: str, data: bytes) -> None:
    r = await svc.http.post(
        f"/sandbox/customers/{wa_id}/media",
        files={"file": ("p.png", data, "image/png")},
        data={"type": "image"},
    )
    assert r.status_code == 200, r.text


async def test_erasure_deletes_rows_and_bytes_of_that_contact_only(media_service: Service) -> None:
    svc = media_service
    await photo(svc, "15551239001", b"\x89PNG first")
    await photo(svc, "15551239001", b"\x89PNG second")
    await photo(svc, "15551239002", b"\x89PNG other")
    while await svc.rt.media_fetcher.run_once():
        pass
    with svc.rt.engine.connect() as conn:
        ids = dict(conn.execute(select(contacts.c.wa_id, contacts.c.id)).all())
        mine = media_store.media_rows_for_contact(conn, ids["15551239001"])
        theirs = media_store.media_rows_for_contact(conn, ids["15551239002"])
    assert len(mine) == 2 and len(theirs) == 1
    assert erase_contact_media(svc.rt.engine, svc.rt.media_store, ids["15551239001"]) == 2
    for row in mine:
        with pytest.raises(MediaStoreError):
            svc.rt.media_store.read(row.storage_key)
    assert svc.rt.media_store.read(theirs[0].storage_key) == b"\x89PNG other"
    with svc.rt.engine.connect() as conn:
        assert media_store.media_rows_for_contact(conn, ids["15551239001"]) == []
