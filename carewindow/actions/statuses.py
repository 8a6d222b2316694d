"""Delivery statuses from the provider: history, forward-only current status, actual pricing.

A status can arrive before the send that caused it is recorded (the provider answers, sends the
webhook, and our commit of the wamid is still in flight): such statuses wait in ``orphan_statuses``
and are applied when the wamid is recorded (``apply_orphans``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Row

from carewindow.actions.events import Event
from carewindow.storage import messages as message_store
from carewindow.wire.webhook import StatusUpdate


def apply_status(conn: Connection, st: StatusUpdate, *, now: datetime) -> Event | None:
    """Apply one status webhook entry; None when it changed nothing (replay) or waits as an orphan."""
    facts = _facts(st)
    row = message_store.get_by_wamid(conn, st.wamid)
    if row is None:
        message_store.add_orphan_status(conn, wamid=st.wamid, status=facts["status"], payload=facts)
        return None
    return _apply(conn, row, facts, now=now, wa_id=st.recipient_id or "", phone_number_id=st.phone_number_id)


def apply_orphans(
    conn: Connection, *, wamid: str, now: datetime, wa_id: str, phone_number_id: str
) -> Sequence[Event]:
    row = message_store.get_by_wamid(conn, wamid)
    if row is None:
        return ()
    events = []
    for orphan in sorted(message_store.take_orphan_statuses(conn, wamid), key=lambda o: o.payload["at"]):
        ev = _apply(conn, row, orphan.payload, now=now, wa_id=wa_id, phone_number_id=phone_number_id)
        if ev is not None:
            events.append(ev)
            row = message_store.get_by_wamid(conn, wamid) or row
    return events


def _facts(st: StatusUpdate) -> dict[str, Any]:
    return {
        "status": st.status.value,
        "at": st.timestamp.timestamp(),
        "errors": [
            {"code": e.code, "title": e.title, "message": e.message, "details": e.details} for e in st.errors
        ],
        "pricing": (
            {
                "billable": st.pricing.billable,
                "pricing_model": st.pricing.pricing_model,
                "category": st.pricing.category,
                "type": st.pricing.type,
            }
            if st.pricing
            else None
        ),
    }


def _apply(
    conn: Connection,
    row: Row[Any],
    facts: Mapping[str, Any],
    *,
    now: datetime,
    wa_id: str,
    phone_number_id: str,
) -> Event | None:
    status = facts["status"]
    at = datetime.fromtimestamp(facts["at"], UTC)
    errors = facts.get("errors") or []
    first_error = errors[0] if errors else None
    added = message_store.add_event(conn, message_seq=row.seq, status=status, at=at, error=first_error)
    pricing = facts.get("pricing")
    values: dict[str, Any] = {}
    if pricing:
        values.update(
            actual_billable=pricing.get("billable"),
            actual_category=pricing.get("category"),
            actual_model=pricing.get("pricing_model"),
            actual_type=pricing.get("type"),
        )
        if row.charge_billable is not None and pricing.get("billable") is not None:
            values["charge_mismatch"] = bool(row.charge_billable) != bool(pricing["billable"])
    if not added and not values:
        return None
    current = message_store.STATUS_RANK.get(row.status, 0)
    if (
        added
        and message_store.STATUS_RANK.get(status, 0) > current
        and row.status not in ("failed", "uncertain")
    ):
        values["status"] = status
        if status == "failed" and first_error:
            values.update(
                error_code=str(first_error.get("code")),
                error_title=first_error.get("title"),
                error_message=first_error.get("details") or first_error.get("message"),
            )
    elif row.status == "uncertain" and status in ("sent", "delivered", "read"):
        # The gap after a crash closes: the provider confirms the send happened.
        values["status"] = status
    if values:
        values["updated_at"] = now
        message_store.set_status(conn, row.seq, values)
    if not added:
        return None
    return Event(
        type="message.status",
        wa_id=wa_id,
        phone_number_id=phone_number_id,
        data={"status": status, "error": first_error, "seq": row.seq},
    )
