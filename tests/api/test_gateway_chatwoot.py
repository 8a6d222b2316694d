"""A Chatwoot-shaped client against the Graph gateway: Chatwoot's exact request paths, bodies and headers.

Replayed from chatwoot/chatwoot@0018330ea8aeeb0d0a5dcd1c7840e416560cd6f5,
app/services/whatsapp/providers/whatsapp_cloud_service.rb (``WHATSAPP_CLOUD_BASE_URL`` is the base):

- ``send_text_message``: ``POST {base}/v13.0/{phone_number_id}/messages``, headers ``Authorization:
  Bearer {api_key}`` and ``Content-Type: application/json``, body ``{messaging_product, context, to,
  text: {body}, type: "text"}`` where ``context`` is ``null`` unless the message replies
  (``{message_id: in_reply_to_external_id}``);
- ``send_attachment_message``: the same path and headers, ``{messaging_product, context, to, type,
  <type>: {link, caption[, filename]}}`` (media by link; media by id and media download belong to the
  gateway's media routes, not covered here);
- ``send_template``: ``{messaging_product, recipient_type: "individual", to, type: "template", template:
  {name, language: {policy: "deterministic", code}, components: [...]}}``;
- ``sync_templates`` / ``validate_provider_config?``: ``GET {base}/v14.0/{waba_id}/message_templates
  ?access_token={api_key}`` without headers, following ``paging.next``;
- ``process_response``: the message's source id is ``messages[0].id``; an error's text is
  ``error.message``.
"""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

import httpx
import orjson
import pytest
from service_support import API_KEYS, Service

from carewindow.storage import messages as message_store

pytestmark = pytest.mark.anyio
CUSTOMER = "34600111222"


def _headers(key: str) -> dict[str, str]:
    # Whatsapp::Providers::WhatsappCloudService#api_headers
    return {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}


async def _post(service: Service, path: str, body: dict[str, Any], key: str) -> httpx.Response:
    """Chatwoot's HTTParty.post (body is ``to_json``) while the test's worker delivers the outbox."""
    request = asyncio.ensure_future(
        service.http.post(path, content=orjson.dumps(body), headers=_headers(key))
    )
    while not request.done():
        await service.drain()
        await asyncio.sleep(0.01)
    return await request


async def test_chatwoot_sequence_replays_against_the_gateway(service: Service) -> None:
    rt = service.rt
    key = API_KEYS["integration"]
    phone, waba = rt.phone_number_id, rt.waba_id
    admin = service.auth("admin")
    created = await service.http.post(
        "/v1/templates",
        headers=admin,
        json={
            "name": "ticket_update",
            "language": "es",
            "category": "utility",
            "body": "Tu ticket {{1}} está listo.",
        },
    )
    assert created.status_code == 201, created.text

    # validate_provider_config? / sync_templates: the token in the query, no headers.
    synced = await service.http.get(f"/graph/v14.0/{waba}/message_templates?access_token={key}")
    assert synced.status_code == 200, synced.text
    [template] = synced.json()["data"]
    assert (template["name"], template["language"], template["status"]) == ("ticket_update", "es", "APPROVED")
    assert {"type": "BODY", "text": "Tu ticket {{1}} está listo."}.items() <= template["components"][
        0
    ].items()
    assert "next" not in synced.json()["paging"]

    # The customer writes first (the sandbox's signed webhook), so the window is open.
    said = await service.http.post(f"/sandbox/customers/{CUSTOMER}/messages", json={"text": "Hola"})
    inbound = said.json()["wamid"]
    await service.drain()
    consent = await service.http.put(
        f"/v1/contacts/{CUSTOMER}/consent",
        headers=admin,
        json={"status": "opted_in", "source": "chatwoot test"},
    )
    assert consent.status_code == 200, consent.text

    text = {
        "messaging_product": "whatsapp",
        "context": None,
        "to": CUSTOMER,
        "text": {"body": "Hola, ¿en qué te ayudo?"},
        "type": "text",
    }
    reply = {**text, "context": {"message_id": inbound}, "text": {"body": "Respondo a tu mensaje"}}
    image = {
        "messaging_product": "whatsapp",
        "context": None,
        "to": CUSTOMER,
        "type": "image",
        "image": {"link": "https://example.com/factura.png", "caption": "Tu factura"},
    }
    document = {
        "messaging_product": "whatsapp",
        "context": None,
        "to": CUSTOMER,
        "type": "document",
        "document": {"link": "https://example.com/f.pdf", "caption": "PDF", "filename": "f.pdf"},
    }
    tpl = {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": CUSTOMER,
        "type": "template",
        "template": {
            "name": "ticket_update",
            "language": {"policy": "deterministic", "code": "es"},
            "components": [{"type": "body", "parameters": [{"type": "text", "text": "T-42"}]}],
        },
    }
    ids = []
    for body in (text, reply, image, document, tpl):
        r = await _post(service, f"/graph/v13.0/{phone}/messages", body, key)
        assert r.status_code == 200, r.text
        ids.append(r.json()["messages"][0]["id"])  # process_response: the source id
    sent = [s.wamid for s in rt.sandbox.sent]
    assert sent == ids  # each exactly once, with the id Chatwoot stored
    bodies = {s.wamid: s.body for s in rt.sandbox.sent}
    assert bodies[ids[1]]["context"] == {"message_id": inbound}
    assert bodies[ids[3]]["document"]["filename"] == "f.pdf"
    assert bodies[ids[4]]["template"]["components"] == [
        {"type": "body", "parameters": [{"type": "text", "text": "T-42"}]}
    ]
    with rt.engine.connect() as conn:
        rows = [message_store.get_by_wamid(conn, i) for i in ids]
    assert all(r is not None for r in rows)  # in carewindow's thread and ledger like /v1 sends


async def test_refusals_answer_metas_codes_and_nothing_reaches_meta(service: Service) -> None:
    rt = service.rt
    key = API_KEYS["integration"]
    path = f"/graph/v19.0/{rt.phone_number_id}/messages"
    text = {
        "messaging_product": "whatsapp",
        "context": None,
        "to": CUSTOMER,
        "text": {"body": "x"},
        "type": "text",
    }
    closed = await _post(service, path, text, key)
    assert closed.status_code == 400
    err = closed.json()["error"]
    assert err["code"] == 131047
    assert err["error_data"]["carewindow"]["code"] == "window_closed"
    assert "window_closed" in err["error_data"]["details"]

    unknown = {
        "messaging_product": "whatsapp",
        "to": CUSTOMER,
        "type": "template",
        "template": {"name": "nope", "language": {"code": "es"}},
    }
    r = await _post(service, path, unknown, key)
    assert r.json()["error"]["code"] == 132001
    assert r.json()["error"]["error_data"]["carewindow"]["code"] == "template_not_found"

    # A template Meta would send but the customer never consented to: carewindow's documented code.
    await service.http.post(
        "/v1/templates",
        headers=service.auth("admin"),
        json={"name": "promo", "language": "es", "category": "marketing", "body": "Oferta {{1}}"},
    )
    promo = {
        **unknown,
        "template": {
            "name": "promo",
            "language": {"code": "es"},
            "components": [{"type": "body", "parameters": [{"type": "text", "text": "2x1"}]}],
        },
    }
    r = await _post(service, path, promo, key)
    assert r.json()["error"]["code"] == 139001
    assert r.json()["error"]["error_data"]["carewindow"]["code"] == "no_consent"

    bad = await _post(service, path, {"messaging_product": "whatsapp", "to": CUSTOMER, "type": "fax"}, key)
    assert bad.json()["error"]["code"] == 131051
    other = await _post(service, "/graph/v19.0/999/messages", text, key)
    assert other.status_code == 400 and other.json()["error"]["error_subcode"] == 33
    agentless = await service.http.get(
        f"/graph/v19.0/{rt.waba_id}/message_templates", params={"access_token": "x"}
    )
    assert agentless.status_code == 401 and agentless.json()["error"]["code"] == 190
    assert rt.sandbox.sent == []


@pytest.mark.parametrize("mode", ["template", "defer"])
async def test_on_closed_headers_send_the_fallback_or_hold_the_reply_and_knock(
    service: Service, mode: str
) -> None:
    """``template``: the fallback goes out instead; ``defer``: the reply is held and the fallback
    knocks. Either way the answer carries the wamid of the template that went out."""
    rt = service.rt
    await service.http.post(
        "/v1/templates",
        headers=service.auth("admin"),
        json={"name": "knock", "language": "es", "category": "utility", "body": "Tenemos respuesta a {{1}}"},
    )
    await service.http.put(
        f"/v1/contacts/{CUSTOMER}/consent",
        headers=service.auth("admin"),
        json={"status": "opted_in", "source": "test"},
    )
    body = {"messaging_product": "whatsapp", "to": CUSTOMER, "type": "text", "text": {"body": "Tarde"}}
    request = service.http.post(
        f"/graph/v23.0/{rt.phone_number_id}/messages",
        content=orjson.dumps(body),
        headers={
            **_headers(API_KEYS["integration"]),
            "X-Carewindow-On-Closed": mode,
            "X-Carewindow-Fallback-Template": "knock:es:tu consulta",
        },
    )
    task = asyncio.ensure_future(request)
    while not task.done():
        await service.drain()
        await asyncio.sleep(0.01)
    r = await task
    assert r.status_code == 200, r.text
    [knock] = rt.sandbox.sent
    assert r.json()["messages"][0]["id"] == knock.wamid
    assert knock.body["template"]["name"] == "knock"
    assert knock.body["template"]["components"][0]["parameters"] == [{"type": "text", "text": "tu consulta"}]
    if mode == "defer":
        held = r.json()["carewindow"]["held_message_id"]
        got = await service.http.get(f"/v1/messages/{held}", headers=service.auth("admin"))
        assert got.json()["status"] == "held"
    else:
        assert "carewindow" not in r.json()


# ---------------------------------------------------------------- media (docs/gateway.md, "Media")
#
# Chatwoot's inbound media: whatsapp_cloud_service.rb ``media_url`` / ``api_headers`` (the revision
# above) and app/services/whatsapp/incoming_message_whatsapp_cloud_service.rb
# ``download_attachment_file`` (read at chatwoot/chatwoot@069282ceb87a31d6a788fabdf69b9fee885292d1,
# the stored revision of that file): ``GET {base}/v13.0/{media_id}`` with
# ``api_headers`` (bearer + JSON content type), then ``Down.download(response['url'], headers:
# api_headers)``. Media by id is Meta's body ``{type: {id, caption[, filename]}}`` (Meta's "Send
# messages" reference), on the same ``POST {base}/v13.0/{phone_number_id}/messages`` as the link
# attachments above; the upload is Meta's multipart ``POST /{phone_number_id}/media`` (``file``,
# ``type`` = the MIME type, ``messaging_product``).

PHOTO = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40
PDF = b"%PDF-1.7\n" + bytes(range(255, -1, -1)) * 30


def _media_ready(service: Service, tmp_path: Any) -> None:
    from carewindow.api.runtime import media_fetcher
    from carewindow.storage.media_store import DirectoryStore

    service.rt.media_store = DirectoryStore(tmp_path / "media")
    service.rt.media_fetcher = media_fetcher(service.rt)


async def test_chatwoot_downloads_inbound_media_and_sends_media_by_id(
    service: Service, tmp_path: Any
) -> None:
    rt = service.rt
    _media_ready(service, tmp_path)
    key = API_KEYS["integration"]
    phone = rt.phone_number_id

    # The customer sends a photo; carewindow fetches it from Meta (the sandbox) in the background.
    r = await service.http.post(
        f"/sandbox/customers/{CUSTOMER}/media",
        files={"file": ("router.png", PHOTO, "image/png")},
        data={"type": "image", "caption": "no enciende"},
    )
    assert r.status_code == 200, r.text
    await service.drain()
    assert await rt.media_fetcher.run_once() == 1
    meta_id = r.json()["media_id"]  # the id in Meta's webhook, the one a fan-out subscriber sees

    # download_attachment_file: GET {base}/v13.0/{media_id} with api_headers, then the url with them.
    info = await service.http.get(f"/graph/v13.0/{meta_id}", headers=_headers(key))
    assert info.status_code == 200, info.text
    doc = info.json()
    assert doc["messaging_product"] == "whatsapp" and doc["id"] == meta_id
    assert (doc["mime_type"], doc["file_size"]) == ("image/png", len(PHOTO))
    assert doc["sha256"] == hashlib.sha256(PHOTO).hexdigest()
    assert doc["url"].startswith("http://testserver/")
    got = await service.http.get(doc["url"], headers=_headers(key))
    assert got.status_code == 200
    assert hashlib.sha256(got.content).hexdigest() == hashlib.sha256(PHOTO).hexdigest()
    assert (await service.http.get(doc["url"])).status_code == 401  # the bearer is needed

    # Upload (Meta's multipart) and send by id: the same send path, the file reaches Meta.
    up = await service.http.post(
        f"/graph/v13.0/{phone}/media",
        headers={"Authorization": f"Bearer {key}"},
        files={"file": ("factura.pdf", PDF, "application/pdf")},
        data={"type": "application/pdf", "messaging_product": "whatsapp"},
    )
    assert up.status_code == 200, up.text
    media_id = up.json()["id"]
    assert list(up.json()) == ["id"]
    document = {
        "messaging_product": "whatsapp",
        "context": None,
        "to": CUSTOMER,
        "type": "document",
        "document": {"id": media_id, "caption": "Tu factura", "filename": "factura.pdf"},
    }
    sent = await _post(service, f"/graph/v13.0/{phone}/messages", document, key)
    assert sent.status_code == 200, sent.text
    wamid = sent.json()["messages"][0]["id"]
    [out] = rt.sandbox.sent
    assert out.wamid == wamid and out.body["document"]["id"] == media_id
    # Meta (the sandbox) has the very bytes.
    token = {"Authorization": "Bearer sandbox-access-token"}
    at_meta = (await service.http.get(f"/sandbox/graph/v23.0/{media_id}", headers=token)).json()
    assert at_meta["sha256"] == hashlib.sha256(PDF).hexdigest()
    # And the gateway's own metadata and bytes of the upload.
    mine = (await service.http.get(f"/graph/v13.0/{media_id}", headers=_headers(key))).json()
    assert mine["sha256"] == hashlib.sha256(PDF).hexdigest()
    assert (await service.http.get(mine["url"], headers=_headers(key))).content == PDF

    # DELETE /{media_id}: Meta's answer; afterwards the id is unknown (Meta's 100/33 shape).
    gone = await service.http.delete(f"/graph/v13.0/{media_id}", headers=_headers(key))
    assert gone.status_code == 200 and gone.json() == {"success": True}
    again = await service.http.get(f"/graph/v13.0/{media_id}", headers=_headers(key))
    assert again.status_code == 404
    assert (again.json()["error"]["code"], again.json()["error"]["error_subcode"]) == (100, 33)
