"""Delivery statuses from the provider: history, forward-only current status, actual pricing.

A status can arrive before the send that caused it is recorded (the provider answers, sends the
webhook, and our commit of the wamid is still in flight): such statuses wait in ``orphan_statuses``
and are applied when the wamid is recorded (``apply_orphans``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from carewindow.actions.events import Event
from carewindow.policy.pricing.actual import billed_differently
from carewindow.storage import messages as message_store
from carewindow.storage.engine import Connection, Row
from carewindow.storage.writes import Writes
from carewindow.wire.webhook import StatusUpdate

# Message columns a status may change; a batch writes them all so one UPDATE serves every row.
_STATUS_COLUMNS = (
    "status",
    "actual_billable",
    "actual_category",
    "actual_model",
    "actual_type",
    "charge_mismatch",
    "error_code",
    "error_title",
    "error_message",
)


def apply_status(conn: Connection, st: StatusUpdate, *, now: datetime) -> Event | None:
    """Apply one status webhook entry; None when it changed nothing (replay) or waits as an orphan."""
    facts = _facts(st)
    row = message_store.get_by_wamid(conn, st.wamid)
    if row is None and _link_trackers(conn, [st]):
        row = message_store.get_by_wamid(conn, st.wamid)
    if row is None:
        message_store.add_orphan_status(conn, wamid=st.wamid, status=facts["status"], payload=facts)
        return None
    return _apply(conn, row, facts, now=now, wa_id=st.recipient_id or "", phone_number_id=st.phone_number_id)


def apply_statuses(
    conn: Connection, items: Sequence[tuple[StatusUpdate, datetime]], *, writes: Writes | None = None
) -> list[Event | None]:
    """``apply_status`` for many (status, received_at) pairs with a constant number of statements.

    Used by the group commit. Like ``apply_status``, the history entry goes in first and says whether a
    status is new: on PostgreSQL one statement locks the messages, adds the entries and tells which were
    new; then one status UPDATE (a part of ``writes``), however many statuses the batch holds. Statuses
    of one message in one batch apply in order, exactly as one-by-one ``apply_status`` calls would.
    """
    if not items:
        return []
    facts = [_facts(st) for st, _ in items]
    history = _first_of_each(items, facts)
    current = message_store.record_statuses(conn, history)
    unknown = [st for st, _ in items if st.wamid not in current]
    if unknown and _link_trackers(conn, unknown):
        linked = {st.wamid for st in unknown}
        current.update(message_store.record_statuses(conn, [h for h in history if h["wamid"] in linked]))
    out: list[Event | None] = []
    changed: dict[int, dict[str, Any]] = {}
    orphans: dict[tuple[str, str], dict[str, Any]] = {}
    for (st, now), f in zip(items, facts, strict=True):
        row = current.get(st.wamid)
        if row is None:
            orphans.setdefault((st.wamid, f["status"]), f)
            out.append(None)
            continue
        added = f["status"] in row["added"]
        row["added"].discard(f["status"])  # the same status again later in the batch is a replay
        values, first_error = _changes(row, f, added=added)
        if values:
            values["updated_at"] = now
            row.update(values)
            changed[row["seq"]] = row
        out.append(_event(row["seq"], f["status"], first_error, st) if added else None)
    message_store.set_statuses(
        conn,
        [{"b_seq": seq, **{c: r[c] for c in (*_STATUS_COLUMNS, "updated_at")}} for seq, r in changed.items()],
        writes=writes,
    )
    message_store.add_orphan_statuses(
        conn, [{"wamid": w, "status": s, "payload": f} for (w, s), f in orphans.items()], writes=writes
    )
    return out


def _first_of_each(
    items: Sequence[tuple[StatusUpdate, datetime]], facts: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """The history entry of each (wamid, status) pair's first arrival in the batch, in arrival order."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for (st, _), f in zip(items, facts, strict=True):
        if (st.wamid, f["status"]) not in out:
            errors = f.get("errors") or []
            out[(st.wamid, f["status"])] = {
                "wamid": st.wamid,
                "status": f["status"],
                "at": datetime.fromtimestamp(f["at"], UTC),
                "error": errors[0] if errors else None,
            }
    return list(out.values())


def tracker_of(st: StatusUpdate) -> str | None:
    """Our message id, echoed by the platform from the send's ``biz_opaque_callback_data``."""
    value = st.raw.get("biz_opaque_callback_data")
    return value if isinstance(value, str) and value.startswith("msg_") else None


def _link_trackers(conn: Connection, unknown: Sequence[StatusUpdate]) -> bool:
    """Give a wamid to messages whose send was never recorded (a crash or a read timeout between
    the provider's acceptance and our commit): their statuses name them through the tracker."""
    links: dict[str, str] = {}
    for st in unknown:
        tracker = tracker_of(st)
        if tracker is not None:
            links.setdefault(tracker, st.wamid)
    return message_store.link_wamids(conn, links) > 0


def _event(seq: int, status: str, first_error: Any, st: StatusUpdate) -> Event:
    return Event(
        type="message.status",
        wa_id=st.recipient_id or "",
        phone_number_id=st.phone_number_id,
        data={"status": status, "error": first_error, "seq": seq},
    )


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
    values, _ = _changes(dict(row._mapping), facts, added=added)
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


def _changes(row: Mapping[str, Any], facts: Mapping[str, Any], *, added: bool) -> tuple[dict[str, Any], Any]:
    """The message columns a status changes (empty when nothing), and the status's first error."""
    status = facts["status"]
    errors = facts.get("errors") or []
    first_error = errors[0] if errors else None
    pricing = facts.get("pricing")
    values: dict[str, Any] = {}
    if pricing:
        values.update(
            actual_billable=pricing.get("billable"),
            actual_category=pricing.get("category"),
            actual_model=pricing.get("pricing_model"),
            actual_type=pricing.get("type"),
        )
        values["charge_mismatch"] = billed_differently(
            predicted_billable=row["charge_billable"],
            predicted_category=row["charge_category"],
            pricing=pricing,
            predicted_reason=row.get("charge_reason"),
        )
    if not added and not values:
        return {}, first_error
    current = message_store.STATUS_RANK.get(row["status"], 0)
    if (
        added
        and message_store.STATUS_RANK.get(status, 0) > current
        and row["status"] not in ("failed", "uncertain")
    ):
        values["status"] = status
        if status == "failed" and first_error:
            values.update(
                error_code=str(first_error.get("code")),
                error_title=first_error.get("title"),
                error_message=first_error.get("details") or first_error.get("message"),
            )
    elif row["status"] == "uncertain" and status in ("sent", "delivered", "read"):
        # The gap after a crash closes: the provider confirms the send happened.
        values["status"] = status
    return values, first_error
