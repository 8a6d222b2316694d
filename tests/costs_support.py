"""The service in process at a chosen time with chosen settings: the cost and analytics tests' helper."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import httpx
from service_support import Clock, Service, make_settings, manual_housekeeper, manual_worker

from carewindow.api.app import create_app

GB = "447700900123"  # a market the example card prices with its "*" rows (the worked-example rates)


@asynccontextmanager
async def service_at(db_url: str, start: datetime, **overrides: Any) -> AsyncIterator[Service]:
    """The service in process with the clock at ``start`` and settings ``overrides``."""
    clock = Clock(start)
    app = create_app(make_settings(db_url, **overrides), clock=clock, loopback=True, run_worker=False)
    async with app.router.lifespan_context(app):
        app.state.runtime.worker = manual_worker(app)
        app.state.runtime.housekeeper = manual_housekeeper(app)
        transport = httpx.ASGITransport(app=app)
        try:
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
                yield Service(app=app, http=http, clock=clock)
        finally:
            await app.state.runtime.housekeeper.aclose()


async def setup_templates(svc: Service, wa_id: str = GB) -> None:
    for name, category in (("order_update", "utility"), ("big_sale", "marketing")):
        r = await svc.http.post(
            "/v1/templates",
            headers=svc.auth(),
            json={"name": name, "language": "en", "category": category, "body": f"{name} {{{{1}}}}"},
        )
        assert r.status_code == 201, r.text
    r = await svc.http.put(
        f"/v1/contacts/{wa_id}/consent",
        headers=svc.auth(),
        json={"status": "opted_in", "source": "web_form", "proof": "checkbox"},
    )
    assert r.status_code == 200, r.text


async def customer_writes(svc: Service, wa_id: str = GB, text: str = "hello") -> None:
    r = await svc.http.post(
        f"/sandbox/customers/{wa_id}/messages",
        json={"text": text, "timestamp": int(svc.clock.now.timestamp())},
    )
    assert r.status_code == 200 and r.json()["callback_status"] == 200, r.text


async def send_text(svc: Service, wa_id: str = GB, body: str = "on it") -> dict[str, Any]:
    r = await svc.http.post(
        "/v1/messages", headers=svc.auth(), json={"to": wa_id, "type": "text", "text": {"body": body}}
    )
    assert r.status_code == 202, r.text
    return r.json()  # type: ignore[no-any-return]


async def send_template(svc: Service, name: str, wa_id: str = GB) -> dict[str, Any]:
    r = await svc.http.post(
        "/v1/messages",
        headers=svc.auth(),
        json={
            "to": wa_id,
            "type": "template",
            "template": {"name": name, "language": "en", "parameters": ["x"]},
        },
    )
    assert r.status_code == 202, r.text
    return r.json()  # type: ignore[no-any-return]
