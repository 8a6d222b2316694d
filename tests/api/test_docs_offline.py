"""/docs and /redoc work offline: every file they load comes from carewindow itself (the Swagger UI and
ReDoc bundles of the installed fastapi-offline package), and their policy lets nothing else in.
tests/web/test_docs_browser.py renders both pages in Chromium with the network cut off."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import AsyncIterator
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from service_support import make_settings

from carewindow.api.app import create_app

pytestmark = pytest.mark.anyio
PAGES = ("/docs", "/redoc")


class _Refs(HTMLParser):
    """Every URL a page makes the browser load: src and href attributes, inline scripts' URLs."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.inline: list[str] = []
        self._script: list[str] | None = None  # the inline script being read

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("src", "href", "spec-url") and value:
                self.urls.append(value.strip())
        if tag == "script" and not dict(attrs).get("src"):
            self._script = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "script" and self._script is not None:
            script = "".join(self._script)
            self.inline.append(script)
            self.urls.extend(re.findall(r"url:\s*'([^']*)'", script))
            self._script = None

    def handle_data(self, data: str) -> None:
        if self._script is not None:
            self._script.append(data)


def _refs(html: str) -> _Refs:
    parser = _Refs()
    parser.feed(html)
    parser.close()
    return parser


@pytest.fixture
async def http(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(make_settings(f"sqlite:///{tmp_path / 'carewindow.db'}"), loopback=True)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


@pytest.mark.parametrize("path", PAGES)
async def test_docs_pages_load_nothing_from_another_host(http: httpx.AsyncClient, path: str) -> None:
    r = await http.get(path)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    refs = _refs(r.text)
    assert refs.urls, "the page references its assets"
    for url in refs.urls:
        parts = urlsplit(url)
        assert not parts.scheme and not parts.netloc, f"{path} loads {url} from another host"
    assert "http://" not in r.text and "https://" not in r.text
    for url in refs.urls:
        asset = await http.get(url)
        assert asset.status_code == 200, (url, asset.status_code)
        assert len(asset.content) > 100, url


@pytest.mark.parametrize(
    ("name", "kind", "marker"),
    [
        ("swagger-ui-bundle.js", "javascript", b"SwaggerUIBundle"),
        ("swagger-ui.css", "text/css", b".swagger-ui"),
        ("redoc.standalone.js", "javascript", b"Redoc"),
    ],
)
async def test_the_bundles_are_served(http: httpx.AsyncClient, name: str, kind: str, marker: bytes) -> None:
    r = await http.get(f"/docs-assets/{name}")
    assert r.status_code == 200 and kind in r.headers["content-type"]
    assert len(r.content) > 100_000 and marker in r.content


@pytest.mark.parametrize("path", PAGES)
async def test_the_policy_lets_in_this_origin_and_the_pages_own_script(
    http: httpx.AsyncClient, path: str
) -> None:
    r = await http.get(path)
    csp = r.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";") if d.strip())
    sources = set(directives["script-src"].split())
    assert "'self'" in sources and "'unsafe-inline'" not in sources
    hashes = {
        "'sha256-" + base64.b64encode(hashlib.sha256(script.encode()).digest()).decode() + "'"
        for script in _refs(r.text).inline
    }
    assert hashes or path == "/redoc"  # Swagger UI starts from an inline script; ReDoc needs none
    assert sources == {"'self'", *hashes}  # each inline script runs by its hash, nothing else inline
    assert all("http" not in value and "*" not in value for value in directives.values()), csp


async def test_fastapis_cdn_pages_are_gone(http: httpx.AsyncClient) -> None:
    assert (await http.get("/docs/oauth2-redirect")).status_code == 404
    spec = (await http.get("/openapi.json")).json()
    assert not any(p.startswith(("/docs", "/redoc")) for p in spec["paths"])
