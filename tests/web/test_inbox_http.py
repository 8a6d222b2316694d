"""The inbox over HTTP, in process: sign-in, CSRF, escaping, access rules (SQLite and PostgreSQL)."""

from __future__ import annotations

import html
import re

import httpx
import pytest
from service_support import API_KEYS, Service

from carewindow.storage import api_keys as key_store
from carewindow.storage.engine import write_tx

pytestmark = pytest.mark.anyio
CUSTOMER = "34600111222"
XSS = "<img src=x onerror=alert(1)>"


def csrf_of(page: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, "no CSRF token in the page"
    return match.group(1)


async def sign_in(svc: Service, key: str = API_KEYS["agent"]) -> httpx.Response:
    r = await svc.http.get("/inbox/login")
    assert r.status_code == 200
    return await svc.http.post("/inbox/login", data={"api_key": key, "csrf_token": csrf_of(r.text)})


async def customer_says(svc: Service, text: str, wa_id: str = CUSTOMER, **extra: object) -> None:
    r = await svc.http.post(f"/sandbox/customers/{wa_id}/messages", json={"text": text, **extra})
    assert r.status_code == 200, r.text
    assert r.json()["callback_status"] == 200, r.json()


def conversation_url(svc: Service, wa_id: str = CUSTOMER) -> str:
    return f"/inbox/c/{svc.rt.phone_number_id}/{wa_id}"


async def test_unauthenticated_pages_redirect_to_sign_in(service: Service) -> None:
    for path in ("/inbox", conversation_url(service)):
        r = await service.http.get(path)
        assert r.status_code == 303
        assert r.headers["location"] == "/inbox/login"
    r = await service.http.get("/inbox/events")
    assert r.status_code == 401


async def test_sign_in_sets_a_protected_cookie_and_sign_out_ends_it(service: Service) -> None:
    r = await sign_in(service)
    assert r.status_code == 303
    assert r.headers["location"] == "/inbox"
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie or "samesite=lax" in cookie.lower()
    assert "Secure" not in cookie  # the public URL is http here
    assert API_KEYS["agent"] not in cookie
    r = await service.http.get("/inbox")
    assert r.status_code == 200
    assert "Conversations" in r.text
    assert "default-src 'self'" in r.headers["content-security-policy"]
    r = await service.http.post("/inbox/logout", data={"csrf_token": csrf_of(r.text)})
    assert r.status_code == 303
    assert (await service.http.get("/inbox")).status_code == 303


async def test_bad_and_integration_keys_cannot_sign_in(service: Service) -> None:
    r = await sign_in(service, "not-a-key")
    assert r.status_code == 401
    assert "Unknown or revoked API key" in r.text
    r = await sign_in(service, API_KEYS["integration"])
    assert r.status_code == 403
    assert "integration key cannot sign in" in r.text
    assert (await service.http.get("/inbox")).status_code == 303
    r = await sign_in(service, API_KEYS["admin"])
    assert r.status_code == 303


async def test_posts_without_the_session_csrf_token_are_refused(service: Service) -> None:
    r = await service.http.get("/inbox/login")
    r = await service.http.post("/inbox/login", data={"api_key": API_KEYS["agent"], "csrf_token": "forged"})
    assert r.status_code == 403
    assert (await service.http.get("/inbox")).status_code == 303
    await sign_in(service)
    await customer_says(service, "hola")
    url = conversation_url(service)
    r = await service.http.post(f"{url}/send", data={"mode": "text", "body": "hi", "csrf_token": "forged"})
    assert r.status_code == 403
    r = await service.http.post(f"{url}/send", data={"mode": "text", "body": "hi"})
    assert r.status_code == 403
    r = await service.http.post(f"{url}/consent", data={"source": "x"})
    assert r.status_code == 403
    r = await service.http.get(f"/v1/contacts/{CUSTOMER}/messages", headers=service.auth("agent"))
    assert [m["direction"] for m in r.json()["data"]] == ["in"], "nothing was sent"


async def test_customer_text_is_escaped_in_the_list_and_thread(service: Service) -> None:
    await sign_in(service)
    await customer_says(service, XSS, profile_name="<b>Eve</b>")
    for path in ("/inbox", conversation_url(service)):
        r = await service.http.get(path)
        assert r.status_code == 200
        assert XSS not in r.text
        assert "<b>Eve</b>" not in r.text
        assert html.escape(XSS, quote=False) in r.text or "&lt;img src=x onerror=alert(1)&gt;" in r.text
        assert "&lt;b&gt;Eve&lt;/b&gt;" in r.text


async def test_open_window_allows_text_and_send_goes_through_the_actions(service: Service) -> None:
    await sign_in(service)
    await customer_says(service, "¿Dónde está mi pedido?")
    url = conversation_url(service)
    page = (await service.http.get(url)).text
    assert 'data-state="open:' in page
    assert "left</span>" in page
    assert (
        'id="message-text" name="body"' in page and "disabled" not in page.split('id="message-text"')[1][:80]
    )
    r = await service.http.post(
        f"{url}/send", data={"mode": "text", "body": "Lo miramos", "csrf_token": csrf_of(page), "idem": "k1"}
    )
    assert r.status_code == 303, r.text
    # The same form sent twice (a double click) is one message.
    r = await service.http.post(
        f"{url}/send", data={"mode": "text", "body": "Lo miramos", "csrf_token": csrf_of(page), "idem": "k1"}
    )
    assert r.status_code == 303
    await service.drain()
    page = (await service.http.get(url)).text
    assert "Lo miramos" in page
    assert "free · service" in page
    r = await service.http.get("/sandbox/sent")
    assert [m["body"]["text"]["body"] for m in r.json() if m["type"] == "text"] == ["Lo miramos"]


async def test_closed_window_offers_templates_and_explains_refusals(service: Service) -> None:
    r = await service.http.post(
        "/v1/templates",
        headers=service.auth(),
        json={
            "name": "ticket_update",
            "language": "es",
            "category": "utility",
            "body": "Ticket {{ticket_id}}.",
        },
    )
    assert r.status_code == 201, r.text
    await sign_in(service)
    await customer_says(service, "hola")
    service.clock.advance(hours=25)
    url = conversation_url(service)
    page = (await service.http.get(url)).text
    assert 'data-state="closed:consent"' in page
    assert "closed 1 h ago" in page
    assert "WhatsApp allows only approved templates" in page
    assert "Record opt-in" in page
    csrf = csrf_of(page)
    # Free text is refused by the policy even if the disabled field is bypassed.
    r = await service.http.post(f"{url}/send", data={"mode": "text", "body": "hey", "csrf_token": csrf})
    assert r.status_code == 409
    assert "window_closed" in r.text
    r = await service.http.post(
        f"{url}/consent", data={"source": "web_form", "proof": "box", "csrf_token": csrf}
    )
    assert r.status_code == 303
    page = (await service.http.get(url)).text
    assert 'data-state="closed:ok"' in page
    assert "ticket_update (es) · utility" in page
    r = await service.http.post(
        f"{url}/send",
        data={"mode": "template", "template": "ticket_update|es", "param": "", "csrf_token": csrf},
    )
    assert r.status_code == 422
    assert "template_params_invalid" in r.text
    r = await service.http.post(
        f"{url}/send",
        data={"mode": "template", "template": "ticket_update|es", "param": "T-42", "csrf_token": csrf},
    )
    assert r.status_code == 303, r.text
    page = (await service.http.get(url)).text
    assert "Ticket T-42." in page
    assert 'data-state="closed:reengagement"' in page
    assert "Re-engagement pending" in page


async def test_keys_limited_to_other_numbers_see_nothing(service: Service) -> None:
    await customer_says(service, "hola")
    with write_tx(service.rt.engine) as conn:
        key, _ = key_store.create(
            conn, role="agent", name="other", now=service.clock.now, phone_number_ids=["999"]
        )
    await sign_in(service, key)
    page = (await service.http.get("/inbox")).text
    assert CUSTOMER not in page
    r = await service.http.get(conversation_url(service))
    assert r.status_code == 403
    with write_tx(service.rt.engine) as conn:
        key_store.revoke(conn, _, service.clock.now)
    assert (await service.http.get("/inbox")).status_code == 303, "a revoked key ends its sessions"


async def test_list_is_one_query_and_sorted_by_urgency(service: Service) -> None:
    from sqlalchemy import event

    now = int(service.clock.now.timestamp())
    await customer_says(service, "old", wa_id="34600000001", timestamp=now - 30 * 3600)
    await customer_says(service, "closing soon", wa_id="34600000002", timestamp=now - 23 * 3600)
    await customer_says(service, "fresh", wa_id="34600000003")
    await customer_says(service, "older closed", wa_id="34600000004", timestamp=now - 40 * 3600)
    await sign_in(service)
    statements: list[str] = []

    def count(*args: object) -> None:
        statements.append(str(args[2]))

    engine = service.rt.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        page = (await service.http.get("/inbox")).text
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert len([s for s in statements if "FROM contacts" in s]) == 1, statements
    order = re.findall(r'conv-number">\+(\d+)<', page)
    assert order == ["34600000002", "34600000003", "34600000001", "34600000004"]
