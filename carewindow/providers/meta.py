"""Meta's WhatsApp Cloud API (Graph API) over one pooled aiohttp session.

On the network requests go through aiohttp: with 64 sends in flight, httpx (client and pool) cost
about 1 ms of CPU per request on this project's benchmark machine, aiohttp about 0.1 ms, and sending
is the delivery worker's hot path (docs/performance.md). Given an httpx transport (tests, and the
in-process loopback), the same requests go through ``httpx.AsyncClient`` instead; everything above
the exchange of bytes (URLs, headers, answers, errors) is shared.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Final
from urllib.parse import urlsplit
from urllib.request import getproxies, proxy_bypass

import aiohttp
import httpx
import orjson

from carewindow.providers.base import (
    ProviderError,
    ProviderGraphError,
    ProviderProtocolError,
    ProviderTimeout,
    ProviderUnavailable,
    SendResult,
)
from carewindow.wire.errors import SendResponseFormatError
from carewindow.wire.graph_errors import GraphError
from carewindow.wire.messages import parse_send_response

__all__ = ["MetaProvider"]

_JSON: Final = {"Content-Type": "application/json"}
# A runaway paging.next loop must end; 200 pages of 100 is far above any WABA's template count.
_MAX_PAGES: Final = 200
# ``marketing_messages``: the Marketing Messages API (platform-2026-update.md §1.4).
ENDPOINTS: Final = ("messages", "marketing_messages")


class MetaProvider:
    """``Provider`` for ``graph.facebook.com`` (or anything speaking it, e.g. the sandbox).

    The token travels only in the ``Authorization`` header and never appears in ``repr`` or errors.
    """

    def __init__(
        self,
        *,
        base_url: str = "https://graph.facebook.com",
        graph_version: str,
        token: str,
        phone_number_id: str,
        waba_id: str,
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
        max_connections: int = 100,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.graph_version = graph_version.strip("/")
        self.phone_number_id = phone_number_id
        self.waba_id = waba_id
        self._root = f"{self.base_url}/{self.graph_version}"
        self._headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        self._timeout = timeout
        self._max_connections = max_connections
        self._client = (
            httpx.AsyncClient(
                headers=self._headers,
                timeout=httpx.Timeout(timeout),
                transport=transport,
                follow_redirects=False,
            )
            if transport is not None
            else None
        )
        self._session: aiohttp.ClientSession | None = None  # made in the event loop that first uses it
        # HTTPS_PROXY and friends, as httpx honoured them; read once (aiohttp's trust_env reads the
        # environment on every request, a quarter of a millisecond each in the delivery bench).
        self._proxy = _env_proxy(self.base_url)

    def __repr__(self) -> str:
        return (
            f"MetaProvider(base_url={self.base_url!r}, graph_version={self.graph_version!r}, "
            f"phone_number_id={self.phone_number_id!r}, waba_id={self.waba_id!r})"
        )

    async def send(self, body: Mapping[str, object], *, endpoint: str = "messages") -> SendResult:
        """POST ``body`` to ``/{version}/{phone_number_id}/{endpoint}``: ``messages``, or
        ``marketing_messages`` (the Marketing Messages API: same body, marketing templates only)."""
        if endpoint not in ENDPOINTS:
            raise ValueError(f"endpoint must be one of {', '.join(ENDPOINTS)}")
        data = await self._request(
            "POST", f"{self._root}/{self.phone_number_id}/{endpoint}", content=orjson.dumps(body)
        )
        try:
            wamid = parse_send_response(data)
        except SendResponseFormatError as exc:
            raise ProviderProtocolError(exc.reason) from None
        return SendResult(wamid=wamid, raw=data)

    async def list_templates(self) -> list[Mapping[str, object]]:
        """GET ``/{version}/{waba_id}/message_templates``, following ``paging.next``."""
        url: str | None = f"{self._root}/{self.waba_id}/message_templates"
        params: dict[str, str] | None = {"limit": "100"}
        seen: set[str] = set()
        out: list[Mapping[str, object]] = []
        while url is not None and len(seen) < _MAX_PAGES:
            seen.add(url)
            page = await self._request("GET", url, params=params)
            data = page.get("data")
            if not isinstance(data, list):
                raise ProviderProtocolError("template list answer has no data list")
            out.extend(t for t in data if isinstance(t, Mapping))
            paging = page.get("paging")
            nxt = paging.get("next") if isinstance(paging, Mapping) else None
            # paging.next is absolute and carries its own query; only follow it back to the same
            # host, so the bearer token never goes anywhere else.
            url = nxt if isinstance(nxt, str) and self._same_origin(nxt) and nxt not in seen else None
            params = None
        return out

    async def create_template(self, definition: Mapping[str, object]) -> Mapping[str, object]:
        """POST ``definition`` to ``/{version}/{waba_id}/message_templates``."""
        return await self._request(
            "POST", f"{self._root}/{self.waba_id}/message_templates", content=orjson.dumps(definition)
        )

    async def delete_template(self, name: str) -> None:
        """DELETE ``/{version}/{waba_id}/message_templates?name=…`` (all languages)."""
        await self._request("DELETE", f"{self._root}/{self.waba_id}/message_templates", params={"name": name})

    # -- media (docs/subsystems/media.md) ---------------------------------------------------------

    async def media_info(self, media_id: str) -> Mapping[str, object]:
        """GET ``/{version}/{media_id}``: ``{url, mime_type, sha256, file_size, id}`` (a short-lived url)."""
        return await self._request("GET", f"{self._root}/{media_id}")

    async def download_media(self, url: str, *, max_bytes: int) -> bytes:
        """GET a media URL from ``media_info`` with the token (Meta requires it there too). More than
        ``max_bytes`` is a ``ProviderProtocolError``: the caller refuses the file."""
        status, body = await self._media_exchange("GET", url, max_bytes=max_bytes)
        if not 200 <= status < 300:
            raise ProviderGraphError(GraphError.from_response(status, body[:65536]))
        return body

    async def upload_media(self, data: bytes, *, mime_type: str, filename: str) -> str:
        """POST the file to ``/{version}/{phone_number_id}/media`` (multipart); Meta's media id."""
        status, body = await self._media_exchange(
            "POST",
            f"{self._root}/{self.phone_number_id}/media",
            form={"messaging_product": "whatsapp", "type": mime_type},
            file=(filename, data, mime_type),
        )
        if not 200 <= status < 300:
            raise ProviderGraphError(GraphError.from_response(status, body))
        try:
            answer = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise ProviderProtocolError("media upload answer is not JSON") from None
        media_id = answer.get("id") if isinstance(answer, dict) else None
        if not isinstance(media_id, str) or not media_id:
            raise ProviderProtocolError("media upload answer has no id")
        return media_id

    async def delete_media(self, media_id: str) -> None:
        """DELETE ``/{version}/{media_id}``."""
        await self._request("DELETE", f"{self._root}/{media_id}")

    async def _media_exchange(
        self,
        method: str,
        url: str,
        *,
        max_bytes: int | None = None,
        form: Mapping[str, str] | None = None,
        file: tuple[str, bytes, str] | None = None,
    ) -> tuple[int, bytes]:
        what = f"{method} {_path(url)}"
        try:
            if self._client is not None:
                files = {"file": file} if file is not None else None
                async with self._client.stream(method, url, data=form, files=files) as reply:
                    return reply.status_code, await _capped(reply.aiter_bytes(), max_bytes)
            if self._session is None:
                await self._exchange_session()
            assert self._session is not None
            data: aiohttp.FormData | None = None
            if form is not None or file is not None:
                data = aiohttp.FormData()
                for k, v in (form or {}).items():
                    data.add_field(k, v)
                if file is not None:
                    data.add_field("file", file[1], filename=file[0], content_type=file[2])
            async with self._session.request(
                method, url, data=data, allow_redirects=False, proxy=_env_proxy(url)
            ) as response:
                return response.status, await _capped(response.content.iter_chunked(65536), max_bytes)
        except (httpx.TransportError, aiohttp.ClientError) as exc:
            raise _transport_error(what, exc) from None
        except httpx.HTTPError as exc:
            raise ProviderError(f"{what} failed: {type(exc).__name__}") from None

    async def _exchange_session(self) -> None:
        self._session = aiohttp.ClientSession(
            headers=self._headers,
            connector=aiohttp.TCPConnector(limit=self._max_connections),
            timeout=aiohttp.ClientTimeout(
                total=None, connect=self._timeout, sock_connect=self._timeout, sock_read=self._timeout
            ),
            auto_decompress=True,
        )

    async def aclose(self) -> None:
        """Close the connection pool."""
        if self._client is not None:
            await self._client.aclose()
        if self._session is not None:
            await self._session.close()

    def _same_origin(self, url: str) -> bool:
        a, b = urlsplit(url), urlsplit(self.base_url)
        return (a.scheme, a.netloc) == (b.scheme, b.netloc)

    async def _request(
        self,
        method: str,
        url: str,
        *,
        content: bytes | None = None,
        params: Mapping[str, str] | None = None,
    ) -> Mapping[str, object]:
        try:
            status, answer = await self._exchange(method, url, content, params)
        except (httpx.TransportError, aiohttp.ClientError) as exc:
            raise _transport_error(f"{method} {_path(url)}", exc) from None
        except httpx.HTTPError as exc:  # e.g. an invalid URL built from settings
            raise ProviderError(f"{method} {_path(url)} failed: {type(exc).__name__}") from None
        if not 200 <= status < 300:
            raise ProviderGraphError(GraphError.from_response(status, answer))
        try:
            data = orjson.loads(answer)
        except orjson.JSONDecodeError:
            raise ProviderProtocolError(f"{method} {_path(url)}: {status} answer is not JSON") from None
        if not isinstance(data, dict):
            raise ProviderProtocolError(f"{method} {_path(url)}: answer is not a JSON object")
        return data

    async def _exchange(
        self, method: str, url: str, content: bytes | None, params: Mapping[str, str] | None
    ) -> tuple[int, bytes]:
        """One request: (status, body)."""
        headers = _JSON if content is not None else None
        if self._client is not None:
            reply = await self._client.request(method, url, content=content, params=params, headers=headers)
            return reply.status_code, reply.content
        if self._session is None:
            self._session = aiohttp.ClientSession(
                headers=self._headers,
                connector=aiohttp.TCPConnector(limit=self._max_connections),
                timeout=aiohttp.ClientTimeout(
                    total=None, connect=self._timeout, sock_connect=self._timeout, sock_read=self._timeout
                ),
                auto_decompress=True,
            )
        async with self._session.request(
            method,
            url,
            data=content,
            params=params,
            headers=headers,
            allow_redirects=False,
            proxy=self._proxy,
        ) as response:
            return response.status, await response.read()


async def _capped(chunks: AsyncIterator[bytes], max_bytes: int | None) -> bytes:
    """The body, or ``ProviderProtocolError`` once it grows past ``max_bytes``."""
    out = bytearray()
    async for chunk in chunks:
        out += chunk
        if max_bytes is not None and len(out) > max_bytes:
            raise ProviderProtocolError(f"media is larger than {max_bytes} bytes")
    return bytes(out)


def _env_proxy(url: str) -> str | None:
    """The proxy the environment names for ``url`` (``<SCHEME>_PROXY``, ``ALL_PROXY``, ``NO_PROXY``)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.hostname is None or proxy_bypass(parts.hostname):
        return None
    proxies = getproxies()
    return proxies.get(parts.scheme) or proxies.get("all")


def _path(url: str) -> str:
    # Paths only: a paging.next query may carry an access token.
    try:
        return urlsplit(url).path
    except ValueError:  # a base URL from settings that is not a URL
        return "(invalid URL)"


def _transport_error(what: str, exc: Exception) -> ProviderError:
    """The provider error for a failed exchange (httpx's or aiohttp's)."""
    name = type(exc).__name__
    if isinstance(exc, httpx.TimeoutException | aiohttp.ServerTimeoutError):
        return ProviderTimeout(f"{what} timed out ({name})", maybe_sent=_maybe_sent(exc))
    return ProviderUnavailable(f"{what} failed: {name}", maybe_sent=_maybe_sent(exc))


def _maybe_sent(exc: BaseException) -> bool:
    """Whether the request may have reached the provider: only a failure to connect (or to get a
    pooled connection in time) proves it did not. Meta's Send API has no idempotency key, so a request
    that may have arrived must not be sent again (docs/reliability.md, "the crash gap")."""
    return not isinstance(
        exc,
        httpx.ConnectError
        | httpx.ConnectTimeout
        | httpx.PoolTimeout
        | aiohttp.ClientConnectorError
        | aiohttp.ConnectionTimeoutError
        | aiohttp.InvalidURL,
    )
