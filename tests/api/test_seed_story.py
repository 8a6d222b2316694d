"""The seed's story end to end over HTTP, on SQLite and PostgreSQL (the service issue's "done when")."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from service_support import Service

from carewindow.wire import signature

pytestmark = pytest.mark.anyio
CUSTOMER = "34600111222"


async def create_ticket_template(svc: Service) -> None:
    r = await svc.http.post(
        "/v1/templates",
        headers=svc.auth(),
        json={
            "name": "ticket_update",
            "language": "es",
            "category": "utility",
            "body": "Your ticket {{ticket_id}} was updated. Reply to this message to continue.",
        },
    )
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "APPROVED"


async def customer_says(svc: Service, text: str, *, timestamp: int | None = None) -> dict[str, Any]:
    payload: dict[str, Any] = {"text": text}
    if timestamp is not None:
        payload["timestamp"] = timestamp
    r = await svc.http.post(f"/sandbox/customers/{CUSTOMER}/messages", json=payload)
    assert r.status_code == 200, r.text
    assert r.json()["callback_status"] == 200, r.json()
    return r.json()  # type: ignore[no-any-return]


async def send(svc: Service, body: dict[str, Any], role: str = "agent") -> Any:
    return await svc.http.post("/v1/messages", headers=svc.auth(role), json={"to": "+" + CUSTOMER, **body})


TEMPLATE = {
    "type": "template",
    "template": {"name": "ticket_update", "language": "es", "parameters": {"ticket_id": "T-42"}},
}


async def window(svc: Service) -> dict[str, Any]:
    r = await svc.http.get(f"/v1/contacts/{CUSTOMER}/window", headers=svc.auth("agent"))
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


async def test_seed_story(service: Service) -> None:
    svc = service
    await create_ticket_template(svc)

    # Consent recorded, then the business starts with a template.
    r = await svc.http.put(
        f"/v1/contacts/{CUSTOMER}/consent",
        headers=svc.auth("agent"),
        json={"status": "opted_in", "source": "web_form", "proof": "checkbox on signup"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "opted_in"
    r = await send(svc, TEMPLATE)
    assert r.status_code == 202, r.text
    first = r.json()
    assert first["kind"] == "template"
    assert first["status"] == "queued"
    await svc.drain()

    # The customer replies: the window opens and a free-form message is accepted, free.
    await customer_says(svc, "Hola, sigo con el problema")
    w = await window(svc)
    assert w["state"] == "open"
    assert 86000 < w["seconds_left"] <= 86400
    r = await send(svc, {"type": "text", "text": {"body": "Estamos en ello"}})
    assert r.status_code == 202, r.text
    session = r.json()
    assert session["kind"] == "session"
    assert session["charge"]["billable"] is False
    assert session["charge"]["amount"] in ("0", "0.0", "0.00", "0.000000", 0)
    await svc.drain()

    # 25 hours later the window is closed; a late message stamped 25 h ago does not reopen it.
    svc.clock.advance(hours=25)
    await customer_says(svc, "mensaje antiguo", timestamp=int(svc.clock.now.timestamp()) - 25 * 3600)
    assert (await window(svc))["state"] == "closed"
    r = await send(svc, {"type": "text", "text": {"body": "¿Sigue ahí?"}})
    assert r.status_code == 409
    assert r.json()["error"]["code"] == "window_closed"
    assert "template" in r.json()["error"]["message"]

    # One template re-engages; a second one before the customer answers is refused.
    r = await send(svc, TEMPLATE)
    assert r.status_code == 202, r.text
    assert r.json()["charge"]["billable"] is True
    r = await send(svc, TEMPLATE)
    assert r.status_code == 409
    assert r.json()["error"]["code"] == "reengagement_pending"
    await svc.drain()

    # The customer answers: the window reopens and session messages flow again.
    await customer_says(svc, "Sí, aquí estoy")
    r = await send(svc, {"type": "text", "text": {"body": "Perfecto, ya está resuelto"}})
    assert r.status_code == 202, r.text
    last_id = r.json()["id"]
    await svc.drain()
    r = await svc.http.get(f"/v1/messages/{last_id}", headers=svc.auth("agent"))
    assert r.status_code == 200
    msg = r.json()
    assert msg["status"] == "read"
    assert [h["status"] for h in msg["history"]][:2] == ["queued", "sent"]
    assert {"delivered", "read"} <= {h["status"] for h in msg["history"]}
    r = await svc.http.get(f"/v1/messages/{first['id']}", headers=svc.auth("agent"))
    assert r.json()["status"] == "read"


async def test_replayed_webhook_changes_nothing_and_bad_signature_is_401(service: Service) -> None:
    svc = service
    body = orjson.dumps(
        {
            "object": "whatsapp_business_account",
            "entry": [
                {
                    "id": svc.rt.waba_id,
                    "changes": [
                        {
                            "field": "messages",
                            "value": {
                                "messaging_product": "whatsapp",
                                "metadata": {
                                    "display_phone_number": "15550000001",
                                    "phone_number_id": svc.rt.phone_number_id,
                                },
                                "contacts": [{"profile": {"name": "Ana"}, "wa_id": CUSTOMER}],
                                "messages": [
                                    {
                                        "from": CUSTOMER,
                                        "id": "wamid.replay1",
                                        "timestamp": str(int(svc.clock.now.timestamp())),
                                        "type": "text",
                                        "text": {"body": "hola"},
                                    }
                                ],
                            },
                        }
                    ],
                }
            ],
        }
    )
    headers = {signature.HEADER: signature.sign(body, svc.rt.app_secret), "Content-Type": "application/json"}
    for _ in range(3):
        r = await svc.http.post("/webhooks/whatsapp", content=body, headers=headers)
        assert r.status_code == 200, r.text
    r = await svc.http.get(f"/v1/contacts/{CUSTOMER}/messages", headers=svc.auth("agent"))
    assert [m["wamid"] for m in r.json()["data"]] == ["wamid.replay1"]
    conv = await svc.http.get("/v1/conversations", headers=svc.auth("agent"))
    assert conv.json()["data"][0]["unread_count"] == 1

    bad = dict(headers, **{signature.HEADER: "sha256=" + "0" * 64})
    r = await svc.http.post("/webhooks/whatsapp", content=body, headers=bad)
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "unauthorized"
    r = await svc.http.post("/webhooks/whatsapp", content=body)
    assert r.status_code == 401
