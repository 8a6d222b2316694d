"""Outbound messages, the send use case: decide with the policy core, then store message + outbox row
in one transaction (docs/subsystems/delivery.md).

One planner (``plan.plan_sends``) decides every send, whether a new request (``do_send_batch``, the
send group commit, which ``do_queue_send`` and ``queue_send`` go through) or a scheduled message that is
due (``decide_due``, from the delivery worker's claim); one writer (``write.write_plan``) stores what
it planned. ``check_send_request`` validates and never writes. The Graph API body is built when the
message is decided, so the worker sends exactly what was decided. A scheduled message (``send_at``)
is stored undecided and decided when it is due, with the window as it is then.

Modules: ``commands`` (types), ``rows`` (the columns of an outbound row), ``plan``, ``write``,
``batch`` (loading a batch's state and the two entry points); none imports this package's ``__init__``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from carewindow.actions.errors import SendRefused
from carewindow.actions.events import Event
from carewindow.actions.send.batch import decide_due, do_send_batch
from carewindow.actions.send.commands import SendCommand, SendJob, SendOutcome, Stored, check_send_request
from carewindow.policy import PolicySettings
from carewindow.storage import contacts as contact_store
from carewindow.storage import messages as message_store
from carewindow.storage import outbox as outbox_store
from carewindow.storage import sends as send_store
from carewindow.storage.engine import Connection, Engine, Row, connect, write_tx
from carewindow.storage.errors import Conflict
from carewindow.storage.group_commit import GroupCommitter

__all__ = [
    "SendCommand",
    "SendCommitter",
    "SendJob",
    "SendOutcome",
    "Stored",
    "check_send_request",
    "decide_due",
    "do_cancel",
    "do_queue_send",
    "do_send_batch",
    "pending_for_contact",
    "queue_send",
    "send_committer",
    "send_result",
]

SendCommitter = GroupCommitter[SendJob, SendOutcome | SendRefused]


def do_queue_send(
    engine: Engine,
    cmd: SendCommand,
    *,
    phone_number_id: str,
    settings: PolicySettings,
    now: datetime,
    hold_period: timedelta,
    committer: SendCommitter | None = None,
) -> SendOutcome:
    """Decide and, when allowed, store the message and its outbox row atomically.

    With ``committer`` (the runtime's send group commit) the send shares a transaction and its
    statements with concurrent ones; without, it is a batch of one in a transaction of its own."""
    check_send_request(cmd)
    job = SendJob(
        cmd=cmd, phone_number_id=phone_number_id, settings=settings, now=now, hold_period=hold_period
    )
    try:
        if committer is not None:
            result = committer.submit_sync(job)
        else:
            with write_tx(engine) as conn:
                result = do_send_batch(conn, [job])[0]
    except Conflict as exc:
        return _raced(engine, cmd, exc)
    return send_result(result)


async def queue_send(engine: Engine, committer: SendCommitter, job: SendJob) -> SendOutcome:
    """``do_queue_send`` through the send group commit, from the event loop."""
    check_send_request(job.cmd)
    try:
        result = await committer.submit(job)
    except Conflict as exc:
        return _raced(engine, job.cmd, exc)
    return send_result(result)


def send_result(result: SendOutcome | SendRefused) -> SendOutcome:
    if isinstance(result, SendRefused):
        raise result
    return result


def _raced(engine: Engine, cmd: SendCommand, exc: Conflict) -> SendOutcome:
    # Two requests with one idempotency key raced; the loser answers with the winner's message.
    if cmd.idempotency_key:
        with connect(engine) as conn:
            earlier = message_store.get_by_idempotency_key(conn, cmd.idempotency_key)
        if earlier is not None:
            return SendOutcome(message=earlier, decision=None)
    raise exc


def send_committer(engine: Engine, *, threads: int = 1, on_loop: bool = False) -> SendCommitter:
    """The group commit sends queue into (started by the app; see ``GroupCommitter``)."""

    def work(conn: Connection, job: SendJob) -> SendOutcome | SendRefused:
        return do_send_batch(conn, [job])[0]

    return GroupCommitter(
        engine, work, name="send", work_batch=do_send_batch, threads=threads, on_loop=on_loop
    )


def do_cancel(engine: Engine, message_id: str, *, now: datetime) -> tuple[Row[Any] | None, list[Event]]:
    """Cancel a scheduled, held or not-yet-sent message. Returns the row (None if unknown)."""
    with write_tx(engine) as conn:
        row = message_store.get_by_id(conn, message_id)
        if row is None:
            return None, []
        if row.status not in ("scheduled", "held", "queued", "releasing"):
            return row, []
        if row.status == "queued" and not outbox_store.remove_for_message(conn, row.seq, only_idle=True):
            return row, []  # already in the provider's hands: too late to cancel
        outbox_store.remove_for_message(conn, row.seq)
        message_store.set_status(conn, row.seq, {"status": "cancelled", "updated_at": now})
        message_store.add_event(conn, message_seq=row.seq, status="cancelled", at=now)
        if row.status == "held":
            contact_store.take_held(conn, row.contact_id, 1)
        updated = message_store.get_by_id(conn, message_id)
    ev = Event(
        type="message.status",
        wa_id=row.wa_id,
        phone_number_id=row.phone_number_id,
        data={"id": row.id, "status": "cancelled"},
    )
    return updated, [ev]


def pending_for_contact(conn: Connection, contact_id: int) -> Sequence[Row[Any]]:
    """Held and scheduled messages of a contact, oldest first (the window response lists them)."""
    return send_store.pending_for_contact(conn, contact_id)
