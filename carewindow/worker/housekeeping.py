"""Periodic jobs beside delivery: window events, held-message expiry, outgoing webhook deliveries, and
retention (pruning old raw webhooks, bodies, orphan statuses, delivery logs and idempotency keys)."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

import anyio
import httpx

from carewindow.actions import fanout
from carewindow.actions.events import Event
from carewindow.actions.retention import Retention, do_prune
from carewindow.actions.subscriptions import DeliveryAnswer, do_claim_deliveries, do_settle_deliveries
from carewindow.actions.windows import do_sweep
from carewindow.storage.engine import Engine
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
        retention: Retention | None = None,
    ) -> None:
        self.engine = engine
        self.clock = clock
        self.leads = tuple(leads_minutes)
        self.publish = publish
        self.interval = interval
        self.batch = batch
        self._client = client
        self._own_client = client is None
        self.retention = retention
        #: Rows pruned by this process, by kind (``/metrics``: carewindow_retention_pruned_total).
        self.pruned: Counter[str] = Counter()
        self._pruned_at: datetime | None = None

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
        done = len(events) + await self.deliver_webhooks()
        r = self.retention
        if r is not None and (self._pruned_at is None or now - self._pruned_at >= r.every):
            done += await self.prune_once()
        return done

    async def prune_once(self) -> int:
        """One retention round (a batch of each kind, each in its own short transaction)."""
        if self.retention is None:
            return 0
        retention, now = self.retention, self.clock()
        self._pruned_at = now
        pruned = await anyio.to_thread.run_sync(lambda: do_prune(self.engine, retention, now=now))
        self.pruned.update(pruned)
        total = sum(pruned.values())
        if total:
            log.info("retention pruned %s", ", ".join(f"{k}={v}" for k, v in pruned.items() if v))
        return total

    async def deliver_webhooks(self) -> int:
        now = self.clock()

        due = await anyio.to_thread.run_sync(
            lambda: do_claim_deliveries(self.engine, now=now, lease=timedelta(seconds=60), limit=self.batch)
        )
        if not due:
            return 0
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=10.0)
        answers = await asyncio.gather(*(self._post(d) for d in due))
        paused = await anyio.to_thread.run_sync(
            lambda: do_settle_deliveries(self.engine, list(zip(due, answers, strict=True)), now=self.clock())
        )
        for public_id in paused:  # the alert: the receiver refuses what it is sent (docs/gateway.md)
            log.warning(
                "subscription %s paused: its receiver answered 4xx %d times in a row; its deliveries "
                "wait until POST /v1/subscriptions/%s/resume",
                public_id,
                fanout.PAUSE_AFTER,
                public_id,
            )
        return len(due)

    async def _post(self, d: Any) -> DeliveryAnswer:
        assert self._client is not None
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: signature.sign(d.body, d.secret),
            "X-Carewindow-Event": d.event_type,
            "X-Carewindow-Event-Id": d.event_id,
            "X-Carewindow-Delivery": str(d.id),
        }
        if d.event_type == fanout.EVENT:  # Meta's body as Meta sent it, signed as Meta signs it
            headers[signature.HEADER] = headers[SIGNATURE_HEADER]
        try:
            r = await self._client.post(d.url, content=d.body, headers=headers)
        except httpx.HTTPError as exc:
            return DeliveryAnswer(ok=False, status_code=None, error=f"{type(exc).__name__}: {exc}")
        if 200 <= r.status_code < 300:
            return DeliveryAnswer(ok=True, status_code=r.status_code, error=None)
        return DeliveryAnswer(ok=False, status_code=r.status_code, error=r.text[:200])
