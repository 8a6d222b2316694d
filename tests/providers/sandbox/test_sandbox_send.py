"""Send API emulation: window rules, Meta-shaped answers and errors, signed status webhooks."""

from __future__ import annotations

from typing import Any

import pytest
from sandbox_support import CUSTOMER, PHONE_ID, START, TOKEN, Env

from carewindow.wire.webhook import parse_webhook

pytestmark = pytest.mark.anyio


def _error(response: Any) -> dict[str, Any]:
    body: dict[str, Any] = response.json()
    assert set(body) == {"error"}
    return body["error"]


async def test_text_inside_window_is_accepted_then_sent_delivered_read_in_order(env: Env) -> None:
    await env.customer(text="Hola, mi pedido?")
    response = await env.send_text(to="+34 600111222", text="Te ayudamos")
    assert response.status_code == 200
    answer = response.json()
    wamid = answer["messages"][0]["id"]
    assert answer == {
        "messaging_product": "whatsapp",
        "contacts": [{"input": "+34 600111222", "wa_id": CUSTOMER}],
        "messages": [{"id": wamid, "message_status": "accepted"}],
    }
    assert wamid.startswith("wamid.")
    await env.sandbox.drain(timeout=5)
    statuses = env.receiver.statuses(wamid)
    assert [s["status"] for s in statuses] == ["sent", "delivered", "read"]
    for status in statuses:
        assert status["recipient_id"] == CUSTOMER
        assert status["pricing"] == {
            "billable": False,
            "pricing_model": "PMP",
            "category": "service",
            "type": "free_customer_service",
        }
        assert status["timestamp"] == str(int(START.timestamp()))
    assert env.receiver.bad_signatures == 0
    # The bytes we received parse with carewindow's own webhook parser.
    batch = parse_webhook(env.receiver.raw[-1])
    assert batch.statuses[0].wamid == wamid


async def test_auto_read_off_stops_at_delivered(make_env: Any) -> None:
    env: Env = await make_env(auto_read=False)
    await env.customer()
    wamid = (await env.send_text()).json()["messages"][0]["id"]
    await env.sandbox.drain(timeout=5)
    assert [s["status"] for s in env.receiver.statuses(wamid)] == ["sent", "delivered"]


async def test_text_to_customer_who_never_wrote_is_131047(env: Env) -> None:
    response = await env.send_text()
    assert response.status_code == 400
    error = _error(response)
    assert error["code"] == 131047
    assert error["message"] == "(#131047) Re-engagement message"
    assert error["type"] == "OAuthException"
    assert error["error_data"]["messaging_product"] == "whatsapp"
    assert "24 hours" in error["error_data"]["details"]
    assert error["fbtrace_id"]
    assert (await env.client.get("/sent")).json() == []


async def test_text_after_window_expired_is_131047(env: Env) -> None:
    await env.customer()
    env.clock.advance(hours=24)
    assert _error(await env.send_text())["code"] == 131047
    env.clock.advance(seconds=-1)
    assert (await env.send_text()).status_code == 200


async def test_customer_message_25h_ago_leaves_window_closed(env: Env) -> None:
    stamp = int(START.timestamp()) - 25 * 3600
    result = await env.customer(timestamp=stamp)
    assert result["delivered"] is True
    assert result["callback_status"] == 200
    window = (await env.client.get(f"/customers/{CUSTOMER}/window")).json()
    assert window["state"] == "closed"
    assert _error(await env.send_text())["code"] == 131047
    # The webhook carries the customer's timestamp, not the time it was sent.
    assert env.receiver.messages()[0]["timestamp"] == str(stamp)


async def test_async_131047_answers_200_then_failed_status(make_env: Any) -> None:
    env: Env = await make_env(async_131047=True)
    response = await env.send_text()
    assert response.status_code == 200
    wamid = response.json()["messages"][0]["id"]
    await env.sandbox.drain(timeout=5)
    [failed] = env.receiver.statuses(wamid)
    assert failed["status"] == "failed"
    assert failed["errors"][0]["code"] == 131047
    assert "pricing" not in failed


async def test_undeliverable_recipient_fails_async_with_131026(env: Env) -> None:
    to = "15559990001"
    await env.customer(wa_id=to)
    response = await env.send_text(to=to)
    assert response.status_code == 200
    wamid = response.json()["messages"][0]["id"]
    await env.sandbox.drain(timeout=5)
    [failed] = env.receiver.statuses(wamid)
    assert failed["status"] == "failed"
    assert failed["errors"][0]["code"] == 131026
    assert failed["errors"][0]["title"] == "Message undeliverable"
    assert failed["errors"][0]["error_data"]["details"]


async def test_recipient_equal_to_sender_is_131021(env: Env) -> None:
    assert _error(await env.send_text(to="15550000001"))["code"] == 131021


@pytest.mark.parametrize(
    ("token", "status"),
    [("wrong-token", 401), ("", 401)],
)
async def test_bad_bearer_token_is_190(env: Env, token: str, status: int) -> None:
    response = await env.send(
        {"messaging_product": "whatsapp", "to": CUSTOMER, "type": "text", "text": {"body": "x"}}, token=token
    )
    assert response.status_code == status
    error = _error(response)
    assert error["code"] == 190
    assert error["type"] == "OAuthException"


async def test_unknown_phone_number_id_is_100(env: Env) -> None:
    response = await env.client.post(
        "/graph/v23.0/999/messages",
        json={"messaging_product": "whatsapp", "to": CUSTOMER, "type": "text", "text": {"body": "x"}},
        headers={"Authorization": "Bearer sandbox-test-token"},
    )
    assert response.status_code == 400
    error = _error(response)
    assert (error["code"], error["error_subcode"]) == (100, 33)


BASE = {"messaging_product": "whatsapp", "to": CUSTOMER}


@pytest.mark.parametrize(
    ("body", "code"),
    [
        pytest.param({"to": CUSTOMER, "type": "text", "text": {"body": "x"}}, 100, id="no-messaging-product"),
        pytest.param(
            {**BASE, "messaging_product": "sms", "type": "text", "text": {"body": "x"}}, 100, id="sms"
        ),
        pytest.param({**BASE, "to": "call-me", "type": "text", "text": {"body": "x"}}, 131009, id="bad-to"),
        pytest.param({**BASE, "type": "fax", "fax": {}}, 100, id="unknown-type"),
        pytest.param({**BASE, "type": "text"}, 100, id="no-text-object"),
        pytest.param({**BASE, "type": "text", "text": {"body": "x" * 4097}}, 100, id="text-too-long"),
        pytest.param(
            {**BASE, "type": "image", "image": {"id": "1", "link": "https://x/y.png"}}, 100, id="id+link"
        ),
        pytest.param({**BASE, "type": "image", "image": {"caption": "c"}}, 100, id="no-media"),
        pytest.param({**BASE, "type": "location", "location": {"latitude": 1}}, 100, id="no-longitude"),
        pytest.param({**BASE, "type": "reaction", "reaction": {"emoji": "x"}}, 100, id="reaction-no-id"),
        pytest.param(
            {
                **BASE,
                "type": "interactive",
                "interactive": {
                    "type": "button",
                    "body": {"text": "Pick"},
                    "action": {
                        "buttons": [
                            {"type": "reply", "reply": {"id": f"b{i}", "title": f"B{i}"}} for i in range(4)
                        ]
                    },
                },
            },
            131009,
            id="four-buttons",
        ),
        pytest.param(
            {
                **BASE,
                "type": "interactive",
                "interactive": {
                    "type": "button",
                    "body": {"text": "Pick"},
                    "action": {"buttons": [{"type": "reply", "reply": {"id": "b", "title": "x" * 21}}]},
                },
            },
            131009,
            id="button-title-21",
        ),
        pytest.param(
            {
                **BASE,
                "type": "interactive",
                "interactive": {
                    "type": "list",
                    "body": {"text": "Menu"},
                    "action": {
                        "button": "Open",
                        "sections": [
                            {"title": "A", "rows": [{"id": f"r{i}", "title": "t"} for i in range(6)]},
                            {"title": "B", "rows": [{"id": f"s{i}", "title": "t"} for i in range(5)]},
                        ],
                    },
                },
            },
            131009,
            id="list-11-rows",
        ),
    ],
)
async def test_malformed_bodies_get_meta_codes(env: Env, body: dict[str, Any], code: int) -> None:
    await env.customer()
    response = await env.send(body)
    assert response.status_code == 400, response.text
    assert _error(response)["code"] == code
    assert (await env.client.get("/stats")).json()["rejected"] == 1


@pytest.mark.parametrize(
    "content",
    [
        {"type": "image", "image": {"link": "https://example.com/a.png", "caption": "c"}},
        {"type": "location", "location": {"latitude": 40.4, "longitude": -3.7, "name": "Sol"}},
        {"type": "contacts", "contacts": [{"name": {"formatted_name": "Ana"}}]},
        {"type": "reaction", "reaction": {"message_id": "wamid.x", "emoji": "👍"}},
        {
            "type": "interactive",
            "interactive": {
                "type": "button",
                "body": {"text": "¿Resuelto?"},
                "action": {
                    "buttons": [
                        {"type": "reply", "reply": {"id": "y", "title": "Sí"}},
                        {"type": "reply", "reply": {"id": "n", "title": "No"}},
                    ]
                },
            },
        },
        {
            "type": "interactive",
            "interactive": {
                "type": "cta_url",
                "body": {"text": "Track"},
                "action": {
                    "name": "cta_url",
                    "parameters": {"display_text": "Open", "url": "https://example.com"},
                },
            },
        },
    ],
    ids=lambda c: c["type"] + ("-" + c["interactive"]["type"] if c["type"] == "interactive" else ""),
)
async def test_other_free_form_types_accepted_in_window(env: Env, content: dict[str, Any]) -> None:
    await env.customer()
    response = await env.send({**BASE, **content})
    assert response.status_code == 200, response.text
    sent = (await env.client.get("/sent", params={"to": CUSTOMER})).json()
    assert [s["type"] for s in sent] == [content["type"]]


async def test_mark_as_read_of_inbound_message(env: Env) -> None:
    wamid = (await env.customer())["wamid"]
    response = await env.send({"messaging_product": "whatsapp", "status": "read", "message_id": wamid})
    assert response.json() == {"success": True}
    unknown = await env.send({"messaging_product": "whatsapp", "status": "read", "message_id": "wamid.nope"})
    assert _error(unknown)["code"] == 100


async def test_sent_lists_each_wamid_once_and_stats_count_duplicates(env: Env) -> None:
    await env.customer()
    first = (await env.send_text(text="same")).json()["messages"][0]["id"]
    second = (await env.send_text(text="same")).json()["messages"][0]["id"]
    await env.send_text(text="other")
    sent = (await env.client.get("/sent")).json()
    assert [s["wamid"] for s in sent][:2] == [first, second]
    assert len({s["wamid"] for s in sent}) == 3
    assert sent[0]["body"]["text"] == {"body": "same"}
    stats = (await env.client.get("/stats")).json()
    assert stats["accepted"] == 3
    assert stats["duplicates"] == 1
    assert stats["duplicate_sends"] == [{"count": 2, "wamids": [first, second]}]
    assert (await env.client.get("/sent", params={"to": "34999"})).json() == []


async def test_info_describes_the_number(env: Env) -> None:
    info = (await env.client.get("/info")).json()
    assert info == {
        "phone_number_id": PHONE_ID,
        "waba_id": "200000000000001",
        "display_phone_number": "15550000001",
        "base_url": "http://sandbox.test/graph",
        "graph_version": "v23.0",
        "access_token": TOKEN,  # the bearer token its Graph API accepts (README)
    }
