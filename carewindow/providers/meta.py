"""Meta's WhatsApp Cloud API (Graph API) over one pooled ``httpx.AsyncClient``.

The client API is httpx; on the network the bytes go through aiohttp (``httpx-aiohttp``'s transport):
with 64 sends in flight httpx's own connection pool cost about 1 ms of CPU per request here, the
aiohttp transport about 0.3 ms (docs/performance.md). Tests hand in an httpx transport instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final
from urllib.parse import urlsplit

import aiohttp
import httpx
import orjson
from httpx_aiohttp import AiohttpTransport

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
        limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
        self._client = httpx.AsyncClient(
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
            timeout=httpx.Timeout(timeout),
            transport=transport or AiohttpTransport(limits=limits, trust_env=False),
            follow_redirects=False,
        )

    def __repr__(self) -> str:
        return (
            f"MetaProvider(base_url={self.base_url!r}, graph_version={self.graph_version!r}, "
            f"phone_number_id={self.phone_number_id!r}, waba_id={self.waba_id!r})"
        )

    async def send(self, body: Mapping[str, object]) -> SendResult:
        """POST ``body`` to ``/{version}/{phone_number_id}/messages``."""
        data = await self._request(
            "POST", f"{self._root}/{self.phone_number_id}/messages", content=orjson.dumps(body)
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

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._client.aclose()

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
            response = await self._client.request(
                method, url, content=content, params=params, headers=_JSON if content is not None else None
            )
        except (httpx.TransportError, aiohttp.ClientError) as exc:
            raise _transport_error(f"{method} {_path(url)}", exc) from None
        except httpx.HTTPError as exc:  # e.g. an invalid URL built from settings
            raise ProviderError(f"{method} {_path(url)} failed: {type(exc).__name__}") from None
        if not response.is_success:
            raise ProviderGraphError(GraphError.from_response(response.status_code, response.content))
        try:
            data = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            raise ProviderProtocolError(
                f"{method} {_path(url)}: {response.status_code} answer is not JSON"
            ) from None
        if not isinstance(data, dict):
            raise ProviderProtocolError(f"{method} {_path(url)}: answer is not a JSON object")
        return data


def _path(url: str) -> str:
    # Paths only: a paging.next query may carry an access token.
    return urlsplit(url).path


def _transport_error(what: str, exc: Exception) -> ProviderError:
    """The provider error for a failed exchange, judged on aiohttp's own error when the transport
    wrapped one: it maps e.g. "server disconnected" (after the request went out) and "connection
    refused" alike to httpx.ConnectTimeout."""
    cause: BaseException = exc.__cause__ if isinstance(exc.__cause__, aiohttp.ClientError) else exc
    name = type(cause).__name__
    maybe_sent = _maybe_sent(cause)
    if isinstance(cause, httpx.TimeoutException | aiohttp.ServerTimeoutError):
        return ProviderTimeout(f"{what} timed out ({name})", maybe_sent=maybe_sent)
    return ProviderUnavailable(f"{what} failed: {name}", maybe_sent=maybe_sent)


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
        | aiohttp.ConnectionTimeoutError,
    )
