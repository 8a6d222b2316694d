"""The cost ledger over HTTP: the worked examples of docs/rules.md per pricing model, the 2026 service
allowance, rate card boundaries, mismatches, window analytics, and replaying the ledger."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from costs_support import GB, customer_writes, send_template, send_text, service_at, setup_templates
from service_support import Service

from carewindow.policy.pricing import replay
from carewindow.storage import ledger
from carewindow.storage.export import entries_of_rows

pytestmark = pytest.mark.anyio
DAY1 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
D = Decimal


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return DAY1.replace(day=DAY1.day + day - 1, hour=hour, minute=minute)


async def worked_example(svc: Service) -> list[dict[str, Any]]:
    """The A-E timeline of docs/rules.md; returns the five accepted messages."""
    await setup_templates(svc)
    svc.clock.now = at(1, 10)
    await customer_writes(svc)
    sent = []
    for when, send in (
        (at(1, 10, 5), lambda: send_text(svc)),
        (at(1, 12), lambda: send_template(svc, "order_update")),
        (at(1, 12, 30), lambda: send_template(svc, "big_sale")),
        (at(2, 11), lambda: send_template(svc, "order_update")),
        (at(2, 11, 30), lambda: send_template(svc, "order_update")),
    ):
        svc.clock.now = when
        sent.append(await send())
        await svc.drain()
    return sent


def ledger_charges(svc: Service) -> tuple[list[Any], list[Any]]:
    """(recorded, replayed) charges of every priced message, in time order."""
    with svc.rt.engine.connect() as conn:
        pairs = list(entries_of_rows(ledger.message_log(conn, since=None, until=None, phone_number_ids=None)))
    recorded = [c for _, c in pairs if c is not None]
    replayed = list(replay((e for e, _ in pairs), settings=svc.rt.policy))
    return recorded, replayed


@pytest.mark.parametrize(
    ("model", "amounts", "total"),
    [
        ("seed", ["0", "0", "0", "0.0200", "0.0200"], "0.040000"),
        ("meta_pmp", ["0", "0", "0.0500", "0.0200", "0.0200"], "0.090000"),
        ("meta_cbp", ["0", "0", "0.0500", "0.0200", "0"], "0.070000"),
    ],
)
async def test_worked_example_through_the_ledger(
    db_url: str, model: str, amounts: list[str], total: str
) -> None:
    async with service_at(db_url, DAY1, pricing=model, reengagement_limit=0) as svc:
        sent = await worked_example(svc)
        assert [D(str(m["charge"]["amount"])) for m in sent] == [D(a) for a in amounts]
        assert {m["charge"]["pricing_model"] for m in sent} == {model}
        r = await svc.http.get("/v1/costs", headers=svc.auth(), params={"group_by": "category"})
        assert r.status_code == 200, r.text
        costs = r.json()
        assert costs["total"]["amount"] in (total, str(D(total)))
        assert costs["total"]["messages"] == 5
        assert costs["total"]["billable"] == sum(1 for a in amounts if D(a))
        # Saved: every free message priced as a utility template of GB ("*" utility 0.0200).
        free = sum(1 for a in amounts if not D(a))
        assert costs["saved"]["free_messages"] == free
        assert D(costs["saved"]["amount"]) == D("0.0200") * free
        assert costs["saved"]["currency"] == "USD"
        by_day = await svc.http.get("/v1/costs", headers=svc.auth(), params={"group_by": "day"})
        assert [g["key"] for g in by_day.json()["groups"]] == ["2026-03-02", "2026-03-03"]
        # Replaying the log under the model that produced the ledger gives the ledger back.
        recorded, replayed = ledger_charges(svc)
        assert replayed == recorded


async def test_auto_prices_each_message_by_its_era(db_url: str) -> None:
    start = datetime(2025, 6, 30, 9, 0, tzinfo=UTC)
    async with service_at(db_url, start, pricing="auto", reengagement_limit=0) as svc:
        await setup_templates(svc)
        svc.clock.now = start.replace(hour=12)
        cbp = await send_template(svc, "order_update")  # 30 June 2025: conversation-based
        svc.clock.now = start.replace(hour=13)
        inside = await send_template(svc, "order_update")  # inside that utility conversation
        svc.clock.now = datetime(2025, 7, 1, 0, 0, tzinfo=UTC)
        pmp = await send_template(svc, "order_update")  # 1 July 2025: per message
        assert cbp["charge"]["pricing_model"] == "meta_cbp" and D(cbp["charge"]["amount"]) == D("0.02")
        assert D(inside["charge"]["amount"]) == 0
        assert pmp["charge"]["pricing_model"] == "meta_pmp" and D(pmp["charge"]["amount"]) == D("0.02")
        recorded, replayed = ledger_charges(svc)
        assert replayed == recorded


async def test_2026_service_allowance_boundary(db_url: str) -> None:
    start = datetime(2026, 10, 30, 9, 0, tzinfo=UTC)
    async with service_at(db_url, start, pricing="auto", service_free_allowance=3) as svc:
        await customer_writes(svc)
        charges = []
        for minute in range(1, 5):
            svc.clock.now = start.replace(minute=minute)
            charges.append((await send_text(svc))["charge"])
        assert [c["pricing_model"] for c in charges] == ["meta_pmp_2026"] * 4
        assert [c["billable"] for c in charges] == [False, False, False, True]  # 3rd free, 4th billed
        assert [c["reason"] for c in charges][2:] == ["free_allowance", "regular"]
        assert D(charges[3]["amount"]) == D("0.0200")  # the "*" service row, the utility rate
        # A new calendar month starts a new allowance.
        svc.clock.now = datetime(2026, 11, 1, 0, 0, tzinfo=UTC)
        await customer_writes(svc)
        assert (await send_text(svc))["charge"]["billable"] is False
        recorded, replayed = ledger_charges(svc)
        assert replayed == recorded
        # A session message refused (window closed) does not use the allowance.
        svc.clock.now = datetime(2026, 11, 3, 0, 0, tzinfo=UTC)
        r = await svc.http.post(
            "/v1/messages", headers=svc.auth(), json={"to": GB, "type": "text", "text": {"body": "late"}}
        )
        assert r.status_code == 409
        from carewindow.storage import usage

        with svc.rt.engine.connect() as conn:
            assert usage.count(conn, phone_number_id=svc.rt.phone_number_id, period="2026-11") == 1


async def test_imported_rate_card_boundary_dates(db_url: str) -> None:
    card = (
        "# test card\nmarket,category,currency,price,valid_from\n"
        "GB,utility,USD,0.0100,2026-03-01\nGB,utility,USD,0.0300,2026-03-03\n"
        "*,utility,USD,0.0500,2020-01-01\n"
    )
    async with service_at(db_url, DAY1, pricing="meta_pmp", reengagement_limit=0) as svc:
        await setup_templates(svc)
        r = await svc.http.post("/v1/rates", headers={**svc.auth(), "Content-Type": "text/csv"}, content=card)
        assert r.status_code == 200, r.text
        assert r.json()["imported"] == 3
        svc.clock.now = datetime(2026, 3, 2, 23, 59, 59, tzinfo=UTC)  # the day before valid_from
        before = await send_template(svc, "order_update")
        svc.clock.now = datetime(2026, 3, 3, 0, 0, tzinfo=UTC)  # on valid_from
        on = await send_template(svc, "order_update")
        assert D(before["charge"]["amount"]) == D("0.0100")
        assert D(on["charge"]["amount"]) == D("0.0300")
        listed = (await svc.http.get("/v1/rates", headers=svc.auth("agent"))).json()
        assert listed["source"] == "imported" and len(listed["rates"]) == 3
        bad = await svc.http.post(
            "/v1/rates", headers={**svc.auth(), "Content-Type": "text/csv"}, content="nope\n"
        )
        assert bad.status_code == 422 and bad.json()["error"]["code"] == "validation_error"
        denied = await svc.http.post(
            "/v1/rates", headers={**svc.auth("agent"), "Content-Type": "text/csv"}, content=card
        )
        assert denied.status_code == 403


async def test_actual_pricing_mismatch_is_flagged(db_url: str) -> None:
    async with service_at(db_url, DAY1, pricing="meta_pmp") as svc:
        svc.clock.now = at(1, 10)
        await customer_writes(svc)
        sent = await send_text(svc)
        await svc.drain()
        from carewindow.storage import messages as message_store

        with svc.rt.engine.connect() as conn:
            row = message_store.get_by_id(conn, sent["id"])
        body = {
            "object": "whatsapp_business_account",
            "entry": [
                {
                    "id": svc.rt.waba_id,
                    "changes": [
                        {
                            "field": "messages",
                            "value": {
                                "messaging_product": "whatsapp",
                                "metadata": {
                                    "display_phone_number": "15550000001",
                                    "phone_number_id": svc.rt.phone_number_id,
                                },
                                "statuses": [
                                    {
                                        "id": row.wamid,
                                        "status": "delivered",
                                        "timestamp": str(int(svc.clock.now.timestamp()) + 5),
                                        "recipient_id": GB,
                                        "pricing": {
                                            "billable": False,
                                            "pricing_model": "PMP",
                                            "type": "free_customer_service",
                                            "category": "utility",
                                        },
                                    }
                                ],
                            },
                        }
                    ],
                }
            ],
        }
        import orjson

        from carewindow.wire import signature

        raw = orjson.dumps(body)
        r = await svc.http.post(
            "/webhooks/whatsapp",
            content=raw,
            headers={
                "Content-Type": "application/json",
                "X-Hub-Signature-256": signature.sign(raw, svc.rt.app_secret),
            },
        )
        assert r.status_code == 200, r.text
        got = (await svc.http.get(f"/v1/messages/{sent['id']}", headers=svc.auth())).json()
        assert got["actual_charge"]["category"] == "utility"
        assert got["actual_charge"]["mismatch"] is True  # same billable, other category
        costs = (await svc.http.get("/v1/costs", headers=svc.auth())).json()
        assert costs["total"]["mismatches"] == 1


async def test_window_analytics(db_url: str) -> None:
    async with service_at(db_url, DAY1, pricing="meta_pmp", reengagement_limit=0) as svc:
        await setup_templates(svc)
        svc.clock.now = at(1, 10)
        await customer_writes(svc)
        svc.clock.now = at(1, 10, 10)
        await send_text(svc)  # answered in 10 minutes
        await svc.drain()
        svc.clock.now = at(1, 11)
        await customer_writes(svc, text="one more thing")  # never answered in the window
        svc.clock.now = at(2, 12)
        late = await send_template(svc, "order_update")  # the late reply: a billed template
        await svc.drain()
        r = await svc.http.get("/v1/analytics/windows", headers=svc.auth("agent"))
        assert r.status_code == 200, r.text
        a = r.json()
        assert a["customer_messages"] == 2
        assert a["answered_in_window"] == 1 and a["answered_late"] == 1
        assert a["answered_in_window_share"] == 0.5
        assert a["windows_expired_unanswered"] == 1
        assert a["median_first_reply_seconds"] == (600 + 25 * 3600) / 2
        assert a["late_reply_templates"] == 1
        assert D(a["late_reply_template_spend"]["USD"]) == D(late["charge"]["amount"]) == D("0.02")
        naive = await svc.http.get(
            "/v1/analytics/windows", headers=svc.auth(), params={"since": "2026-03-01T00:00:00"}
        )
        assert naive.status_code == 422
