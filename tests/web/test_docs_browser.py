"""/docs (Swagger UI) and /redoc render in Debian's Chromium with every request to another host cut
off, and nothing is blocked by their Content-Security-Policy: the API docs work offline."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from browser_support import CHROMIUM, CHROMIUM_ARGS, browser_marks
from liveserver import bound_socket, thread_server
from service_support import make_settings

from carewindow.api.app import create_app

pytestmark = browser_marks("docs-browser")


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("docs-server")
    sock = bound_socket()
    public = f"http://127.0.0.1:{sock.getsockname()[1]}"
    settings = make_settings(f"sqlite:///{tmp / 'carewindow.db'}", public_url=public)
    with thread_server(create_app(settings, migrate=True, run_worker=False), sock) as base:
        yield base


@pytest.fixture
def offline(base_url: str) -> Iterator[tuple[Any, list[str], list[str]]]:
    """A page whose requests to any other host fail, the URLs it tried, and its console errors."""
    from playwright.sync_api import sync_playwright

    here = urlsplit(base_url).netloc
    elsewhere: list[str] = []
    errors: list[str] = []

    def route(r: Any) -> None:
        if urlsplit(r.request.url).netloc == here or r.request.url.startswith(("data:", "blob:")):
            r.continue_()
        else:
            elsewhere.append(r.request.url)
            r.abort("internetdisconnected")

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        context = browser.new_context(base_url=base_url, viewport={"width": 1280, "height": 900})
        context.route("**/*", route)
        page = context.new_page()
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        yield page, elsewhere, errors
        context.close()
        browser.close()


def test_swagger_ui_renders_offline(offline: tuple[Any, list[str], list[str]]) -> None:
    from playwright.sync_api import expect

    page, elsewhere, errors = offline
    page.goto("/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("carewindow")
    expect(page.locator(".opblock").first).to_be_visible()  # the operations, from /openapi.json
    assert page.locator(".opblock").count() > 10
    page.wait_for_load_state("networkidle")
    assert elsewhere == []
    assert errors == []  # nothing blocked by the Content-Security-Policy


def test_redoc_renders_offline(offline: tuple[Any, list[str], list[str]]) -> None:
    from playwright.sync_api import expect

    page, elsewhere, errors = offline
    page.goto("/redoc")
    expect(page.get_by_role("heading", name=re.compile(r"^carewindow"))).to_be_visible()
    expect(page.get_by_text("/v1/messages").first).to_be_attached()
    page.wait_for_load_state("networkidle")
    assert elsewhere == []
    # ReDoc's bundle shows the Redocly logo from its CDN: the policy blocks it (nothing leaves this
    # machine) and the page is whole without it. Anything else blocked or failing is an error.
    logo = [e for e in errors if "https://cdn.redoc.ly/" in e and "Content Security Policy" in e]
    assert len(logo) <= 1 and [e for e in errors if e not in logo] == []
