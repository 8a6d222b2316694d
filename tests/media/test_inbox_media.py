"""The inbox shows media: thumbnails, players, documents with name and size, "downloading…" and
"unavailable: reason"; the composer's file goes out by id and reaches the sandbox byte for byte."""

from __future__ import annotations

import os
import re

import pytest
from service_support import API_KEYS, Service

pytestmark = pytest.mark.anyio
WA_ID = "15551230003"


def csrf_of(page: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, "no CSRF token in the page"
    return match.group(1)


async def sign_in(svc: Service) -> None:
    r = await svc.http.get("/inbox/login")
    r = await svc.http.post(
        "/inbox/login", data={"api_key": API_KEYS["agent"], "csrf_token": csrf_of(r.text)}
    )
    assert r.status_code == 303


async def send(svc: Service, data: bytes, mime: str, kind: str, name: str) -> None:
    r = await svc.http.post(
        f"/sandbox/customers/{WA_ID}/media", files={"file": (name, data, mime)}, data={"type": kind}
    )
    assert r.status_code == 200, r.text


def page_url(svc: Service) -> str:
    return f"/inbox/c/{svc.rt.phone_number_id}/{WA_ID}"


async def test_thread_shows_each_kind_of_file(media_service: Service) -> None:
    svc = media_service
    await sign_in(svc)
    await send(svc, b"\x89PNG\r\n\x1a\n" + os.urandom(100), "image/png", "image", "p.png")
    html = (await svc.http.get(page_url(svc))).text
    assert "downloading…" in html
    await send(svc, os.urandom(3000), "audio/ogg", "audio", "v.ogg")
    await send(svc, b"%PDF-1.4" + os.urandom(2000), "application/pdf", "document", "invoice.pdf")
    await send(svc, b"<svg/>", "image/svg+xml", "image", "x.svg")
    while await svc.rt.media_fetcher.run_once():
        pass
    html = (await svc.http.get(page_url(svc))).text
    assert "downloading…" not in html
    assert re.search(r'<img class="media-thumb" src="/inbox/media/med_\w+"', html)
    assert re.search(r'<audio controls preload="metadata" src="/inbox/media/med_\w+"', html)
    assert re.search(
        r'download="invoice.pdf"><span class="media-file-name">invoice.pdf</span> '
        r'<span class="media-file-size">2 KB</span>',
        html,
    )
    assert "unavailable: type &#39;image/svg+xml&#39; is not supported for image" in html


async def test_composer_file_reaches_the_sandbox(media_service: Service) -> None:
    svc = media_service
    await sign_in(svc)
    r = await svc.http.post(f"/sandbox/customers/{WA_ID}/messages", json={"type": "text", "text": "hi"})
    assert r.status_code == 200
    page = (await svc.http.get(page_url(svc))).text
    assert 'class="attach-form"' in page
    pdf = b"%PDF-1.7" + os.urandom(1000)
    r = await svc.http.post(
        f"{page_url(svc)}/attach",
        files={"file": ("terms.pdf", pdf, "application/pdf")},
        data={"csrf_token": csrf_of(page), "caption": "our terms", "idem": "k1"},
    )
    assert r.status_code == 303, r.text
    await svc.drain()
    [sent] = [s for s in (await svc.http.get("/sandbox/sent")).json() if s["body"].get("type") == "document"]
    doc = sent["body"]["document"]
    assert doc["filename"] == "terms.pdf" and doc["caption"] == "our terms"
    token = {"Authorization": "Bearer sandbox-access-token"}
    info = (await svc.http.get(f"/sandbox/graph/v23.0/{doc['id']}", headers=token)).json()
    assert (await svc.http.get(info["url"], headers=token)).content == pdf
    # The agent's own document shows in the thread, with its name.
    html = (await svc.http.get(page_url(svc))).text
    assert '<span class="media-file-name">terms.pdf</span>' in html


async def test_composer_refuses_a_type_meta_does_not_carry(media_service: Service) -> None:
    svc = media_service
    await sign_in(svc)
    await svc.http.post(f"/sandbox/customers/{WA_ID}/messages", json={"type": "text", "text": "hi"})
    page = (await svc.http.get(page_url(svc))).text
    r = await svc.http.post(
        f"{page_url(svc)}/attach",
        files={"file": ("x.html", b"<script>1</script>", "text/html")},
        data={"csrf_token": csrf_of(page)},
    )
    assert r.status_code == 422
    assert "media_refused" in r.text and "text/html" in r.text


async def test_no_attachment_outside_the_window(media_service: Service) -> None:
    svc = media_service
    await sign_in(svc)
    await svc.http.post(f"/sandbox/customers/{WA_ID}/messages", json={"type": "text", "text": "hi"})
    svc.clock.advance(hours=25)
    page = (await svc.http.get(page_url(svc))).text
    assert 'class="attach-form"' not in page
