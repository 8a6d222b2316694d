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
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:  # the driver is the ``postgresql`` extra: imported where a bridge connects
    import psycopg

log = logging.getLogger(__name__)
CHANNEL = "carewindow_events"
_MAX_PAYLOAD = 7000  # PostgreSQL refuses NOTIFY payloads of 8,000 bytes and more


class PgEventBridge:
    """Sends events with NOTIFY from a background thread and, when ``on_remote`` is given, listens for
    other processes' events on another (both with their own autocommit connections)."""

    def __init__(
        self,
        url: str,
        *,
        on_remote: Callable[[list[dict[str, Any]]], None] | None = None,
        wanted: Callable[[], bool] = lambda: True,
        linger: float = 0.02,
    ) -> None:
        self._url = url.replace("postgresql+psycopg://", "postgresql://")
        self._on_remote = on_remote
        # Whether anyone here wants other processes' events now (an open inbox stream); when not,
        # notifications are read off the connection and dropped unparsed.
        self._wanted = wanted
        # How long events wait for company before going out: a NOTIFY per request cost every process
        # on the database measurable CPU, and these are hints for a page to refresh.
        self._linger = linger
        self._origin = f"{os.getpid()}:{id(self):x}"
        # Events wait here; the sender is woken once per linger at most, not once per event (each
        # wake-up of another thread costs the event loop a GIL hand-over).
        self._pending: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._ready = threading.Event()
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
        self._ready.set()
        for t in self._threads:
            t.join(timeout)

    def send(self, events: Sequence[Mapping[str, Any]]) -> None:
        """Queue events for NOTIFY; never blocks the caller (an event loop)."""
        if not events:
            return
        with self._lock:
            wake = not self._pending
            self._pending.extend(dict(e) for e in events)
        if wake:
            self._ready.set()

    def _send_loop(self) -> None:
        conn: psycopg.Connection[Any] | None = None
        while True:
            self._ready.wait()
            if not self._stop.is_set():
                # Whatever arrives within the linger goes out with it: one NOTIFY per few kilobytes
                # of events instead of one per request (each wakes every listening process).
                self._stop.wait(self._linger)
            with self._lock:
                batch, self._pending = self._pending, []
                self._ready.clear()
            if batch:
                conn = self._notify(conn, batch)
            if self._stop.is_set():
                break
        if conn is not None:
            conn.close()

    def _notify(
        self, conn: psycopg.Connection[Any] | None, batch: list[dict[str, Any]]
    ) -> psycopg.Connection[Any] | None:
        """NOTIFY ``batch``; returns the connection to use next time (None after an error)."""
        import psycopg

        try:
            if conn is None or conn.closed:
                conn = psycopg.connect(self._url, autocommit=True, connect_timeout=5)
            for payload in _chunks(self._origin, batch):
                conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, payload))
        except psycopg.Error as exc:
            log.warning("live events not forwarded to other processes (%s)", type(exc).__name__)
            return None
        return conn

    def _listen_loop(self) -> None:
        import psycopg

        assert self._on_remote is not None
        while not self._stop.is_set():
            try:
                with psycopg.connect(self._url, autocommit=True, connect_timeout=5) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    while not self._stop.is_set():
                        for note in conn.notifies(timeout=0.5):
                            if not self._wanted():
                                continue
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
