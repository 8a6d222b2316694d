"""The two ways into the planner: a batch of new requests (the send group commit) and the scheduled
messages that are due (the delivery worker's claim). Both load the batch's state once, plan it with
``plan.plan_sends`` and store it with ``write.write_plan``.

``do_send_batch(conn, jobs)`` gives what each job sent alone, in turn, would give (the oracle in
tests/storage/send_oracle.py), with a number of statements that does not grow with the batch:

- one lookup of the idempotency keys; a key repeated inside the batch answers with the message its
  first accepted use stored;
- one lookup of the contacts (``FOR UPDATE`` on PostgreSQL, in id order, as every batch writer locks
  them); missing ones are inserted with one statement and read back, and deleted again at the end when
  every send to them was refused;
- one lookup of every (name, language) template the batch names; one locking read of each number's
  ``meta_pmp_2026`` service counter;
- the policy in Python, job by job in arrival order, on in-memory contacts and counters;
- the writer's multi-row statements and one insert of outgoing webhook deliveries.

A refused job gets its ``SendRefused`` back as its result; nothing it would have written is written.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from carewindow.actions import outgoing
from carewindow.actions.errors import SendRefused
from carewindow.actions.events import Event
from carewindow.actions.send.commands import SendCommand, SendJob, SendOutcome, Stored
from carewindow.actions.send.plan import Loaded, counter_of, plan_sends, scheduled_later
from carewindow.actions.send.write import write_plan
from carewindow.policy import PolicySettings
from carewindow.storage import contacts as contact_store
from carewindow.storage import sends as send_store
from carewindow.storage import subscriptions as subscription_store
from carewindow.storage.engine import Connection


def load(conn: Connection, jobs: Sequence[SendJob]) -> Loaded:
    """The state the planner needs for ``jobs``, read (and locked) once for the batch."""
    earlier = send_store.messages_by_idempotency_keys(
        conn, (j.cmd.idempotency_key for j in jobs if j.stored is None and j.cmd.idempotency_key)
    )
    decided = [j for j in jobs if j.stored is not None or j.cmd.idempotency_key not in earlier]
    wanted = {(j.phone_number_id, j.cmd.to) for j in decided}
    people = contact_store.get_many(conn, wanted, for_update=True)
    created: set[int] = set()
    missing: dict[tuple[str, str], datetime] = {}
    for j in decided:
        k = (j.phone_number_id, j.cmd.to)
        if k not in people:
            missing.setdefault(k, j.now)
    if missing:
        contact_store.create_many(conn, missing)
        fresh = contact_store.get_many(conn, missing.keys(), for_update=True)
        created = {c["id"] for c in fresh.values()}
        people.update(fresh)
    now_decided = [j for j in decided if not scheduled_later(j)]
    catalog = send_store.templates_by_pairs(
        conn,
        ((ref.name, ref.language) for j in now_decided for ref in (j.cmd.template, j.cmd.fallback) if ref),
    )
    counters = send_store.lock_service_counters(
        conn, (c for c in map(counter_of, now_decided) if c is not None)
    )
    return Loaded(earlier=earlier, people=people, created=created, catalog=catalog, counters=counters)


def do_send_batch(conn: Connection, jobs: list[SendJob]) -> list[SendOutcome | SendRefused]:
    """Write new requests ``jobs`` in one transaction; each result is a ``SendOutcome`` or a
    ``SendRefused``. Their events' webhook deliveries are stored with them."""
    assert all(j.stored is None for j in jobs), "due scheduled messages go through decide_due"
    loaded = load(conn, jobs)
    plan = plan_sends(jobs, loaded)
    rows = write_plan(conn, plan, loaded)
    deliveries = []
    results: list[SendOutcome | SendRefused] = []
    for job, a in zip(jobs, plan.answers, strict=True):
        if a.refused is not None:
            results.append(a.refused)
            continue
        if a.earlier is not None:
            results.append(SendOutcome(message=a.earlier, decision=None))
            continue
        assert a.message_id is not None
        if a.events:
            deliveries.extend(outgoing.delivery_rows(conn, a.events, now=job.now))
        results.append(
            SendOutcome(
                message=rows[a.message_id],
                decision=a.decision,
                fallback_message_id=a.fallback_message_id,
                events=a.events,
            )
        )
    subscription_store.add_deliveries(conn, deliveries)
    return results


def decide_due(
    conn: Connection, seqs: Sequence[int], *, settings: PolicySettings, now: datetime, hold: timedelta
) -> list[Event]:
    """Decide the scheduled messages ``seqs`` (those still scheduled), in that order, as one batch of
    the planner; returns their events (the caller announces them with its own).

    Each is decided with the window as it is now: queued (keeping its outbox row), held (a knock
    template queued ahead of it), or ``failed`` with the refusal's code (``on_closed=reject`` and a
    closed window gives ``window_closed``), as its sender would have been told sending now."""
    jobs = [
        SendJob(
            cmd=SendCommand.from_json(r.request),
            phone_number_id=r.phone_number_id,
            settings=settings,
            now=now,
            hold_period=hold,
            stored=Stored(seq=r.seq, id=r.id),
        )
        for r in send_store.scheduled_messages(conn, seqs)
    ]
    if not jobs:
        return []
    loaded = load(conn, jobs)
    plan = plan_sends(jobs, loaded)
    write_plan(conn, plan, loaded)
    return [e for a in plan.answers for e in a.events]
