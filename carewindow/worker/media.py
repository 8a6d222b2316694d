"""The inbound media fetcher: claims due fetch jobs (``media`` rows written with their message),
downloads them through the Graph API, keeps the bytes in the media store and records the outcome.

Order per job: claim (a lease, committed) → download → store.put → settle. A process killed anywhere
in between leaves the job pending with its lease running out: the next claim downloads it again, and
a file stored twice under the same key is the same file. Transient errors back off exponentially
(``worker.retry.next_attempt``, capped at an hour) until ``retry_for`` after the message (Meta keeps
media 30 days), then the job fails with the last reason.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

import anyio

from carewindow.actions.events import Event
from carewindow.actions.media import FetchJob, FetchOutcome, do_claim_fetches, do_settle_fetch, fetch
from carewindow.providers.base import MediaProvider
from carewindow.storage.engine import Engine
from carewindow.storage.media_store import MediaStore, MediaStoreError
from carewindow.worker.retry import next_attempt

log = logging.getLogger(__name__)


class MediaFetcher:
    def __init__(
        self,
        *,
        engine: Engine,
        provider: MediaProvider,
        store: MediaStore,
        clock: Callable[[], datetime],
        concurrency: int = 4,
        lease: timedelta = timedelta(minutes=5),
        retry_for: timedelta = timedelta(days=30),
        interval: float = 0.5,
        rng: random.Random | None = None,
        publish: Callable[[Iterable[Event]], None] = lambda _e: None,
    ) -> None:
        self.publish = publish
        self.engine = engine
        self.provider = provider
        self.store = store
        self.clock = clock
        self.concurrency = concurrency
        self.lease = lease
        self.retry_for = retry_for
        self.interval = interval
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not secrets

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            done = 0
            try:
                done = await self.run_once()
            except Exception:
                log.exception("media fetch round failed; retrying")
            if done:
                continue
            try:
                await asyncio.wait_for(stop.wait(), timeout=self.interval)
            except TimeoutError:
                pass

    async def run_once(self) -> int:
        """Claim and run one round of due jobs; how many were attempted."""
        now = self.clock()
        jobs = await anyio.to_thread.run_sync(
            lambda: do_claim_fetches(self.engine, now=now, lease=self.lease, limit=self.concurrency)
        )
        if jobs:
            await asyncio.gather(*(self._one(j) for j in jobs))
        return len(jobs)

    async def _one(self, job: FetchJob) -> str:
        outcome = await fetch(self.provider, job)
        key = None
        if outcome.data is not None:
            data, mime = outcome.data, outcome.mime_type or "application/octet-stream"
            try:
                await anyio.to_thread.run_sync(lambda: self.store.put(job.id, data, mime_type=mime))
                key = job.id
            except MediaStoreError as exc:
                outcome = FetchOutcome(reason=f"media store: {exc}", transient=True)
        now = self.clock()
        decision = next_attempt(
            attempts=job.attempts,
            transient=outcome.transient,
            now=now,
            max_attempts=10_000,
            jitter=self._rng.random(),
            base=2.0,
            cap=3600.0,
        )
        status, events = await anyio.to_thread.run_sync(
            lambda: do_settle_fetch(
                self.engine,
                job,
                outcome,
                now=now,
                retry_at=decision.at,
                give_up_after=self.retry_for,
                store_key=key,
            )
        )
        self.publish(events)
        if outcome.reason:
            log.info("media %s (%s): %s", job.id, status or "lease lost", outcome.reason)
        return status
