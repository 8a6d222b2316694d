"""Consent over HTTP (issue 19): the two lost-opt-out reproductions, the history with both times and the
reason, consent re-checked at send time, and the marketing preference (user_preferences, 131050)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from service_support import Service

from carewindow.providers.sandbox.preferences import set_marketing
from carewindow.wire import signature

pytestmark = pytest.mark.anyio
WA = "34600111222"  # the customer of the recorded user_preferences fixtures
FIXTURES = Path(__file__).parents[1] / "fixtures" / "meta"
NUMBER = "106540352242922"  # the fixtures' business number
# Meta's wording of error 131050 (../shared/spec/whatsapp-facts.md, pywa errors.py)
STOPPED_MARKETING = (
    "Unable to deliver the message. This recipient has chosen to stop receiving marketing messages on "
    "WhatsApp from your business"
)


async def post_signed(svc: Service, body: bytes) -> Any:
    headers = {signature.HEADER: signature.sign(body, svc.rt.app_secret), "Content-Type": "application/json"}
    return await svc.http.post("/webhooks/whatsapp", content=body, headers=headers)


async def put_consent(svc: Service, status: str, **extra: Any) -> Any:
    r = await svc.http.put(
        f"/v1/contacts/{WA}/consent",
        headers=svc.auth(),
        json={"status": status, "source": "web_form", **extra},
    )
    assert r.status_code == 200, r.text
    return r.json()


async def get_consent(svc: Service, number: str | None = None) -> Any:
    params = {"phone_number_id": number} if number else {}
    r = await svc.http.get(f"/v1/contacts/{WA}/consent", headers=svc.auth(), params=params)
    assert r.status_code == 200, r.text
    return r.json()


async def customer(svc: Service, text: str, ts: float | None = None) -> None:
    body: dict[str, Any] = {"text": text}
    if ts is not None:
        body["timestamp"] = ts
    r = await svc.http.post(f"/sandbox/customers/{WA}/messages", json=body)
    assert r.json()["callback_status"] == 200, r.text


async def templates(svc: Service) -> None:
    for name, category in (("ticket_update", "utility"), ("summer_sale", "marketing")):
        r = await svc.http.post(
            "/v1/templates",
            headers=svc.auth(),
            json={"name": name, "language": "en", "category": category, "body": "Hello {{1}}"},
        )
        assert r.status_code == 201, r.text


async def send_template(svc: Service, name: str) -> Any:
    return await svc.http.post(
        "/v1/messages",
        headers=svc.auth("agent"),
        json={
            "to": WA,
            "type": "template",
            "template": {"name": name, "language": "en", "parameters": ["Ana"]},
        },
    )


async def test_stop_in_the_same_second_as_the_api_opt_in_wins(service: Service) -> None:
    svc = service
    svc.clock.now = svc.clock.now.replace(microsecond=734_512)  # the API's clock: microseconds
    await put_consent(svc, "opted_in")
    await customer(svc, "STOP")  # Meta's timestamp: the same whole second
    consent = await get_consent(svc)
    assert consent["status"] == "opted_out" and consent["source"] == "keyword"
    stop = consent["history"][0]
    assert (stop["status"], stop["applied"], stop["scope"]) == ("opted_out", True, "templates")
    assert "opt-out wins" in stop["reason"]
    assert stop["at"] != stop["recorded_at"]  # both times kept


async def test_a_late_stop_a_few_seconds_before_the_opt_in_wins(service: Service) -> None:
    svc = service
    await put_consent(svc, "opted_in")
    await customer(svc, "Baja", ts=svc.clock.now.timestamp() - 4)  # delivered after, stamped before
    assert (await get_consent(svc))["status"] == "opted_out"
    # An opt-in given again within the tolerance is kept in the history but does not apply.
    after = await put_consent(svc, "opted_in")
    assert after["status"] == "opted_out"
    newest = after["history"][0]
    assert newest["status"] == "opted_in" and newest["applied"] is False
    assert "opt-out wins" in newest["reason"]


async def test_a_superseded_opt_out_is_visible(service: Service) -> None:
    svc = service
    await put_consent(svc, "opted_in")
    await customer(svc, "STOP", ts=svc.clock.now.timestamp() - 3600)  # an hour older, redelivered now
    consent = await get_consent(svc)
    assert consent["status"] == "opted_in"
    superseded = consent["superseded_opt_out"]
    assert superseded is not None and superseded["source"] == "keyword" and superseded["applied"] is False
    assert "later by more than the 5 min tolerance" in superseded["reason"]


async def test_an_opt_in_can_name_when_it_was_given(service: Service) -> None:
    svc = service
    await customer(svc, "STOP")
    svc.clock.advance(minutes=20)
    ticked = (svc.clock.now - timedelta(minutes=18)).isoformat()  # 2 min after the STOP: too close
    consent = await put_consent(svc, "opted_in", at=ticked, proof="form #812")
    assert consent["status"] == "opted_out"
    consent = await put_consent(svc, "opted_in", proof="form #813")  # 20 min later: applies
    assert consent["status"] == "opted_in" and consent["proof"] == "form #813"


async def test_a_queued_template_is_not_sent_after_a_stop(service: Service) -> None:
    svc = service
    await templates(svc)
    await put_consent(svc, "opted_in")
    r = await send_template(svc, "ticket_update")
    assert r.status_code == 202, r.text
    svc.clock.advance(minutes=10)
    await customer(svc, "STOP")  # before the worker ran
    await svc.drain()
    msg = (await svc.http.get(f"/v1/messages/{r.json()['id']}", headers=svc.auth())).json()
    assert msg["status"] == "failed"
    assert msg["error"]["code"] == "no_consent" if "error" in msg else msg["error_code"] == "no_consent"
    sent = (await svc.http.get("/sandbox/sent", params={"to": WA})).json()
    items = sent if isinstance(sent, list) else sent.get("data", sent.get("sent", []))
    assert items == []


async def test_marketing_stop_from_the_sandbox_refuses_marketing_only(service: Service) -> None:
    svc = service
    await templates(svc)
    await put_consent(svc, "opted_in")
    assert (await send_template(svc, "summer_sale")).status_code == 202
    r = await svc.http.post(f"/sandbox/customers/{WA}/marketing", json={"preference": "stop"})
    assert r.status_code == 200 and r.json()["callback_status"] == 200, r.text
    refused = await send_template(svc, "summer_sale")
    assert refused.status_code == 403, refused.text
    assert refused.json()["error"]["code"] == "marketing_opted_out"
    assert (await send_template(svc, "ticket_update")).status_code == 202  # utility unaffected
    consent = await get_consent(svc)
    assert consent["status"] == "opted_in"
    assert consent["marketing"]["status"] == "opted_out"
    assert consent["marketing"]["source"] == "user_preferences"
    assert consent["history"][0]["scope"] == "marketing"

    svc.clock.advance(hours=1)
    r = await svc.http.post(f"/sandbox/customers/{WA}/marketing", json={"preference": "resume"})
    assert r.status_code == 200
    assert (await send_template(svc, "summer_sale")).status_code == 202
    bad = await svc.http.post(f"/sandbox/customers/{WA}/marketing", json={"preference": "maybe"})
    assert bad.status_code == 422


async def test_a_queued_marketing_template_is_not_sent_after_a_marketing_stop(service: Service) -> None:
    svc = service
    await templates(svc)
    await put_consent(svc, "opted_in")
    marketing = await send_template(svc, "summer_sale")
    utility = await send_template(svc, "ticket_update")
    await svc.http.post(f"/sandbox/customers/{WA}/marketing", json={"preference": "stop"})
    await svc.drain()
    m = (await svc.http.get(f"/v1/messages/{marketing.json()['id']}", headers=svc.auth())).json()
    u = (await svc.http.get(f"/v1/messages/{utility.json()['id']}", headers=svc.auth())).json()
    assert m["status"] == "failed" and "marketing_opted_out" in orjson.dumps(m).decode()
    assert u["status"] in ("sent", "delivered", "read")


async def test_recorded_user_preferences_webhooks(service: Service) -> None:
    svc = service
    assert (
        await post_signed(svc, (FIXTURES / "user_preferences__stop.json").read_bytes())
    ).status_code == 200
    consent = await get_consent(svc, NUMBER)
    assert consent["marketing"]["status"] == "opted_out"
    assert consent["history"][0]["proof"] == "User requested to stop marketing messages"
    # The resume a day later (its own timestamp) applies; a replay of the stop does not undo it.
    assert (
        await post_signed(svc, (FIXTURES / "user_preferences__resume.json").read_bytes())
    ).status_code == 200
    assert (await get_consent(svc, NUMBER))["marketing"]["status"] == "opted_in"
    assert (
        await post_signed(svc, (FIXTURES / "user_preferences__stop.json").read_bytes())
    ).status_code == 200
    consent = await get_consent(svc, NUMBER)
    assert consent["marketing"]["status"] == "opted_in"
    assert [h["applied"] for h in consent["history"] if h["scope"] == "marketing"].count(False) == 1


async def test_a_131050_failure_records_the_marketing_stop(service: Service) -> None:
    svc = service
    body = orjson.loads((FIXTURES / "statuses__failed_131047.json").read_bytes())
    value = body["entry"][0]["changes"][0]["value"]
    status = value["statuses"][0]
    status["errors"] = [
        {
            "code": 131050,
            "title": STOPPED_MARKETING,
            "message": STOPPED_MARKETING,
            "error_data": {"details": "Unable to deliver the message."},
        }
    ]
    number, wa_id = value["metadata"]["phone_number_id"], status["recipient_id"]
    assert (await post_signed(svc, orjson.dumps(body))).status_code == 200
    r = await svc.http.get(
        f"/v1/contacts/{wa_id}/consent", headers=svc.auth(), params={"phone_number_id": number}
    )
    marketing = r.json()["marketing"]
    assert (marketing["status"], marketing["source"]) == ("opted_out", "meta_error_131050")
    assert (await post_signed(svc, orjson.dumps(body))).status_code == 200  # Meta redelivers
    r = await svc.http.get(
        f"/v1/contacts/{wa_id}/consent", headers=svc.auth(), params={"phone_number_id": number}
    )
    assert len(r.json()["history"]) == 1


async def test_the_sandbox_fails_marketing_to_a_stopped_customer_with_131050(service: Service) -> None:
    """carewindow missed the user_preferences webhook: the sandbox, as Meta, fails the marketing
    template with 131050 in a status webhook, and that failure records the stop."""
    svc = service
    await templates(svc)
    await put_consent(svc, "opted_in")
    set_marketing(svc.rt.sandbox, WA, stopped=True)  # no webhook to carewindow
    r = await send_template(svc, "summer_sale")
    assert r.status_code == 202, r.text
    await svc.drain()
    msg = (await svc.http.get(f"/v1/messages/{r.json()['id']}", headers=svc.auth())).json()
    assert msg["status"] == "failed" and "131050" in orjson.dumps(msg).decode()
    marketing = (await get_consent(svc))["marketing"]
    assert (marketing["status"], marketing["source"]) == ("opted_out", "meta_error_131050")
    refused = await send_template(svc, "summer_sale")
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "marketing_opted_out"
    assert (await send_template(svc, "ticket_update")).status_code == 202
