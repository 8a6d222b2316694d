"""Outgoing webhooks to the business's systems (docs/subsystems/outgoing-webhooks.md).

Events are turned into delivery rows inside the transaction that caused them (an outbox for events), so a
crash can neither lose an event nor announce one that was rolled back. The worker sends them, signed.
"""

from __future__ import annotations

import os
import threading
import time
import weakref
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

import orjson

from carewindow.actions.events import Event
from carewindow.storage import subscriptions as subscription_store
from carewindow.storage.engine import Connection, Engine

EVENT_TYPES = (
    "message.received",
    "message.status",
    "message.held",
    "message.released",
    "message.expired",
    "window.opened",
    "window.expiring",
    "window.closed",
    "consent.changed",
    "allowance.threshold",  # 80 % and 100 % of a number's free service messages used (docs/costs.md)
    # issue 23: coexistence echoes, template category and quality changes (actions/platform_changes.py)
    "message.echo",
    "template.category_changed",
    "template.quality_changed",
)
RETRY_FOR = timedelta(hours=24)
_CACHE_SECONDS = 1.0

# Active subscriptions, cached per engine for a second: the hot ingest path asks on every commit.
# (Keyed by the engine itself: formatting its URL as a key was 1 % of the ingest committer.)
_cache: weakref.WeakKeyDictionary[Engine, tuple[float, list[Any]]] = weakref.WeakKeyDictionary()
_cache_lock = threading.Lock()


def invalidate_cache() -> None:
    with _cache_lock:
        _cache.clear()


def _active(conn: Connection) -> list[Any]:
    key = conn.engine
    now = time.monotonic()
    with _cache_lock:
        hit = _cache.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
    rows = list(subscription_store.active(conn))
    with _cache_lock:
        _cache[key] = (now + _CACHE_SECONDS, rows)
    return rows


def active_subscriptions(conn: Connection) -> list[Any]:
    """The active subscriptions (cached for a second per engine), for ``actions.fanout`` too."""
    return _active(conn)


def new_event_id() -> str:
    return "evt_" + os.urandom(12).hex()


def event_body(event: Event, *, event_id: str, now: datetime) -> bytes:
    data = {"wa_id": event.wa_id, "phone_number_id": event.phone_number_id, **event.data}
    return orjson.dumps(
        {"id": event_id, "type": event.type, "created_at": now, "data": data},
        option=orjson.OPT_UTC_Z | orjson.OPT_NON_STR_KEYS,
        default=str,
    )


def enqueue_events(conn: Connection, events: Iterable[Event], *, now: datetime) -> None:
    """Queue a delivery of each event to every subscription that wants it (same transaction)."""
    subscription_store.add_deliveries(conn, delivery_rows(conn, events, now=now))


def delivery_rows(conn: Connection, events: Iterable[Event], *, now: datetime) -> list[dict[str, Any]]:
    """The rows ``enqueue_events`` inserts, so a batch of jobs can insert all of theirs at once."""
    subs = None
    rows: list[dict[str, Any]] = []
    for event in events:
        if event.type not in EVENT_TYPES:
            continue
        if subs is None:
            subs = _active(conn)
            if not subs:
                return rows
        wanted = [
            s
            for s in subs
            if event.type in s.events
            and (not s.phone_number_ids or event.phone_number_id in s.phone_number_ids.split(","))
        ]
        if not wanted:
            continue
        event_id = new_event_id()
        body = event_body(event, event_id=event_id, now=now)
        rows.extend(
            {
                "subscription_id": s.id,
                "event_id": event_id,
                "event_type": event.type,
                "body": body,
                "status": "pending",
                "attempts": 0,
                "next_attempt_at": now,
                "give_up_at": now + RETRY_FOR,
                "created_at": now,
                "order_key": None,  # events are not ordered (a raw webhook's are: actions/fanout.py)
            }
            for s in wanted
        )
    return rows


def retry_delay(attempts: int) -> timedelta:
    """Exponential from 1 s, capped at 30 min: about 60 tries over the 24 h a receiver may be down."""
    return timedelta(seconds=min(1800.0, 2.0 ** max(0, attempts - 1)))


def settle_values(
    *,
    ok: bool,
    attempts: int,
    status_code: int | None,
    error: str | None,
    now: datetime,
    give_up_at: datetime,
) -> dict[str, Any]:
    if ok:
        return {
            "status": "delivered",
            "delivered_at": now,
            "last_status_code": status_code,
            "last_error": None,
        }
    next_at = now + retry_delay(attempts)
    return {
        "status": "failed" if next_at > give_up_at else "pending",
        "next_attempt_at": next_at,
        "last_status_code": status_code,
        "last_error": (error or "")[:500],
    }


def deliveries_public(rows: Sequence[Any]) -> list[dict[str, Any]]:
    return [
        {
            "id": r.id,
            "event_id": r.event_id,
            "event_type": r.event_type,
            "status": r.status,
            "attempts": r.attempts,
            "last_status_code": r.last_status_code,
            "last_error": r.last_error,
            "created_at": r.created_at,
            "delivered_at": r.delivered_at,
            "next_attempt_at": r.next_attempt_at if r.status == "pending" else None,
        }
        for r in rows
    ]
