"""Periodic jobs beside delivery: window events, held-message expiry, outgoing webhook deliveries."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

import anyio
import httpx
from sqlalchemy import Engine

from carewindow.actions import outgoing
from carewindow.actions.events import Event
from carewindow.actions.windows import do_sweep
from carewindow.storage import subscriptions as subscription_store
from carewindow.storage.engine import write_tx
from carewindow.wire import signature

log = logging.getLogger(__name__)
SIGNATURE_HEADER = "X-Carewindow-Signature"


class Housekeeper:
    def __init__(
        self,
        *,
        engine: Engine,
        clock: Callable[[], datetime],
        leads_minutes: Sequence[int],
        publish: Callable[[Iterable[Event]], None] = lambda _e: None,
        interval: float = 0.5,
        client: httpx.AsyncClient | None = None,
        batch: int = 100,
    ) -> None:
        self.engine = engine
        self.clock = clock
        self.leads = tuple(leads_minutes)
        self.publish = publish
        self.interval = interval
        self.batch = batch
        self._client = client
        self._own_client = client is None

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.run_once()
            except Exception:
                log.exception("housekeeping failed; retrying")
            try:
                await asyncio.wait_for(stop.wait(), timeout=self.interval)
            except TimeoutError:
                pass
        await self.aclose()

    async def aclose(self) -> None:
        if self._own_client and self._client is not None:
            await self._client.aclose()
            self._client = None

    async def run_once(self) -> int:
        """One sweep and one round of webhook deliveries; returns how many things happened."""
        now = self.clock()
        events = await anyio.to_thread.run_sync(
            lambda: do_sweep(self.engine, now=now, leads_minutes=self.leads)
        )
        self.publish(events)
        return len(events) + await self.deliver_webhooks()

    async def deliver_webhooks(self) -> int:
        now = self.clock()

        def _claim() -> Sequence[Any]:
            with write_tx(self.engine) as conn:
                return subscription_store.claim_due(
                    conn, now=now, lease=timedelta(seconds=60), limit=self.batch
                )

        due = await anyio.to_thread.run_sync(_claim)
        if not due:
            return 0
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=10.0)
        results = await asyncio.gather(*(self._post(d) for d in due))

        def _settle() -> None:
            done = self.clock()
            with write_tx(self.engine) as conn:
                for d, (ok, code, error) in zip(due, results, strict=True):
                    subscription_store.settle(
                        conn,
                        d.id,
                        outgoing.settle_values(
                            ok=ok,
                            attempts=d.attempts,
                            status_code=code,
                            error=error,
                            now=done,
                            give_up_at=d.give_up_at,
                        ),
                    )

        await anyio.to_thread.run_sync(_settle)
        return len(due)

    async def _post(self, d: Any) -> tuple[bool, int | None, str | None]:
        assert self._client is not None
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: signature.sign(d.body, d.secret),
            "X-Carewindow-Event": d.event_type,
            "X-Carewindow-Event-Id": d.event_id,
            "X-Carewindow-Delivery": str(d.id),
        }
        try:
            r = await self._client.post(d.url, content=d.body, headers=headers)
        except httpx.HTTPError as exc:
            return False, None, f"{type(exc).__name__}: {exc}"
        if 200 <= r.status_code < 300:
            return True, r.status_code, None
        return False, r.status_code, r.text[:200]
