"""Rows -> response bodies. Shared by the API routes and the inbox."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from carewindow.api import schemas
from carewindow.policy import Decision, PolicySettings, window_at
from carewindow.storage import contacts as contact_store
from carewindow.storage.engine import Row


def window_public(
    contact: Row[Any] | None,
    *,
    wa_id: str,
    now: datetime,
    policy: PolicySettings,
    held: Sequence[Row[Any]] = (),
) -> schemas.WindowPublic:
    if contact is None:
        return schemas.WindowPublic(
            wa_id=wa_id,
            state="closed",
            opened_at=None,
            expires_at=None,
            seconds_left=0,
            last_inbound_at=None,
            reengagement={"templates_sent_since_close": 0, "limit": policy.reengagement_limit},
            consent={"status": "unknown", "source": None, "updated_at": None},
        )
    state = contact_store.state_from_row(contact)
    view = window_at(state.window, now=now, settings=policy)
    return schemas.WindowPublic(
        wa_id=contact.wa_id,
        state="open" if view.is_open else "closed",
        opened_at=view.opened_at,
        expires_at=view.expires_at,
        seconds_left=view.seconds_left,
        last_inbound_at=view.last_inbound_at,
        entry_point_expires_at=view.entry_point_expires_at,
        reengagement={
            "templates_sent_since_close": state.reengagement.templates_sent_since_close,
            "limit": policy.reengagement_limit,
        },
        consent={
            "status": state.consent.status.value,
            "source": state.consent.source,
            "updated_at": state.consent.updated_at,
        },
        held=_held(held),
        scheduled=_scheduled(held),
    )


def _held(pending: Sequence[Row[Any]]) -> list[dict[str, Any]]:
    """The window's ``held`` list from a contact's pending messages."""
    return [
        {
            "id": h.id,
            "type": h.type,
            "text": h.text,
            "status": h.status,
            "created_at": h.created_at,
            "hold_until": h.hold_until,
        }
        for h in pending
        if h.status in ("held", "releasing")
    ]


def _scheduled(pending: Sequence[Row[Any]]) -> list[dict[str, Any]]:
    """The window's ``scheduled`` list from a contact's pending messages."""
    return [
        {"id": h.id, "type": h.type, "text": h.text, "send_at": h.send_at, "created_at": h.created_at}
        for h in pending
        if h.status == "scheduled"
    ]


def window_from_decision(
    *, wa_id: str, decision: Decision, policy: PolicySettings, held: Sequence[Row[Any]] = ()
) -> schemas.WindowPublic:
    """The window a send answer shows, from the decision itself (no second read of the contact).

    ``held``: the contact's pending messages when the send was held, so the answer lists the message
    it has just held (with any held before it), as the window endpoint does."""
    view = decision.window
    state = decision.state_after
    return schemas.WindowPublic(
        wa_id=wa_id,
        state="open" if view.is_open else "closed",
        opened_at=view.opened_at,
        expires_at=view.expires_at,
        seconds_left=view.seconds_left,
        last_inbound_at=view.last_inbound_at,
        entry_point_expires_at=view.entry_point_expires_at,
        reengagement={
            "templates_sent_since_close": state.reengagement.templates_sent_since_close,
            "limit": policy.reengagement_limit,
        },
        consent={
            "status": state.consent.status.value,
            "source": state.consent.source,
            "updated_at": state.consent.updated_at,
        },
        held=_held(held),
        scheduled=_scheduled(held),
    )


def message_public(
    row: Row[Any],
    *,
    wa_id: str,
    history: Sequence[Row[Any]] | None = None,
    fallback_message_id: str | None = None,
    window: schemas.WindowPublic | None = None,
    media: Mapping[str, Any] | None = None,
) -> schemas.MessagePublic:
    m = row._mapping
    charge = None
    if m["direction"] == "out" and m["charge_model"] is not None:
        charge = schemas.Charge(
            billable=m["charge_billable"],
            category=m["charge_category"],
            amount=m["charge_amount"],
            currency=m["charge_currency"],
            pricing_model=m["charge_model"],
            market=m["charge_market"],
            reason=m["charge_reason"],
        )
    actual = None
    if m["actual_model"] is not None or m["actual_billable"] is not None:
        actual = schemas.ActualCharge(
            billable=m["actual_billable"],
            category=m["actual_category"],
            pricing_model=m["actual_model"],
            type=m["actual_type"],
            mismatch=bool(m["charge_mismatch"]),
        )
    error = None
    if m["error_code"]:
        error = {"code": m["error_code"], "title": m["error_title"], "message": m["error_message"]}
    template = None
    if m["template_name"]:
        template = {"name": m["template_name"], "language": m["template_language"]}
    return schemas.MessagePublic(
        id=m["id"],
        direction=m["direction"],
        to=wa_id if m["direction"] == "out" else None,
        wa_id=wa_id,
        type=m["type"],
        kind=m["kind"],
        status=m["status"],
        text=m["text"],
        wamid=m["wamid"],
        template=template,
        ticket_id=m["ticket_id"],
        timestamp=m["ts"],
        created_at=m["created_at"],
        charge=charge,
        actual_charge=actual,
        error=error,
        content=m["content"] if m["direction"] == "in" else None,
        fallback_message_id=fallback_message_id,
        knock_message_id=m["knock_message_id"],
        origin=m.get("origin"),
        hold_until=m["hold_until"],
        send_at=m["send_at"],
        history=(
            [schemas.StatusEntry(status=h.status, at=h.at, error=h.error) for h in history]
            if history is not None
            else None
        ),
        window=window,
        media=dict(media) if media is not None else None,
    )


def consent_event_public(h: Any) -> dict[str, Any]:
    """One consent-history row as the API shows it (both times, scope, applied and why)."""
    return {
        "status": h.status,
        "source": h.source,
        "proof": h.proof,
        "at": h.at,
        "recorded_at": h.recorded_at,
        "scope": h.scope or "templates",
        "applied": True if h.applied is None else bool(h.applied),
        "reason": h.reason,
    }
