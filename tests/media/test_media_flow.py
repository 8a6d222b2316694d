"""Media end to end through the sandbox: the customer's photo reaches the API byte for byte, an
uploaded document reaches the sandbox byte for byte; on both stores and both databases."""

from __future__ import annotations

import hashlib
import os
import re
from typing import Any

import pytest
from service_support import Service

pytestmark = pytest.mark.anyio
WA_ID = "15551230001"
PNG = b"\x89PNG\r\n\x1a\n" + os.urandom(4000)


async def customer_sends(svc: Service, data: bytes, mime: str, kind: str, **form: str) -> Any:
    r = await svc.http.post(
        f"/sandbox/customers/{WA_ID}/media",
        files={"file": (form.pop("name", "photo.png"), data, mime)},
        data={"type": kind, **form},
    )
    assert r.status_code == 200, r.text
    return r.json()


async def thread(svc: Service) -> list[dict[str, Any]]:
    r = await svc.http.get(f"/v1/contacts/{WA_ID}/messages", headers=svc.auth("agent"))
    assert r.status_code == 200, r.text
    data: list[dict[str, Any]] = r.json()["data"]
    return data


async def test_customer_photo_reaches_the_api_byte_for_byte(media_service: Service) -> None:
    svc = media_service
    sent = await customer_sends(svc, PNG, "image/png", "image", caption="the router")
    assert sent["delivered"] is True
    [msg] = await thread(svc)
    assert msg["type"] == "image"
    assert msg["media"]["status"] == "pending"  # the 200 did not wait for the download
    url = msg["media"]["url"]
    r = await svc.http.get(url, headers=svc.auth("agent"))
    assert r.status_code == 409
    assert "downloading" in r.json()["error"]["message"]

    published: list[Any] = []
    svc.rt.media_fetcher.publish = published.extend
    assert await svc.rt.media_fetcher.run_once() == 1
    [msg] = await thread(svc)
    media = msg["media"]
    # The inbox hears of it (its thread refreshes on message.media).
    [event] = published
    assert (event.type, event.wa_id, event.data["status"]) == ("message.media", WA_ID, "ready")
    assert event.data["message_id"] == msg["id"]
    assert media["status"] == "ready"
    assert media["sha256"] == hashlib.sha256(PNG).hexdigest() == sent["sha256"]
    assert media["size"] == len(PNG)
    assert media["mime_type"] == "image/png"
    r = await svc.http.get(url, headers=svc.auth("agent"))
    assert r.status_code == 200
    assert hashlib.sha256(r.content).hexdigest() == hashlib.sha256(PNG).hexdigest()
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["content-security-policy"].startswith("sandbox")
    assert r.headers["content-disposition"].startswith("inline")
    # Nothing left to fetch.
    assert await svc.rt.media_fetcher.run_once() == 0


async def test_download_needs_a_key_or_a_session(media_service: Service) -> None:
    svc = media_service
    await customer_sends(svc, PNG, "image/png", "image")
    await svc.rt.media_fetcher.run_once()
    [msg] = await thread(svc)
    url = msg["media"]["url"]
    assert (await svc.http.get(url)).status_code == 401
    assert (await svc.http.get(url, headers={"Authorization": "Bearer nope"})).status_code == 401
    page = (await svc.http.get("/inbox/login")).text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert csrf is not None
    r = await svc.http.post("/inbox/login", data={"api_key": "test-agent-key", "csrf_token": csrf.group(1)})
    assert r.status_code in (200, 303), r.text
    # The inbox's copy of the url, with the session cookie (scoped to /inbox).
    inbox_url = "/inbox/media/" + msg["media"]["id"]
    r = await svc.http.get(inbox_url)
    assert r.status_code == 200
    assert r.content == PNG
    assert r.headers["content-security-policy"].startswith("sandbox")
    svc.http.cookies.clear()
    assert (await svc.http.get(inbox_url)).status_code == 303  # signed out: to the sign-in page


async def test_audio_ranges(media_service: Service) -> None:
    svc = media_service
    voice = os.urandom(10_000)
    await customer_sends(svc, voice, "audio/ogg", "audio", name="voice.ogg")
    await svc.rt.media_fetcher.run_once()
    [msg] = await thread(svc)
    url = msg["media"]["url"]
    r = await svc.http.get(url, headers={**svc.auth("agent"), "Range": "bytes=100-199"})
    assert r.status_code == 206
    assert r.content == voice[100:200]
    assert r.headers["content-range"] == f"bytes 100-199/{len(voice)}"
    r = await svc.http.get(url, headers={**svc.auth("agent"), "Range": "bytes=-10"})
    assert r.content == voice[-10:]
    r = await svc.http.get(url, headers={**svc.auth("agent"), "Range": f"bytes={len(voice)}-"})
    assert r.status_code == 416


async def test_document_keeps_its_name_and_is_an_attachment(media_service: Service) -> None:
    svc = media_service
    pdf = b"%PDF-1.4\n" + os.urandom(2000)
    await customer_sends(svc, pdf, "application/pdf", "document", name="invoice 7.pdf")
    await svc.rt.media_fetcher.run_once()
    [msg] = await thread(svc)
    assert msg["media"]["filename"] == "invoice 7.pdf"
    r = await svc.http.get(msg["media"]["url"], headers=svc.auth("agent"))
    assert r.content == pdf
    assert r.headers["content-disposition"].startswith("attachment")
    assert "invoice%207.pdf" in r.headers["content-disposition"]


async def test_unexpected_type_is_stored_as_refused_with_the_reason(media_service: Service) -> None:
    svc = media_service
    svg = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
    await customer_sends(svc, svg, "image/svg+xml", "image", name="x.svg")
    assert await svc.rt.media_fetcher.run_once() == 0  # refused at ingest: never downloaded
    [msg] = await thread(svc)
    assert msg["media"]["status"] == "refused"
    assert "image/svg+xml" in msg["media"]["reason"]
    r = await svc.http.get(msg["media"]["url"], headers=svc.auth("agent"))
    assert r.status_code == 409


async def test_uploaded_document_reaches_the_sandbox_byte_for_byte(media_service: Service) -> None:
    svc = media_service
    pdf = b"%PDF-1.7\n" + os.urandom(5000)
    # The customer writes first: the window is open.
    r = await svc.http.post(f"/sandbox/customers/{WA_ID}/messages", json={"type": "text", "text": "hi"})
    assert r.status_code == 200
    r = await svc.http.post(
        "/v1/media", files={"file": ("quote.pdf", pdf, "application/pdf")}, headers=svc.auth("agent")
    )
    assert r.status_code == 201, r.text
    up = r.json()
    assert up["media"]["sha256"] == hashlib.sha256(pdf).hexdigest()
    r = await svc.http.post(
        "/v1/messages",
        json={"to": WA_ID, "type": "document", "document": {"id": up["id"], "filename": "quote.pdf"}},
        headers=svc.auth("agent"),
    )
    assert r.status_code in (200, 201, 202), r.text
    await svc.drain()
    sent = (await svc.http.get("/sandbox/sent", params={"to": WA_ID})).json()
    [doc] = [s for s in sent if s["body"].get("type") == "document"]
    assert doc["body"]["document"]["id"] == up["id"]
    token = {"Authorization": "Bearer sandbox-access-token"}
    info = (await svc.http.get(f"/sandbox/graph/v23.0/{up['id']}", headers=token)).json()
    assert info["sha256"] == hashlib.sha256(pdf).hexdigest()
    r = await svc.http.get(info["url"], headers=token)
    assert r.status_code == 200
    assert r.content == pdf
    # Our own copy downloads too, as an attachment.
    r = await svc.http.get(up["media"]["url"], headers=svc.auth("agent"))
    assert r.content == pdf
    assert r.headers["content-disposition"].startswith("attachment")
    # The sent message's JSON carries its file.
    [out] = [m for m in await thread(svc) if m["direction"] == "out"]
    assert out["media"]["sha256"] == hashlib.sha256(pdf).hexdigest()
    assert out["media"]["filename"] == "quote.pdf"
    r = await svc.http.get(f"/v1/messages/{out['id']}", headers=svc.auth("agent"))
    assert r.json()["media"]["id"] == up["media"]["id"]


async def test_upload_over_the_limit_is_refused(media_service: Service) -> None:
    svc = media_service
    big = b"\xff\xd8" + b"0" * (5 * 1024 * 1024)
    r = await svc.http.post(
        "/v1/media", files={"file": ("big.jpg", big, "image/jpeg")}, headers=svc.auth("agent")
    )
    assert r.status_code == 422
    assert "limit" in r.json()["error"]["message"]


async def test_odd_media_fields_from_meta_are_stored_without_a_5xx(media_service: Service) -> None:
    """Undocumented or oversized values in a media object: the message is stored, the file refused or
    kept pending, never a 5xx."""
    import orjson

    from carewindow.wire import signature
    from carewindow.wire.webhook import build_message_webhook

    svc = media_service
    for i, obj in enumerate(
        [
            {"id": "9" * 300, "mime_type": "image/png"},
            {"id": "123", "mime_type": "x/" + "y" * 400, "filename": "f" * 900, "sha256": "z" * 500},
            {"id": "124", "mime_type": 7, "sha256": None},
            {"id": 125},
        ]
    ):
        body = orjson.dumps(
            build_message_webhook(
                waba_id=svc.rt.waba_id,
                phone_number_id=svc.rt.phone_number_id,
                display_phone_number="15550000001",
                wa_id=WA_ID,
                profile_name="Odd",
                wamid=f"wamid.odd-{i}",
                timestamp=int(svc.clock.now.timestamp()),
                message_type="image",
                content=obj,
            )
        )
        headers = {
            signature.HEADER: signature.sign(body, svc.rt.app_secret),
            "Content-Type": "application/json",
        }
        r = await svc.http.post("/webhooks/whatsapp", content=body, headers=headers)
        assert r.status_code == 200, r.text
    await svc.rt.media_fetcher.run_once()
    msgs = await thread(svc)
    assert len(msgs) == 4
    statuses = sorted(m["media"]["status"] for m in msgs if m.get("media"))
    assert statuses == ["failed", "refused", "refused"]  # the id-less one has no file at all
