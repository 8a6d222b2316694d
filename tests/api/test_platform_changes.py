"""Issue 23, the 2026 platform: coexistence echoes and template category / quality updates, driven by
recorded payloads (tests/fixtures/meta/README.md), on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from service_support import Service

from carewindow.wire import signature

pytestmark = pytest.mark.anyio
FIXTURES = Path(__file__).parents[1] / "fixtures" / "meta"
NUMBER = "106540352242922"
WA = "34600111222"
Q = {"phone_number_id": NUMBER}


async def post_fixture(svc: Service, name: str) -> None:
    body = (FIXTURES / f"{name}.json").read_bytes()
    headers = {signature.HEADER: signature.sign(body, svc.rt.app_secret), "Content-Type": "application/json"}
    r = await svc.http.post("/webhooks/whatsapp", content=body, headers=headers)
    assert r.status_code == 200, r.text


async def thread(svc: Service) -> list[dict[str, Any]]:
    r = await svc.http.get(f"/v1/contacts/{WA}/messages", headers=svc.auth(), params=Q)
    assert r.status_code == 200, r.text
    return list(r.json()["data"])


async def test_an_app_echo_is_an_outbound_free_message_that_leaves_the_window_alone(service: Service) -> None:
    await post_fixture(service, "smb_message_echoes__text")
    await post_fixture(service, "smb_message_echoes__text")  # a replay changes nothing
    (m,) = await thread(service)
    assert m["direction"] == "out"
    assert m["text"] == "Te lo mando hoy por la tarde"
    assert m["origin"] == "app"
    assert "charge" not in m  # app-sent messages cost nothing: no charge is recorded
    w = (await service.http.get(f"/v1/contacts/{WA}/window", headers=service.auth(), params=Q)).json()
    assert w["state"] == "closed" and w["last_inbound_at"] is None
    # The customer writes: the window opens from that message, not from the echo.
    await post_fixture(service, "messages__text")
    w = (await service.http.get(f"/v1/contacts/{WA}/window", headers=service.auth(), params=Q)).json()
    assert w["last_inbound_at"] is not None


async def test_edits_and_revocations_update_the_echo(service: Service) -> None:
    await post_fixture(service, "smb_message_echoes__text")
    await post_fixture(service, "smb_message_echoes__edit")
    (m,) = await thread(service)
    assert m["text"] == "Te lo mando mañana por la mañana"
    await post_fixture(service, "smb_message_echoes__revoke")
    (m,) = await thread(service)
    assert m["status"] == "deleted"


async def test_an_edit_of_an_unknown_message_changes_nothing(service: Service) -> None:
    await post_fixture(service, "smb_message_echoes__edit")
    assert await thread(service) == []


async def _catalog(svc: Service) -> None:
    r = await svc.http.post(
        "/v1/templates",
        headers=svc.auth(),
        json={"name": "ticket_update", "language": "es", "category": "utility", "body": "Caso {{1}}."},
    )
    assert r.status_code == 201, r.text
    await svc.drain()


async def template(svc: Service) -> dict[str, Any]:
    r = await svc.http.get("/v1/templates/ticket_update/es", headers=svc.auth())
    assert r.status_code == 200, r.text
    return dict(r.json())


async def test_category_updates_change_the_catalog_and_alert_for_the_ticket_template(
    service: Service,
) -> None:
    await _catalog(service)
    seen: list[Any] = []
    async with service.rt.bus.subscribe() as q:
        await post_fixture(service, "template_category_update__impending")
        t = await template(service)
        assert t["category"] == "utility"  # nothing changes before the completed update
        assert t["impending_category"] == "MARKETING"
        await post_fixture(service, "template_category_update__completed")
        await post_fixture(service, "message_template_quality_update__red")
        while not q.empty():
            seen.append(q.get_nowait())
    t = await template(service)
    assert t["category"] == "marketing" and t["previous_category"] == "UTILITY"
    assert t["quality"] == "RED"
    assert t["alert"] is not None and "marketing" in t["alert"].lower()
    changes = [e for e in seen if e.type.startswith("template.")]
    assert [e.type for e in changes] == [
        "template.category_changed",
        "template.category_changed",
        "template.quality_changed",
    ]
    assert all(e.data["relied_on"] and e.data["alert"] for e in changes)


async def test_pricing_uses_the_category_of_the_completed_update(service: Service) -> None:
    await _catalog(service)
    await post_fixture(service, "template_category_update__completed")
    r = await service.http.put(
        f"/v1/contacts/{WA}/consent", headers=service.auth(), json={"status": "opted_in", "source": "t"}
    )
    assert r.status_code == 200
    r = await service.http.post(
        "/v1/messages",
        headers=service.auth(),
        json={
            "to": WA,
            "type": "template",
            "template": {"name": "ticket_update", "language": "es", "parameters": ["1"]},
        },
    )
    assert r.status_code == 202, r.text
    assert r.json()["charge"]["category"] == "marketing"


async def test_the_sandbox_emits_echoes_and_template_changes(service: Service) -> None:
    """Everything above without Meta: the sandbox's control endpoints send the 2026 shapes."""
    wa = "34600121212"
    own = {"phone_number_id": service.rt.phone_number_id}
    r = await service.http.post(f"/sandbox/business/{wa}/messages", json={"text": "Desde la app"})
    assert r.json()["callback_status"] == 200, r.text
    wamid = r.json()["wamid"]
    r = await service.http.post(f"/sandbox/business/{wa}/messages", json={"text": "Editado", "edit": wamid})
    assert r.json()["callback_status"] == 200, r.text
    data = (await service.http.get(f"/v1/contacts/{wa}/messages", headers=service.auth(), params=own)).json()
    (m,) = data["data"]
    assert (m["origin"], m["text"], m["direction"]) == ("app", "Editado", "out")
    r = await service.http.post(f"/sandbox/business/{wa}/messages", json={"revoke": wamid})
    data = (await service.http.get(f"/v1/contacts/{wa}/messages", headers=service.auth(), params=own)).json()
    assert data["data"][0]["status"] == "deleted"
    w = (await service.http.get(f"/v1/contacts/{wa}/window", headers=service.auth(), params=own)).json()
    assert w["state"] == "closed"

    await _catalog(service)
    r = await service.http.post(
        "/sandbox/templates/ticket_update/es/category", json={"category": "MARKETING", "impending": True}
    )
    assert r.json()["callback_status"] == 200, r.text
    assert (await template(service))["impending_category"] == "MARKETING"
    r = await service.http.post(
        "/sandbox/templates/ticket_update/es/category", json={"category": "MARKETING"}
    )
    assert r.json()["category"] == "MARKETING"
    r = await service.http.post("/sandbox/templates/ticket_update/es/quality", json={"quality": "YELLOW"})
    assert r.json()["callback_status"] == 200, r.text
    t = await template(service)
    assert (t["category"], t["quality"]) == ("marketing", "YELLOW")
