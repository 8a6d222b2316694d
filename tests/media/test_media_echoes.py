"""Media in coexistence echoes: a photo or document the business sent from the WhatsApp Business app
(``smb_message_echoes``, recorded payloads in tests/fixtures/meta/) is fetched from Meta like an
inbound one, so the agent sees it in the thread; on both stores and both databases."""

from __future__ import annotations

import base64
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import pytest
from service_support import Service
from sqlalchemy import select

from carewindow.storage.tables import media
from carewindow.wire import signature

pytestmark = pytest.mark.anyio
FIXTURES = Path(__file__).parents[1] / "fixtures" / "meta"
NUMBER = "106540352242922"
WA = "34600111222"


def fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    return data


def echo_item(payload: dict[str, Any]) -> dict[str, Any]:
    item: dict[str, Any] = payload["entry"][0]["changes"][0]["value"]["message_echoes"][0]
    return item


async def post(svc: Service, payload: dict[str, Any]) -> None:
    body = json.dumps(payload).encode()
    headers = {signature.HEADER: signature.sign(body, svc.rt.app_secret), "Content-Type": "application/json"}
    r = await svc.http.post("/webhooks/whatsapp", content=body, headers=headers)
    assert r.status_code == 200, r.text


async def thread(svc: Service) -> list[dict[str, Any]]:
    r = await svc.http.get(
        f"/v1/contacts/{WA}/messages", headers=svc.auth("agent"), params={"phone_number_id": NUMBER}
    )
    assert r.status_code == 200, r.text
    return list(r.json()["data"])


def media_rows(svc: Service) -> list[Any]:
    with svc.rt.engine.connect() as conn:
        return list(conn.execute(select(media).order_by(media.c.created_at, media.c.id)).all())


async def test_a_recorded_image_echo_gets_a_fetch_job_in_the_ingest_transaction(
    media_service: Service,
) -> None:
    svc = media_service
    payload = fixture("smb_message_echoes__image")
    await post(svc, payload)
    await post(svc, payload)  # a replay adds no second job
    [msg] = await thread(svc)
    assert (msg["direction"], msg["type"]) == ("out", "image")
    assert msg["media"]["status"] == "pending"
    assert msg["media"]["mime_type"] == "image/jpeg"
    [row] = media_rows(svc)
    item = echo_item(payload)
    assert row.meta_media_id == item["image"]["id"]
    assert row.meta_sha256 == item["image"]["sha256"]
    assert row.direction == "in"  # fetched from Meta; deleting it never deletes Meta's copy


async def test_a_recorded_document_echo_keeps_its_file_name(media_service: Service) -> None:
    svc = media_service
    await post(svc, fixture("smb_message_echoes__document"))
    [msg] = await thread(svc)
    assert msg["media"]["filename"] == "factura-0042.pdf"
    assert msg["media"]["status"] == "pending"


async def test_a_text_echo_has_no_file(media_service: Service) -> None:
    svc = media_service
    await post(svc, fixture("smb_message_echoes__text"))
    [msg] = await thread(svc)
    assert msg.get("media") is None
    assert media_rows(svc) == []


async def test_an_app_sent_photo_downloads_byte_for_byte(media_service: Service) -> None:
    """The photo is on Meta (here: the sandbox's media store, uploaded through its Graph endpoint);
    the echo names it; the fetcher stores it and the thread serves it."""
    svc = media_service
    png = b"\x89PNG\r\n\x1a\n" + os.urandom(3000)
    r = await svc.http.post(
        "/v1/media", files={"file": ("p.png", png, "image/png")}, headers=svc.auth("agent")
    )
    assert r.status_code == 201, r.text
    meta_id = r.json()["id"]
    payload = fixture("smb_message_echoes__image")
    item = echo_item(payload)
    item["image"] = {
        "id": meta_id,
        "mime_type": "image/png",
        "sha256": base64.b64encode(hashlib.sha256(png).digest()).decode(),
        "caption": item["image"]["caption"],
    }
    await post(svc, payload)
    assert await svc.rt.media_fetcher.run_once() == 1
    [msg] = await thread(svc)
    assert msg["media"]["status"] == "ready"
    assert msg["media"]["sha256"] == hashlib.sha256(png).hexdigest()
    r = await svc.http.get(msg["media"]["url"], headers=svc.auth("agent"))
    assert r.status_code == 200
    assert r.content == png
