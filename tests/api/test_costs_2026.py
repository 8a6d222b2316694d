"""Costs in the 2026 era over HTTP, on SQLite and PostgreSQL: auto by default, eras named, the free
tier's allowance endpoint and events, no payment method, pricing.type reconciled, the what-if."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest
from costs_support import GB, customer_writes, send_template, send_text, service_at, setup_templates
from service_support import Service
from web.test_costs_page import sign_in, status_with_pricing

from carewindow.settings import Settings

pytestmark = pytest.mark.anyio
NOV = datetime(2026, 11, 10, 9, 0, tzinfo=UTC)


def test_auto_is_the_default_pricing() -> None:
    assert Settings.model_fields["pricing"].default == "auto"
    assert Settings.model_fields["payment_method_on_file"].default is True


async def _allowance(svc: Service, **params: str) -> dict[str, Any]:
    r = await svc.http.get("/v1/costs/allowance", headers=svc.auth(), params=params)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


async def test_allowance_used_left_and_forecast(db_url: str) -> None:
    async with service_at(db_url, NOV, service_free_allowance=4) as svc:
        await setup_templates(svc)
        empty = await _allowance(svc)
        assert empty["period"] == "2026-11" and empty["era"]["model"] == "meta_pmp_2026"
        assert empty["era"]["status"] == "quoted from Meta's pages, allowance contested"
        assert empty["counted"] is True and empty["allowance"] == 4
        await customer_writes(svc)
        for _ in range(3):
            await send_text(svc)
        await send_template(svc, "order_update")  # a template does not count against the free tier
        data = await _allowance(svc, phone_number_id=svc.rt.phone_number_id)
        (n,) = data["numbers"]
        assert (n["used"], n["left"], n["ran_out"]) == (3, 1, False)
        # 3 messages in 225 hours of November: the 4th at that pace goes at hour 300, 13 November 12:00.
        assert n["runs_out_at"] == "2026-11-13T12:00:00Z"
        assert (n["expected_messages"], n["expected_billable"]) == (10, 6)
        assert n["expected_cost"] == {"USD": "0.120000"}  # 6 x the "*" service rate 0.0200
        other = await _allowance(svc, phone_number_id="999")  # a number with nothing sent
        assert [(o["phone_number_id"], o["used"], o["runs_out_at"]) for o in other["numbers"]] == [
            ("999", 0, None)
        ]


async def test_allowance_events_at_80_and_100_percent(db_url: str) -> None:
    async with service_at(db_url, NOV, service_free_allowance=5) as svc:
        r = await svc.http.post(
            "/v1/subscriptions",
            headers=svc.auth("integration"),
            json={"url": "http://127.0.0.1:9/hook", "events": ["allowance.threshold"], "secret": "s" * 16},
        )
        assert r.status_code == 201, r.text
        sub = r.json()["id"]
        await customer_writes(svc)
        for _ in range(6):
            await send_text(svc)
        r = await svc.http.get(f"/v1/subscriptions/{sub}/deliveries", headers=svc.auth("integration"))
        deliveries = r.json()["data"]
        assert [d["event_type"] for d in deliveries] == ["allowance.threshold"] * 2
        bodies = await _event_bodies(svc)
        assert sorted((b["data"]["threshold"], b["data"]["used"]) for b in bodies) == [(80, 4), (100, 5)]
        assert all(
            b["data"]["allowance"] == 5 and b["data"]["period"] == "2026-11" and b["data"]["wa_id"] == GB
            for b in bodies
        )


async def _event_bodies(svc: Service) -> list[dict[str, Any]]:
    import orjson
    from sqlalchemy import select

    from carewindow.storage.tables import webhook_deliveries

    with svc.rt.engine.connect() as conn:
        rows = conn.execute(select(webhook_deliveries.c.body)).all()  # the test's one subscription
    return [orjson.loads(bytes(r.body)) for r in rows]


async def test_no_payment_method_refuses_past_the_free_tier(db_url: str) -> None:
    async with service_at(db_url, NOV, service_free_allowance=2, payment_method_on_file=False) as svc:
        await setup_templates(svc)
        await customer_writes(svc)
        assert (await send_text(svc))["charge"]["billable"] is False
        assert (await send_text(svc))["charge"]["billable"] is False
        r = await svc.http.post(
            "/v1/messages", headers=svc.auth(), json={"to": GB, "type": "text", "text": {"body": "3rd"}}
        )
        assert r.status_code == 402, r.text
        error = r.json()["error"]
        assert error["code"] == "payment_method_required"
        assert "payment method" in error["message"] and error["free_allowance"] == 2
        # Nothing stored for it, and the refused one did not count.
        assert (await _allowance(svc))["numbers"][0]["used"] == 2
        # Templates still go (Meta bills them to the payment method the business must add).
        assert (await send_template(svc, "order_update"))["charge"]["billable"] is True


async def test_costs_name_the_eras_and_reconcile_pricing_type(db_url: str) -> None:
    start = datetime(2026, 9, 30, 20, 0, tzinfo=UTC)
    async with service_at(db_url, start, service_free_allowance=1) as svc:
        await setup_templates(svc)
        await customer_writes(svc)
        before = await send_text(svc)  # meta_pmp: free in the window
        svc.clock.advance(hours=5)  # 1 October 01:00 UTC: the 2026 era
        await customer_writes(svc)
        free = await send_text(svc)  # the free tier's one message
        billed = await send_text(svc)  # past it
        await svc.drain()
        assert [m["charge"]["pricing_model"] for m in (before, free, billed)] == [
            "meta_pmp",
            *["meta_pmp_2026"] * 2,
        ]
        fcs = {
            "billable": False,
            "pricing_model": "PMP",
            "type": "free_customer_service",
            "category": "service",
        }
        await status_with_pricing(svc, before["id"], fcs)
        await status_with_pricing(svc, free["id"], fcs)
        # Meta still counts this one free: its type differs from carewindow's "regular".
        await status_with_pricing(svc, billed["id"], {**fcs, "billable": None})
        r = await svc.http.get("/v1/costs", headers=svc.auth())
        assert r.status_code == 200, r.text
        eras = {e["model"]: e for e in r.json()["eras"]}
        assert list(eras) == ["meta_pmp", "meta_pmp_2026"]
        assert eras["meta_pmp"]["by_type"] == {"free_customer_service": {"messages": 1, "mismatches": 0}}
        assert eras["meta_pmp_2026"]["mismatches"] == 1
        assert eras["meta_pmp_2026"]["by_type"] == {"free_customer_service": {"messages": 2, "mismatches": 1}}
        assert eras["meta_pmp_2026"]["status"] == "quoted from Meta's pages, allowance contested"


async def test_what_if_side_by_side_and_on_the_costs_page(db_url: str) -> None:
    async with service_at(db_url, NOV, service_free_allowance=2) as svc:
        await setup_templates(svc)
        await customer_writes(svc)
        for _ in range(3):
            await send_text(svc)  # the third is past the free tier: 0.02
        await send_template(svc, "order_update")  # utility inside the window: 0.02 since October
        await svc.drain()
        r = await svc.http.get("/v1/costs/what-if", headers=svc.auth())
        assert r.status_code == 200, r.text
        data = r.json()
        assert data["messages"] == 4 and data["ledger"]["by_currency"] == {"USD": "0.040000"}
        assert data["ledger"]["eras"] == ["meta_pmp_2026"]
        by_model = {
            m["model"]: (m["by_currency"].get("USD"), m["billable"], m["eras"]) for m in data["models"]
        }
        assert by_model == {
            "seed": ("0.000000", 0, ["seed"]),
            "meta_cbp": ("0.000000", 0, ["meta_cbp"]),
            "meta_pmp": ("0.000000", 0, ["meta_pmp"]),
            "meta_pmp_2026": ("0.040000", 2, ["meta_pmp_2026"]),
            "auto": ("0.040000", 2, ["meta_pmp_2026"]),
        }
        picked = await svc.http.get(
            "/v1/costs/what-if", headers=svc.auth(), params=[("model", "meta_pmp"), ("model", "auto")]
        )
        assert [m["model"] for m in picked.json()["models"]] == ["meta_pmp", "auto"]
        bad = await svc.http.get("/v1/costs/what-if", headers=svc.auth(), params={"model": "nope"})
        assert bad.status_code == 422 and bad.json()["error"]["code"] == "validation_error"
        await sign_in(svc)
        page = (await svc.http.get("/inbox/costs", params={"days": 30})).text
        assert '<svg id="what-if-chart"' in page
        bars = dict(re.findall(r'class="what-if" data-model="([a-z_0-9]+)" data-amount="([0-9.]+)"', page))
        assert bars == {
            "ledger": "0.040000",
            "seed": "0.000000",
            "meta_cbp": "0.000000",
            "meta_pmp": "0.000000",
            "meta_pmp_2026": "0.040000",
            "auto": "0.040000",
        }
        assert 'id="eras-used">Priced by: <strong>meta_pmp_2026</strong>' in page
        assert "<strong>3 of 2</strong> used, 0 left" in page and "used up" in page
        assert 'id="reconciliation"' in page


async def test_the_ledger_takes_metas_other_categories(db_url: str) -> None:
    """A status webhook in Meta's general_purpose_ai (or a category nobody knows yet) is stored and
    counted as billed differently, never an error."""
    import json
    from pathlib import Path

    recorded = json.loads(
        (
            Path(__file__).resolve().parents[1] / "fixtures/meta/statuses__delivered_general_purpose_ai.json"
        ).read_text()
    )
    pricing = recorded["entry"][0]["changes"][0]["value"]["statuses"][0]["pricing"]
    async with service_at(db_url, NOV) as svc:
        await customer_writes(svc)
        ai = await send_text(svc)
        agent = await send_text(svc)
        await svc.drain()
        await status_with_pricing(svc, ai["id"], pricing)
        await status_with_pricing(svc, agent["id"], {**pricing, "category": "business_agent"})
        r = await svc.http.get(f"/v1/messages/{ai['id']}", headers=svc.auth())
        assert r.status_code == 200, r.text
        assert r.json()["actual_charge"]["category"] == "general_purpose_ai"
        assert r.json()["actual_charge"]["mismatch"] is True
        costs = (await svc.http.get("/v1/costs", headers=svc.auth())).json()
        assert costs["total"]["mismatches"] == 2
        assert costs["eras"][0]["by_type"]["regular"] == {"messages": 2, "mismatches": 2}


async def test_no_payment_method_fails_a_held_message_released_past_the_free_tier(db_url: str) -> None:
    """A reply held while the window was closed is priced again when the customer writes; past the free
    tier with no payment method Meta would not deliver it, so it fails with the send planner's code
    instead of going out (and the count is given back)."""
    async with service_at(db_url, NOV, service_free_allowance=1, payment_method_on_file=False) as svc:
        await setup_templates(svc)
        await customer_writes(svc)
        assert (await send_text(svc))["charge"]["billable"] is False  # the one free message
        await svc.drain()
        svc.clock.advance(hours=25)  # the window closed
        r = await svc.http.post(
            "/v1/messages",
            headers=svc.auth(),
            json={
                "to": GB,
                "type": "text",
                "text": {"body": "late answer"},
                "on_closed": "defer",
                "fallback_template": {"name": "order_update", "language": "en", "parameters": ["x"]},
            },
        )
        assert r.status_code == 202 and r.json()["status"] == "held", r.text
        held_id = r.json()["id"]
        await svc.drain()
        await customer_writes(svc, text="yes?")
        await svc.drain()
        m = (await svc.http.get(f"/v1/messages/{held_id}", headers=svc.auth())).json()
        assert m["status"] == "failed", m
        assert "payment_method_required" in str(m)
        sent = (await svc.http.get("/sandbox/sent", params={"to": GB})).json()
        items = sent if isinstance(sent, list) else sent.get("data", sent.get("sent", []))
        assert [i["body"]["type"] for i in items] == ["text", "template"]  # the late answer never went
        assert (await _allowance(svc))["numbers"][0]["used"] == 1
