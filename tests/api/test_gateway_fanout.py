"""Webhook fan-out (``events: ["whatsapp.webhook"]``): Meta's recorded webhooks, as stored for delivery.

The bodies are recorded Meta payloads (tests/fixtures/meta/, sources in its index). The delivery to a
real receiver, signed and verified by an unmodified pywa, is in test_gateway_pywa.py.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from service_support import Service

from carewindow.actions import fanout
from carewindow.actions.subscriptions import (
    DeliveryAnswer,
    do_claim_deliveries,
    do_settle_deliveries,
)
from carewindow.storage import subscriptions as subscription_store
from carewindow.wire import signature

pytestmark = pytest.mark.anyio
META = Path(__file__).resolve().parents[1] / "fixtures" / "meta"
NUMBER = "106540352242922"  # the recorded payloads' phone_number_id
SECRET = "fan-out-secret-0123456789"


def recorded(name: str) -> bytes:
    return (META / f"{name}.json").read_bytes()


async def post_signed(svc: Service, body: bytes) -> None:
    headers = {signature.HEADER: signature.sign(body, svc.rt.app_secret), "Content-Type": "application/json"}
    r = await svc.http.post("/webhooks/whatsapp", content=body, headers=headers)
    assert r.status_code == 200, r.text


async def subscribe(svc: Service, **extra: Any) -> str:
    r = await svc.http.post(
        "/v1/subscriptions",
        headers=svc.auth("integration"),
        json={"url": "http://127.0.0.1:9/hook", "events": ["whatsapp.webhook"], "secret": SECRET, **extra},
    )
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def deliveries(svc: Service, public_id: str) -> list[Any]:
    with svc.rt.engine.connect() as conn:
        sub = subscription_store.get(conn, public_id)
        assert sub is not None
        return list(reversed(subscription_store.log(conn, sub.id, limit=100)))


async def test_every_webhook_body_is_queued_byte_for_byte_for_seven_days(service: Service) -> None:
    sub = await subscribe(service)
    bodies = [
        recorded(n) for n in ("messages__text", "statuses__sent", "message_template_status_update__approved")
    ]
    for body in bodies:
        await post_signed(service, body)
    rows = deliveries(service, sub)
    assert [bytes(r.body) for r in rows] == bodies  # Meta's bytes, not a re-serialisation
    assert {r.event_type for r in rows} == {"whatsapp.webhook"}
    assert all(r.give_up_at - r.created_at == timedelta(days=7) for r in rows)
    assert [r.order_key for r in rows] == ["34600111222", "34600111222", None]


async def test_field_and_number_filters(service: Service) -> None:
    only_messages = await subscribe(service, fields=["messages"])
    other_number = await subscribe(service, phone_number_ids=["999"])
    everything = await subscribe(service)
    await post_signed(service, recorded("messages__text"))
    await post_signed(service, recorded("message_template_status_update__approved"))
    assert len(deliveries(service, only_messages)) == 1
    assert len(deliveries(service, other_number)) == 1  # only the template status: it names no number
    assert len(deliveries(service, everything)) == 2


async def test_fields_need_the_fanout_event(service: Service) -> None:
    r = await service.http.post(
        "/v1/subscriptions",
        headers=service.auth("integration"),
        json={
            "url": "http://127.0.0.1:9/hook",
            "events": ["message.received"],
            "secret": SECRET,
            "fields": ["x"],
        },
    )
    assert r.status_code == 422


async def test_a_failing_handshake_refuses_the_subscription(service: Service) -> None:
    r = await service.http.post(
        "/v1/subscriptions",
        headers=service.auth("integration"),
        json={
            "url": "http://127.0.0.1:9/hook",
            "events": ["whatsapp.webhook"],
            "secret": SECRET,
            "verify": True,
        },
    )
    assert r.status_code == 422 and r.json()["error"]["code"] == "verification_failed"


def _claim(svc: Service) -> list[Any]:
    now = svc.clock.now
    return list(do_claim_deliveries(svc.rt.engine, now=now, lease=timedelta(seconds=60), limit=100))


async def test_one_contacts_webhooks_go_in_order_and_4xx_pauses(service: Service) -> None:
    sub = await subscribe(service)
    for name in ("messages__text", "statuses__sent", "statuses__delivered"):
        await post_signed(service, recorded(name))
    engine, now = service.rt.engine, service.clock.now
    first = _claim(service)
    assert [bytes(d.body) for d in first] == [recorded("messages__text")]  # the later two wait for it
    # The receiver refuses: the delivery is due again later, and the next ones still wait behind it.
    do_settle_deliveries(
        engine, [(first[0], DeliveryAnswer(ok=False, status_code=400, error="bad"))], now=now
    )
    assert _claim(service) == []
    paused: list[str] = []
    for _ in range(fanout.PAUSE_AFTER - 1):
        service.clock.advance(hours=1)
        again = _claim(service)
        assert [d.id for d in again] == [first[0].id]
        paused += do_settle_deliveries(
            engine,
            [(again[0], DeliveryAnswer(ok=False, status_code=404, error="gone"))],
            now=service.clock.now,
        )
    assert paused == [sub]
    service.clock.advance(hours=1)
    assert _claim(service) == []  # paused: nothing goes out
    listed = await service.http.get("/v1/subscriptions", headers=service.auth("integration"))
    assert listed.json()[0]["paused_at"] is not None

    resumed = await service.http.post(f"/v1/subscriptions/{sub}/resume", headers=service.auth("integration"))
    assert resumed.status_code == 200 and resumed.json()["paused_at"] is None
    again = _claim(service)
    assert [d.id for d in again] == [first[0].id]
    do_settle_deliveries(engine, [(again[0], DeliveryAnswer(ok=True, status_code=200, error=None))], now=now)
    rest = _claim(service)
    assert [bytes(d.body) for d in rest] == [recorded("statuses__sent")]
