"""The delivery worker's writes (docs/subsystems/delivery.md): claim, mark in flight, record answers.

Exactly-once rests on three commits per batch:
1. claim: lease due outbox rows (rate limit applied here) and settle rows that must not be sent;
2. in flight: stamp the rows right before the provider call;
3. record: store each answer (wamid or error) and delete the outbox row.
A row reclaimed with its in-flight stamp set fell in the gap between 2 and 3: the provider may or may
not have sent it, and sending again could deliver it twice. Such a message ends ``uncertain`` and is
reported (an event and the status history) instead of being sent again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from carewindow.actions import outgoing
from carewindow.actions.consent import FAILED_131050, META_MARKETING_STOPPED, record_marketing
from carewindow.actions.events import Event
from carewindow.actions.held import release_next
from carewindow.actions.rate_limit import Bucket, take, wait_for
from carewindow.actions.send import decide_due
from carewindow.actions.statuses import apply_orphans
from carewindow.policy import (
    CareWindow,
    ConsentStatus,
    PolicySettings,
    RefusalCode,
    TemplateCategory,
    window_at,
)
from carewindow.storage import contacts as contact_store
from carewindow.storage import messages as message_store
from carewindow.storage import outbox as outbox_store
from carewindow.storage.engine import Connection, Engine, write_tx


@dataclass(frozen=True, slots=True, kw_only=True)
class Claimed:
    outbox_id: int
    attempts: int
    message_seq: int
    message_id: str
    wa_id: str
    phone_number_id: str
    body: dict[str, Any]
    contact_id: int = 0
    released: bool = False  # a held message released by the customer's reply (order matters)
    category: str | None = None  # the template's category when accepted (marketing routing, 131063)


@dataclass(frozen=True, slots=True, kw_only=True)
class SendAnswer:
    claimed: Claimed
    wamid: str | None = None
    error_code: str | None = None
    error_title: str | None = None
    error_message: str | None = None
    retry_at: datetime | None = None  # set for a transient error that will be tried again


def claim(
    engine: Engine,
    *,
    worker_id: str,
    now: datetime,
    lease: timedelta,
    limit: int,
    rate: float,
    burst: float,
    settings: PolicySettings,
    hold: timedelta = timedelta(days=7),
) -> tuple[list[Claimed], list[Event]]:
    """Lease due rows, within each number's rate limit; settle the ones that must not go out."""
    out: list[Claimed] = []
    events: list[Event] = []
    finished: list[Any] = []  # settled here without a send
    with write_tx(engine) as conn:
        rows = outbox_store.claim_batch(conn, worker_id=worker_id, now=now, lease=lease, limit=limit)
        if not rows:
            return out, events
        seqs = [r.message_seq for r in rows]
        info = message_store.delivery_info(conn, seqs)
        due = [seq for seq in seqs if info[seq].status == "scheduled"]
        if due:  # scheduled messages are decided now, with the window as it is now (one batch)
            events.extend(decide_due(conn, due, settings=settings, now=now, hold=hold))
            info.update(message_store.delivery_info(conn, due))
        by_number: dict[str, list[Any]] = {}
        for r in rows:
            m = info[r.message_seq]
            if m.status != "queued":  # cancelled, held or settled meanwhile
                outbox_store.complete(conn, r.id)
                continue
            if r.in_flight_since is not None:
                _settle(
                    conn,
                    r.id,
                    m.seq,
                    "uncertain",
                    now,
                    "delivery_uncertain",
                    "Worker stopped between the provider call and recording its answer",
                    "The provider may or may not have accepted this message; it was not sent again "
                    "to avoid a duplicate. A later status webhook confirms it if it was sent.",
                )
                events.append(_event(m, "uncertain"))
                finished.append(m)
                continue
            if m.kind == "session":
                window = CareWindow(
                    last_inbound_at=m.last_inbound_at,
                    opened_at=m.window_opened_at,
                    entry_point_at=m.entry_point_at,
                )
                if not window_at(window, now=now, settings=settings).is_open:
                    _settle(
                        conn,
                        r.id,
                        m.seq,
                        "failed",
                        now,
                        "window_closed",
                        "Window closed",
                        "The customer care window closed before this message could be sent.",
                    )
                    events.append(_event(m, "failed"))
                    finished.append(m)
                    continue
            elif (refusal := send_time_refusal(m)) is not None:
                # Accepted while the customer was opted in; they opted out (or stopped marketing)
                # while it was queued: it must not go (docs/rules.md, "Consent at send time").
                _settle(conn, r.id, m.seq, "failed", now, *refusal)
                events.append(_event(m, "failed"))
                finished.append(m)
                continue
            by_number.setdefault(m.phone_number_id, []).append((r, m))
        for number, items in by_number.items():
            tokens, updated = outbox_store.lock_bucket(conn, phone_number_id=number, now=now, burst=burst)
            granted, bucket = take(
                Bucket(tokens=tokens, updated_at=updated), want=len(items), now=now, rate=rate, burst=burst
            )
            outbox_store.save_bucket(
                conn, phone_number_id=number, tokens=bucket.tokens, updated_at=bucket.updated_at
            )
            later = now + timedelta(seconds=max(wait_for(bucket, rate=rate), 1.0 / rate))
            for i, (r, m) in enumerate(items):
                if i >= granted:
                    outbox_store.release(conn, outbox_id=r.id, available_at=later)
                    continue
                out.append(
                    Claimed(
                        outbox_id=r.id,
                        attempts=r.attempts,
                        message_seq=m.seq,
                        message_id=m.id,
                        wa_id=m.wa_id,
                        phone_number_id=number,
                        body=m.content,
                        contact_id=m.contact_id,
                        released=m.hold_until is not None,
                        category=m.charge_category,
                    )
                )
        for m in finished:
            if m.hold_until is not None:
                _release_next(conn, m.contact_id, m.phone_number_id, settings, now)
        outgoing.enqueue_events(conn, events, now=now)
    return out, events


def send_time_refusal(m: Any) -> tuple[str, str, str] | None:
    """Why a queued template must not go now (code, title, message), from ``delivery_info``'s row:
    the customer is no longer opted in, or stopped marketing messages and it is a marketing one."""
    if m.kind != "template":
        return None
    if m.consent_status != ConsentStatus.OPTED_IN.value:
        return (
            RefusalCode.NO_CONSENT.value,
            "No consent at send time",
            f"The customer's consent is {m.consent_status} now (it was opted in when this template was "
            "accepted); it was not sent.",
        )
    if m.charge_category == TemplateCategory.MARKETING.value and (
        m.marketing_status == ConsentStatus.OPTED_OUT.value
    ):
        return (
            RefusalCode.MARKETING_OPTED_OUT.value,
            "Marketing stopped at send time",
            "The customer stopped marketing messages after this marketing template was accepted; it "
            "was not sent.",
        )
    return None


def mark_in_flight(
    engine: Engine, claimed: Sequence[Claimed], *, worker_id: str, now: datetime
) -> list[Claimed]:
    """Stamp rows just before sending; rows whose lease we lost are dropped (another worker has them)."""
    with write_tx(engine) as conn:
        held = outbox_store.mark_in_flight(
            conn, outbox_ids=[c.outbox_id for c in claimed], worker_id=worker_id, now=now
        )
    return [c for c in claimed if c.outbox_id in held]


def record(
    engine: Engine, answers: Sequence[SendAnswer], *, now: datetime, settings: PolicySettings | None = None
) -> list[Event]:
    """Store the provider's answers and finish (or reschedule) the outbox rows, in one commit."""
    events: list[Event] = []
    with write_tx(engine) as conn:
        sent = [a for a in answers if a.wamid is not None]
        # The common case, sent, costs a constant number of statements per batch (executemany / IN).
        message_store.mark_sent(
            conn, [{"b_seq": a.claimed.message_seq, "wamid": a.wamid, "updated_at": now} for a in sent]
        )
        message_store.add_events(
            conn,
            [
                {"message_seq": a.claimed.message_seq, "status": "sent", "at": now, "error": None}
                for a in sent
            ],
        )
        outbox_store.complete_many(conn, [a.claimed.outbox_id for a in sent])
        waiting = message_store.orphan_wamids(conn, [a.wamid for a in sent if a.wamid is not None])
        for a in answers:
            c = a.claimed
            if c.released and a.retry_at is None:  # the next held message may go now
                _release_next(conn, c.contact_id, c.phone_number_id, settings or PolicySettings(), now)
            if a.wamid is not None:
                events.append(
                    Event(
                        type="message.status",
                        wa_id=c.wa_id,
                        phone_number_id=c.phone_number_id,
                        data={"id": c.message_id, "status": "sent", "wamid": a.wamid},
                    )
                )
                if a.wamid in waiting:  # its status webhooks beat this commit (rare)
                    events.extend(
                        apply_orphans(
                            conn, wamid=a.wamid, now=now, wa_id=c.wa_id, phone_number_id=c.phone_number_id
                        )
                    )
            elif a.retry_at is not None:
                outbox_store.retry_later(
                    conn,
                    outbox_id=c.outbox_id,
                    available_at=a.retry_at,
                    error=f"{a.error_code}: {a.error_message}",
                )
            else:
                _settle(
                    conn,
                    c.outbox_id,
                    c.message_seq,
                    "failed",
                    now,
                    a.error_code or "error",
                    a.error_title,
                    a.error_message,
                )
                if a.error_code == str(META_MARKETING_STOPPED):  # the customer stopped marketing
                    events.extend(
                        record_marketing(
                            conn,
                            phone_number_id=c.phone_number_id,
                            wa_id=c.wa_id,
                            stopped=True,
                            source=FAILED_131050,
                            proof=f"message {c.message_id} failed with 131050",
                            at=now,
                            now=now,
                            settings=settings or PolicySettings(),
                        )
                    )
                events.append(
                    Event(
                        type="message.status",
                        wa_id=c.wa_id,
                        phone_number_id=c.phone_number_id,
                        data={"id": c.message_id, "status": "failed", "error_code": a.error_code},
                    )
                )
        outgoing.enqueue_events(conn, events, now=now)
    return events


def _settle(
    conn: Any,
    outbox_id: int,
    seq: int,
    status: str,
    now: datetime,
    code: str,
    title: str | None,
    message: str | None,
) -> None:
    message_store.set_status(
        conn,
        seq,
        {
            "status": status,
            "error_code": code,
            "error_title": title,
            "error_message": message,
            "updated_at": now,
        },
    )
    message_store.add_event(
        conn, message_seq=seq, status=status, at=now, error={"code": code, "title": title, "message": message}
    )
    outbox_store.complete(conn, outbox_id)


def _release_next(
    conn: Connection, contact_id: int, number: str, settings: PolicySettings, now: datetime
) -> None:
    row = contact_store.get_by_id(conn, contact_id)
    if row is not None:
        release_next(
            conn,
            contact_id=contact_id,
            state=contact_store.state_from_row(row),
            phone_number_id=number,
            settings=settings,
            now=now,
        )


def _event(m: Any, status: str) -> Event:
    return Event(
        type="message.status",
        wa_id=m.wa_id,
        phone_number_id=m.phone_number_id,
        data={"id": m.id, "status": status},
    )
