"""Control endpoints, fault injection, webhook retries and lifecycle."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from sandbox_support import CUSTOMER, START, Env

from carewindow.providers.sandbox import SandboxConfig, create_sandbox_app
from carewindow.wire.webhook import parse_webhook

pytestmark = pytest.mark.anyio


async def test_customer_message_webhook_is_meta_shaped_and_awaited(env: Env) -> None:
    result = await env.customer(text="¿Dónde está mi pedido?", profile_name="Ana")
    assert result["delivered"] is True and result["callback_status"] == 200
    # Awaited: the webhook is already at the receiver when the control call returns.
    [body] = env.receiver.bodies
    assert body["object"] == "whatsapp_business_account"
    entry = body["entry"][0]
    assert entry["id"] == "200000000000001"
    value = entry["changes"][0]["value"]
    assert entry["changes"][0]["field"] == "messages"
    assert value["metadata"] == {"display_phone_number": "15550000001", "phone_number_id": "100000000000001"}
    assert value["contacts"][0]["profile"] == {"name": "Ana"}
    assert value["contacts"][0]["wa_id"] == CUSTOMER
    assert value["contacts"][0]["user_id"].startswith("ES.")
    message = value["messages"][0]
    assert message == {
        "from": CUSTOMER,
        "id": result["wamid"],
        "timestamp": str(int(START.timestamp())),
        "type": "text",
        "text": {"body": "¿Dónde está mi pedido?"},
    }
    # Non-ASCII is escaped on the wire (Meta signs the escaped bytes).
    assert b"\\u00bfD\\u00f3nde" in env.receiver.raw[0]
    batch = parse_webhook(env.receiver.raw[0])
    assert batch.messages[0].wamid == result["wamid"]


async def test_window_view_opens_from_customer_timestamp(env: Env) -> None:
    stamp = int(START.timestamp()) - 3600
    await env.customer(timestamp=stamp)
    window = (await env.client.get(f"/customers/{CUSTOMER}/window")).json()
    assert window["state"] == "open"
    assert window["seconds_left"] == 23 * 3600


async def test_reaction_does_not_open_the_window(env: Env) -> None:
    response = await env.client.post(
        f"/customers/{CUSTOMER}/messages",
        json={"type": "reaction", "content": {"message_id": "wamid.x", "emoji": "👍"}},
    )
    assert response.status_code == 200
    assert env.receiver.messages()[0]["reaction"]["emoji"] == "👍"
    assert (await env.client.get(f"/customers/{CUSTOMER}/window")).json()["state"] == "closed"


@pytest.mark.parametrize(
    "body",
    [{}, {"text": ""}, {"text": "x", "timestamp": "yesterday"}, {"type": "image"}],
    ids=["no-text", "empty-text", "bad-timestamp", "no-content"],
)
async def test_customer_message_validation(env: Env, body: dict[str, Any]) -> None:
    response = await env.client.post(f"/customers/{CUSTOMER}/messages", json=body)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "validation_error"
    bad_id = await env.client.post("/customers/not-a-number/messages", json={"text": "x"})
    assert bad_id.status_code == 422


async def test_callback_failures_are_retried_then_delivered(env: Env) -> None:
    env.receiver.fail_next = 2
    result = await env.customer()
    assert result == {"wamid": result["wamid"], "delivered": True, "callback_status": 200}
    assert env.receiver.attempts == 3
    webhooks = (await env.client.get("/webhooks")).json()
    assert webhooks[-1]["attempts"] == 3


async def test_callback_giving_up_reports_last_status(make_env: Any) -> None:
    env: Env = await make_env(callback_attempts=2)
    env.receiver.fail_next = 5
    result = await env.customer()
    assert (result["delivered"], result["callback_status"]) == (False, 503)
    stats = (await env.client.get("/stats")).json()
    assert stats["webhooks"]["failed"] == 1


async def test_without_callback_url_nothing_is_delivered(make_env: Any) -> None:
    env: Env = await make_env(callback_url=None)
    result = await env.customer()
    assert (result["delivered"], result["callback_status"]) == (False, None)
    assert (await env.send_text()).status_code == 200
    await env.sandbox.drain(timeout=5)
    assert env.receiver.bodies == []


async def test_fault_switch_answers_5xx_then_recovers(env: Env) -> None:
    await env.customer()
    armed = await env.client.post("/faults", json={"fail_next": 2, "status": 503, "code": 131000})
    assert armed.json()["fault"]["fail_next"] == 2
    for _ in range(2):
        response = await env.send_text()
        assert response.status_code == 503
        error = response.json()["error"]
        assert error["code"] == 131000
        assert error["message"] == "(#131000) Something went wrong"
    assert (await env.send_text()).status_code == 200
    stats = (await env.client.get("/stats")).json()
    assert (stats["faults_served"], stats["accepted"]) == (2, 1)


async def test_rate_limit_fault_and_clearing(env: Env) -> None:
    await env.customer()
    await env.client.post("/faults", json={"fail_next": 5, "code": 130429})
    response = await env.send_text()
    assert (response.status_code, response.json()["error"]["code"]) == (400, 130429)
    assert (await env.client.delete("/faults")).json() == {"fault": None}
    assert (await env.client.get("/faults")).json() == {"fault": None}
    assert (await env.send_text()).status_code == 200
    bad = await env.client.post("/faults", json={"mode": "explode"})
    assert bad.status_code == 422


async def test_timeout_fault_hangs_past_the_client_timeout(env: Env) -> None:
    await env.customer()
    await env.client.post("/faults", json={"fail_next": 1, "mode": "timeout", "timeout_seconds": 5})
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.2):
            await env.send_text()
    # The hung call never accepted anything; the next call goes through.
    assert (await env.send_text()).status_code == 200
    assert (await env.client.get("/stats")).json()["accepted"] == 1


async def test_accept_timeout_fault_makes_a_retry_a_visible_duplicate(env: Env) -> None:
    await env.customer()
    await env.client.post("/faults", json={"fail_next": 1, "mode": "accept_timeout", "timeout_seconds": 5})
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.2):
            await env.send_text(text="once")
    assert (await env.send_text(text="once")).status_code == 200
    stats = (await env.client.get("/stats")).json()
    assert (stats["accepted"], stats["duplicates"]) == (2, 1)


async def test_drain_endpoint_and_aclose_cancels_pending_webhooks(make_env: Any) -> None:
    env: Env = await make_env(status_delays=(0, 0, 30))
    await env.customer()
    wamid = (await env.send_text()).json()["messages"][0]["id"]
    drained = await env.client.post("/drain", json={"timeout": 0.2})
    assert drained.json() == {"pending": 1}
    assert [s["status"] for s in env.receiver.statuses(wamid)] == ["sent", "delivered"]
    with pytest.raises(TimeoutError):
        await env.sandbox.drain(timeout=0.05)
    await env.sandbox.aclose()
    assert env.sandbox.pending == 0


async def test_standalone_app_lifespan_closes_the_sandbox() -> None:
    config = SandboxConfig(
        access_token="t", callback_url="http://nowhere.invalid/hook", status_delays=(0, 0, 30)
    )
    app = create_sandbox_app(config)
    sandbox = app.state.sandbox
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://s") as client:
            assert (await client.get("/info")).status_code == 200
    assert sandbox.pending == 0


def test_config_rejects_bad_delays() -> None:
    with pytest.raises(ValueError, match="status_delays"):
        SandboxConfig(access_token="t", status_delays=(0, -1, 0))
