"""Webhook ingestion over HTTP: every recorded payload, replays, ordering, bad input."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import orjson
import pytest
from service_support import Service
from sqlalchemy import func, select

from carewindow.storage.tables import message_events, messages, webhook_raw
from carewindow.wire import signature

pytestmark = pytest.mark.anyio
FIXTURES = sorted((Path(__file__).parents[1] / "fixtures" / "meta").glob("*.json"))


async def post_signed(svc: Service, body: bytes) -> Any:
    headers = {signature.HEADER: signature.sign(body, svc.rt.app_secret), "Content-Type": "application/json"}
    return await svc.http.post("/webhooks/whatsapp", content=body, headers=headers)


def count(svc: Service, table: Any) -> int:
    with svc.rt.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


@pytest.mark.parametrize("fixture", FIXTURES, ids=lambda p: p.stem)
async def test_every_recorded_payload_is_stored_once(service: Service, fixture: Path) -> None:
    body = fixture.read_bytes()
    expected_ok = "value_errors" not in fixture.stem
    r = await post_signed(service, body)
    if not expected_ok:
        assert r.status_code in (200, 400)
        return
    assert r.status_code == 200, r.text
    n_messages = count(service, messages)
    if fixture.stem.startswith(("messages__", "batched__")):
        assert n_messages >= 1
    # A replay changes nothing but the raw log.
    r = await post_signed(service, body)
    assert r.status_code == 200
    assert count(service, messages) == n_messages
    assert count(service, webhook_raw) == 2


async def test_unknown_message_type_is_stored_and_listed(service: Service) -> None:
    body = (Path(__file__).parents[1] / "fixtures" / "meta" / "messages__unknown_type.json").read_bytes()
    assert (await post_signed(service, body)).status_code == 200
    data = orjson.loads(body)
    value = data["entry"][0]["changes"][0]["value"]
    wa_id = value["messages"][0]["from"]
    number = value["metadata"]["phone_number_id"]
    r = await service.http.get(
        f"/v1/contacts/{wa_id}/messages", params={"phone_number_id": number}, headers=service.auth("agent")
    )
    [msg] = r.json()["data"]
    assert msg["type"] == value["messages"][0]["type"]
    assert msg["content"] == value["messages"][0]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{not json", "JSON"),
        (b'{"object": "page", "entry": []}', "whatsapp_business_account"),
        (b'{"object": "whatsapp_business_account", "entry": {}}', "entry"),
        (b"[]", ""),
    ],
)
async def test_malformed_webhooks_get_400_with_reason(service: Service, body: bytes, reason: str) -> None:
    r = await post_signed(service, body)
    assert r.status_code == 400
    err = r.json()["error"]
    assert err["code"] == "invalid_webhook"
    assert reason in err["message"]
    assert count(service, webhook_raw) == 0


async def test_oversized_webhook_is_413(service: Service) -> None:
    body = b'{"object": "whatsapp_business_account", "entry": [], "pad": "' + b"x" * 1_100_000 + b'"}'
    r = await post_signed(service, body)
    assert r.status_code == 413
    assert r.json()["error"]["code"] == "payload_too_large"


def status_body(svc: Service, wamid: str, status: str, ts: int, **extra: Any) -> bytes:
    st: dict[str, Any] = {"id": wamid, "status": status, "timestamp": str(ts), "recipient_id": "34600111444"}
    st.update(extra)
    return orjson.dumps(
        {
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
                                "statuses": [st],
                            },
                        }
                    ],
                }
            ],
        }
    )


async def _sent_message(svc: Service) -> tuple[str, str]:
    await svc.http.post("/sandbox/customers/34600111444/messages", json={"text": "hi"})
    r = await svc.http.post(
        "/v1/messages",
        headers=svc.auth("agent"),
        json={"to": "34600111444", "type": "text", "text": {"body": "x"}},
    )
    assert r.status_code == 202
    # Send without letting the sandbox's own status webhooks in: this test plays them itself.
    svc.rt.sandbox.config = dataclasses.replace(svc.rt.sandbox.config, callback_url=None)
    await svc.rt.worker.run_once()
    r = await svc.http.get(f"/v1/messages/{r.json()['id']}", headers=svc.auth("agent"))
    return r.json()["id"], r.json()["wamid"]


async def test_statuses_never_move_backwards_and_replays_are_noops(service: Service) -> None:
    svc = service
    mid, wamid = await _sent_message(svc)
    ts = int(svc.clock.now.timestamp())
    for status, dt in (("read", 5), ("delivered", 3), ("delivered", 3), ("sent", 1)):
        assert (await post_signed(svc, status_body(svc, wamid, status, ts + dt))).status_code == 200
    r = await svc.http.get(f"/v1/messages/{mid}", headers=svc.auth("agent"))
    msg = r.json()
    assert msg["status"] == "read"
    statuses = [h["status"] for h in msg["history"]]
    assert sorted(statuses) == sorted(["queued", "sent", "delivered", "read"])


async def test_status_before_the_wamid_is_recorded_is_applied_later(service: Service) -> None:
    svc = service
    await svc.http.post("/sandbox/customers/34600111444/messages", json={"text": "hi"})
    ts = int(svc.clock.now.timestamp())
    # The provider's "delivered" beats our own commit of the wamid (an orphan status).
    orphan_wamid = "wamid.early"
    assert (await post_signed(svc, status_body(svc, orphan_wamid, "delivered", ts))).status_code == 200
    assert count(svc, message_events) == 0
    from carewindow.actions import delivery
    from carewindow.storage.engine import write_tx
    from carewindow.storage.tables import outbox

    r = await svc.http.post(
        "/v1/messages",
        headers=svc.auth("agent"),
        json={"to": "34600111444", "type": "text", "text": {"body": "x"}},
    )
    mid = r.json()["id"]
    with write_tx(svc.rt.engine) as conn:
        row = conn.execute(select(outbox)).one()
    claimed = delivery.Claimed(
        outbox_id=row.id,
        attempts=1,
        message_seq=row.message_seq,
        message_id=mid,
        wa_id="34600111444",
        phone_number_id=svc.rt.phone_number_id,
        body={},
    )
    delivery.record(
        svc.rt.engine, [delivery.SendAnswer(claimed=claimed, wamid=orphan_wamid)], now=svc.clock.now
    )
    msg = (await svc.http.get(f"/v1/messages/{mid}", headers=svc.auth("agent"))).json()
    assert msg["status"] == "delivered"
    assert [h["status"] for h in msg["history"]][-1] == "delivered"


async def test_failed_status_records_the_platform_error(service: Service) -> None:
    svc = service
    mid, wamid = await _sent_message(svc)
    ts = int(svc.clock.now.timestamp())
    err = {
        "code": 131026,
        "title": "Message undeliverable",
        "message": "Message undeliverable",
        "error_data": {"details": "Receiver is incapable of receiving this message"},
    }
    assert (
        await post_signed(svc, status_body(svc, wamid, "failed", ts + 2, errors=[err]))
    ).status_code == 200
    msg = (await svc.http.get(f"/v1/messages/{mid}", headers=svc.auth("agent"))).json()
    assert msg["status"] == "failed"
    assert msg["error"]["code"] == "131026"
    assert "incapable" in msg["error"]["message"]


async def test_opt_out_keyword_switches_consent(service: Service) -> None:
    svc = service
    await svc.http.put(
        "/v1/contacts/34600111444/consent", headers=svc.auth(), json={"status": "opted_in", "source": "form"}
    )
    await svc.http.post("/sandbox/customers/34600111444/messages", json={"text": "  Stop "})
    r = await svc.http.get("/v1/contacts/34600111444/consent", headers=svc.auth())
    assert r.json()["status"] == "opted_out"
    assert r.json()["source"] == "keyword"


async def test_verification_handshake(service: Service) -> None:
    svc = service
    svc.rt.settings.meta_verify_token = "verify-me"
    q = {"hub.mode": "subscribe", "hub.verify_token": "verify-me", "hub.challenge": "12345"}
    r = await svc.http.get("/webhooks/whatsapp", params=q)
    assert r.status_code == 200 and r.text == "12345"
    r = await svc.http.get("/webhooks/whatsapp", params={**q, "hub.verify_token": "nope"})
    assert r.status_code == 403


async def test_status_names_a_send_we_never_recorded_through_its_tracker(service: Service) -> None:
    """A worker died (or timed out) after the provider accepted the send: the message ends
    ``uncertain``; the platform's status, carrying our id in biz_opaque_callback_data, settles it."""
    svc = service
    rt = svc.rt
    mid, claimed = await _queued_and_in_flight(svc, lease_seconds=10)
    assert claimed[0].body["biz_opaque_callback_data"] == mid
    svc.clock.advance(seconds=11)
    await rt.worker.run_once()
    assert (await get_message(svc, mid))["status"] == "uncertain"
    ts = int(svc.clock.now.timestamp())
    body = status_body(svc, "wamid.accepted-but-unrecorded", "delivered", ts, biz_opaque_callback_data=mid)
    assert (await post_signed(svc, body)).status_code == 200
    msg = await get_message(svc, mid)
    assert msg["status"] == "delivered"
    assert msg["wamid"] == "wamid.accepted-but-unrecorded"
    # A tracker never takes over a message that already has its own wamid.
    other = status_body(svc, "wamid.someone-else", "read", ts + 1, biz_opaque_callback_data=mid)
    assert (await post_signed(svc, other)).status_code == 200
    assert (await get_message(svc, mid))["wamid"] == "wamid.accepted-but-unrecorded"


async def _queued_and_in_flight(svc: Service, *, lease_seconds: float) -> tuple[str, list[Any]]:
    """A text queued to an open window, claimed by a worker and stamped in flight (no answer yet)."""
    from datetime import timedelta

    from carewindow.actions import delivery

    await svc.http.post("/sandbox/customers/34600111444/messages", json={"text": "hi"})
    r = await svc.http.post(
        "/v1/messages",
        headers=svc.auth("agent"),
        json={"to": "34600111444", "type": "text", "text": {"body": "x"}},
    )
    rt = svc.rt
    claimed, _ = delivery.claim(
        rt.engine,
        worker_id="w",
        now=svc.clock.now,
        lease=timedelta(seconds=lease_seconds),
        limit=5,
        rate=80,
        burst=80,
        settings=rt.policy,
    )
    delivery.mark_in_flight(rt.engine, claimed, worker_id="w", now=svc.clock.now)
    return r.json()["id"], claimed


async def get_message(svc: Service, mid: str) -> dict[str, Any]:
    r = await svc.http.get(f"/v1/messages/{mid}", headers=svc.auth("agent"))
    return r.json()  # type: ignore[no-any-return]


async def test_statuses_that_beat_the_workers_commit_are_not_undone_by_it(service: Service) -> None:
    from carewindow.actions import delivery

    svc = service
    rt = svc.rt
    mid, claimed = await _queued_and_in_flight(svc, lease_seconds=30)
    # The provider accepted it and its "delivered" webhook arrives before the worker records the answer.
    ts = int(svc.clock.now.timestamp())
    body = status_body(svc, "wamid.fast", "delivered", ts, biz_opaque_callback_data=mid)
    assert (await post_signed(svc, body)).status_code == 200
    delivery.record(
        rt.engine, [delivery.SendAnswer(claimed=claimed[0], wamid="wamid.fast")], now=svc.clock.now
    )
    msg = await get_message(svc, mid)
    assert msg["status"] == "delivered" and msg["wamid"] == "wamid.fast"
