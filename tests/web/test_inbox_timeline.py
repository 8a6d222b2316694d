"""The conversation timeline: window events between bubbles, held messages, ticket ids, unread reset."""

from __future__ import annotations

import re

import pytest
from service_support import Service
from test_inbox_http import CUSTOMER, conversation_url, customer_says, sign_in

pytestmark = pytest.mark.anyio


def markers(page: str) -> list[str]:
    return re.findall(r'class="marker marker-(opened|closed)"', page)


async def test_window_events_and_held_messages_appear_in_the_timeline(service: Service) -> None:
    svc = service
    await svc.http.post(
        "/v1/templates",
        headers=svc.auth(),
        json={
            "name": "ticket_update",
            "language": "en",
            "category": "utility",
            "body": "Your ticket {{ticket_id}} was updated. Reply to continue.",
        },
    )
    await customer_says(svc, "first contact")
    svc.clock.advance(hours=25)
    await svc.http.put(
        f"/v1/contacts/{CUSTOMER}/consent", headers=svc.auth(), json={"status": "opted_in", "source": "form"}
    )
    r = await svc.http.post(
        "/v1/tickets/T-77/notify",
        headers=svc.auth("agent"),
        json={"to": CUSTOMER, "text": "your refund is on its way"},
    )
    assert r.status_code == 202, r.text
    await svc.drain()
    await sign_in(svc)
    page = (await svc.http.get(conversation_url(svc))).text
    assert markers(page) == ["opened", "closed"]
    assert "held until the customer replies" in page
    assert "T-77" in page
    await customer_says(svc, "tell me more")
    await svc.drain()
    page = (await svc.http.get(conversation_url(svc))).text
    assert markers(page) == ["opened", "closed", "opened"]
    assert "held until the customer replies" not in page


async def test_opening_a_conversation_clears_its_unread_count(service: Service) -> None:
    svc = service
    await customer_says(svc, "one")
    await customer_says(svc, "two")
    convs = (await svc.http.get("/v1/conversations", headers=svc.auth("agent"))).json()["data"]
    assert convs[0]["unread_count"] == 2
    await sign_in(svc)
    assert (await svc.http.get(conversation_url(svc))).status_code == 200
    convs = (await svc.http.get("/v1/conversations", headers=svc.auth("agent"))).json()["data"]
    assert convs[0]["unread_count"] == 0
