"""Signed webhook delivery from the sandbox to the configured callback URL.

Meta retries a webhook that did not get a 200 for days; the sandbox retries a bounded number of times
with a doubling backoff so tests and demos finish quickly.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable

import httpx

from carewindow.wire.signature import HEADER, sign

from .payloads import JSON, encode

HttpClientFactory = Callable[[], httpx.AsyncClient]


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Delivery:
    """The outcome of delivering one webhook (after retries)."""

    delivered: bool
    status: int | None  # the last HTTP status, None when no answer came or no callback is set
    attempts: int


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class DeliveryRecord:
    """One webhook the sandbox tried to deliver, kept for ``GET /sandbox/webhooks``."""

    field: str
    payload: JSON
    delivery: Delivery


class WebhookSender:
    """POSTs raw JSON bytes signed with ``X-Hub-Signature-256``; one shared ``httpx.AsyncClient``."""

    def __init__(
        self,
        *,
        url: str | None,
        app_secret: str,
        attempts: int,
        backoff: float,
        timeout: float,
        client_factory: HttpClientFactory | None = None,
        max_concurrent: int = 32,
    ) -> None:
        self._url = url
        self._secret = app_secret
        self._attempts = attempts
        self._backoff = backoff
        self._timeout = timeout
        self._factory = client_factory
        self._client: httpx.AsyncClient | None = None
        self.log: list[DeliveryRecord] = []
        # Hundreds of status flows at once would queue on httpx's pool, whose bookkeeping grows with
        # the queue (it stalled the event loop for seconds under load): admit a bounded number at a time.
        self._in_flight = asyncio.Semaphore(max_concurrent)

    def _get_client(self) -> httpx.AsyncClient:
        # Created lazily inside the running loop: a mounted sub-app gets no lifespan startup.
        if self._client is None:
            self._client = self._factory() if self._factory else httpx.AsyncClient(timeout=self._timeout)
        return self._client

    async def deliver(self, payload: JSON) -> Delivery:
        """Send ``payload`` until the callback answers 2xx or the attempts run out."""
        field = str(payload["entry"][0]["changes"][0]["field"])
        if self._url is None:
            result = Delivery(delivered=False, status=None, attempts=0)
            self.log.append(DeliveryRecord(field=field, payload=payload, delivery=result))
            return result
        body = encode(payload)
        headers = {"Content-Type": "application/json", HEADER: sign(body, self._secret)}
        status: int | None = None
        attempt = 0
        for attempt in range(1, self._attempts + 1):
            try:
                async with self._in_flight:
                    response = await self._get_client().post(
                        self._url, content=body, headers=headers, timeout=self._timeout
                    )
                status = response.status_code
                if 200 <= status < 300:
                    result = Delivery(delivered=True, status=status, attempts=attempt)
                    self.log.append(DeliveryRecord(field=field, payload=payload, delivery=result))
                    return result
            except httpx.HTTPError:
                status = None
            if attempt < self._attempts:
                await asyncio.sleep(self._backoff * 2 ** (attempt - 1))
        result = Delivery(delivered=False, status=status, attempts=attempt)
        self.log.append(DeliveryRecord(field=field, payload=payload, delivery=result))
        return result

    async def aclose(self) -> None:
        """Close the shared HTTP client (the sender can be used again afterwards)."""
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()
