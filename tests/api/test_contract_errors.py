"""Every error code of the contract's table, over HTTP, with the status the contract gives it."""

from __future__ import annotations

from typing import Any

import pytest
from service_support import Service

pytestmark = pytest.mark.anyio
WA = "34600111333"


async def _template(svc: Service, name: str, body: str, category: str = "utility") -> None:
    r = await svc.http.post(
        "/v1/templates",
        headers=svc.auth(),
        json={"name": name, "language": "en", "category": category, "body": body},
    )
    assert r.status_code == 201, r.text


async def _send(svc: Service, body: dict[str, Any], role: str = "agent") -> Any:
    return await svc.http.post("/v1/messages", headers=svc.auth(role), json={"to": WA, **body})


async def _opt_in(svc: Service) -> None:
    r = await svc.http.put(
        f"/v1/contacts/{WA}/consent", headers=svc.auth(), json={"status": "opted_in", "source": "test"}
    )
    assert r.status_code == 200


def _err(r: Any, status: int, code: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert err["code"] == code
    assert isinstance(err["message"], str) and len(err["message"]) > 10
    return err  # type: ignore[no-any-return]


async def test_window_closed(service: Service) -> None:
    err = _err(await _send(service, {"type": "text", "text": {"body": "hi"}}), 409, "window_closed")
    assert "template" in err["message"].lower()


async def test_no_consent_then_opt_out(service: Service) -> None:
    await _template(service, "hello", "Hello {{1}}")
    tpl = {"type": "template", "template": {"name": "hello", "language": "en", "parameters": ["Ana"]}}
    _err(await _send(service, tpl), 403, "no_consent")
    await _opt_in(service)
    r = await service.http.put(
        f"/v1/contacts/{WA}/consent", headers=service.auth(), json={"status": "opted_out", "source": "call"}
    )
    assert r.json()["status"] == "opted_out"
    assert [h["status"] for h in r.json()["history"]] == ["opted_out", "opted_in"]
    _err(await _send(service, tpl), 403, "no_consent")


async def test_template_not_found_and_not_approved(service: Service) -> None:
    await _opt_in(service)
    tpl = {"type": "template", "template": {"name": "nope", "language": "en"}}
    _err(await _send(service, tpl), 404, "template_not_found")
    await _template(service, "promo", "Big sale", category="marketing")
    # The sandbox's own approval webhook must land before our manual PAUSED, not after it.
    await service.drain()
    r = await service.http.put("/v1/templates/promo/en", headers=service.auth(), json={"status": "PAUSED"})
    assert r.status_code == 200 and r.json()["status"] == "PAUSED"
    _err(
        await _send(service, {"type": "template", "template": {"name": "promo", "language": "en"}}),
        409,
        "template_not_approved",
    )


@pytest.mark.parametrize(
    ("params", "meta_code"),
    [
        ({}, 132000),  # missing
        ({"ticket_id": "T-1", "extra": "x"}, 132012),  # an unknown name is a format mismatch
        ({"ticket_id": "line\nbreak"}, 132018),
        ({"ticket_id": "a     b"}, 132018),  # five spaces
        (["T-1"], 132012),  # positional values for a named template
    ],
)
async def test_template_params_invalid(service: Service, params: Any, meta_code: int) -> None:
    await _opt_in(service)
    await _template(service, "ticket_update", "Your ticket {{ticket_id}} was updated.")
    tpl = {"type": "template", "template": {"name": "ticket_update", "language": "en", "parameters": params}}
    err = _err(await _send(service, tpl), 422, "template_params_invalid")
    assert err["meta_code"] == meta_code


async def test_reengagement_pending(service: Service) -> None:
    await _opt_in(service)
    await _template(service, "hello", "Hello {{1}}")
    tpl = {
        "type": "template",
        "template": {"name": "hello", "language": "en", "parameters": ["Ana"]},
        "purpose": "reengagement",
    }
    assert (await _send(service, tpl)).status_code == 202
    err = _err(await _send(service, tpl), 409, "reengagement_pending")
    assert "repl" in err["message"].lower()


async def test_notifications_to_a_customer_who_never_wrote_are_not_limited(service: Service) -> None:
    """docs/rules.md "Re-engagement and notifications": "order shipped" no longer blocks "order
    delivered" for an opted-in customer who never wrote."""
    await _opt_in(service)
    await _template(service, "hello", "Hello {{1}}")
    tpl = {"type": "template", "template": {"name": "hello", "language": "en", "parameters": ["Ana"]}}
    for _ in range(3):
        assert (await _send(service, tpl)).status_code == 202
    bad = await _send(service, {**tpl, "purpose": "sometimes"})
    assert bad.status_code == 422


@pytest.mark.parametrize(
    "body",
    [
        {"type": "text"},
        {"type": "text", "text": {"body": ""}},
        {"type": "text", "text": {"body": "x" * 4097}},
        {"type": "carrier_pigeon", "text": {"body": "x"}},
        {"type": "text", "text": {"body": "x"}, "on_closed": "defer"},
        {"type": "image", "image": {"caption": "no id or link"}},
        {"type": "text", "text": {"body": "x"}, "unknown_field": 1},
    ],
)
async def test_validation_error_names_the_field(service: Service, body: dict[str, Any]) -> None:
    err = _err(await _send(service, body), 422, "validation_error")
    assert err.get("fields"), err


async def test_validation_error_bad_phone(service: Service) -> None:
    r = await service.http.post(
        "/v1/messages",
        headers=service.auth(),
        json={"to": "not-a-number", "type": "text", "text": {"body": "x"}},
    )
    err = _err(r, 422, "validation_error")
    assert err["fields"][0]["loc"][-1] == "to"


async def test_unauthorized_and_forbidden(service: Service) -> None:
    r = await service.http.post("/v1/messages", json={"to": WA, "type": "text", "text": {"body": "x"}})
    _err(r, 401, "unauthorized")
    r = await service.http.get("/v1/conversations", headers={"Authorization": "Bearer wrong"})
    _err(r, 401, "unauthorized")
    r = await service.http.post(
        "/v1/templates",
        headers=service.auth("agent"),
        json={"name": "x", "language": "en", "category": "utility", "body": "hi"},
    )
    _err(r, 403, "forbidden")
    r = await service.http.post("/v1/keys", headers=service.auth("agent"), json={"role": "admin"})
    _err(r, 403, "forbidden")
    r = await service.http.get("/v1/conversations", headers=service.auth("integration"))
    _err(r, 403, "forbidden")


async def test_created_key_works_and_revocation_is_immediate(service: Service) -> None:
    r = await service.http.post("/v1/keys", headers=service.auth(), json={"role": "agent", "name": "desk"})
    assert r.status_code == 201
    key, key_id = r.json()["key"], r.json()["id"]
    headers = {"Authorization": f"Bearer {key}"}
    assert (await service.http.get("/v1/conversations", headers=headers)).status_code == 200
    listed = (await service.http.get("/v1/keys", headers=service.auth())).json()
    assert all("key" not in k or k["key"] is None for k in listed)
    assert (await service.http.delete(f"/v1/keys/{key_id}", headers=service.auth())).status_code == 204
    _err(await service.http.get("/v1/conversations", headers=headers), 401, "unauthorized")


async def test_provider_error_keeps_metas_reason(service: Service) -> None:
    """A template that already exists: the sandbox answers as Meta does (code 100 "Invalid parameter",
    subcode 2388024, error_user_title / error_user_msg); the contract error keeps all of it."""
    await _template(service, "hello", "Hello {{1}}")
    r = await service.http.post(
        "/v1/templates",
        headers=service.auth(),
        json={"name": "hello", "language": "en", "category": "utility", "body": "Hello again {{1}}"},
    )
    err = _err(r, 422, "provider_error")
    assert "Content in This Language Already Exists" in err["message"]
    assert "There's already en content for this template" in err["message"]
    assert "Meta error 100, subcode 2388024" in err["message"]
    assert err["provider_code"] == 100
    provider = err["provider"]
    assert (provider["code"], provider["error_subcode"]) == (100, 2388024)
    assert provider["title"] == "Invalid parameter" and provider["message"] == "Invalid parameter"
    assert provider["error_user_title"] == "Content in This Language Already Exists"
    assert provider["error_user_msg"].startswith("There's already en content for this template.")
    assert "already has content in en" in provider["details"]
    assert provider["transient"] is False and provider["http_status"] == 400
