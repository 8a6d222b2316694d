"""Templates whose header is media, over HTTP on the sandbox: the catalog records the header format,
a send needs the header's file (422 naming it when missing), the send path passes it as Meta's header
component, the sandbox lists such a template and sync keeps the format; on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from service_support import API_KEYS, Service

pytestmark = pytest.mark.anyio
WA = "34600111444"
TOKEN = {"Authorization": "Bearer sandbox-access-token"}


async def media_template(svc: Service, name: str = "router_photo", fmt: str = "IMAGE") -> dict[str, Any]:
    r = await svc.http.post(
        "/v1/templates",
        headers=svc.auth(),
        json={
            "name": name,
            "language": "en",
            "category": "utility",
            "body": "Your router {{1}} is ready.",
            "header_format": fmt,
        },
    )
    assert r.status_code == 201, r.text
    await svc.drain()  # the sandbox's approval webhook
    data: dict[str, Any] = r.json()
    return data


async def opt_in(svc: Service) -> None:
    r = await svc.http.put(
        f"/v1/contacts/{WA}/consent", headers=svc.auth(), json={"status": "opted_in", "source": "test"}
    )
    assert r.status_code == 200, r.text


def send_body(header: dict[str, Any] | None) -> dict[str, Any]:
    tpl: dict[str, Any] = {"name": "router_photo", "language": "en", "parameters": ["R-1"]}
    if header is not None:
        tpl["header"] = header
    return {"to": WA, "type": "template", "template": tpl}


async def test_the_catalog_records_the_media_header(service: Service) -> None:
    created = await media_template(service)
    assert created["header_format"] == "IMAGE" and created["header"] is None
    r = await service.http.get("/v1/templates", headers=service.auth("agent"))
    [t] = [t for t in r.json() if t["name"] == "router_photo"]
    assert t["header_format"] == "IMAGE"


async def test_a_send_without_the_header_is_a_clear_422(service: Service) -> None:
    await opt_in(service)
    await media_template(service)
    r = await service.http.post("/v1/messages", headers=service.auth("agent"), json=send_body(None))
    assert r.status_code == 422, r.text
    err = r.json()["error"]
    assert err["code"] == "template_params_invalid"
    assert err["meta_code"] == 132000
    assert "template.header" in err["message"] and "IMAGE" in err["message"]
    wrong = {"type": "video", "video": {"id": "1"}}
    r = await service.http.post("/v1/messages", headers=service.auth("agent"), json=send_body(wrong))
    assert r.status_code == 422 and r.json()["error"]["meta_code"] == 132012


async def test_an_uploaded_photo_goes_as_the_header_component(service: Service) -> None:
    await opt_in(service)
    await media_template(service)
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 2000
    r = await service.http.post(
        "/v1/media", files={"file": ("r.png", png, "image/png")}, headers=service.auth("agent")
    )
    assert r.status_code == 201, r.text
    media_id = r.json()["id"]
    header = {"type": "image", "image": {"id": media_id}}
    r = await service.http.post("/v1/messages", headers=service.auth("agent"), json=send_body(header))
    assert r.status_code == 202, r.text
    await service.drain()
    sent = (await service.http.get("/sandbox/sent", params={"to": WA})).json()
    [msg] = [s for s in sent if s["body"].get("type") == "template"]
    components = msg["body"]["template"]["components"]
    assert {"type": "header", "parameters": [header]} in components
    assert {"type": "body", "parameters": [{"type": "text", "text": "R-1"}]} in components
    msg_id = msg["body"]["biz_opaque_callback_data"]
    r = await service.http.get(f"/v1/messages/{msg_id}", headers=service.auth())
    assert r.status_code == 200 and r.json()["status"] in ("sent", "delivered", "read"), r.text


async def test_the_sandbox_lists_it_and_sync_keeps_the_format(service: Service) -> None:
    await media_template(service, "invoice_doc", "DOCUMENT")
    waba = service.rt.waba_id
    r = await service.http.get(f"/sandbox/graph/v23.0/{waba}/message_templates", headers=TOKEN)
    assert r.status_code == 200, r.text
    [item] = [t for t in r.json()["data"] if t["name"] == "invoice_doc"]
    assert {"type": "HEADER", "format": "DOCUMENT"} in item["components"]
    r = await service.http.post("/v1/templates/sync", headers=service.auth())
    assert r.status_code in (200, 202), r.text
    r = await service.http.get("/v1/templates/invoice_doc/en", headers=service.auth())
    assert r.json()["header_format"] == "DOCUMENT"


async def test_an_edit_keeps_the_media_header(service: Service) -> None:
    await media_template(service)
    r = await service.http.put(
        "/v1/templates/router_photo/en", headers=service.auth(), json={"status": "PAUSED"}
    )
    assert r.status_code == 200, r.text
    assert r.json()["header_format"] == "IMAGE"


async def test_the_gateway_takes_metas_header_component(service: Service) -> None:
    """A Cloud API client sends the header as Meta's component; the gateway hands it to the same
    check and send path, and the sandbox receives the header component as sent."""
    await opt_in(service)
    await media_template(service)
    key = {"Authorization": "Bearer " + API_KEYS["integration"]}
    path = f"/graph/v23.0/{service.rt.phone_number_id}/messages"
    header = {"type": "image", "image": {"link": "https://example.com/router.png"}}
    body = {
        "messaging_product": "whatsapp",
        "to": WA,
        "type": "template",
        "template": {
            "name": "router_photo",
            "language": {"code": "en"},
            "components": [
                {"type": "header", "parameters": [header]},
                {"type": "body", "parameters": [{"type": "text", "text": "R-1"}]},
            ],
        },
    }
    missing = {**body, "template": {**body["template"], "components": body["template"]["components"][1:]}}
    r = await service.http.post(path, json=missing, headers=key)
    assert r.status_code == 400 and r.json()["error"]["code"] == 132000, r.text
    task = asyncio.ensure_future(service.http.post(path, json=body, headers=key))
    while not task.done():
        await service.drain()
        await asyncio.sleep(0.01)
    r = task.result()
    assert r.status_code == 200, r.text
    sent = (await service.http.get("/sandbox/sent", params={"to": WA})).json()
    [msg] = [s for s in sent if s["body"].get("type") == "template"]
    assert msg["wamid"] == r.json()["messages"][0]["id"]
    assert {"type": "header", "parameters": [header]} in msg["body"]["template"]["components"]
