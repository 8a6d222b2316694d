"""The Costs page in Debian's Chromium (Playwright) against a real ``carewindow serve`` with the sandbox:
after a free reply and a billed template, the SVG charts show bars and labels. The page's screenshot goes
to ``$CAREWINDOW_SCREENSHOTS`` when set (scripts/screenshots writes docs/img/inbox-costs.png)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from browser_support import CHROMIUM, CHROMIUM_ARGS, browser_marks
from liveserver import carewindow_server

pytestmark = browser_marks("costs-browser")
AGENT_KEY = "costs-agent-key"
ADMIN_KEY = "costs-admin-key"
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real server with a free reply and a billed utility template in its ledger."""
    tmp = tmp_path_factory.mktemp("costs-server")
    with carewindow_server(tmp, api_keys=f"{AGENT_KEY}:agent,{ADMIN_KEY}:admin") as base:
        http = httpx.Client(base_url=base, timeout=10)
        try:
            spec = {
                "name": "order_update",
                "language": "en",
                "category": "utility",
                "body": "Order {{1}} shipped.",
            }
            assert http.post("/v1/templates", headers=ADMIN, json=spec).status_code == 201
            # A customer writes and gets a free reply.
            r = http.post(
                "/sandbox/customers/34611000009/messages", json={"text": "Hi", "profile_name": "Eva"}
            )
            assert r.status_code == 200, r.text
            r = http.post(
                "/v1/messages",
                headers=ADMIN,
                json={"to": "34611000009", "type": "text", "text": {"body": "Hello!"}},
            )
            assert r.status_code == 202, r.text
            # Another, opted-in customer who never wrote gets a template: billed.
            r = http.put(
                "/v1/contacts/447700900555/consent",
                headers=ADMIN,
                json={"status": "opted_in", "source": "web_form", "proof": "checkbox"},
            )
            assert r.status_code == 200, r.text
            body = {
                "to": "447700900555",
                "type": "template",
                "template": {"name": "order_update", "language": "en", "parameters": ["A-1"]},
            }
            r = http.post("/v1/messages", headers=ADMIN, json=body)
            assert r.status_code == 202 and r.json()["charge"]["billable"] is True, r.text
            yield base
        finally:
            http.close()


@pytest.fixture
def page(base_url: str) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        context = browser.new_context(base_url=base_url, viewport={"width": 1280, "height": 900})
        pg = context.new_page()
        pg.goto("/inbox")
        pg.get_by_label("API key").fill(AGENT_KEY)
        pg.get_by_role("button", name="Sign in").click()
        pg.wait_for_url("**/inbox")
        yield pg
        context.close()
        browser.close()


def test_costs_page_shows_svg_charts(page: Any) -> None:
    from playwright.sync_api import expect

    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.get_by_role("link", name="Costs").click()
    page.wait_for_url("**/inbox/costs")
    expect(page.get_by_role("heading", name="Daily spend by category")).to_be_visible()
    spend = page.locator("svg#spend-chart")
    expect(spend).to_be_visible()
    bars = spend.locator("rect.bar")
    expect(bars).to_have_count(1)
    assert bars.first.get_attribute("data-category") == "utility"
    assert float(bars.first.get_attribute("height")) > 10
    expect(spend.locator("text.day-label").first).to_be_visible()
    expect(page.locator(".legend")).to_contain_text("utility")
    free = page.locator("svg#free-chart")
    expect(free).to_be_visible()
    expect(free.locator("rect.free")).to_have_count(1)
    assert "1 of 2 free" in (free.locator("rect.free title").first.text_content() or "")
    expect(page.locator("#total-spent")).to_contain_text("USD")
    expect(page.locator("#answered-share")).to_contain_text("%")
    # Today's era names the prices, this month's free tier has a line, the what-if a bar per model.
    era = "meta_pmp_2026" if datetime.now(UTC).date().isoformat() >= "2026-10-01" else "meta_pmp"
    expect(page.locator("#eras-used")).to_contain_text(era)
    expect(page.locator(".allowance-line").first).to_contain_text("of 1000")
    what_if = page.locator("svg#what-if-chart")
    expect(what_if).to_be_visible()
    expect(what_if.locator("rect.what-if")).to_have_count(6)
    assert what_if.locator("rect.what-if").first.get_attribute("data-model") == "ledger"
    expect(page.locator("#reconciliation")).to_be_visible()
    box = spend.bounding_box()
    assert box is not None and box["width"] > 400 and box["height"] > 100
    assert errors == []  # nothing blocked by the Content-Security-Policy
    shots = os.environ.get("CAREWINDOW_SCREENSHOTS")
    if shots:
        page.screenshot(path=str(Path(shots) / "inbox-costs.png"), full_page=True)
