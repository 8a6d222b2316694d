"""The send planner: what a batch of sends writes, decided job by job in arrival order, in memory.

``plan_sends`` runs the policy for each job on the state ``Loaded`` read for the whole batch (contacts,
earlier idempotency keys, templates, service counters) and threads every change through that state,
so each job meets what the jobs before it did, as one-by-one sends would. It reads and writes no
database; ``write.write_plan`` stores what it planned.

Two kinds of job go through the same steps:
- a new request: answered by an earlier message with its idempotency key, stored ``scheduled`` when
  its ``send_at`` is ahead, or decided now;
- a stored scheduled message that is due (``SendJob.stored``): decided now, with the window as it is
  now. Its row is updated instead of inserted; refused, it ends ``failed`` with the refusal's code
  (the answer its sender would have had sending now) and leaves the outbox.

Reconciled behaviour (the two former implementations differed; these are the rules now):
- the ``meta_pmp_2026`` service counter is read once per (number, period) and counted in memory (the
  due path took and gave back one row update per message); a message counts when it goes out as a
  session message, and only then. The read creates the counter at 0 and locks it, so two batches of
  one number count in turn even in a period's first second (a plain ``FOR UPDATE`` read, as the batch
  path had, locks nothing while the row does not exist yet);
- ``held_count`` is the locked contact's count plus one per message held, written with the rest of
  the contact (the due path added one in SQL: the same on a locked row, one statement more);
- a due message decided ``queued`` keeps the outbox row that is delivering it; held or failed, its
  outbox row is removed here (the due path removed it when held but left a failed one to the claim);
- a due batch is planned in the order given (the claim's), each meeting the state the ones before it
  left, as the due path deciding them one by one did.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from carewindow.actions.errors import SendRefused
from carewindow.actions.events import Event
from carewindow.actions.send.commands import SendCommand, SendJob
from carewindow.actions.send.rows import base_values, message_values, preview
from carewindow.policy import (
    SESSION_MESSAGE_TYPES,
    Action,
    Decision,
    MessageKind,
    OnClosed,
    PricingUsage,
    RefusalCode,
    RenderedTemplate,
    SendRequest,
    Template,
    TemplateRef,
    decide,
)
from carewindow.policy.payment import past_free_tier
from carewindow.policy.pricing import counts_service_usage, usage_period
from carewindow.policy.pricing.allowance import thresholds_crossed
from carewindow.storage import contacts as contact_store
from carewindow.storage.engine import Row

Counter = tuple[str, str]  # (business number, period)


def scheduled_later(job: SendJob) -> bool:
    """A new request whose ``send_at`` is still ahead: stored now, decided when due."""
    return job.stored is None and job.cmd.send_at is not None and job.cmd.send_at > job.now


def counter_of(job: SendJob) -> Counter | None:
    """The service counter this job's decision reads, if the pricing model in force counts one."""
    cmd, settings, now = job.cmd, job.settings, job.now
    if cmd.message_type in SESSION_MESSAGE_TYPES and counts_service_usage(settings, now):
        return (job.phone_number_id, usage_period(now, settings.service_allowance_period))
    return None


@dataclass(slots=True)
class Loaded:
    """The state a batch is planned on, read once for all its jobs (batch.py ``load``)."""

    earlier: dict[str, Row[Any]]  # stored messages by idempotency key
    people: dict[tuple[str, str], dict[str, Any]]  # contacts by (number, wa_id), locked; mutated
    created: set[int]  # contact ids inserted for this batch
    catalog: dict[tuple[str, str], Template]
    counters: dict[Counter, int]  # service messages counted so far, by (number, period)


@dataclass(slots=True)
class Answer:
    """One job's answer, before the writer returned the new rows."""

    message_id: str | None = None  # the new message answered with (by id)
    status: str | None = None  # a stored message's new status
    decision: Decision | None = None
    fallback_message_id: str | None = None
    events: tuple[Event, ...] = ()
    refused: SendRefused | None = None
    earlier: Row[Any] | None = None  # idempotency key found in the database


@dataclass(slots=True)
class Plan:
    """What the batch writes, in arrival order, and each job's answer."""

    new_messages: list[tuple[bool, dict[str, Any]]] = field(default_factory=list)  # (scheduled?, row)
    decided: list[dict[str, Any]] = field(default_factory=list)  # stored messages: b_seq + columns
    history: list[tuple[str | int, str, datetime, dict[str, Any] | None]] = field(default_factory=list)
    queued: list[tuple[str | int, str, datetime]] = field(default_factory=list)  # message, number, at
    unqueued: list[int] = field(default_factory=list)  # seqs whose outbox row goes
    contacts: dict[int, dict[str, Any]] = field(default_factory=dict)  # changed contacts by id
    used_contacts: set[int] = field(default_factory=set)
    counted: dict[Counter, int] = field(default_factory=dict)  # added to each counter
    answers: list[Answer] = field(default_factory=list)  # one per job


def plan_sends(jobs: list[SendJob], loaded: Loaded) -> Plan:
    """Plan ``jobs`` in order on ``loaded`` (whose contacts it changes)."""
    plan = Plan()
    by_key: dict[str, Answer] = {}
    for job in jobs:
        cmd = job.cmd
        key = cmd.idempotency_key if job.stored is None else None
        if key and key in loaded.earlier:
            plan.answers.append(Answer(earlier=loaded.earlier[key]))
            continue
        if key and key in by_key:  # a key repeated in the batch: its first accepted use answers
            plan.answers.append(Answer(message_id=by_key[key].message_id))
            continue
        contact = loaded.people[(job.phone_number_id, cmd.to)]
        later = scheduled_later(job)
        if later:
            answer = Answer(message_id=_plan_scheduled(plan, cmd, contact, job.now))
        else:
            try:
                answer = _plan_decided(plan, job, contact, loaded)
            except SendRefused as refused:
                if job.stored is None:  # nothing is written; the caller is told why
                    plan.answers.append(Answer(refused=refused))
                    continue
                answer = _plan_failed(plan, job, refused)
        if contact["id"] in loaded.created and contact["id"] not in plan.used_contacts:
            # One by one, the contact is created by its first send that is not refused.
            contact["created_at"] = job.now
            if later:
                contact["updated_at"] = job.now
            plan.contacts[contact["id"]] = contact
        plan.used_contacts.add(contact["id"])
        plan.answers.append(answer)
        if key:
            by_key[key] = answer
    return plan


def _lookup(catalog: Mapping[tuple[str, str], Template], ref: TemplateRef | None) -> Template | None:
    return catalog.get((ref.name, ref.language)) if ref is not None else None


def _plan_decided(plan: Plan, job: SendJob, contact: dict[str, Any], loaded: Loaded) -> Answer:
    """Decide ``job`` on the in-memory contact and plan what the decision says; raises SendRefused."""
    cmd, settings, now = job.cmd, job.settings, job.now
    request = SendRequest(
        to=cmd.to,
        message_type=cmd.message_type,
        template=cmd.template,
        on_closed=cmd.on_closed,
        fallback=cmd.fallback,
        purpose=cmd.purpose,
    )
    counter = counter_of(job)
    usage = None
    if counter is not None:
        used = loaded.counters[counter] + plan.counted.get(counter, 0)
        usage = PricingUsage(service_messages_this_period=used)
    state = contact_store.state_from_row(contact)
    decision = decide(
        request,
        state,
        template=_lookup(loaded.catalog, cmd.template),
        fallback_template=_lookup(loaded.catalog, cmd.fallback),
        settings=settings,
        now=now,
        usage=usage,
    )
    if usage is not None and not settings.payment_method_on_file:
        # No payment method: Meta would not deliver a billed service message (policy/payment.py).
        unpaid = past_free_tier(decision, state, settings)
        if unpaid is not None:
            raise SendRefused(unpaid)
    ticket_id = cmd.ticket_id or contact["open_ticket_id"]
    knock_pending = False
    if not decision.allowed:
        joinable = decision.code is RefusalCode.REENGAGEMENT_PENDING and cmd.on_closed is OnClosed.DEFER
        if not (joinable and contact["held_count"] > 0):
            raise SendRefused(decision)
        # A knock is already out for earlier held messages: this one waits with them, no second one.
        knock_pending = True
    crossed: tuple[int, ...] = ()
    used_now = 0
    if counter is not None and decision.allowed and decision.kind is MessageKind.SESSION:
        plan.counted[counter] = plan.counted.get(counter, 0) + 1
        if usage is not None:  # the free tier's 80 % and 100 % marks, from the count in memory
            used_now = usage.service_messages_this_period + 1
            crossed = thresholds_crossed(used_now - 1, used_now, settings.service_free_allowance)
    base = {"wa_id": cmd.to, "phone_number_id": contact["phone_number_id"]}
    events: list[Event] = [
        Event(
            type="allowance.threshold",
            **base,
            data={
                "period": counter[1] if counter else None,
                "threshold": p,
                "used": used_now,
                "allowance": settings.service_free_allowance,
            },
        )
        for p in crossed
    ]
    fallback_id: str | None = None
    common: dict[str, Any] = {"now": now, "ticket_id": ticket_id}
    if knock_pending or decision.action is Action.HOLD:
        knock_id = None
        if not knock_pending:
            knock_id = fallback_id = _plan_outbound(
                plan,
                job,
                contact,
                decision,
                template=decision.send_template,
                as_template=True,
                status="queued",
                knock=True,
                **common,
            )
        message_id = _plan_outbound(
            plan,
            job,
            contact,
            None,
            template=None,
            status="held",
            hold_until=now + job.hold_period,
            knock_message_id=knock_id,
            **common,
        )
        status = "held"
        events.append(
            Event(type="message.held", **base, data={"id": message_id, "knock_message_id": knock_id})
        )
    else:
        message_id = _plan_outbound(
            plan,
            job,
            contact,
            decision,
            template=decision.send_template,
            as_template=decision.action is Action.SEND_FALLBACK,
            status="queued",
            **common,
        )
        status = "queued"
    values: dict[str, Any]
    if knock_pending:  # the refused decision changes no state
        values = {"updated_at": now}
    else:
        values = contact_store.state_values(decision.state_after, window_length=settings.window)
        values.update(updated_at=now, last_activity_at=max(now, contact["last_activity_at"] or now))
    if status == "held":
        values["held_count"] = contact["held_count"] + 1
    if ticket_id and ticket_id != contact["open_ticket_id"]:
        values["open_ticket_id"] = ticket_id
    contact.update(values)
    plan.contacts[contact["id"]] = contact
    events.append(Event(type="message.queued", **base, data={"id": message_id, "status": status}))
    stored = job.stored is not None
    return Answer(
        message_id=None if stored else message_id,
        status=status if stored else None,
        decision=decision,
        fallback_message_id=fallback_id,
        events=tuple(events),
    )


def _plan_outbound(
    plan: Plan,
    job: SendJob,
    contact: Mapping[str, Any],
    decision: Decision | None,
    *,
    template: RenderedTemplate | None,
    now: datetime,
    ticket_id: str | None,
    status: str,
    as_template: bool = False,
    hold_until: datetime | None = None,
    knock_message_id: str | None = None,
    knock: bool = False,
) -> str:
    """Plan the job's message (or, with ``knock``, the template sent ahead of a held one); its id."""
    cmd = job.cmd
    values = message_values(
        cmd,
        decision,
        template=template,
        now=now,
        status=status,
        as_template=as_template,
        hold_until=hold_until,
        knock_message_id=knock_message_id,
    )
    if job.stored is not None and not knock:
        seq = job.stored.seq
        values["content"]["biz_opaque_callback_data"] = job.stored.id  # see actions/statuses.py
        plan.decided.append({"b_seq": seq, **values})
        plan.history.append((seq, status, now, None))
        if status != "queued":  # a due message decided queued keeps the outbox row delivering it
            plan.unqueued.append(seq)
        return job.stored.id
    values.update(
        base_values(cmd, contact["id"], now=now, ticket_id=ticket_id),
        idempotency_key=None if knock else cmd.idempotency_key,
    )
    values["content"]["biz_opaque_callback_data"] = values["id"]  # echoed in statuses
    plan.new_messages.append((False, values))
    if status == "queued":
        plan.queued.append((values["id"], contact["phone_number_id"], now))
    plan.history.append((values["id"], status, now, None))
    return str(values["id"])


def _plan_scheduled(plan: Plan, cmd: SendCommand, contact: Mapping[str, Any], now: datetime) -> str:
    assert cmd.send_at is not None
    values = base_values(cmd, contact["id"], now=now, ticket_id=cmd.ticket_id or contact["open_ticket_id"])
    values.update(
        status="scheduled",
        type=cmd.message_type,
        kind=None,
        content=None,
        text=preview(cmd),
        request=cmd.to_json(),
        send_at=cmd.send_at,
        idempotency_key=cmd.idempotency_key,
    )
    plan.new_messages.append((True, values))
    plan.history.append((values["id"], "scheduled", now, None))
    plan.queued.append((values["id"], contact["phone_number_id"], cmd.send_at))
    return str(values["id"])


def _plan_failed(plan: Plan, job: SendJob, refused: SendRefused) -> Answer:
    """A due message the policy refuses now ends ``failed`` with the refusal's code."""
    assert job.stored is not None
    seq, now = job.stored.seq, job.now
    error = {"code": refused.code, "title": "Refused at send time", "message": refused.message}
    plan.decided.append(
        {
            "b_seq": seq,
            "status": "failed",
            "error_code": refused.code,
            "error_title": error["title"],
            "error_message": refused.message,
            "updated_at": now,
        }
    )
    plan.history.append((seq, "failed", now, error))
    plan.unqueued.append(seq)
    event = Event(
        type="message.status",
        wa_id=job.cmd.to,
        phone_number_id=job.phone_number_id,
        data={"id": job.stored.id, "status": "failed", "error_code": refused.code},
    )
    return Answer(status="failed", events=(event,))
