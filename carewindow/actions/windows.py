"""Window events: ``window.expiring`` (per lead time) and ``window.closed``, each emitted once.

The sweep reads only contacts whose window closes within the largest lead time (or closed within the
grace period) through the index on ``window_expires_at``: work per tick follows the windows that are
due, not the number of contacts. The unique ``window_alerts`` row is the claim that makes an event go
out once, whichever worker inserts it first.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from carewindow.actions import outgoing
from carewindow.actions.events import Event
from carewindow.actions.held import expire_due
from carewindow.storage import windows as window_store
from carewindow.storage.engine import Engine, write_tx

GRACE = timedelta(hours=1)  # a sweeper that was down this long still emits the closes it missed


def due_kinds(*, expires_at: datetime, now: datetime, leads_minutes: Sequence[int]) -> list[str]:
    """Which events are due for a window closing at ``expires_at`` (pure).

    Only the nearest lead time is due at once: a window that opened with 10 minutes left gets
    ``expiring_15`` but not ``expiring_60`` as well.
    """
    if now >= expires_at:
        return ["closed"]
    passed = [m for m in leads_minutes if now >= expires_at - timedelta(minutes=m)]
    return [f"expiring_{min(passed)}"] if passed else []


def do_sweep(
    engine: Engine, *, now: datetime, leads_minutes: Sequence[int], limit: int = 1000
) -> list[Event]:
    """Emit due window events and expire held messages past their hold period."""
    horizon = now + timedelta(minutes=max(leads_minutes, default=0))
    events: list[Event] = []
    with write_tx(engine) as conn:
        rows = window_store.due_windows(conn, after=now - GRACE, until=horizon, limit=limit)
        for r in rows:
            for kind in due_kinds(expires_at=r.window_expires_at, now=now, leads_minutes=leads_minutes):
                if not window_store.claim_alert(
                    conn, contact_id=r.id, expires_at=r.window_expires_at, kind=kind, now=now
                ):
                    continue
                data: dict[str, object] = {"expires_at": r.window_expires_at}
                if kind.startswith("expiring_"):
                    data["minutes_left"] = int((r.window_expires_at - now).total_seconds() // 60)
                    data["lead_minutes"] = int(kind.split("_")[1])
                events.append(
                    Event(
                        type="window.closed" if kind == "closed" else "window.expiring",
                        wa_id=r.wa_id,
                        phone_number_id=r.phone_number_id,
                        data=data,
                    )
                )
        events.extend(expire_due(conn, now=now))
        outgoing.enqueue_events(conn, events, now=now)
    return events
