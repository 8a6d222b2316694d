"""Issue 23, defects 1, 3 and 4 over HTTP, driven by recorded payloads (tests/fixtures/meta/README.md):
Mexican ``521…`` and Argentine ``549…`` wa_ids, username customers addressed by user id, a location
without ``type``."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

import orjson
import pytest
from service_support import Service

from carewindow.providers.sandbox.simulator import user_id_for
from carewindow.wire import signature

pytestmark = pytest.mark.anyio
FIXTURES = Path(__file__).parents[1] / "fixtures" / "meta"
NUMBER = "106540352242922"  # the business number of the recorded payloads
Q = {"phone_number_id": NUMBER}


async def post_fixture(svc: Service, name: str) -> None:
    body = (FIXTURES / f"{name}.json").read_bytes()
    headers = {signature.HEADER: signature.sign(body, svc.rt.app_secret), "Content-Type": "application/json"}
    r = await svc.http.post("/webhooks/whatsapp", content=body, headers=headers)
    assert r.status_code == 200, r.text


async def window(svc: Service, address: str) -> Any:
    r = await svc.http.get(f"/v1/contacts/{quote(address, safe='')}/window", headers=svc.auth(), params=Q)
    assert r.status_code == 200, r.text
    return r.json()


async def thread(svc: Service, address: str) -> list[dict[str, Any]]:
    r = await svc.http.get(f"/v1/contacts/{quote(address, safe='')}/messages", headers=svc.auth(), params=Q)
    assert r.status_code == 200, r.text
    return list(r.json()["data"])


async def send_text(svc: Service, to: str, text: str) -> Any:
    return await svc.http.post(
        "/v1/messages",
        headers=svc.auth(),
        json={"to": to, "type": "text", "text": {"body": text}, "phone_number_id": NUMBER},
    )


def fixture_time(name: str) -> int:
    doc = orjson.loads((FIXTURES / f"{name}.json").read_bytes())
    return int(doc["entry"][0]["changes"][0]["value"]["messages"][0]["timestamp"])


@pytest.mark.parametrize(
    ("name", "wa_id", "typed"),
    [
        # Mexico: the wa_id carries the historic mobile 1; people type it with or without.
        (
            "messages__text_mexico_521",
            "5214428968441",
            ["+52 1 442 896 8441", "+52 442-896-8441", "524428968441"],
        ),
        # Argentina: the wa_id carries the mobile 9; people type it with or without.
        (
            "messages__text_argentina_549",
            "5491123456789",
            ["+54 9 11 2345-6789", "+54 11 2345 6789", "541123456789"],
        ),
    ],
)
async def test_a_wa_id_meta_sent_is_read_and_answered_however_it_is_addressed(
    service: Service, name: str, wa_id: str, typed: list[str]
) -> None:
    service.clock.now = service.clock.now.fromtimestamp(fixture_time(name) + 60, service.clock.now.tzinfo)
    await post_fixture(service, name)
    for address in [wa_id, *typed]:
        w = await window(service, address)
        assert w["wa_id"] == wa_id, address
        assert w["state"] == "open", address
        (inbound,) = await thread(service, address)
        assert inbound["direction"] == "in"
    r = await send_text(service, typed[0], "¡Hola! Ya va en camino.")
    assert r.status_code == 202, r.text
    assert r.json()["to"] == wa_id
    r = await send_text(service, wa_id, "Llega mañana.")
    assert r.status_code == 202, r.text
    # One contact: the sends went to the thread Meta's webhook opened.
    assert [m["direction"] for m in await thread(service, typed[1])] == ["out", "out", "in"]


async def test_typed_numbers_are_still_checked(service: Service) -> None:
    for bad in ["+52 1 442", "hola", "+34 600-111-22x"]:
        r = await service.http.get(f"/v1/contacts/{quote(bad)}/window", headers=service.auth())
        assert r.status_code == 422, bad
        assert "phone number" in r.json()["error"]["message"]


async def test_a_username_customer_is_addressed_by_user_id_and_sent_to_through_recipient(
    service: Service,
) -> None:
    name = "messages__username_only"
    service.clock.now = service.clock.now.fromtimestamp(fixture_time(name) + 60, service.clock.now.tzinfo)
    await post_fixture(service, name)
    user_id = "ES.88812345678901234567"
    w = await window(service, user_id)
    assert w["state"] == "open"
    assert w["wa_id"] == user_id
    (inbound,) = await thread(service, user_id)
    assert inbound["text"] == "Hola desde mi usuario"
    r = await send_text(service, user_id, "Hola Dani")
    assert r.status_code == 202, r.text
    with service.rt.engine.connect() as conn:
        from sqlalchemy import select

        from carewindow.storage.tables import messages

        body = conn.execute(select(messages.c.content).where(messages.c.id == r.json()["id"])).scalar_one()
    assert body["recipient"] == user_id  # the Graph body carewindow will send, exactly
    assert "to" not in body


async def test_a_contact_known_by_number_is_found_by_its_user_id(service: Service) -> None:
    name = "messages__bsuid"
    service.clock.now = service.clock.now.fromtimestamp(fixture_time(name) + 60, service.clock.now.tzinfo)
    await post_fixture(service, name)
    w = await window(service, "ES.13491208655302741918")
    assert w["wa_id"] == "34600111222"
    assert w["state"] == "open"


async def test_a_location_without_type_is_stored_as_a_location(service: Service) -> None:
    await post_fixture(service, "messages__location_untyped")
    (m,) = await thread(service, "34600111222")
    assert m["type"] == "location"


async def test_the_sandbox_plays_a_username_customer_end_to_end(service: Service) -> None:
    """The 2026 shape without Meta: a webhook with only a user id, a send through ``recipient``,
    statuses back, and 131062 for a message type that does not take a user id."""
    r = await service.http.post(
        "/sandbox/customers/34600888999/messages", json={"text": "hola", "username_only": True}
    )
    assert r.json()["callback_status"] == 200, r.text
    sandbox = service.rt.sandbox
    (hidden,) = sandbox.username_only
    user_id = user_id_for(hidden)
    assert sandbox.wa_id_for_user(user_id) == hidden
    number = {"phone_number_id": service.rt.phone_number_id}
    r = await service.http.get(f"/v1/contacts/{user_id}/window", headers=service.auth(), params=number)
    assert r.json()["state"] == "open" and r.json()["wa_id"] == user_id
    r = await service.http.post(
        "/v1/messages", headers=service.auth(), json={"to": user_id, "type": "text", "text": {"body": "hola"}}
    )
    assert r.status_code == 202, r.text
    text_id = r.json()["id"]
    r = await service.http.post(
        "/v1/templates",
        headers=service.auth(),
        json={"name": "login_code", "language": "es", "category": "authentication", "body": "Código {{1}}"},
    )
    assert r.status_code == 201, r.text
    await service.drain()
    r = await service.http.put(
        f"/v1/contacts/{user_id}/consent", headers=service.auth(), json={"status": "opted_in", "source": "t"}
    )
    assert r.status_code == 200
    r = await service.http.post(
        "/v1/messages",
        headers=service.auth(),
        json={
            "to": user_id,
            "type": "template",
            "template": {"name": "login_code", "language": "es", "parameters": ["123"]},
        },
    )
    assert r.status_code == 202, r.text
    auth_id = r.json()["id"]
    await service.drain()
    text = (await service.http.get(f"/v1/messages/{text_id}", headers=service.auth())).json()
    assert text["status"] == "read", text
    auth = (await service.http.get(f"/v1/messages/{auth_id}", headers=service.auth())).json()
    assert auth["status"] == "failed" and auth["error"]["code"] == "131062", auth
    (sent,) = sandbox.sent
    assert sent.body["recipient"] == user_id and "to" not in sent.body
