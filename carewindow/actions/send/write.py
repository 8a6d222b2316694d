"""The send writer: stores what ``plan.plan_sends`` planned, for every kind of send, in one place."""

from __future__ import annotations

from typing import Any

from carewindow.actions.send.plan import Loaded, Plan
from carewindow.storage import sends as send_store
from carewindow.storage.engine import Connection, Row


def write_plan(conn: Connection, plan: Plan, loaded: Loaded) -> dict[str, Row[Any]]:
    """Write ``plan`` (planned on ``loaded``) in the caller's transaction; the new message rows by id.

    Statements do not grow with the batch: one insert per run of new messages of one kind, one
    combined write of history, outbox rows, decided messages and contacts (storage/sends.py), one
    counter update per (number, period) that counted; contacts created for the batch and not used
    by any send are deleted again (one by one, a refused send rolls its new contact back)."""
    rows = send_store.store_sends(
        conn,
        new_messages=plan.new_messages,
        decided=plan.decided,
        history=plan.history,
        queued=plan.queued,
        unqueued=plan.unqueued,
        changed_contacts=plan.contacts.values(),
        unused_contacts=loaded.created - plan.used_contacts,
        counted=plan.counted,
    )
    return rows
