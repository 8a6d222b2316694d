"""Template management and template sends: catalog, statuses, parameter errors, pricing."""

from __future__ import annotations

from typing import Any

import pytest
from sandbox_support import CUSTOMER, Env

pytestmark = pytest.mark.anyio


def _code(response: Any) -> int:
    code: int = response.json()["error"]["code"]
    return code


def _text(*values: str) -> list[dict[str, str]]:
    return [{"type": "text", "text": v} for v in values]


async def test_create_answers_id_status_category_and_announces_approval(env: Env) -> None:
    response = await env.create_template(
        "ticket_update", "Tu ticket {{1}} está {{2}}.", example=["T-1", "listo"]
    )
    assert response.status_code == 200, response.text
    created = response.json()
    assert set(created) == {"id", "status", "category"}
    assert (created["status"], created["category"]) == ("APPROVED", "UTILITY")
    await env.sandbox.drain(timeout=5)
    [webhook] = env.receiver.of_field("message_template_status_update")
    value = webhook["entry"][0]["changes"][0]["value"]
    assert value["event"] == "APPROVED"
    assert str(value["message_template_id"]) == created["id"]
    assert (value["message_template_name"], value["message_template_language"]) == ("ticket_update", "es")


async def test_create_pending_when_approval_is_off_and_pending_cannot_be_sent(make_env: Any) -> None:
    env: Env = await make_env(approve_templates=False)
    created = (await env.create_template("promo", "Oferta", category="MARKETING")).json()
    assert created["status"] == "PENDING"
    response = await env.send_template("promo")
    assert (response.status_code, _code(response)) == (400, 132001)


async def test_duplicate_name_and_language_is_100_with_subcode(env: Env) -> None:
    await env.create_template("hello", "Hola")
    duplicate = await env.create_template("hello", "Hola otra vez")
    error = duplicate.json()["error"]
    assert (error["code"], error["error_subcode"]) == (100, 2388024)
    # The fields Meta's own answer carries: the message, the user-facing title and text, the flag.
    assert error["message"] == "Invalid parameter" and error["is_transient"] is False
    assert error["error_user_title"] == "Content in This Language Already Exists"
    assert error["error_user_msg"].startswith("There's already es content for this template.")
    assert error["type"] == "OAuthException" and error["fbtrace_id"]
    assert (await env.create_template("hello", "Hello", language="en_US")).status_code == 200


@pytest.mark.parametrize(
    ("definition", "why"),
    [
        (
            {
                "name": "Bad Name",
                "language": "es",
                "category": "UTILITY",
                "components": [{"type": "BODY", "text": "x"}],
            },
            "name",
        ),
        (
            {
                "name": "x",
                "language": "es",
                "category": "SERVICE",
                "components": [{"type": "BODY", "text": "x"}],
            },
            "category",
        ),
        (
            {
                "name": "x",
                "language": "es",
                "category": "UTILITY",
                "components": [{"type": "FOOTER", "text": "x"}],
            },
            "BODY",
        ),
        (
            {
                "name": "x",
                "language": "es",
                "category": "UTILITY",
                "components": [{"type": "BODY", "text": "x" * 1025}],
            },
            "body",
        ),
        (
            {
                "name": "x",
                "language": "es",
                "category": "UTILITY",
                "components": [{"type": "BODY", "text": "Hi {{1}} and {{name}}"}],
            },
            "placeholder",
        ),
        ({"name": "x", "language": "es", "category": "UTILITY"}, "components"),
    ],
    ids=["name", "category", "no-body", "body-too-long", "mixed-placeholders", "no-components"],
)
async def test_invalid_definitions_are_100(env: Env, definition: dict[str, Any], why: str) -> None:
    response = await env.graph("POST", "/message_templates", json=definition)
    assert response.status_code == 400
    assert _code(response) == 100


async def test_list_is_paginated_with_cursors_and_next(env: Env) -> None:
    for i in range(5):
        await env.create_template(f"t{i}", f"Body {i}")
    page = (await env.graph("GET", "/message_templates", params={"limit": 2})).json()
    names = [t["name"] for t in page["data"]]
    assert names == ["t0", "t1"]
    item = page["data"][0]
    assert set(item) == {"name", "language", "status", "category", "id", "components", "parameter_format"}
    assert item["components"] == [{"type": "BODY", "text": "Body 0"}]
    assert item["parameter_format"] == "POSITIONAL"
    assert page["paging"]["next"].startswith(
        "http://sandbox.test/graph/v23.0/200000000000001/message_templates?"
    )
    while "next" in page["paging"]:
        after = page["paging"]["cursors"]["after"]
        page = (await env.graph("GET", "/message_templates", params={"limit": 2, "after": after})).json()
        names += [t["name"] for t in page["data"]]
    assert names == [f"t{i}" for i in range(5)]
    # The absolute `next` URL works as given (minus the host, which this in-process client ignores).
    first = (await env.graph("GET", "/message_templates", params={"limit": 4})).json()
    nxt = first["paging"]["next"].removeprefix("http://sandbox.test")
    rest = await env.client.get(nxt, headers={"Authorization": "Bearer sandbox-test-token"})
    assert [t["name"] for t in rest.json()["data"]] == ["t4"]


async def test_delete_by_name_removes_every_language(env: Env) -> None:
    await env.create_template("bye", "Adiós")
    await env.create_template("bye", "Bye", language="en")
    await env.create_template("keep", "Quédate")
    response = await env.graph("DELETE", "/message_templates", params={"name": "bye"})
    assert response.json() == {"success": True}
    listed = (await env.graph("GET", "/message_templates")).json()["data"]
    assert [t["name"] for t in listed] == ["keep"]
    again = await env.graph("DELETE", "/message_templates", params={"name": "bye"})
    assert (again.status_code, _code(again)) == (400, 100)


async def test_template_send_errors_follow_meta_codes(env: Env) -> None:
    await env.create_template("ticket_update", "Tu ticket {{1}} está {{2}}.", example=["T-1", "listo"])
    assert _code(await env.send_template("nope", _text("a"))) == 132001
    assert _code(await env.send_template("ticket_update", _text("a"), language="en")) == 132001
    assert _code(await env.send_template("ticket_update", _text("T-42"))) == 132000
    assert _code(await env.send_template("ticket_update", _text("T-42", "listo\ny más"))) == 132018
    assert _code(await env.send_template("ticket_update", _text("T-42", "a     b"))) == 132018
    assert _code(await env.send_template("ticket_update", _text("T-42", ""))) == 131008
    ok = await env.send_template("ticket_update", _text("T-42", "listo"))
    assert ok.status_code == 200, ok.text


async def test_named_template_params(env: Env) -> None:
    await env.create_template("named", "Hola {{customer}}, ticket {{ticket_id}}.", parameter_format="NAMED")
    good = [
        {"type": "text", "parameter_name": "customer", "text": "Ana"},
        {"type": "text", "parameter_name": "ticket_id", "text": "T-42"},
    ]
    assert (await env.send_template("named", good)).status_code == 200
    assert _code(await env.send_template("named", good[:1])) == 132000
    positional = await env.send_template("named", _text("Ana", "T-42"))
    assert _code(positional) in (132000, 132012)


async def test_paused_and_disabled_templates_via_control_endpoint(env: Env) -> None:
    await env.create_template("promo", "Oferta", category="MARKETING")
    response = await env.client.post(
        "/templates/promo/es/status", json={"status": "PAUSED", "reason": "NONE"}
    )
    assert response.status_code == 200
    assert response.json()["status"] == "PAUSED"
    assert response.json()["delivered"] is True
    assert _code(await env.send_template("promo")) == 132015
    await env.client.post("/templates/promo/es/status", json={"status": "DISABLED"})
    assert _code(await env.send_template("promo")) == 132016
    events = [
        w["entry"][0]["changes"][0]["value"]["event"]
        for w in env.receiver.of_field("message_template_status_update")
    ]
    assert events[-2:] == ["PAUSED", "DISABLED"]
    missing = await env.client.post("/templates/nope/es/status", json={"status": "PAUSED"})
    assert missing.status_code == 404


async def test_templates_allowed_outside_window_and_priced_by_category(env: Env) -> None:
    await env.create_template("notice", "Aviso {{1}}", example=["x"])
    await env.create_template("promo", "Oferta", category="MARKETING")
    # Window closed: utility is billable and regular.
    outside = (await env.send_template("notice", _text("a"))).json()["messages"][0]["id"]
    await env.customer()
    inside_utility = (await env.send_template("notice", _text("b"))).json()["messages"][0]["id"]
    inside_marketing = (await env.send_template("promo")).json()["messages"][0]["id"]
    await env.sandbox.drain(timeout=5)

    def pricing(wamid: str) -> dict[str, Any]:
        result: dict[str, Any] = env.receiver.statuses(wamid)[0]["pricing"]
        return result

    assert pricing(outside) == {
        "billable": True,
        "pricing_model": "PMP",
        "category": "utility",
        "type": "regular",
    }
    assert pricing(inside_utility) == {
        "billable": False,
        "pricing_model": "PMP",
        "category": "utility",
        "type": "free_customer_service",
    }
    assert pricing(inside_marketing)["billable"] is True
    assert pricing(inside_marketing)["type"] == "regular"


async def test_referral_message_makes_replies_free_entry_point(env: Env) -> None:
    await env.create_template("promo", "Oferta", category="MARKETING")
    referral = {"source_url": "https://fb.me/ad", "source_id": "1", "source_type": "ad", "headline": "Sale"}
    await env.customer(referral=referral)
    wamid = (await env.send_template("promo")).json()["messages"][0]["id"]
    await env.sandbox.drain(timeout=5)
    sent = env.receiver.statuses(wamid)[0]
    assert sent["pricing"]["type"] == "free_entry_point"
    assert sent["pricing"]["billable"] is False
    assert sent["conversation"]["origin"]["type"] == "referral_conversion"
    assert env.receiver.messages()[0]["referral"] == referral
    assert CUSTOMER in (await env.client.get("/sent")).json()[0]["to"]
