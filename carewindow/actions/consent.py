"""Recording consent (opt-in / opt-out) given through the API."""

from __future__ import annotations

from datetime import datetime

from carewindow.actions.events import Event
from carewindow.policy import ConsentEvent, ConsentStatus, PolicySettings, apply_consent_event
from carewindow.storage import contacts as contact_store
from carewindow.storage.engine import Engine, write_tx


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
    """Store the consent event in the history and apply it (the newest event wins)."""
    with write_tx(engine) as conn:
        contact = contact_store.get_or_create(
            conn, phone_number_id=phone_number_id, wa_id=wa_id, now=now, for_update=True
        )
        state = contact_store.state_from_row(contact)
        consent = apply_consent_event(
            state.consent, ConsentEvent(status=status, source=source, proof=proof, at=at)
        )
        contact_store.record_consent_event(
            conn, contact_id=contact.id, status=status.value, source=source, proof=proof, at=at, now=now
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
