"""Live events across processes on PostgreSQL: NOTIFY on send, LISTEN in every serving process.

Several ``serve`` and ``worker`` processes share one database; an agent's inbox stream lives in one of
them. What another process commits (a status webhook it ingested, a send its worker recorded, a window
event its sweeper emitted) reaches that stream through PostgreSQL's LISTEN/NOTIFY. Live events are
hints for the page to refresh (the database stays the source of truth), so a notification lost while
reconnecting costs at most a late refresh; the page also refreshes whenever its stream reconnects.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import orjson
import psycopg

log = logging.getLogger(__name__)
CHANNEL = "carewindow_events"
_MAX_PAYLOAD = 7000  # PostgreSQL refuses NOTIFY payloads of 8,000 bytes and more


class PgEventBridge:
    """Sends events with NOTIFY from a background thread and, when ``on_remote`` is given, listens for
    other processes' events on another (both with their own autocommit connections)."""

    def __init__(self, url: str, *, on_remote: Callable[[list[dict[str, Any]]], None] | None = None) -> None:
        self._url = url.replace("postgresql+psycopg://", "postgresql://")
        self._on_remote = on_remote
        self._origin = f"{os.getpid()}:{id(self):x}"
        self._outbox: queue.SimpleQueue[list[dict[str, Any]] | None] = queue.SimpleQueue()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        self._threads = [threading.Thread(target=self._send_loop, name="events-notify", daemon=True)]
        if self._on_remote is not None:
            self._threads.append(
                threading.Thread(target=self._listen_loop, name="events-listen", daemon=True)
            )
        for t in self._threads:
            t.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._outbox.put(None)
        for t in self._threads:
            t.join(timeout)

    def send(self, events: Sequence[Mapping[str, Any]]) -> None:
        """Queue events for NOTIFY; never blocks the caller (an event loop)."""
        if events:
            self._outbox.put([dict(e) for e in events])

    def _send_loop(self) -> None:
        conn: psycopg.Connection[Any] | None = None
        stopping = False
        while not stopping:
            batch = self._outbox.get()
            if batch is None:
                break
            # Everything queued meanwhile goes out together: one NOTIFY per few kilobytes of events
            # instead of one per request (each wakes every listening process).
            while True:
                try:
                    more = self._outbox.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stopping = True
                    break
                batch.extend(more)
            payloads = _chunks(self._origin, batch)
            try:
                if conn is None or conn.closed:
                    conn = psycopg.connect(self._url, autocommit=True, connect_timeout=5)
                for payload in payloads:
                    conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, payload))
            except psycopg.Error as exc:
                log.warning("live events not forwarded to other processes (%s)", type(exc).__name__)
                conn = None
        if conn is not None:
            conn.close()

    def _listen_loop(self) -> None:
        assert self._on_remote is not None
        while not self._stop.is_set():
            try:
                with psycopg.connect(self._url, autocommit=True, connect_timeout=5) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    while not self._stop.is_set():
                        for note in conn.notifies(timeout=0.5):
                            message = orjson.loads(note.payload)
                            if message.get("origin") != self._origin:
                                self._on_remote(message["events"])
            except psycopg.Error as exc:
                log.warning("live events listener reconnecting (%s)", type(exc).__name__)
                self._stop.wait(1.0)


def _chunks(origin: str, events: list[dict[str, Any]]) -> list[str]:
    """Payloads under PostgreSQL's size limit; an event too large on its own is dropped (it is a hint)."""
    head = b'{"origin":' + orjson.dumps(origin) + b',"events":['
    room = _MAX_PAYLOAD - len(head) - 2  # the closing "]}"
    out: list[str] = []
    current: list[bytes] = []
    size = 0
    for event in events:
        item = orjson.dumps(event, default=str)
        if len(item) > room:
            continue
        if current and size + 1 + len(item) > room:
            out.append((head + b",".join(current) + b"]}").decode())
            current, size = [], 0
        size += len(item) + (1 if current else 0)
        current.append(item)
    if current:
        out.append((head + b",".join(current) + b"]}").decode())
    return out
