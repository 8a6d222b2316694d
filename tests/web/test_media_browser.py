"""Media in the inbox, in Debian's Chromium against a real ``carewindow serve`` (sandbox, its own
media fetcher): the customer's photo shows inline byte for byte, a voice note plays, a document is
listed with name and size, and the agent attaches a file by drag-and-drop with a preview.

Screenshots go to ``$CAREWINDOW_SCREENSHOTS`` when set (scripts/screenshots writes docs/img/)."""

from __future__ import annotations

import hashlib
import os
import struct
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from browser_support import CHROMIUM, CHROMIUM_ARGS, browser_marks
from liveserver import carewindow_server

pytestmark = browser_marks("media-browser")
AGENT_KEY = "media-agent-key"
WA_ID = "34611000090"


def png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A real PNG (a gradient over ``rgb``), so the browser decodes it."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(
        b"\x00" + b"".join(bytes(((rgb[0] + x) % 256, (rgb[1] + y) % 256, rgb[2])) for x in range(width))
        for y in range(height)
    )
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


PHOTO = png(320, 200, (40, 90, 160))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    tmp = tmp_path_factory.mktemp("media-server")
    with carewindow_server(tmp, api_keys=f"{AGENT_KEY}:agent", CAREWINDOW_HOME=str(tmp)) as base:
        with httpx.Client(base_url=base, timeout=10) as http:
            yield http


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser: Any, server: httpx.Client) -> Iterator[Any]:
    context = browser.new_context(base_url=str(server.base_url), viewport={"width": 1280, "height": 860})
    pg = context.new_page()
    pg.goto("/inbox")
    pg.get_by_label("API key").fill(AGENT_KEY)
    pg.get_by_role("button", name="Sign in").click()
    pg.wait_for_url("**/inbox")
    yield pg
    context.close()


def customer_sends(http: httpx.Client, data: bytes, mime: str, kind: str, name: str, **form: str) -> None:
    r = http.post(
        f"/sandbox/customers/{WA_ID}/media",
        files={"file": (name, data, mime)},
        data={"type": kind, **form},
    )
    assert r.status_code == 200, r.text
    assert r.json()["callback_status"] == 200


def test_media_in_the_thread_and_the_composer(page: Any, server: httpx.Client, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    r = server.post(
        f"/sandbox/customers/{WA_ID}/messages",
        json={"text": "My router looks like this", "profile_name": "Marta Gil"},
    )
    assert r.status_code == 200
    customer_sends(server, PHOTO, "image/png", "image", "router.png", caption="the blinking light")
    customer_sends(server, os.urandom(6000), "audio/ogg", "audio", "voice.ogg")
    customer_sends(server, b"%PDF-1.4\n" + os.urandom(40_000), "application/pdf", "document", "contract.pdf")
    page.goto(f"/inbox/c/100000000000001/{WA_ID}")
    expect(page.locator("#live-status")).to_have_attribute("data-state", "live")
    img = page.locator("#thread img.media-thumb")
    expect(img).to_be_visible(timeout=15_000)  # live: shown once the fetcher has the bytes
    page.wait_for_function("() => document.querySelector('#thread img.media-thumb').naturalWidth === 320")
    # The browser got the very bytes the customer sent (through the session cookie).
    digest = page.evaluate(
        """async () => {
            const src = document.querySelector('#thread img.media-thumb').src;
            const buf = await (await fetch(src)).arrayBuffer();
            const h = await crypto.subtle.digest('SHA-256', buf);
            return [...new Uint8Array(h)].map(b => b.toString(16).padStart(2, '0')).join('');
        }"""
    )
    assert digest == hashlib.sha256(PHOTO).hexdigest()
    expect(page.locator("#thread audio")).to_have_count(1, timeout=15_000)
    doc = page.locator("#thread .media-file")
    expect(doc).to_contain_text("contract.pdf", timeout=15_000)
    expect(doc).to_contain_text("39 KB")

    # The agent drops a file on the composer: preview, then send.
    attachment = png(64, 64, (200, 60, 60))
    page.evaluate(
        """([bytes]) => {
            const file = new File([new Uint8Array(bytes)], 'label.png', {type: 'image/png'});
            const dt = new DataTransfer();
            dt.items.add(file);
            const zone = document.querySelector('[data-drop]');
            zone.dispatchEvent(new DragEvent('drop', {dataTransfer: dt, bubbles: true, cancelable: true}));
        }""",
        [list(attachment)],
    )
    preview = page.locator("[data-preview]")
    expect(preview).to_contain_text(f"label.png · {round(len(attachment) / 1024)} KB")
    page.wait_for_function("() => document.querySelector('[data-preview] img')?.naturalWidth === 64")
    page.get_by_label("Caption (optional)").fill("print this label")
    out = Path(os.environ.get("CAREWINDOW_SCREENSHOTS") or tmp_path)
    out.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(out / "inbox-media.png"))
    page.get_by_role("button", name="Send file").click()
    sent = page.locator("#thread .bubble.out img.media-thumb")
    expect(sent).to_be_visible(timeout=15_000)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        bodies = [s["body"] for s in server.get("/sandbox/sent", params={"to": WA_ID}).json()]
        images = [b for b in bodies if b.get("type") == "image"]
        if images:
            break
        time.sleep(0.2)
    assert images and images[-1]["image"]["caption"] == "print this label"
    assert (out / "inbox-media.png").stat().st_size > 10_000
