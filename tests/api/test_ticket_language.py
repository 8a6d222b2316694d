"""Issue 23, defect 5: ticket notify picks the ticket template's language from what is approved.

Driven by the recorded ``message_template_status_update`` APPROVED payload for ``ticket_update`` in
Spanish (tests/fixtures/meta/message_template_status_update__approved.json)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from service_support import Service

from carewindow.wire import signature

pytestmark = pytest.mark.anyio
FIXTURES = Path(__file__).parents[1] / "fixtures" / "meta"
WA = "34600555666"


async def create(svc: Service, language: str) -> None:
    r = await svc.http.post(
        "/v1/templates",
        headers=svc.auth(),
        json={"name": "ticket_update", "language": language, "category": "utility", "body": "Caso {{1}}."},
    )
    assert r.status_code == 201, r.text
    await svc.drain()


async def notify(svc: Service, **extra: Any) -> Any:
    return await svc.http.post(
        "/v1/tickets/T-5/notify", headers=svc.auth("agent"), json={"to": WA, "text": "Resuelto", **extra}
    )


async def knock_language(svc: Service, r: Any) -> str:
    """The language of the template that knocked; then the customer answers and the window closes
    again a day later, so the next notify knocks anew (re-engagement allows one per closed window)."""
    assert r.status_code == 202, r.text
    knock = r.json()["fallback_message_id"]
    m = (await svc.http.get(f"/v1/messages/{knock}", headers=svc.auth())).json()
    await svc.drain()
    r = await svc.http.post(f"/sandbox/customers/{WA}/messages", json={"text": "ok"})
    assert r.json()["callback_status"] == 200
    await svc.drain()
    svc.clock.advance(hours=25)
    return str(m["template"]["language"])


async def test_the_ticket_template_goes_in_the_language_it_is_approved_in(service: Service) -> None:
    await create(service, "es")
    body = (FIXTURES / "message_template_status_update__approved.json").read_bytes()
    headers = {
        signature.HEADER: signature.sign(body, service.rt.app_secret),
        "Content-Type": "application/json",
    }
    assert (await service.http.post("/webhooks/whatsapp", content=body, headers=headers)).status_code == 200
    r = await service.http.put(
        f"/v1/contacts/{WA}/consent", headers=service.auth(), json={"status": "opted_in", "source": "t"}
    )
    assert r.status_code == 200
    # Only Spanish exists, the global default is English: Spanish, without changing any setting.
    assert service.rt.settings.ticket_template_language == "en"
    assert await knock_language(service, await notify(service)) == "es"
    # English arrives too: the customer's known language (the last template they got) still wins.
    await create(service, "en")
    assert await knock_language(service, await notify(service)) == "es"
    # The request may name it.
    assert await knock_language(service, await notify(service, language="en")) == "en"
    # A language that does not exist: 404 naming those that do.
    r = await notify(service, language="fr")
    assert r.status_code == 404, r.text
    err = r.json()["error"]
    assert err["code"] == "template_not_found"
    assert "en (APPROVED)" in err["message"] and "es (APPROVED)" in err["message"]
    assert err["languages"] == {"en": "APPROVED", "es": "APPROVED"}


async def test_without_a_ticket_template_the_error_says_so(service: Service) -> None:
    r = await service.http.put(
        f"/v1/contacts/{WA}/consent", headers=service.auth(), json={"status": "opted_in", "source": "t"}
    )
    assert r.status_code == 200
    r = await notify(service)
    assert r.status_code == 404, r.text
    assert "not in the catalog" in r.json()["error"]["message"]
