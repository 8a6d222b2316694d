"""What the gateway answers when Meta refuses, and when nobody hands the message to Meta in time."""

from __future__ import annotations

import asyncio

import httpx
import orjson
import pytest
from service_support import API_KEYS, Service

pytestmark = pytest.mark.anyio
CUSTOMER = "34600111222"


async def _open_window(service: Service) -> None:
    r = await service.http.post(f"/sandbox/customers/{CUSTOMER}/messages", json={"text": "Hola"})
    assert r.status_code == 200, r.text
    await service.drain()


def _send(service: Service) -> asyncio.Future[httpx.Response]:
    body = {"messaging_product": "whatsapp", "to": CUSTOMER, "type": "text", "text": {"body": "x"}}
    headers = {"Authorization": f"Bearer {API_KEYS['integration']}", "Content-Type": "application/json"}
    path = f"/graph/v23.0/{service.rt.phone_number_id}/messages"
    return asyncio.ensure_future(service.http.post(path, content=orjson.dumps(body), headers=headers))


async def test_metas_refusal_is_relayed_with_metas_code(service: Service) -> None:
    await _open_window(service)
    fault = await service.http.post("/sandbox/faults", json={"code": 131026, "status": 400})
    assert fault.status_code == 200, fault.text
    task = _send(service)
    while not task.done():
        await service.drain()
        await asyncio.sleep(0.01)
    r = task.result()
    assert r.status_code == 400
    assert r.json()["error"]["code"] == 131026
    assert service.rt.sandbox.sent == []


async def test_no_answer_in_time_cancels_the_send_so_a_retry_cannot_duplicate_it(service: Service) -> None:
    await _open_window(service)
    service.rt.settings.gateway_answer_seconds = 0.3  # the test's worker does not run meanwhile
    r = await _send(service)
    assert r.status_code == 503, r.text
    err = r.json()["error"]
    assert err["code"] == 131016 and "cancelled and not sent" in err["error_data"]["details"]
    await service.drain()  # the worker runs now: nothing is left to send
    assert service.rt.sandbox.sent == []


async def test_sandbox_info_gives_the_token_its_graph_api_accepts(service: Service) -> None:
    info = (await service.http.get("/sandbox/info")).json()
    assert info["access_token"] == "sandbox-access-token"  # the README says so
    body = {"messaging_product": "whatsapp", "to": CUSTOMER, "type": "text", "text": {"body": "x"}}
    url = f"/sandbox/graph/{info['graph_version']}/{info['phone_number_id']}/messages"
    wrong = await service.http.post(url, json=body, headers={"Authorization": "Bearer nope"})
    right = await service.http.post(
        url, json=body, headers={"Authorization": f"Bearer {info['access_token']}"}
    )
    assert wrong.status_code == 401
    assert right.status_code != 401 and right.json()["error"]["code"] == 131047  # no window: the rules apply


async def test_interactive_reaction_and_location_go_out_as_sent(service: Service) -> None:
    await _open_window(service)
    bodies = [
        {
            "type": "interactive",
            "interactive": {
                "type": "button",
                "body": {"text": "¿Confirmas la cita?"},
                "action": {"buttons": [{"type": "reply", "reply": {"id": "yes", "title": "Sí"}}]},
            },
        },
        {"type": "location", "location": {"latitude": 40.4, "longitude": -3.7, "name": "Clínica"}},
    ]
    headers = {"Authorization": f"Bearer {API_KEYS['integration']}", "Content-Type": "application/json"}
    path = f"/graph/v23.0/{service.rt.phone_number_id}/messages"
    ids = []
    for extra in bodies:
        body = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": CUSTOMER, **extra}
        task = asyncio.ensure_future(service.http.post(path, content=orjson.dumps(body), headers=headers))
        while not task.done():
            await service.drain()
            await asyncio.sleep(0.01)
        r = task.result()
        assert r.status_code == 200, r.text
        ids.append(r.json()["messages"][0]["id"])
    reaction = {
        "messaging_product": "whatsapp",
        "to": CUSTOMER,
        "type": "reaction",
        "reaction": {"message_id": ids[0], "emoji": "👍"},
    }
    task = asyncio.ensure_future(service.http.post(path, content=orjson.dumps(reaction), headers=headers))
    while not task.done():
        await service.drain()
        await asyncio.sleep(0.01)
    assert task.result().status_code == 200, task.result().text
    sent = service.rt.sandbox.sent
    assert [s.type for s in sent] == ["interactive", "location", "reaction"]
    assert sent[0].body["interactive"] == bodies[0]["interactive"]
    assert sent[2].body["reaction"] == {"message_id": ids[0], "emoji": "👍"}


async def test_a_marketing_stop_answers_131050_and_nothing_reaches_meta(service: Service) -> None:
    """The consent rules' own refusals keep Meta's codes through the gateway: a customer who stopped
    marketing (Meta's user_preferences webhook, played by the sandbox) gets 131050 before sending."""
    admin = service.auth("admin")
    r = await service.http.post(
        "/v1/templates",
        headers=admin,
        json={"name": "oferta", "language": "es", "category": "marketing", "body": "Oferta {{1}}"},
    )
    assert r.status_code in (200, 201), r.text
    r = await service.http.put(
        f"/v1/contacts/{CUSTOMER}/consent", headers=admin, json={"status": "opted_in", "source": "test"}
    )
    assert r.status_code == 200, r.text
    stop = await service.http.post(f"/sandbox/customers/{CUSTOMER}/marketing", json={"preference": "stop"})
    assert stop.status_code == 200, stop.text
    await service.drain()
    body = {
        "messaging_product": "whatsapp",
        "to": CUSTOMER,
        "type": "template",
        "template": {
            "name": "oferta",
            "language": {"code": "es"},
            "components": [{"type": "body", "parameters": [{"type": "text", "text": "2x1"}]}],
        },
    }
    headers = {"Authorization": f"Bearer {API_KEYS['integration']}", "Content-Type": "application/json"}
    path = f"/graph/v23.0/{service.rt.phone_number_id}/messages"
    r = await service.http.post(path, content=orjson.dumps(body), headers=headers)
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert err["code"] == 131050
    assert err["error_data"]["carewindow"]["code"] == "marketing_opted_out"
    assert service.rt.sandbox.sent == []
