"""Two transactions applying statuses of one message at once (two group committers, or two processes on
PostgreSQL): the later must start from what the earlier wrote, never from the status both first saw."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from sqlalchemy import Engine, update

from carewindow.actions.send import SendCommand, do_queue_send
from carewindow.actions.statuses import apply_statuses
from carewindow.policy import PolicySettings, apply_inbound_message
from carewindow.storage import contacts as contact_store
from carewindow.storage import messages as message_store
from carewindow.storage.engine import is_sqlite, write_tx
from carewindow.storage.tables import messages
from carewindow.wire.webhook import StatusUpdate, build_status_webhook, parse_webhook

NUMBER = "100000000000001"
AT = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)


def queue_and_send(engine: Engine, number: str, at: datetime) -> tuple[str, str]:
    """A session message the provider has taken (status sent): (message id, wamid)."""
    policy = PolicySettings()
    with write_tx(engine) as conn:
        row = contact_store.get_or_create(conn, phone_number_id=number, wa_id="34600111555", now=at)
        state = apply_inbound_message(contact_store.state_from_row(row), at=at, settings=policy)
        contact_store.update_values(
            conn, row.id, contact_store.state_values(state, window_length=policy.window)
        )
    out = do_queue_send(
        engine,
        SendCommand(to="34600111555", message_type="text", content={"body": "hi"}),
        phone_number_id=number,
        settings=policy,
        now=at,
        hold_period=timedelta(days=7),
    )
    wamid = "wamid.concurrent-1"
    with write_tx(engine) as conn:
        conn.execute(
            update(messages).where(messages.c.id == out.message.id).values(wamid=wamid, status="sent")
        )
    return out.message.id, wamid


def _status(wamid: str, status: str, ts: datetime) -> StatusUpdate:
    body = build_status_webhook(
        waba_id="200000000000001",
        phone_number_id=NUMBER,
        display_phone_number="15550000001",
        wamid=wamid,
        status=status,
        timestamp=int(ts.timestamp()),
        recipient_id="34600111555",
    )
    (update,) = parse_webhook(orjson.dumps(body)).statuses
    return update


def test_a_status_applied_meanwhile_is_not_overwritten(engine: Engine) -> None:
    if is_sqlite(engine):
        pytest.skip("SQLite has one writer at a time: two status transactions cannot overlap")
    message_id, wamid = queue_and_send(engine, NUMBER, AT)
    first_applied = threading.Event()
    release_first = threading.Event()
    errors: list[BaseException] = []

    def first() -> None:  # "read" arrives first and its transaction stays open for a while
        try:
            with write_tx(engine) as conn:
                apply_statuses(conn, [(_status(wamid, "read", AT + timedelta(seconds=3)), AT)])
                first_applied.set()
                release_first.wait(10)
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)
            first_applied.set()

    def second() -> None:  # "delivered" arrives meanwhile, in another transaction
        try:
            with write_tx(engine) as conn:
                apply_statuses(conn, [(_status(wamid, "delivered", AT + timedelta(seconds=2)), AT)])
        except BaseException as exc:
            errors.append(exc)

    t1 = threading.Thread(target=first)
    t1.start()
    assert first_applied.wait(10)
    t2 = threading.Thread(target=second)
    t2.start()
    t2.join(0.5)  # it must wait for the first transaction's row lock
    waited = t2.is_alive()
    release_first.set()
    t1.join(10)
    t2.join(10)
    assert not errors, errors
    assert waited, "the second status transaction did not wait for the first"
    with engine.connect() as conn:
        row = message_store.get_by_id(conn, message_id)
        assert row is not None
        history = [h.status for h in message_store.history(conn, row.seq)]
    assert row.status == "read"  # not moved back to "delivered"
    assert "delivered" in history and "read" in history
