"""The inbox's Costs page over HTTP (server-side SVG charts, window analytics) and the "billed
differently" marker on a message Meta priced otherwise."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import orjson
import pytest
from costs_support import GB, customer_writes, send_template, send_text, service_at, setup_templates
from service_support import API_KEYS, Service

from carewindow.storage import messages as message_store
from carewindow.wire import signature

pytestmark = pytest.mark.anyio
START = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


async def sign_in(svc: Service) -> None:
    r = await svc.http.get("/inbox/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', r.text)
    assert token
    r = await svc.http.post("/inbox/login", data={"api_key": API_KEYS["agent"], "csrf_token": token.group(1)})
    assert r.status_code == 303


async def status_with_pricing(svc: Service, message_id: str, pricing: dict[str, object]) -> None:
    with svc.rt.engine.connect() as conn:
        row = message_store.get_by_id(conn, message_id)
    assert row is not None and row.wamid
    status = {
        "id": row.wamid,
        "status": "delivered",
        "timestamp": str(int(svc.clock.now.timestamp()) + 3),
        "recipient_id": GB,
        "pricing": pricing,
    }
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550000001", "phone_number_id": svc.rt.phone_number_id},
        "statuses": [status],
    }
    body = orjson.dumps(
        {
            "object": "whatsapp_business_account",
            "entry": [{"id": svc.rt.waba_id, "changes": [{"field": "messages", "value": value}]}],
        }
    )
    r = await svc.http.post(
        "/webhooks/whatsapp",
        content=body,
        headers={
            "Content-Type": "application/json",
            "X-Hub-Signature-256": signature.sign(body, svc.rt.app_secret),
        },
    )
    assert r.status_code == 200, r.text


async def test_costs_page_draws_spend_and_free_share(db_url: str) -> None:
    async with service_at(db_url, START, pricing="meta_pmp") as svc:
        assert (await svc.http.get("/inbox/costs")).status_code == 303  # sign in first
        await setup_templates(svc)
        await customer_writes(svc)
        svc.clock.advance(minutes=3)
        reply = await send_text(svc)
        svc.clock.advance(minutes=1)
        await send_template(svc, "big_sale")  # marketing: billed even inside the window
        await svc.drain()
        await sign_in(svc)
        home = await svc.http.get("/inbox")
        assert 'href="/inbox/costs"' in home.text
        r = await svc.http.get("/inbox/costs", params={"days": 7})
        assert r.status_code == 200, r.text
        page = r.text
        assert '<svg id="spend-chart"' in page and '<svg id="free-chart"' in page
        bars = re.findall(r'<rect class="bar" data-category="([a-z_]+)" data-day="([0-9-]+)"', page)
        assert bars == [("marketing", "2026-03-02")]
        assert "2026-03-02 · marketing: 0.050000 USD" in page
        assert re.search(r'<rect class="free" data-day="2026-03-02"', page)
        assert "1 of 2 free (50%)" in page
        assert 'id="answered-share">100%' in page
        assert "<script" not in page.split("</head>", 1)[1]  # the charts need no script
        # Meta says the free reply was billed: the bubble carries the marker, with a title.
        await status_with_pricing(
            svc,
            reply["id"],
            {"billable": True, "pricing_model": "PMP", "type": "regular", "category": "service"},
        )
        thread = await svc.http.get(f"/inbox/c/{svc.rt.phone_number_id}/{GB}")
        assert (
            'class="charge-mismatch" title="Meta billed this differently: billed · service (PMP)'
            in thread.text
        )
        assert thread.text.count(">billed differently</span>") == 1


async def test_costs_chart_never_adds_amounts_across_currencies(db_url: str) -> None:
    """A rate card billing utility in USD and marketing in EUR: one chart per currency, each bar the
    full height of its own chart, never one EUR + USD stack."""
    card = (
        "market,category,currency,price,valid_from\n"
        "GB,utility,USD,0.0100,2020-01-01\nGB,marketing,EUR,0.0500,2020-01-01\n"
    )
    async with service_at(db_url, START, pricing="meta_pmp", reengagement_limit=0) as svc:
        await setup_templates(svc)
        r = await svc.http.post("/v1/rates", headers={**svc.auth(), "Content-Type": "text/csv"}, content=card)
        assert r.status_code == 200, r.text
        assert (await send_template(svc, "order_update"))["charge"]["currency"] == "USD"
        assert (await send_template(svc, "big_sale"))["charge"]["currency"] == "EUR"
        await svc.drain()
        await sign_in(svc)
        page = (await svc.http.get("/inbox/costs", params={"days": 7})).text
        assert '<svg id="spend-chart-eur"' in page and '<svg id="spend-chart-usd"' in page
        assert 'id="spend-chart"' not in page
        bars = re.findall(
            r'<rect class="bar" data-category="([a-z_]+)" data-day="2026-03-02" data-currency="([A-Z]+)" '
            r'x="[0-9.]+" y="[0-9.]+" width="[0-9.]+" height="([0-9.]+)"',
            page,
        )
        assert sorted(bars) == [("marketing", "EUR", "188.0"), ("utility", "USD", "188.0")]
        assert "2026-03-02 · marketing: 0.050000 EUR" in page
        assert "2026-03-02 · utility: 0.010000 USD" in page
