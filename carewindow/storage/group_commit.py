"""Group commit: concurrent writers share one transaction, each answered only after that commit.

The webhook endpoint must not answer 200 before the payload is durable, and one fsync per request caps
throughput at the disk's sync rate. A single committer thread takes whatever requests have queued up
while the previous commit ran and writes them all in the next one. Latency stays one commit under
light load; under heavy load the batch grows and the cost per request falls.

On SQLite the committer can run on the event loop itself (``on_loop``): the batch is whatever the
requests of one turn of the loop submitted, written between two turns. SQLite's work is in process
and holds the GIL like the requests do, so a thread gained nothing but the hand-overs: two threads
taking turns on the GIL, each hand-over a futex wake-up and a switch (docs/performance.md).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import queue
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

from sqlalchemy import Connection, Engine

from carewindow.storage.engine import HeldConnection

T = TypeVar("T")
R = TypeVar("R")
log = logging.getLogger(__name__)

_Waiter = asyncio.Future[R] | concurrent.futures.Future[R]


class GroupCommitter(Generic[T, R]):
    """Runs ``work(conn, item)`` for queued items in shared transactions on one thread."""

    def __init__(
        self,
        engine: Engine,
        work: Callable[[Connection, T], R],
        *,
        max_batch: int = 256,
        name: str = "commit",
        work_batch: Callable[[Connection, list[T]], list[R]] | None = None,
        threads: int = 1,
        on_loop: bool = False,
    ) -> None:
        self._engine = engine
        self._work = work
        # Optional: the whole batch at once, so statements can be shared across items (IN lists,
        # executemany). Must give the same results as ``work`` item by item.
        self._work_batch = work_batch
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue[tuple[T, _Waiter[R]] | None] = queue.SimpleQueue()
        # More than one committer keeps a transaction in flight while another waits on the database
        # (PostgreSQL only: concurrent writers there lock rows in one order, docs/performance.md).
        self._threads = [
            threading.Thread(target=self._run, name=f"group-{name}-{i}", daemon=True)
            for i in range(0 if on_loop else threads)
        ]
        self._on_loop = on_loop
        self._home: asyncio.AbstractEventLoop | None = None  # on_loop: the loop that commits
        self._pending: list[tuple[T, _Waiter[R]]] = []
        self._flush_due = False
        self._held: HeldConnection | None = None
        self._count_lock = threading.Lock()
        self._started = False
        self.batches = 0
        self.items = 0

    @property
    def running(self) -> bool:
        return self._started

    def start(self) -> None:
        """Start committing (``on_loop``: on the running event loop, which must be the submitters')."""
        if not self._started:
            self._started = True
            if self._on_loop:
                self._home = asyncio.get_running_loop()
            for t in self._threads:
                t.start()

    def stop(self, timeout: float = 10.0) -> None:
        if self._started:
            for _ in self._threads:
                self._queue.put(None)
            for t in self._threads:
                t.join(timeout)
            if self._on_loop:
                while self._pending:  # submitted in the loop's last turn: written before stopping
                    self._write_next()
                self._flush_due = False
                if self._held is not None:
                    self._held.close()
                    self._held = None
            self._started = False

    async def submit(self, item: T) -> R:
        """Queue ``item`` and wait until the transaction that wrote it has committed."""
        loop = asyncio.get_running_loop()
        if self._on_loop and loop is not self._home:
            home = self._started_loop()
            return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(self.submit(item), home))
        fut: asyncio.Future[R] = loop.create_future()
        if self._on_loop:
            self._pending.append((item, fut))
            if not self._flush_due:
                self._flush_due = True
                loop.call_soon(self._flush)  # after the callbacks already ready: this turn's requests
        else:
            self._queue.put((item, fut))
        return await fut

    def submit_sync(self, item: T) -> R:
        """``submit`` for synchronous code in another thread (with ``on_loop``, not the loop's own)."""
        if self._on_loop:
            home = self._started_loop()  # before the coroutine exists: it must not be left unawaited
            return asyncio.run_coroutine_threadsafe(self.submit(item), home).result()
        fut: concurrent.futures.Future[R] = concurrent.futures.Future()
        self._queue.put((item, fut))
        return fut.result()

    def _started_loop(self) -> asyncio.AbstractEventLoop:
        """``on_loop``: the loop that commits, for callers elsewhere."""
        if self._home is None:
            raise RuntimeError("this group commit runs on an event loop: start() it there first")
        return self._home

    def _flush(self) -> None:
        """``on_loop``: write what this turn of the loop submitted, up to ``max_batch`` at a time
        (the rest after the loop's next turn)."""
        if not self._flush_due:  # stop() wrote everything already
            return
        self._write_next()
        self._flush_due = bool(self._pending)
        if self._flush_due:
            asyncio.get_running_loop().call_soon(self._flush)

    def _write_next(self) -> None:
        batch = self._pending[: self._max_batch]
        del self._pending[: self._max_batch]
        if self._held is None:
            self._held = HeldConnection(self._engine)
        self._commit(self._held, batch)

    def _run(self) -> None:
        held = HeldConnection(self._engine)
        try:
            self._loop(held)
        finally:
            held.close()

    def _loop(self, held: HeldConnection) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            stop = False
            while len(batch) < self._max_batch:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    stop = True
                    break
                batch.append(nxt)
            self._commit(held, batch)
            if stop:
                return

    def _commit(self, held: HeldConnection, batch: list[tuple[T, _Waiter[R]]], *, again: bool = True) -> None:
        try:
            with held.write_tx() as conn:
                items = [item for item, _ in batch]
                if self._work_batch is not None:
                    results = self._work_batch(conn, items)
                else:
                    results = [self._work(conn, item) for item in items]
        except Exception as exc:
            if held.lost and again:
                # The kept connection had died (a database restart, a cut): once more on a new one.
                log.warning("group commit lost its database connection; redoing %d items", len(batch))
                self._commit(held, batch, again=False)
                return
            if len(batch) == 1:
                _fail(batch[0][1], exc)
                return
            # One bad item must not fail its neighbours: redo each alone (work is idempotent).
            log.warning("group commit of %d items failed; retrying them one by one", len(batch))
            for entry in batch:
                self._commit(held, [entry])
            return
        with self._count_lock:
            self.batches += 1
            self.items += len(batch)
        _resolve_all([(waiter, result) for (_, waiter), result in zip(batch, results, strict=True)])


def _resolve_all(answers: list[tuple[_Waiter[R], R]]) -> None:
    """Answer a batch: one hop per event loop for all of its waiters (each cross-thread call wakes the
    loop, and thread switches were a sizeable share of the server's CPU), in submission order."""
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[R], R]]] = {}
    for waiter, result in answers:
        if isinstance(waiter, asyncio.Future):
            by_loop.setdefault(waiter.get_loop(), []).append((waiter, result))
        else:
            waiter.set_result(result)
    for loop, items in by_loop.items():
        if _running_loop() is loop:  # committed on the waiters' own loop
            _set_results(items)
            continue
        with contextlib.suppress(RuntimeError):  # the waiting loop is gone: nobody to tell
            loop.call_soon_threadsafe(_set_results, items)


def _set_results(items: list[tuple[asyncio.Future[R], R]]) -> None:
    for fut, result in items:
        _set_result(fut, result)


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _fail(waiter: _Waiter[R], exc: BaseException) -> None:
    if isinstance(waiter, asyncio.Future):
        if _running_loop() is waiter.get_loop():
            _set_exception(waiter, exc)
            return
        with contextlib.suppress(RuntimeError):
            waiter.get_loop().call_soon_threadsafe(_set_exception, waiter, exc)
    else:
        waiter.set_exception(exc)


def _set_result(fut: asyncio.Future[R], result: R) -> None:
    if not fut.done():
        fut.set_result(result)


def _set_exception(fut: asyncio.Future[R], exc: BaseException) -> None:
    if not fut.done():
        fut.set_exception(exc)
