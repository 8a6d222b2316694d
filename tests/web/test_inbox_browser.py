"""The inbox in Debian's Chromium, driven by Playwright, against a real ``carewindow serve`` with the sandbox.

One server per module (loopback only). Screenshots go to ``$CAREWINDOW_SCREENSHOTS`` when set (see
scripts/screenshots, which writes docs/img/), else to a temporary directory.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from browser_support import CHROMIUM, CHROMIUM_ARGS, browser_marks
from liveserver import carewindow_server

pytestmark = browser_marks("inbox-browser")
AGENT_KEY = "browser-agent-key"
ADMIN_KEY = "browser-admin-key"
XSS = "<img src=x onerror=alert(1)>"
HOUR = 3600


@dataclass
class Server:
    base: str
    http: httpx.Client

    def say(self, wa_id: str, text: str, *, name: str, at: float | None = None) -> None:
        """A simulated customer writes (at unix time ``at``, default now)."""
        body: dict[str, Any] = {"text": text, "profile_name": name}
        if at is not None:
            body["timestamp"] = int(at)
        r = self.http.post(f"/sandbox/customers/{wa_id}/messages", json=body)
        assert r.status_code == 200, r.text
        assert r.json()["callback_status"] == 200, r.json()

    def opt_in(self, wa_id: str) -> None:
        r = self.http.put(
            f"/v1/contacts/{wa_id}/consent",
            headers={"Authorization": f"Bearer {ADMIN_KEY}"},
            json={"status": "opted_in", "source": "web_form", "proof": "signup checkbox"},
        )
        assert r.status_code == 200, r.text


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("inbox-server")
    with carewindow_server(tmp, api_keys=f"{AGENT_KEY}:agent,{ADMIN_KEY}:admin") as base:
        http = httpx.Client(base_url=base, timeout=10)
        try:
            admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
            for spec in (
                {
                    "name": "order_update",
                    "language": "en",
                    "category": "utility",
                    "body": "Hi {{name}}, your order {{order_id}} has shipped.",
                    "footer": "Reply STOP to opt out",
                },
                {
                    "name": "appointment_reminder",
                    "language": "es",
                    "category": "utility",
                    "body": "Hola {{1}}, le recordamos su cita el {{2}}.",
                },
            ):
                r = http.post("/v1/templates", headers=admin, json=spec)
                assert r.status_code == 201, r.text
            yield Server(base=base, http=http)
        finally:
            http.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser: Any, server: Server) -> Iterator[Any]:
    context = browser.new_context(base_url=server.base, viewport={"width": 1280, "height": 820})
    pg = context.new_page()
    dialogs: list[str] = []
    pg.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    pg.dialogs = dialogs
    pg.goto("/inbox")
    pg.get_by_label("API key").fill(AGENT_KEY)
    pg.get_by_role("button", name="Sign in").click()
    pg.wait_for_url("**/inbox")
    yield pg
    context.close()


def open_conversation(page: Any, wa_id: str) -> None:
    from playwright.sync_api import expect

    page.goto(f"/inbox/c/100000000000001/{wa_id}")
    expect(page.locator("#live-status")).to_have_attribute("data-state", "live")


def test_customer_message_appears_live(page: Any, server: Server) -> None:
    from playwright.sync_api import expect

    expect(page.locator("#live-status")).to_have_attribute("data-state", "live")
    server.say("34611000001", "Hello, is anyone there?", name="Ana García")
    row = page.locator("#conversation-list li", has_text="Ana García")
    expect(row).to_contain_text("Hello, is anyone there?", timeout=10_000)
    expect(row.locator(".window")).to_contain_text(" left")
    expect(row.locator(".consent")).to_have_text("no opt-in")
    row.locator("a").click()
    expect(page.locator("#live-status")).to_have_attribute("data-state", "live")
    server.say("34611000001", "My order has not arrived", name="Ana García")
    expect(page.locator("#thread .bubble.in .bubble-text").last).to_have_text(
        "My order has not arrived", timeout=10_000
    )
    # The agent answers; the ticks follow the sandbox's statuses without a reload.
    page.get_by_label("Message", exact=True).fill("Let me check that for you.")
    page.get_by_role("button", name="Send", exact=True).click()
    out = page.locator("#thread .bubble.out").last
    expect(out).to_contain_text("Let me check that for you.")
    expect(out.locator(".status")).to_contain_text("read", timeout=10_000)
    expect(out.locator(".charge")).to_have_text("free · service")


def test_window_closes_live_and_composer_switches(page: Any, server: Server) -> None:
    from playwright.sync_api import expect

    # The customer wrote just under 24 h ago: the window closes a few seconds from now.
    wrote_at = int(time.time()) - 24 * HOUR + 7
    server.say("34611000002", "Can you call me back?", name="Bruno Costa", at=wrote_at)
    open_conversation(page, "34611000002")
    badge = page.locator("#conversation-header .window")
    expect(badge).to_have_text(re.compile(r"^\d s left$"))
    text = page.get_by_label("Message", exact=True)
    expect(text).to_be_enabled()
    remaining = max(0.0, wrote_at + 24 * HOUR - time.time())
    # Closed within 2 s of the expiry: badge, disabled free text with the reason, the template section.
    expect(text).to_be_disabled(timeout=(remaining + 2) * 1000)
    expect(badge).to_contain_text("closed")
    expect(page.locator("#text-reason")).to_contain_text("customer care window closed")
    expect(page.locator("#template-reason")).to_contain_text("No opt-in is recorded")
    expect(page.get_by_role("button", name="Record opt-in")).to_be_visible()


def test_template_sent_from_the_picker_reaches_the_sandbox(page: Any, server: Server) -> None:
    from playwright.sync_api import expect

    wa_id = "34611000003"
    server.say(wa_id, "Where is my parcel?", name="Lucía Fernández", at=time.time() - 30 * HOUR)
    open_conversation(page, wa_id)
    expect(page.locator("#conversation-header .window")).to_contain_text("closed 6 h ago")
    # Unblock templates with the opt-in form, as an agent would.
    page.get_by_label("Where did the customer agree? (source)").fill("phone call")
    page.get_by_label("Proof (optional)").fill("call ref 8812")
    page.get_by_role("button", name="Record opt-in").click()
    expect(page.locator("#conversation-header .consent")).to_have_text("opted in")
    page.get_by_label("Template").select_option(label="order_update (en) · utility")
    form = page.locator("form.template-form:visible")
    expect(form.locator(".preview-body")).to_have_text("Hi {{name}}, your order {{order_id}} has shipped.")
    form.get_by_label("name", exact=True).fill("Lucía")
    form.get_by_label("order_id", exact=True).fill("A-1001")
    expect(form.locator(".preview-body")).to_have_text("Hi Lucía, your order A-1001 has shipped.")
    form.get_by_role("button", name="Send template").click()
    bubble = page.locator("#thread .bubble.out.is-template").last
    expect(bubble).to_contain_text("Hi Lucía, your order A-1001 has shipped.")
    expect(bubble).to_contain_text("order_update (en)")
    deadline = time.monotonic() + 5
    while True:
        sent = [
            m
            for m in server.http.get("/sandbox/sent", params={"to": wa_id}).json()
            if m["type"] == "template"
        ]
        if sent or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert len(sent) == 1, sent
    assert sent[0]["body"]["template"]["name"] == "order_update"
    params = sent[0]["body"]["template"]["components"][0]["parameters"]
    assert [p["text"] for p in params] == ["Lucía", "A-1001"]
    # One re-engagement template is the limit: the composer now explains why nothing more may go out.
    expect(page.locator("#template-reason")).to_contain_text("Re-engagement pending")
    expect(bubble.locator(".charge")).to_contain_text("utility")


def test_customer_markup_is_shown_as_text_and_runs_nothing(page: Any, server: Server) -> None:
    from playwright.sync_api import expect

    wa_id = "34611000004"
    server.say(wa_id, "first", name="<b>Mallory</b>")
    open_conversation(page, wa_id)
    server.say(wa_id, XSS, name="<b>Mallory</b>")  # arrives live, through the SSE refresh path
    expect(page.locator("#thread .bubble-text").last).to_have_text(XSS, timeout=2000)
    page.reload()
    expect(page.locator("#thread .bubble-text").last).to_have_text(XSS)
    expect(page.locator("#conversation-header h1")).to_have_text("<b>Mallory</b>")
    expect(page.locator("#conversation-list li", has_text="Mallory")).to_contain_text(XSS)
    page.wait_for_timeout(300)
    assert page.locator("main img, nav img, main b, nav b").count() == 0
    assert page.dialogs == []


def test_failed_delivery_shows_the_platform_reason(page: Any, server: Server) -> None:
    from playwright.sync_api import expect

    wa_id = "15559990001"  # the sandbox fails sends to 1555999… with 131026
    server.say(wa_id, "Hi, I need help", name="Dmitri Ivanov")
    open_conversation(page, wa_id)
    page.get_by_label("Message", exact=True).fill("Sure, how can we help?")
    page.get_by_role("button", name="Send", exact=True).click()
    out = page.locator("#thread .bubble.out").last
    expect(out.locator(".status")).to_contain_text("failed", timeout=3000)
    expect(out.locator(".bubble-error")).to_contain_text("131026")
    expect(out.locator(".bubble-error")).to_contain_text("undeliverable")


def test_screenshots(page: Any, server: Server, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    out = Path(os.environ.get("CAREWINDOW_SCREENSHOTS") or tmp_path)
    out.mkdir(parents=True, exist_ok=True)
    now = time.time()
    server.say("34611000020", "The app keeps logging me out", name="Sofía Ruiz", at=now - 23.8 * HOUR)
    server.say("34611000021", "Thanks, that fixed it!", name="Tomás Herrera", at=now - 21.7 * HOUR)
    wa_id = "34611000022"
    server.say(wa_id, "Hi, I ordered a blue jacket last week", name="Jorge Martín", at=now - 28 * HOUR)
    server.say(wa_id, "Order A-2044. Can I still change the size?", name="Jorge Martín", at=now - 27.9 * HOUR)
    server.opt_in(wa_id)
    page.goto("/inbox")
    expect(page.locator("#live-status")).to_have_attribute("data-state", "live")
    expect(page.locator("#conversation-list li").first).to_contain_text("Sofía Ruiz")
    page.screenshot(path=str(out / "inbox-list.png"))
    open_conversation(page, wa_id)
    page.get_by_label("Template").select_option(label="order_update (en) · utility")
    form = page.locator("form.template-form:visible")
    form.get_by_label("name", exact=True).fill("Jorge")
    form.get_by_label("order_id", exact=True).fill("A-2044")
    expect(form.locator(".preview-body")).to_have_text("Hi Jorge, your order A-2044 has shipped.")
    page.screenshot(path=str(out / "inbox-closed-window.png"))
    assert (out / "inbox-list.png").stat().st_size > 10_000
