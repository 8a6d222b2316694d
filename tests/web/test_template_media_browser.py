"""Outside the window, the inbox's template picker offers a template whose header is media, with a
file picker for the header: the file is uploaded through the upload use case and the template goes
out with Meta's header component naming it by id. In Debian's Chromium against a real
``carewindow serve`` (sandbox)."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from browser_support import CHROMIUM, CHROMIUM_ARGS, browser_marks
from liveserver import carewindow_server

pytestmark = browser_marks("template-media-browser")
AGENT_KEY = "tmedia-agent-key"
ADMIN_KEY = "tmedia-admin-key"
WA_ID = "34611000091"
PDF = b"%PDF-1.4\n" + bytes(range(256)) * 40


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    tmp = tmp_path_factory.mktemp("tmedia-server")
    keys = f"{AGENT_KEY}:agent,{ADMIN_KEY}:admin"
    with carewindow_server(tmp, api_keys=keys, CAREWINDOW_HOME=str(tmp)) as base:
        with httpx.Client(base_url=base, timeout=10) as http:
            yield http


def admin() -> dict[str, str]:
    return {"Authorization": f"Bearer {ADMIN_KEY}"}


def wait_for(check: Any, what: str) -> Any:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        got = check()
        if got:
            return got
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_the_picker_sends_a_document_header_template_outside_the_window(
    server: httpx.Client, tmp_path: Path
) -> None:
    from playwright.sync_api import expect, sync_playwright

    r = server.post(
        "/v1/templates",
        headers=admin(),
        json={
            "name": "invoice_ready",
            "language": "en",
            "category": "utility",
            "body": "Your invoice {{1}} is attached.",
            "header_format": "DOCUMENT",
        },
    )
    assert r.status_code == 201, r.text
    wait_for(
        lambda: server.get("/v1/templates/invoice_ready/en", headers=admin()).json()["status"] == "APPROVED",
        "the sandbox's approval",
    )
    r = server.put(
        f"/v1/contacts/{WA_ID}/consent", headers=admin(), json={"status": "opted_in", "source": "signup"}
    )
    assert r.status_code == 200, r.text
    invoice = tmp_path / "invoice-0042.pdf"
    invoice.write_bytes(PDF)

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            viewport = {"width": 1280, "height": 860}
            context = browser.new_context(base_url=str(server.base_url), viewport=viewport)
            page = context.new_page()
            page.goto("/inbox")
            page.get_by_label("API key").fill(AGENT_KEY)
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url("**/inbox")
            page.goto(f"/inbox/c/100000000000001/{WA_ID}")
            # The window is closed: no free text, the template picker is open.
            expect(page.locator("#message-text")).to_be_disabled()
            picker = page.locator("#template-picker")
            picker.select_option(label="invoice_ready (en) · utility")
            form = page.locator("form.template-form:not([hidden])")
            expect(form).to_have_attribute("data-header-media", "document")
            file_input = form.locator("input[data-header-file]")
            expect(file_input).to_be_visible()
            file_input.set_input_files(str(invoice))
            expect(form.locator(".preview-header-media")).to_contain_text("invoice-0042.pdf")
            form.locator("input[data-param]").fill("F-0042")
            expect(form.locator(".preview-body")).to_have_text("Your invoice F-0042 is attached.")
            form.get_by_role("button", name="Send template").click()
            page.wait_for_url(f"**/inbox/c/100000000000001/{WA_ID}")
            expect(page.locator("[role=alert]")).to_have_count(0)
        finally:
            browser.close()

    def sent_template() -> Any:
        sent = server.get("/sandbox/sent", params={"to": WA_ID}).json()
        found = [s for s in sent if s["body"].get("type") == "template"]
        return found[0] if found else None

    msg = wait_for(sent_template, "the template at the sandbox")
    [header] = [c for c in msg["body"]["template"]["components"] if c["type"] == "header"]
    [param] = header["parameters"]
    assert param["type"] == "document"
    assert param["document"]["filename"] == "invoice-0042.pdf"
    # Sent by id: the sandbox holds the very bytes the agent picked.
    token = {"Authorization": "Bearer sandbox-access-token"}
    info = server.get(f"/sandbox/graph/v23.0/{param['document']['id']}", headers=token).json()
    assert info["sha256"] == hashlib.sha256(PDF).hexdigest()
