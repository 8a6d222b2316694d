"""Erasure, the consent export and retention, on SQLite and PostgreSQL (issue 19)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import orjson
import pytest
from service_support import Service
from sqlalchemy import func, insert, select, update

from carewindow.actions.retention import Retention
from carewindow.storage.tables import (
    contacts,
    messages,
    orphan_statuses,
    webhook_deliveries,
    webhook_raw,
)

pytestmark = pytest.mark.anyio
WA = "34600999888"
OTHER = "34600777666"
WORDS = "Hola, soy Ana Martínez y vivo en la calle Mayor 5"


async def customer(svc: Service, wa_id: str, text: str, name: str | None = "Ana Martínez") -> None:
    body: dict[str, Any] = {"text": text}
    if name:
        body["profile_name"] = name
    r = await svc.http.post(f"/sandbox/customers/{wa_id}/messages", json=body)
    assert r.json()["callback_status"] == 200, r.text


async def setup_history(svc: Service) -> str:
    """A customer who wrote, got a reply and a template (a charge), with an outgoing webhook each."""
    r = await svc.http.post(
        "/v1/subscriptions",
        headers=svc.auth(),
        json={"url": "http://127.0.0.1:9/hook", "events": ["message.received"], "secret": "s" * 16},
    )
    assert r.status_code == 201, r.text
    await customer(svc, WA, WORDS)
    await customer(svc, OTHER, "otro cliente", name="Luis")
    r = await svc.http.put(
        f"/v1/contacts/{WA}/consent",
        headers=svc.auth(),
        json={"status": "opted_in", "source": "form", "proof": "Ana M."},
    )
    assert r.status_code == 200
    r = await svc.http.post(
        "/v1/messages",
        headers=svc.auth("agent"),
        json={"to": WA, "type": "text", "text": {"body": "Hola Ana, ¿en qué te ayudo?"}},
    )
    assert r.status_code == 202, r.text
    await svc.drain()
    return str(r.json()["id"])


def count_bodies_naming(svc: Service, table: Any, needle: str) -> int:
    with svc.rt.engine.connect() as conn:
        return sum(needle.encode() in bytes(b) for (b,) in conn.execute(select(table.c.body)))


async def test_erasure(service: Service) -> None:
    svc = service
    reply_id = await setup_history(svc)
    assert count_bodies_naming(svc, webhook_raw, WA) > 0
    assert count_bodies_naming(svc, webhook_deliveries, WA) > 0

    denied = await svc.http.delete(f"/v1/contacts/{WA}", headers=svc.auth("agent"))
    assert denied.status_code == 403, denied.text
    r = await svc.http.delete(f"/v1/contacts/{WA}", headers=svc.auth())
    assert r.status_code == 200, r.text
    assert r.json()["erased"] is True and r.json()["rows"]["messages"] == 2

    with svc.rt.engine.connect() as conn:
        [tomb] = conn.execute(select(contacts).where(contacts.c.erased_at.is_not(None))).all()
        assert tomb.wa_id == f"erased:{tomb.id}" and tomb.profile_name is None and tomb.last_preview is None
        rows = conn.execute(select(messages).where(messages.c.contact_id == tomb.id)).all()
        assert len(rows) == 2
        assert all(m.text is None and m.content is None and m.wamid is None for m in rows)
        reply = next(m for m in rows if m.id == reply_id)
        assert reply.charge_amount is not None and reply.charge_currency  # the ledger keeps its amounts
        others = conn.execute(
            select(func.count()).select_from(contacts).where(contacts.c.wa_id == OTHER)
        ).scalar()
        assert others == 1
    assert count_bodies_naming(svc, webhook_raw, WA) == 0
    assert count_bodies_naming(svc, webhook_deliveries, WA) == 0
    assert count_bodies_naming(svc, webhook_raw, OTHER) > 0  # nobody else's

    listing = await svc.http.get("/v1/conversations", headers=svc.auth())
    assert "Ana" not in listing.text and "calle Mayor" not in listing.text and WA not in listing.text
    thread = await svc.http.get(f"/v1/contacts/{WA}/messages", headers=svc.auth())
    assert thread.json()["data"] == []
    consent = (await svc.http.get(f"/v1/contacts/{WA}/consent", headers=svc.auth())).json()
    assert consent["status"] == "unknown" and consent["history"] == []
    again = await svc.http.delete(f"/v1/contacts/{WA}", headers=svc.auth())
    assert again.status_code == 404

    # A later message from the same number is a new contact history.
    await customer(svc, WA, "hola de nuevo", name=None)
    thread = (await svc.http.get(f"/v1/contacts/{WA}/messages", headers=svc.auth())).json()["data"]
    assert [m["text"] for m in thread] == ["hola de nuevo"]


async def test_consent_export(service: Service) -> None:
    svc = service
    start = svc.clock.now
    await svc.http.put(
        f"/v1/contacts/{WA}/consent", headers=svc.auth(), json={"status": "opted_in", "source": "form"}
    )
    svc.clock.advance(minutes=1)
    await customer(svc, WA, "STOP")
    svc.clock.advance(minutes=1)
    await svc.http.put(
        f"/v1/contacts/{OTHER}/consent", headers=svc.auth(), json={"status": "opted_in", "source": "api"}
    )
    await svc.http.post(f"/sandbox/customers/{OTHER}/marketing", json={"preference": "stop"})

    agent = await svc.http.get("/v1/consent/events", headers=svc.auth("agent"))
    assert agent.status_code == 403
    r = await svc.http.get("/v1/consent/events", headers=svc.auth())
    assert r.status_code == 200, r.text
    data = r.json()["data"]
    assert [(e["wa_id"], e["status"], e["source"], e["scope"]) for e in data] == [
        (WA, "opted_in", "form", "templates"),
        (WA, "opted_out", "keyword", "templates"),
        (OTHER, "opted_in", "api", "templates"),
        (OTHER, "opted_out", "user_preferences", "marketing"),
    ]
    assert all(e["applied"] is True and e["reason"] and e["at"] and e["recorded_at"] for e in data)

    only = (
        await svc.http.get("/v1/consent/events", headers=svc.auth(), params={"wa_id": "+34 600 999 888"})
    ).json()
    assert {e["wa_id"] for e in only["data"]} == {WA}
    window = {
        "since": (start + timedelta(seconds=30)).isoformat(),
        "until": (start + timedelta(seconds=90)).isoformat(),
    }
    assert [
        e["source"]
        for e in (await svc.http.get("/v1/consent/events", headers=svc.auth(), params=window)).json()["data"]
    ] == ["keyword"]
    page1 = (await svc.http.get("/v1/consent/events", headers=svc.auth(), params={"limit": 3})).json()
    assert len(page1["data"]) == 3 and page1["next_after"] == page1["data"][-1]["id"]
    page2 = (
        await svc.http.get(
            "/v1/consent/events", headers=svc.auth(), params={"limit": 3, "after": page1["next_after"]}
        )
    ).json()
    assert [e["source"] for e in page2["data"]] == ["user_preferences"] and page2["next_after"] is None
    naive = await svc.http.get(
        "/v1/consent/events", headers=svc.auth(), params={"since": "2026-01-01T00:00:00"}
    )
    assert naive.status_code == 422


async def test_retention_prunes_in_batches_and_metrics_show_it(service: Service) -> None:
    svc = service
    await setup_history(svc)
    engine = svc.rt.engine
    with engine.begin() as conn:  # an orphan status, as if it had waited 10 days
        conn.execute(insert(orphan_statuses).values(wamid="wamid.never", status="sent", payload={"at": 0}))
        conn.execute(update(orphan_statuses).values(received_at=svc.clock.now - timedelta(days=10)))
        conn.execute(update(webhook_deliveries).values(status="delivered"))
    with engine.connect() as conn:
        raw_before = conn.execute(select(func.count()).select_from(webhook_raw)).scalar_one()
        deliveries_before = conn.execute(select(func.count()).select_from(webhook_deliveries)).scalar_one()
    assert raw_before >= 3 and deliveries_before >= 2

    keeper = svc.rt.housekeeper
    keeper.retention = Retention(
        webhook_raw=timedelta(days=30),
        message_bodies=timedelta(days=90),
        orphan_statuses=timedelta(days=7),
        webhook_deliveries=timedelta(days=30),
        idempotency_keys=None,
        batch=2,
    )
    assert await keeper.prune_once() == 1  # only the orphan is past its retention today
    svc.clock.advance(days=31)
    assert await keeper.prune_once() == 2 + 2  # raw bodies and deliveries, a batch of 2 each
    while await keeper.prune_once():
        pass
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(webhook_raw)).scalar_one() == 0
        assert conn.execute(select(func.count()).select_from(webhook_deliveries)).scalar_one() == 0
        assert conn.execute(select(func.count()).select_from(orphan_statuses)).scalar_one() == 0
        texts = conn.execute(select(messages.c.text)).scalars().all()
        assert WORDS in texts  # bodies are kept 90 days
    svc.clock.advance(days=60)
    while await keeper.prune_once():
        pass
    with engine.connect() as conn:
        assert conn.execute(select(messages.c.text).where(messages.c.text.is_not(None))).all() == []
        assert conn.execute(select(func.count()).select_from(messages)).scalar_one() == 3  # rows stay
    metrics = (await svc.http.get("/metrics")).text
    assert f'carewindow_retention_pruned_total{{kind="webhook_raw"}} {raw_before}' in metrics
    assert 'carewindow_retention_pruned_total{kind="orphan_statuses"} 1' in metrics
    assert 'carewindow_retention_pruned_total{kind="message_bodies"} 3' in metrics
    assert 'carewindow_retention_pruned_total{kind="idempotency_keys"} 0' in metrics
    assert orjson.loads(orjson.dumps({"ok": True}))  # (keeps orjson used for the helpers above)


async def test_idempotency_keys_are_forgotten_after_their_retention(service: Service) -> None:
    svc = service
    await customer(svc, WA, "hola")
    body = {"to": WA, "type": "text", "text": {"body": "uno"}, "idempotency_key": "k-1"}
    first = await svc.http.post("/v1/messages", headers=svc.auth("agent"), json=body)
    assert first.status_code == 202
    assert (await svc.http.post("/v1/messages", headers=svc.auth("agent"), json=body)).json()[
        "id"
    ] == first.json()["id"]
    await svc.drain()
    keeper = svc.rt.housekeeper
    keeper.retention = Retention(
        webhook_raw=None,
        message_bodies=None,
        orphan_statuses=None,
        webhook_deliveries=None,
        idempotency_keys=timedelta(hours=1),
    )
    svc.clock.advance(minutes=59)
    assert await keeper.prune_once() == 0
    svc.clock.advance(minutes=2)
    assert await keeper.prune_once() == 1
    await customer(svc, WA, "sigo aquí")
    again = await svc.http.post("/v1/messages", headers=svc.auth("agent"), json=body)
    assert again.status_code == 202 and again.json()["id"] != first.json()["id"]
