"""``create_app(settings, clock)``: the whole service assembled in one place."""

from __future__ import annotations

import base64
import hashlib
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import State
from starlette.routing import BaseRoute, Router
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from carewindow import __version__
from carewindow.api import errors
from carewindow.api.edge import HotRoutes
from carewindow.api.graph import routes as graph
from carewindow.api.routes import (
    contacts,
    conversations,
    costs,
    health,
    keys,
    media,
    messages,
    privacy,
    subscriptions,
    templates,
    tickets,
    webhooks,
)
from carewindow.api.runtime import (
    SANDBOX_TOKEN,
    Runtime,
    build_runtime,
    make_provider,
    sandbox_client_factory,
    start_event_bridge,
    start_worker,
    stop_worker,
    utc_now,
)
from carewindow.settings import Settings, load_settings, sqlite_path
from carewindow.storage.engine import Engine
from carewindow.storage.migrate import upgrade
from carewindow.web.routes import mount_inbox

log = logging.getLogger(__name__)
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}
# Everything without a policy of its own (JSON, text): nothing may load, nothing may frame it. Pages
# set theirs: the inbox (web/routes.py), /docs and /redoc (docs_pages).
API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
_RAW_SECURITY_HEADERS = tuple((k.lower().encode(), v.encode()) for k, v in SECURITY_HEADERS.items())
_API_CSP = (b"content-security-policy", API_CSP.encode())
# The API docs' Swagger UI and ReDoc bundles, served from the installed fastapi-offline package (its
# copies of swagger-ui-dist and redoc, with their licences) rather than a CDN: the pages work offline.
DOCS_ASSETS = "/docs-assets"
DOCS_ASSET_PACKAGE = ("fastapi_offline", "static")


def create_app(
    settings: Settings | None = None,
    *,
    clock: Callable[[], datetime] = utc_now,
    engine: Engine | None = None,
    loopback: bool = False,
    migrate: bool = False,
    run_worker: bool | None = None,
) -> CareWindowApp:
    """Build the app. ``loopback`` routes our own HTTP calls (provider -> sandbox -> webhooks) through
    an in-process ASGI transport instead of the network: the same code paths, for tests."""
    settings = settings or load_settings()
    rt = build_runtime(settings, clock=clock, engine=engine)
    want_worker = settings.run_worker if run_worker is None else run_worker

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if migrate:
            upgrade(rt.engine)
        rt.ingest.start()
        rt.sends.start()
        start_event_bridge(rt, listen=True)
        rt.provider = make_provider(rt)
        if want_worker:
            await start_worker(rt)
        try:
            yield
        finally:
            await stop_worker(rt)
            if rt.sandbox is not None:
                await rt.sandbox.aclose()
            await rt.provider.aclose()
            rt.sends.stop()
            rt.ingest.stop()
            if rt.bridge is not None:
                rt.bridge.stop()

    api = FastAPI(
        title="carewindow",
        version=__version__,
        description="WhatsApp customer care that keeps to the customer care window rules.",
        lifespan=lifespan,
        docs_url=None,  # docs_pages: the same pages without a CDN
        redoc_url=None,
    )
    docs_pages(api)
    api.state.runtime = rt
    errors.install(api)
    # The hot POSTs have one implementation each, in their route module, reached without FastAPI's
    # routing and dependency solving (api/edge.py); the schema still describes them. The project's
    # middleware wraps everything, the hot routes included.
    hot = HotRoutes(
        api,
        {
            ("POST", webhooks.PATH): partial(webhooks.post_webhook, rt),
            ("POST", messages.PATH): partial(messages.post_message, rt),
        },
        shared=[webhooks.PATH],  # GET: Meta's verification, a FastAPI route
    )
    app = CareWindowApp(api, SecurityHeaders(hot))
    if loopback:
        rt.http_transport = httpx.ASGITransport(app=app)
    for module in (
        webhooks,
        messages,
        contacts,
        templates,
        conversations,
        costs,
        keys,
        subscriptions,
        tickets,
        health,
        media,
        privacy,
    ):
        api.include_router(module.router)
    api.include_router(graph.media_router)  # the Graph gateway (docs/gateway.md); media first
    api.include_router(graph.router)
    documented = [*webhooks.documented.routes, *messages.documented.routes]
    api.openapi = partial(_openapi, api, documented)  # type: ignore[method-assign]
    if settings.provider == "sandbox":
        _mount_sandbox(api, rt, loopback=loopback)
    mount_inbox(api, rt)
    return app


class CareWindowApp:
    """What ``create_app`` returns and uvicorn serves: ``SecurityHeaders`` around ``HotRoutes`` around
    the FastAPI app ``api``. ``state``, ``router`` and ``openapi`` are the FastAPI app's."""

    def __init__(self, api: FastAPI, asgi: ASGIApp) -> None:
        self.api = api
        self._asgi = asgi

    @property
    def state(self) -> State:
        return self.api.state

    @property
    def router(self) -> Router:
        return self.api.router

    def openapi(self) -> dict[str, Any]:
        return self.api.openapi()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._asgi(scope, receive, send)


def _openapi(api: FastAPI, documented: list[BaseRoute]) -> dict[str, Any]:
    """The app's OpenAPI schema, with the operations the hot routes answer (FastAPI's "extending
    OpenAPI": ``get_openapi`` over the app's routes and the documented ones)."""
    if api.openapi_schema is None:
        api.openapi_schema = get_openapi(
            title=api.title,
            version=api.version,
            openapi_version=api.openapi_version,
            description=api.description,
            routes=[*api.routes, *documented],
        )
    return api.openapi_schema


class SecurityHeaders:
    """Add SECURITY_HEADERS to every HTTP response that lacks them.

    Plain ASGI rather than ``@app.middleware("http")``: BaseHTTPMiddleware runs each request through
    an extra task and memory streams, which cost about a fifth of the webhook path (docs/performance.md).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": with_security_headers(message.get("headers", ()))}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def with_security_headers(raw: Iterable[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """``raw`` ASGI response headers plus the SECURITY_HEADERS they lack."""
    headers = list(raw)
    present = {k.lower() for k, _ in headers}
    headers.extend((k, v) for k, v in _RAW_SECURITY_HEADERS if k not in present)
    if b"content-security-policy" not in present:
        headers.append(_API_CSP)  # pages set their own policy; the rest get the strictest there is
    return headers


def docs_pages(api: FastAPI) -> None:
    """``/docs`` (Swagger UI) and ``/redoc`` with every asset from this server (FastAPI's documented
    self-hosting: ``docs_url=None``, ``get_swagger_ui_html`` with the assets' URLs), each with a policy
    that lets only this origin's files and the page's own inline script run."""
    assert api.openapi_url is not None
    api.mount(DOCS_ASSETS, StaticFiles(packages=[DOCS_ASSET_PACKAGE]), name="docs-assets")
    swagger = get_swagger_ui_html(
        openapi_url=api.openapi_url,
        title=f"{api.title} - Swagger UI",
        swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
        swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
        swagger_favicon_url=f"{DOCS_ASSETS}/favicon.png",
        oauth2_redirect_url=None,  # API keys, no OAuth2
        swagger_ui_parameters={"validatorUrl": None},  # no badge fetched from swagger.io
    )
    redoc = get_redoc_html(
        openapi_url=api.openapi_url,
        title=f"{api.title} - ReDoc",
        redoc_js_url=f"{DOCS_ASSETS}/redoc.standalone.js",
        redoc_favicon_url=f"{DOCS_ASSETS}/favicon.png",
        with_google_fonts=False,
    )
    # ReDoc styles itself with <style> elements it writes at run time, and searches in a worker it
    # starts from a blob: inline styles and blob workers there only.
    pages = {
        "/docs": (swagger, ""),
        "/redoc": (redoc, "style-src 'self' 'unsafe-inline'; worker-src blob:; "),
    }
    for path, (page, extra) in pages.items():
        page.headers["Content-Security-Policy"] = _page_csp(bytes(page.body), extra=extra)
        api.add_api_route(path, _serving(page), methods=["GET"], include_in_schema=False)


def _serving(page: HTMLResponse) -> Callable[[], Awaitable[HTMLResponse]]:
    async def endpoint() -> HTMLResponse:
        return page

    return endpoint


def _page_csp(html: bytes, *, extra: str = "") -> str:
    """A policy for ``html``: files from this origin, the page's own inline scripts (by hash), and
    the ``extra`` directives (``style-src`` replaces the default one)."""
    scripts = ["'self'"] + [
        "'sha256-" + base64.b64encode(hashlib.sha256(script).digest()).decode() + "'"
        for script in re.findall(rb"<script>(.*?)</script>", html, flags=re.DOTALL)
    ]
    styles = "" if "style-src" in extra else "style-src 'self'; "
    return (
        f"default-src 'none'; script-src {' '.join(scripts)}; {styles}{extra}img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    )


def _mount_sandbox(app: FastAPI, rt: Runtime, *, loopback: bool) -> None:
    from carewindow.providers.sandbox.app import create_sandbox_app
    from carewindow.providers.sandbox.config import SandboxConfig

    s = rt.settings
    public = s.public_url.rstrip("/")
    config = SandboxConfig(
        access_token=s.meta_token or SANDBOX_TOKEN,
        phone_number_id=rt.phone_number_id,
        waba_id=rt.waba_id,
        display_phone_number=s.display_phone_number or "15550000001",
        graph_version=s.meta_graph_version,
        base_url=f"{public}/sandbox/graph",
        callback_url=f"{public}/webhooks/whatsapp",
        app_secret=rt.app_secret,
        status_batch_window=s.sandbox_status_batch_seconds,
        clock=rt.clock,
        media_dir=str(s.home_dir / "var" / "sandbox" / "media"),
        state_file=sandbox_state_file(s),
    )
    sandbox_app = create_sandbox_app(
        config,
        http_client_factory=sandbox_client_factory(rt) if loopback else None,
        policy_settings=rt.policy,
    )
    rt.sandbox = sandbox_app.state.sandbox
    app.mount("/sandbox", sandbox_app)


def sandbox_state_file(s: Settings) -> str | None:
    """The sandbox's state file for this database under ``sandbox_state_dir`` (None: memory only):
    named after the database and a digest of its URL without credentials, so two databases never share."""
    if not s.sandbox_state_dir:
        return None
    url = re.sub(r"://[^@/]*@", "://", s.database_url)
    path = sqlite_path(s.database_url)
    name = path.stem if path is not None else url.rsplit("/", 1)[-1].split("?", 1)[0]
    name = re.sub(r"[^A-Za-z0-9_-]+", "_", name)[:40] or "db"
    digest = hashlib.sha256(url.encode()).hexdigest()[:8]
    return str(Path(s.sandbox_state_dir).expanduser() / f"{name}-{digest}.json")
