"""Window-aware delivery over HTTP: deferred messages, scheduled sends, window events, outgoing
webhooks and tickets (the window-aware delivery issue's "done when")."""

from __future__ import annotations

import asyncio
import http.server
import socketserver
import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import orjson
import pytest
from service_support import Service

from carewindow.actions import delivery
from carewindow.wire import signature
from carewindow.worker.delivery import DeliveryWorker
from carewindow.worker.housekeeping import SIGNATURE_HEADER, Housekeeper

pytestmark = pytest.mark.anyio
WA = "34600222333"
SECRET = "receiver-secret-0123456789"


async def template(svc: Service, name: str = "ticket_update", body: str | None = None) -> None:
    r = await svc.http.post(
        "/v1/templates",
        headers=svc.auth(),
        json={
            "name": name,
            "language": "en",
            "category": "utility",
            "body": body or "Your ticket {{ticket_id}} was updated. Reply to this message to continue.",
        },
    )
    assert r.status_code == 201, r.text


async def consent(svc: Service, status: str = "opted_in") -> None:
    r = await svc.http.put(
        f"/v1/contacts/{WA}/consent", headers=svc.auth(), json={"status": status, "source": "t"}
    )
    assert r.status_code == 200


async def customer(svc: Service, text: str, ts: int | None = None) -> None:
    body: dict[str, Any] = {"text": text}
    if ts is not None:
        body["timestamp"] = ts
    r = await svc.http.post(f"/sandbox/customers/{WA}/messages", json=body)
    assert r.json()["callback_status"] == 200, r.text


async def send(svc: Service, body: dict[str, Any]) -> Any:
    return await svc.http.post("/v1/messages", headers=svc.auth("agent"), json={"to": WA, **body})


def deferred(text: str) -> dict[str, Any]:
    return {
        "type": "text",
        "text": {"body": text},
        "on_closed": "defer",
        "fallback_template": {"name": "ticket_update", "language": "en", "parameters": {"ticket_id": "T-7"}},
    }


async def sent_texts(svc: Service) -> list[str]:
    r = await svc.http.get("/sandbox/sent", params={"to": WA})
    data = r.json()
    items = data if isinstance(data, list) else data.get("data", data.get("sent", []))
    out = []
    for item in items:
        body = item["body"]
        out.append(
            body["text"]["body"] if body["type"] == "text" else "[template " + body["template"]["name"] + "]"
        )
    return out


async def get(svc: Service, mid: str) -> dict[str, Any]:
    r = await svc.http.get(f"/v1/messages/{mid}", headers=svc.auth("agent"))
    return r.json()  # type: ignore[no-any-return]


async def test_defer_knocks_then_delivers_held_messages_in_order_once(service: Service) -> None:
    svc = service
    await template(svc)
    await consent(svc)
    first = await send(svc, deferred("update 1"))
    assert first.status_code == 202, first.text
    assert first.json()["status"] == "held" and first.json()["fallback_message_id"]
    second = await send(svc, deferred("update 2"))  # joins the pending knock: no second template
    assert second.status_code == 202, second.text
    assert "fallback_message_id" not in second.json()
    w = (await svc.http.get(f"/v1/contacts/{WA}/window", headers=svc.auth("agent"))).json()
    assert [h["text"] for h in w["held"]] == ["update 1", "update 2"]
    await svc.drain()
    assert await sent_texts(svc) == ["[template ticket_update]"]

    await customer(svc, "ok, tell me")
    await svc.drain()
    assert await sent_texts(svc) == ["[template ticket_update]", "update 1", "update 2"]
    for m in (first.json(), second.json()):
        msg = await get(svc, m["id"])
        assert msg["status"] in ("sent", "delivered", "read")
        assert [h["status"] for h in msg["history"]][:3] == ["held", "queued", "sent"] or msg["history"][0][
            "status"
        ] == "held"
    w = (await svc.http.get(f"/v1/contacts/{WA}/window", headers=svc.auth("agent"))).json()
    assert w["held"] == []


async def test_a_deferred_send_answers_with_the_message_it_held(service: Service) -> None:
    """The send answer's window lists the message it has just held (and those held before it), as
    the window endpoint does; a scheduled send's answer lists it under ``scheduled``."""
    svc = service
    await template(svc)
    await consent(svc)
    first = (await send(svc, deferred("update 1"))).json()
    assert first["status"] == "held"
    assert [(h["id"], h["text"], h["status"]) for h in first["window"]["held"]] == [
        (first["id"], "update 1", "held")
    ]
    assert first["window"]["held"][0]["hold_until"] == first["hold_until"]
    second = (await send(svc, deferred("update 2"))).json()
    assert [h["id"] for h in second["window"]["held"]] == [first["id"], second["id"]]
    w = (await svc.http.get(f"/v1/contacts/{WA}/window", headers=svc.auth("agent"))).json()
    assert second["window"]["held"] == w["held"]
    at = (svc.clock.now + timedelta(hours=2)).isoformat()
    later = (await send(svc, {"type": "text", "text": {"body": "later"}, "send_at": at})).json()
    assert later["status"] == "scheduled"
    assert [h["id"] for h in later["window"]["scheduled"]] == [later["id"]]


async def test_knock_still_queued_is_cancelled_when_the_customer_writes(service: Service) -> None:
    svc = service
    await template(svc)
    await consent(svc)
    held = (await send(svc, deferred("the fix is live"))).json()
    knock_id = held["fallback_message_id"]
    await customer(svc, "hello?")  # before any worker ran: the knock never left
    await svc.drain()
    assert (await get(svc, knock_id))["status"] == "cancelled"
    assert await sent_texts(svc) == ["the fix is live"]


async def test_held_messages_expire_after_the_hold_period(service: Service) -> None:
    svc = service
    await template(svc)
    await consent(svc)
    held = (await send(svc, deferred("too late"))).json()
    await svc.drain()
    svc.clock.advance(days=7, seconds=1)
    await svc.drain()
    assert (await get(svc, held["id"]))["status"] == "expired"
    await customer(svc, "back now")
    await svc.drain()
    assert "too late" not in await sent_texts(svc)


async def test_defer_without_consent_is_refused(service: Service) -> None:
    await template(service)
    r = await send(service, deferred("x"))
    assert r.status_code == 403 and r.json()["error"]["code"] == "no_consent"


async def test_defer_needs_a_fallback_template(service: Service) -> None:
    r = await send(service, {"type": "text", "text": {"body": "x"}, "on_closed": "defer"})
    assert r.status_code == 422
    assert "fallback_template" in r.json()["error"]["message"]


async def test_scheduled_send_is_decided_when_due(service: Service) -> None:
    svc = service
    await customer(svc, "hi")
    at = (svc.clock.now + timedelta(hours=2)).isoformat()
    r = await send(svc, {"type": "text", "text": {"body": "in two hours"}, "send_at": at})
    assert r.status_code == 202 and r.json()["status"] == "scheduled"
    late = await send(
        svc,
        {
            "type": "text",
            "text": {"body": "in two days"},
            "send_at": (svc.clock.now + timedelta(days=2)).isoformat(),
        },
    )
    cancel_me = await send(
        svc,
        {
            "type": "text",
            "text": {"body": "never"},
            "send_at": (svc.clock.now + timedelta(hours=1)).isoformat(),
        },
    )
    w = (await svc.http.get(f"/v1/contacts/{WA}/window", headers=svc.auth("agent"))).json()
    assert len(w["scheduled"]) == 3
    c = await svc.http.delete(f"/v1/messages/{cancel_me.json()['id']}", headers=svc.auth("agent"))
    assert c.status_code == 200 and c.json()["status"] == "cancelled"
    await svc.drain()
    assert await sent_texts(svc) == []
    svc.clock.advance(hours=2)
    await svc.drain()
    assert await sent_texts(svc) == ["in two hours"]
    svc.clock.advance(days=2)
    await svc.drain()
    msg = await get(svc, late.json()["id"])
    assert msg["status"] == "failed" and msg["error"]["code"] == "window_closed"
    assert await sent_texts(svc) == ["in two hours"]
    again = await svc.http.delete(f"/v1/messages/{late.json()['id']}", headers=svc.auth("agent"))
    assert again.status_code == 409


class Receiver:
    """A real HTTP receiver on 127.0.0.1 that answers 500 to the first delivery, then 200."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.fail_first = 1
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if outer.fail_first > 0:
                    outer.fail_first -= 1
                    self.send_response(500)
                    self.end_headers()
                    return
                outer.received.append((dict(self.headers), body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


async def test_subscription_gets_signed_events_and_a_retry_after_500(
    service: Service, receiver: Receiver
) -> None:
    svc = service
    r = await svc.http.post(
        "/v1/subscriptions",
        headers=svc.auth("integration"),
        json={
            "url": receiver.url,
            "events": ["message.received", "window.opened", "message.status"],
            "secret": SECRET,
        },
    )
    assert r.status_code == 201, r.text
    sub_id = r.json()["id"]
    await customer(svc, "hola")
    await svc.rt.housekeeper.run_once()  # the receiver answers 500 to one of the two deliveries
    assert len(receiver.received) == 1
    svc.clock.advance(seconds=5)
    await svc.rt.housekeeper.run_once()
    types = []
    for headers, body in receiver.received:
        assert signature.verify(body, headers[SIGNATURE_HEADER], SECRET)
        event = orjson.loads(body)
        assert event["id"].startswith("evt_") and event["created_at"]
        assert event["data"]["wa_id"] == WA
        types.append(event["type"])
    assert sorted(types) == ["message.received", "window.opened"]
    log = (
        await svc.http.get(f"/v1/subscriptions/{sub_id}/deliveries", headers=svc.auth("integration"))
    ).json()
    by_type = {d["event_type"]: d for d in log["data"]}
    assert all(d["status"] == "delivered" for d in log["data"])
    assert sorted(d["attempts"] for d in by_type.values()) == [1, 2]
    assert (
        await svc.http.delete(f"/v1/subscriptions/{sub_id}", headers=svc.auth("integration"))
    ).status_code == 204
    forbidden = await svc.http.get("/v1/subscriptions", headers=svc.auth("agent"))
    assert forbidden.status_code == 403


async def test_window_events_are_emitted_once_each_with_two_sweepers(
    service: Service, receiver: Receiver
) -> None:
    svc = service
    receiver.fail_first = 0
    await svc.http.post(
        "/v1/subscriptions",
        headers=svc.auth(),
        json={"url": receiver.url, "events": ["window.expiring", "window.closed"], "secret": SECRET},
    )
    await customer(svc, "hi")
    other = Housekeeper(engine=svc.rt.engine, clock=svc.clock, leads_minutes=svc.rt.settings.expiring_leads)
    start = svc.clock.now
    try:
        for minutes in (23 * 60 + 1, 23 * 60 + 46, 24 * 60 + 1, 24 * 60 + 2):
            svc.clock.now = start + timedelta(minutes=minutes)
            for _ in range(2):
                await asyncio.gather(svc.rt.housekeeper.run_once(), other.run_once())
    finally:
        await other.aclose()
    events = [orjson.loads(b) for _, b in receiver.received]
    kinds = sorted((e["type"], e["data"].get("lead_minutes")) for e in events)
    assert kinds == [("window.closed", None), ("window.expiring", 15), ("window.expiring", 60)]


async def test_ticket_notify_in_all_three_states(service: Service) -> None:
    svc = service
    await template(svc)
    # No consent, window closed: a clear refusal.
    r = await svc.http.post(
        "/v1/tickets/T-9/notify", headers=svc.auth("agent"), json={"to": WA, "text": "fixed"}
    )
    assert r.status_code == 403 and r.json()["error"]["code"] == "no_consent"
    # Consent, window closed: the ticket-update template knocks, the text waits.
    await consent(svc)
    r = await svc.http.post(
        "/v1/tickets/T-9/notify", headers=svc.auth("agent"), json={"to": WA, "text": "fixed"}
    )
    assert r.status_code == 202, r.text
    assert r.json()["status"] == "held" and r.json()["ticket_id"] == "T-9"
    await svc.drain()
    sent = (await svc.http.get("/sandbox/sent", params={"to": WA})).json()
    items = sent if isinstance(sent, list) else sent.get("data", [])
    params = items[0]["body"]["template"]["components"][0]["parameters"]
    assert params == [{"type": "text", "parameter_name": "ticket_id", "text": "T-9"}]
    await customer(svc, "what happened?")
    await svc.drain()
    # Window open: the text goes straight away, free.
    r = await svc.http.post(
        "/v1/tickets/T-9/notify", headers=svc.auth("agent"), json={"to": WA, "text": "all good now"}
    )
    assert r.status_code == 202 and r.json()["kind"] == "session"
    assert r.json()["charge"]["billable"] is False
    await svc.drain()
    assert await sent_texts(svc) == ["[template ticket_update]", "fixed", "all good now"]
    t = (await svc.http.get("/v1/tickets/T-9", headers=svc.auth("agent"))).json()
    assert t["window"]["state"] == "open"
    texts = [m["text"] for m in t["messages"]]
    assert "what happened?" in texts  # the customer's reply is linked to the open ticket
    assert texts.index("fixed") < texts.index("all good now")


async def test_two_workers_and_one_that_dies_deliver_held_messages_once_in_order(
    service: Service, db_url: str
) -> None:
    svc = service
    await template(svc)
    await consent(svc)
    ids = [(await send(svc, deferred(f"part {i}"))).json()["id"] for i in range(6)]
    await svc.drain()
    await customer(svc, "go ahead")
    rt = svc.rt
    # A worker claims the first released message and dies before calling the provider.
    dead, _ = delivery.claim(
        rt.engine,
        worker_id="dead",
        now=svc.clock.now,
        lease=timedelta(seconds=30),
        limit=10,
        rate=80,
        burst=80,
        settings=rt.policy,
    )
    assert [c.message_id for c in dead] == [ids[0]]
    svc.clock.advance(seconds=31)
    other = DeliveryWorker(engine=rt.engine, provider=rt.provider, policy=rt.policy, clock=svc.clock)
    for _ in range(20):
        await asyncio.gather(rt.worker.run_once(), other.run_once())
        await rt.sandbox.drain(5)
    await svc.drain()
    texts = await sent_texts(svc)
    assert texts == ["[template ticket_update]"] + [f"part {i}" for i in range(6)]
    stats = (await svc.http.get("/sandbox/stats")).json()
    assert stats.get("duplicates", 0) in (0, [], {})
