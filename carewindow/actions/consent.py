"""Recording consent (opt-in / opt-out) and the marketing preference.

Every event goes in the history with both its times (``at``: when it happened by its own clock;
``recorded_at``: when carewindow received it), whether it was applied and why
(``policy.consent_outcome``: an opt-out is never silently lost).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from carewindow.actions.events import Event
from carewindow.policy import ConsentEvent, ConsentStatus, PolicySettings, consent_outcome
from carewindow.storage import contacts as contact_store
from carewindow.storage.engine import Connection, Engine, write_tx

#: ``consent_events.scope`` of a marketing-preference event (user_preferences, 131050).
MARKETING = "marketing"


def do_record_consent(
    engine: Engine,
    *,
    phone_number_id: str,
    wa_id: str,
    status: ConsentStatus,
    source: str,
    proof: str | None,
    at: datetime,
    now: datetime,
    settings: PolicySettings,
) -> list[Event]:
    """Store the consent event in the history and apply it under the opt-out-wins rule."""
    with write_tx(engine) as conn:
        contact = contact_store.get_or_create(
            conn, phone_number_id=phone_number_id, wa_id=wa_id, now=now, for_update=True
        )
        state = contact_store.state_from_row(contact)
        outcome = consent_outcome(
            state.consent,
            ConsentEvent(status=status, source=source, proof=proof, at=at, received_at=now),
            tolerance=settings.consent_tolerance,
        )
        consent = outcome.state
        contact_store.record_consent_event(
            conn,
            contact_id=contact.id,
            status=status.value,
            source=source,
            proof=proof,
            at=at,
            now=now,
            applied=outcome.applied,
            reason=outcome.reason,
        )
        if consent == state.consent:
            return []
        contact_store.update_values(
            conn,
            contact.id,
            {
                "consent_status": consent.status.value,
                "consent_source": consent.source,
                "consent_proof": consent.proof,
                "consent_updated_at": consent.updated_at,
                "updated_at": now,
            },
        )
    return [
        Event(
            type="consent.changed",
            wa_id=wa_id,
            phone_number_id=phone_number_id,
            data={"status": consent.status.value},
        )
    ]


def record_marketing(
    conn: Connection,
    *,
    phone_number_id: str,
    wa_id: str,
    stopped: bool,
    source: str,
    proof: str | None,
    at: datetime,
    now: datetime,
    settings: PolicySettings,
) -> list[Event]:
    """A marketing "stop" / "resume" (a ``user_preferences`` webhook, a 131050 failure) for the
    contact, in the caller's transaction: in the history always, on the contact when it applies."""
    contact = contact_store.get_or_create(
        conn, phone_number_id=phone_number_id, wa_id=wa_id, now=now, for_update=True
    )
    state = contact_store.state_from_row(contact)
    status = ConsentStatus.OPTED_OUT if stopped else ConsentStatus.OPTED_IN
    outcome = consent_outcome(
        state.marketing,
        ConsentEvent(status=status, source=source, proof=proof, at=at, received_at=now),
        tolerance=settings.consent_tolerance,
    )
    contact_store.record_consent_event(
        conn,
        contact_id=contact.id,
        status=status.value,
        source=source,
        proof=proof,
        at=at,
        now=now,
        applied=outcome.applied,
        reason=outcome.reason,
        scope=MARKETING,
    )
    if outcome.state == state.marketing:
        return []
    values: dict[str, Any] = contact_store.marketing_values(outcome.state)
    values["updated_at"] = now
    contact_store.update_values(conn, contact.id, values)
    return [
        Event(
            type="consent.changed",
            wa_id=wa_id,
            phone_number_id=phone_number_id,
            data={"status": state.consent.status.value, "marketing": outcome.state.status.value},
        )
    ]


def do_record_marketing(engine: Engine, **kwargs: Any) -> list[Event]:
    """``record_marketing`` in its own transaction."""
    with write_tx(engine) as conn:
        return record_marketing(conn, **kwargs)
