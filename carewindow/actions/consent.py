"""Recording consent (opt-in / opt-out) and the marketing preference.

Every event goes in the history with both its times (``at``: when it happened by its own clock;
``recorded_at``: when carewindow received it), whether it was applied and why
(``policy.consent_outcome``: an opt-out is never silently lost).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from carewindow.actions.events import Event
from carewindow.policy import ConsentEvent, ConsentStatus, PolicySettings, consent_outcome
from carewindow.storage import contacts as contact_store
from carewindow.storage.engine import Connection, Engine, write_tx
from carewindow.wire.preferences import marketing_preferences
from carewindow.wire.webhook import OtherChange, StatusUpdate

#: ``consent_events.scope`` of a marketing-preference event (user_preferences, 131050).
MARKETING = "marketing"
#: The source of a marketing preference from Meta's webhook, and of one learnt from a 131050 failure.
USER_PREFERENCES = "user_preferences"
FAILED_131050 = "meta_error_131050"
META_MARKETING_STOPPED = 131050


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
    once: bool = False,
) -> list[Event]:
    """A marketing "stop" / "resume" (a ``user_preferences`` webhook, a 131050 failure) for the
    contact, in the caller's transaction: in the history always, on the contact when it applies.
    ``once``: nothing when the same event (source, time) is in the history already (a redelivery)."""
    contact = contact_store.get_or_create(
        conn, phone_number_id=phone_number_id, wa_id=wa_id, now=now, for_update=True
    )
    if once and contact_store.has_consent_event(
        conn, contact_id=contact.id, scope=MARKETING, source=source, at=at
    ):
        return []
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


def apply_user_preferences(
    conn: Connection, changes: Sequence[OtherChange], *, now: datetime, settings: PolicySettings
) -> list[Event]:
    """The marketing stop/resume items of a webhook's ``user_preferences`` changes (ingest's
    transaction); a time Meta did not give, or one ahead of ours, counts as ``now``."""
    events: list[Event] = []
    for pref in marketing_preferences(changes):
        at = min(pref.timestamp, now) if pref.timestamp is not None else now
        events.extend(
            record_marketing(
                conn,
                phone_number_id=pref.phone_number_id,
                wa_id=pref.wa_id,
                stopped=pref.stopped,
                source=USER_PREFERENCES,
                proof=pref.detail,
                at=at,
                now=now,
                settings=settings,
            )
        )
    return events


def is_marketing_stop(st: StatusUpdate) -> bool:
    """A failed status with error 131050: the customer stopped marketing messages."""
    return any(e.code == META_MARKETING_STOPPED for e in st.errors)


def marketing_stop_from_failure(
    conn: Connection, st: StatusUpdate, *, now: datetime, settings: PolicySettings
) -> list[Event]:
    """Record the marketing stop a 131050 failure tells of (for its recipient)."""
    wa_id = st.recipient_id or st.recipient_user_id
    if not wa_id:
        return []
    return record_marketing(
        conn,
        phone_number_id=st.phone_number_id,
        wa_id=wa_id,
        stopped=True,
        source=FAILED_131050,
        proof=f"message {st.wamid} failed with 131050",
        at=min(st.timestamp, now),
        now=now,
        settings=settings,
        once=True,  # Meta redelivers; failed statuses of one message may come more than once
    )
