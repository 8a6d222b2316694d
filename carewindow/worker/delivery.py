"""DeliveryWorker: claim -> stamp in flight -> send through the provider -> record.

The loop is async so one process keeps many provider calls in flight; database work runs in a
thread so it never stalls the event loop the API shares with an in-process worker.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import socket
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

import anyio

from carewindow.actions import delivery, delivery_retry
from carewindow.actions.events import Event
from carewindow.policy import PolicySettings
from carewindow.providers.base import Provider, ProviderError
from carewindow.storage.engine import Engine
from carewindow.wire.graph_errors import ERROR_CODES, error_spec
from carewindow.worker.retry import next_attempt

PAIR_LIMIT = ERROR_CODES[131056]

log = logging.getLogger(__name__)


class DeliveryWorker:
    def __init__(
        self,
        *,
        engine: Engine,
        provider: Provider,
        policy: PolicySettings,
        clock: Callable[[], datetime],
        publish: Callable[[Iterable[Event]], None] = lambda _events: None,
        batch_size: int = 100,
        poll_seconds: float = 0.05,
        lease_seconds: float = 60.0,
        max_attempts: int = 10,
        rate_per_second: float = 80.0,
        concurrency: int = 64,
        hold_seconds: float = 7 * 86400.0,
        worker_id: str | None = None,
        rng: random.Random | None = None,
        marketing_messages_api: bool = False,
    ) -> None:
        self.engine = engine
        self.provider = provider
        self.policy = policy
        self.clock = clock
        self.publish = publish
        self.batch_size = batch_size
        self.poll_seconds = poll_seconds
        self.lease = timedelta(seconds=lease_seconds)
        self.hold = timedelta(seconds=hold_seconds)
        self.max_attempts = max_attempts
        self.rate = rate_per_second
        self.burst = max(1.0, rate_per_second)  # one second's worth: the platform measures per second
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self._sem = asyncio.Semaphore(concurrency)
        self._wake = asyncio.Event()
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not secrecy
        self.sent = 0
        self.failed = 0
        self.uncertain = 0  # sends with no answer: left for the lease to settle as ``uncertain``
        # Marketing templates go to the Marketing Messages API endpoint (CAREWINDOW_MARKETING_MESSAGES_API).
        self.marketing_messages_api = marketing_messages_api
        # 131056 (pair rate limit): until when each (business number, customer) pair is held back.
        self._pair_until: dict[tuple[str, str], datetime] = {}

    async def run(self, stop: asyncio.Event) -> None:
        """Work until ``stop`` is set; an idle worker polls every ``poll_seconds``."""
        while not stop.is_set():
            try:
                done = await self.run_once()
            except Exception:
                # The database may be restarting: keep the worker alive and try again shortly.
                log.exception("delivery batch failed; retrying")
                done = 0
                await asyncio.sleep(1.0)
            if done == 0:
                await self._idle(stop)

    def wake(self) -> None:
        """Look for work now instead of at the next poll (called when this process queued a message)."""
        self._wake.set()

    async def _idle(self, stop: asyncio.Event) -> None:
        waiters = {asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self._wake.wait())}
        try:
            await asyncio.wait(waiters, timeout=self.poll_seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waiters:
                w.cancel()
            self._wake.clear()

    async def run_once(self) -> int:
        """Claim and process one batch; returns how many rows it handled."""
        now = self.clock()
        if len(self._pair_until) > 1024:  # forget pairs whose hold has passed
            self._pair_until = {k: v for k, v in self._pair_until.items() if v > now}
        claimed, settled = await anyio.to_thread.run_sync(
            lambda: delivery_retry.claim(
                self.engine,
                worker_id=self.worker_id,
                now=now,
                lease=self.lease,
                limit=self.batch_size,
                rate=self.rate,
                burst=self.burst,
                settings=self.policy,
                hold=self.hold,
            )
        )
        self.publish(settled)  # one event per row settled without a send (cancelled, uncertain, closed)
        if not claimed:
            return len(settled)
        claimed = await anyio.to_thread.run_sync(
            lambda: delivery_retry.mark_in_flight(
                self.engine, claimed, worker_id=self.worker_id, now=self.clock()
            )
        )
        # None: the provider may have the message (no answer came back). The row stays stamped in
        # flight, and when its lease expires it is settled ``uncertain`` like a crash, never resent.
        answers = [a for a in await asyncio.gather(*(self._send(c) for c in claimed)) if a is not None]
        events = await anyio.to_thread.run_sync(
            # A lost answer would turn a sent message into an ``uncertain`` one: redo deadlock victims.
            lambda: delivery_retry.record(self.engine, answers, now=self.clock(), settings=self.policy)
        )
        self.publish(events)
        return len(claimed) + len(settled)

    def _endpoint(self, c: delivery.Claimed) -> str:
        """``marketing_messages`` for a marketing template when the business routes them to the
        Marketing Messages API (Meta's routing guide: by the template's latest category), else
        ``messages``."""
        if self.marketing_messages_api and c.category == "marketing" and c.body.get("type") == "template":
            return "marketing_messages"
        return "messages"

    async def _send(self, c: delivery.Claimed) -> delivery.SendAnswer | None:
        pair = (c.phone_number_id, c.wa_id)
        until = self._pair_until.get(pair)
        if until is not None and until > self.clock():  # 131056: this customer's pair limit still holds
            return delivery.SendAnswer(
                claimed=c,
                error_code="131056",
                error_title=PAIR_LIMIT.title,
                error_message="Held back: the pair rate limit with this customer still holds.",
                retry_at=until,
            )
        async with self._sem:
            try:
                result = await self.provider.send(c.body, endpoint=self._endpoint(c))
            except ProviderError as exc:
                if exc.maybe_sent:
                    self.uncertain += 1
                    log.warning("send %s: no answer (%s); not resending", c.message_id, exc.message)
                    return None
                spec = error_spec(exc.code) if exc.code is not None else None
                now = self.clock()
                decision = next_attempt(
                    attempts=c.attempts,
                    transient=exc.transient,
                    now=now,
                    max_attempts=self.max_attempts,
                    jitter=self._rng.random(),
                    min_delay=spec.retry_after if spec is not None else None,
                )
                code = str(exc.code) if exc.code is not None else type(exc).__name__
                reason = exc.reason  # with Meta's details and error_user_msg when sent
                if not decision.retry:
                    self.failed += 1
                    if spec is not None and spec.retry_after is not None:  # 131049: not again for 24 h
                        not_before = now + timedelta(seconds=spec.retry_after)
                        reason += f" Meta asks not to send it again before {not_before.isoformat()}."
                elif spec is not None and spec.per_recipient and decision.at is not None:
                    self._pair_until[pair] = decision.at  # the customer's other messages wait too
                log.info(
                    "send %s failed (%s, transient=%s): %s", c.message_id, code, exc.transient, exc.message
                )
                return delivery.SendAnswer(
                    claimed=c,
                    error_code=code,
                    error_title=exc.title,  # Meta's title for a Graph error, else the error's kind
                    error_message=reason,
                    retry_at=decision.at if decision.retry else None,
                )
            self.sent += 1
            return delivery.SendAnswer(claimed=c, wamid=result.wamid)
