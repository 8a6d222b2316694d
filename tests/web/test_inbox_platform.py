"""The inbox and issue 23: app echoes say "sent from the app", a user-id-only customer has a page,
and a template carewindow relies on shows its alert in the composer (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest
from service_support import Service
from test_inbox_http import conversation_url, customer_says, sign_in

from carewindow.providers.sandbox.simulator import user_id_for

pytestmark = pytest.mark.anyio
WA = "34600131313"


async def test_an_app_echo_is_labelled_and_an_alert_is_shown(service: Service) -> None:
    r = await service.http.post(
        "/v1/templates",
        headers=service.auth(),
        json={"name": "ticket_update", "language": "en", "category": "utility", "body": "Ticket {{1}}."},
    )
    assert r.status_code == 201, r.text
    await service.drain()
    r = await service.http.post("/sandbox/templates/ticket_update/en/quality", json={"quality": "RED"})
    assert r.json()["callback_status"] == 200
    r = await service.http.post(f"/sandbox/business/{WA}/messages", json={"text": "Hola desde el móvil"})
    assert r.json()["callback_status"] == 200
    r = await service.http.put(
        f"/v1/contacts/{WA}/consent", headers=service.auth(), json={"status": "opted_in", "source": "t"}
    )
    assert (await sign_in(service)).status_code == 303
    page = (await service.http.get(conversation_url(service, WA))).text
    assert "Hola desde el móvil" in page
    assert "sent from the app" in page
    assert "Quality RED" in page


async def test_a_username_customer_has_a_conversation_page(service: Service) -> None:
    await customer_says(service, "soy usuario", wa_id=WA, username_only=True)
    assert (await sign_in(service)).status_code == 303
    r = await service.http.get(conversation_url(service, user_id_for(WA)))
    assert r.status_code == 200, r.text
    assert "soy usuario" in r.text
