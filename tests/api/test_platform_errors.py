"""Issue 23: the 2026 error codes as retry decisions, through the sandbox's fault switch and the
worker (131056 holds back one customer, not the number; 131049 is never retried and says when a
resend may go; the new codes have titles)."""

from __future__ import annotations

from typing import Any

import pytest
from service_support import Service

from carewindow.wire.graph_errors import ERROR_CODES, GraphError
from carewindow.worker.retry import next_attempt

pytestmark = pytest.mark.anyio
A, B = "34600100200", "34600300400"


async def open_window(svc: Service, wa_id: str) -> None:
    r = await svc.http.post(f"/sandbox/customers/{wa_id}/messages", json={"text": "hola"})
    assert r.json()["callback_status"] == 200


async def send(svc: Service, wa_id: str, text: str) -> str:
    r = await svc.http.post(
        "/v1/messages", headers=svc.auth(), json={"to": wa_id, "type": "text", "text": {"body": text}}
    )
    assert r.status_code == 202, r.text
    return str(r.json()["id"])


async def status(svc: Service, mid: str) -> dict[str, Any]:
    return dict((await svc.http.get(f"/v1/messages/{mid}", headers=svc.auth())).json())


async def test_a_pair_rate_limit_holds_back_that_customer_only(service: Service) -> None:
    for wa in (A, B):
        await open_window(service, wa)
    await service.drain()
    r = await service.http.post("/sandbox/faults", json={"fail_next": 1, "code": 131056})
    assert r.status_code == 200, r.text
    first = await send(service, A, "uno")
    await service.drain()
    assert (await status(service, first))["status"] == "queued"  # retried, not before 6 s
    second, other = await send(service, A, "dos"), await send(service, B, "otro")
    await service.drain()
    assert (await status(service, second))["status"] == "queued"  # held back with the first
    assert (await status(service, other))["status"] == "read"  # another customer is not held
    service.clock.advance(seconds=7)
    await service.drain()
    assert [(await status(service, m))["status"] for m in (first, second)] == ["read", "read"]


async def test_131049_is_not_retried_and_says_when_a_resend_may_go(service: Service) -> None:
    await open_window(service, A)
    await service.drain()
    r = await service.http.post("/sandbox/faults", json={"fail_next": 1, "code": 131049, "status": 400})
    assert r.status_code == 200, r.text
    mid = await send(service, A, "promo")
    await service.drain()
    m = await status(service, mid)
    assert m["status"] == "failed"
    assert m["error"]["code"] == "131049"
    assert "not to send it again before" in m["error"]["message"]


@pytest.mark.parametrize(
    ("code", "transient"),
    [(131062, False), (131063, False), (131037, False), (132008, False), (132068, False), (132069, True)],
)
def test_the_new_codes_have_titles_and_retry_decisions(code: int, transient: bool) -> None:
    spec = ERROR_CODES[code]
    assert spec.title and spec.transient is transient
    assert GraphError.for_code(code).transient is transient


def test_a_retry_waits_at_least_what_the_error_asks() -> None:
    from datetime import UTC, datetime, timedelta

    now = datetime(2026, 12, 2, tzinfo=UTC)
    d = next_attempt(attempts=1, transient=True, now=now, max_attempts=5, jitter=0.0, min_delay=360.0)
    assert d.at == now + timedelta(seconds=360)
    d = next_attempt(attempts=1, transient=True, now=now, max_attempts=5, jitter=0.0)
    assert d.at == now + timedelta(seconds=0.5)


async def test_marketing_templates_go_through_the_marketing_messages_api_when_set(service: Service) -> None:
    """131063 when marketing is disabled on the Cloud API; with CAREWINDOW_MARKETING_MESSAGES_API the
    worker sends marketing templates to /marketing_messages (utility ones stay on /messages)."""
    await open_window(service, A)  # so re-engagement limits stay out of it
    for name, category in (("promo", "marketing"), ("ticket_update", "utility")):
        r = await service.http.post(
            "/v1/templates",
            headers=service.auth(),
            json={"name": name, "language": "es", "category": category, "body": "Hola {{1}}"},
        )
        assert r.status_code == 201, r.text
    await service.drain()
    r = await service.http.put(
        f"/v1/contacts/{A}/consent", headers=service.auth(), json={"status": "opted_in", "source": "t"}
    )
    assert r.status_code == 200
    r = await service.http.post("/sandbox/waba", json={"disable_marketing_messages_on_cloud_api": True})
    assert r.status_code == 200, r.text

    async def template(name: str) -> str:
        r = await service.http.post(
            "/v1/messages",
            headers=service.auth(),
            json={
                "to": A,
                "type": "template",
                "template": {"name": name, "language": "es", "parameters": ["x"]},
            },
        )
        assert r.status_code == 202, r.text
        return str(r.json()["id"])

    refused = await template("promo")
    await service.drain()
    m = await status(service, refused)
    assert m["status"] == "failed" and m["error"]["code"] == "131063"
    assert m["error"]["title"] == "Marketing templates are disabled for Cloud API"
    service.rt.worker.marketing_messages_api = True
    routed, utility = await template("promo"), await template("ticket_update")
    await service.drain()
    assert [(await status(service, x))["status"] for x in (routed, utility)] == ["read", "read"]
