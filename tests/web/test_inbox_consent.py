"""The inbox shows a superseded opt-out and a marketing stop (issue 19), SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from service_support import API_KEYS, Service
from test_inbox_http import CUSTOMER, conversation_url, customer_says, sign_in

pytestmark = pytest.mark.anyio


async def test_a_superseded_opt_out_and_a_marketing_stop_are_shown(service: Service) -> None:
    svc = service
    await customer_says(svc, "hola")
    r = await svc.http.put(
        f"/v1/contacts/{CUSTOMER}/consent",
        headers={"Authorization": f"Bearer {API_KEYS['admin']}"},
        json={"status": "opted_in", "source": "web_form"},
    )
    assert r.status_code == 200
    assert (await sign_in(svc)).status_code == 303
    page = (await svc.http.get(conversation_url(svc))).text
    assert "superseded-opt-out" not in page and "marketing stopped" not in page

    await customer_says(svc, "STOP", timestamp=svc.clock.now.timestamp() - 3600)  # an hour old, late
    await svc.http.post(f"/sandbox/customers/{CUSTOMER}/marketing", json={"preference": "stop"})
    page = (await svc.http.get(conversation_url(svc))).text
    assert "superseded-opt-out" in page and "did not apply: a later opt-in won" in page
    assert "marketing stopped" in page
