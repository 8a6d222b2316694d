"""The storage functions the action modules call instead of writing SQL themselves (both databases)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, insert, select

from carewindow.storage import contacts as contact_store
from carewindow.storage import messages as message_store
from carewindow.storage import windows as window_store
from carewindow.storage.engine import write_tx
from carewindow.storage.tables import contacts, messages

NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
NUMBER = "100000000000001"


def _contact(conn: Any, wa_id: str, **values: Any) -> int:
    row = contact_store.get_or_create(conn, phone_number_id=NUMBER, wa_id=wa_id, now=NOW)
    if values:
        contact_store.update_values(conn, row.id, values)
    return int(row.id)


def _message(conn: Any, contact_id: int, mid: str, **values: Any) -> int:
    row = {
        "id": mid,
        "contact_id": contact_id,
        "direction": "out",
        "type": "text",
        "kind": "session",
        "status": "sent",
        "ts": NOW,
        "created_at": NOW,
        "updated_at": NOW,
        "charge_mismatch": False,
        **values,
    }
    return int(conn.execute(insert(messages).values(**row).returning(messages.c.seq)).scalar_one())


def test_due_windows_takes_the_range_without_announced_closes(engine: Engine) -> None:
    with write_tx(engine) as conn:
        before = _contact(conn, "1", window_expires_at=NOW - timedelta(hours=2))  # closed long ago
        at_start = _contact(conn, "2", window_expires_at=NOW - timedelta(hours=1))  # bound excluded
        closed = _contact(conn, "3", window_expires_at=NOW - timedelta(minutes=5))
        soon = _contact(conn, "4", window_expires_at=NOW + timedelta(minutes=10))
        at_end = _contact(conn, "5", window_expires_at=NOW + timedelta(minutes=60))  # bound included
        _contact(conn, "6", window_expires_at=NOW + timedelta(minutes=61))  # beyond
        _contact(conn, "7")  # no window
        announced = _contact(conn, "8", window_expires_at=NOW - timedelta(minutes=30))
        reopened = _contact(conn, "9", window_expires_at=NOW + timedelta(minutes=30))
        assert window_store.claim_alert(
            conn, contact_id=announced, expires_at=NOW - timedelta(minutes=30), kind="closed", now=NOW
        )
        # an announced close of an earlier window does not hide the window now open
        assert window_store.claim_alert(
            conn, contact_id=reopened, expires_at=NOW - timedelta(days=1), kind="closed", now=NOW
        )
        # an expiring alert does not hide the close still to come
        assert window_store.claim_alert(
            conn, contact_id=soon, expires_at=NOW + timedelta(minutes=10), kind="expiring_15", now=NOW
        )
        rows = window_store.due_windows(
            conn, after=NOW - timedelta(hours=1), until=NOW + timedelta(minutes=60), limit=10
        )
        assert [r.id for r in rows] == [closed, soon, reopened, at_end]
        assert rows[0].wa_id == "3" and rows[0].phone_number_id == NUMBER
        assert rows[0].window_expires_at == NOW - timedelta(minutes=5)
        limited = window_store.due_windows(
            conn, after=NOW - timedelta(hours=1), until=NOW + timedelta(minutes=60), limit=2
        )
        assert [r.id for r in limited] == [closed, soon]
        assert before not in {r.id for r in rows} and at_start not in {r.id for r in rows}


def test_claim_alert_claims_each_kind_of_a_window_once(engine: Engine) -> None:
    expires = NOW + timedelta(minutes=10)
    with write_tx(engine) as conn:
        cid = _contact(conn, "1", window_expires_at=expires)
        assert window_store.claim_alert(conn, contact_id=cid, expires_at=expires, kind="expiring_15", now=NOW)
        assert not window_store.claim_alert(
            conn, contact_id=cid, expires_at=expires, kind="expiring_15", now=NOW
        )
        assert window_store.claim_alert(conn, contact_id=cid, expires_at=expires, kind="closed", now=NOW)
        later = expires + timedelta(days=1)
        assert window_store.claim_alert(conn, contact_id=cid, expires_at=later, kind="expiring_15", now=NOW)


def test_mark_read_clears_unread_and_leaves_read_contacts_alone(engine: Engine) -> None:
    later = NOW + timedelta(minutes=1)
    with write_tx(engine) as conn:
        unread = _contact(conn, "1", unread_count=3)
        read = _contact(conn, "2")
        contact_store.mark_read(conn, unread, now=later)
        contact_store.mark_read(conn, read, now=later)
        got = {r.id: r for r in conn.execute(select(contacts)).all()}
    assert (got[unread].unread_count, got[unread].updated_at) == (0, later)
    assert (got[read].unread_count, got[read].updated_at) == (0, NOW)


def test_take_held_and_get_by_id(engine: Engine) -> None:
    with write_tx(engine) as conn:
        cid = _contact(conn, "1", held_count=5)
        other = _contact(conn, "2", held_count=5)
        contact_store.take_held(conn, cid, 3)
        contact_store.take_held(conn, cid, 1)
        row = contact_store.get_by_id(conn, cid)
        assert row is not None and (row.wa_id, row.held_count) == ("1", 1)
        assert contact_store.get_by_id(conn, other).held_count == 5  # type: ignore[union-attr]
        assert contact_store.get_by_id(conn, other + 1000) is None


def test_ticket_thread_oldest_first_with_contact(engine: Engine) -> None:
    with write_tx(engine) as conn:
        a = _contact(conn, "1")
        b = _contact(conn, "2")
        m3 = _message(conn, a, "m3", ticket_id="T", ts=NOW + timedelta(seconds=2))
        m1 = _message(conn, b, "m1", ticket_id="T", ts=NOW)
        m2 = _message(conn, a, "m2", ticket_id="T", ts=NOW)  # same ts as m1: seq decides
        _message(conn, a, "other", ticket_id="U", ts=NOW)
        rows = message_store.ticket_thread(conn, "T", limit=10)
        assert [r.seq for r in rows] == [m1, m2, m3]
        assert (rows[0].id, rows[0].wa_id, rows[0].phone_number_id) == ("m1", "2", NUMBER)
        assert [r.seq for r in message_store.ticket_thread(conn, "T", limit=2)] == [m1, m2]
        assert message_store.ticket_thread(conn, "none", limit=10) == []


def test_held_reads(engine: Engine) -> None:
    with write_tx(engine) as conn:
        a = _contact(conn, "1")
        b = _contact(conn, "2")
        h1 = _message(
            conn, a, "h1", status="held", hold_until=NOW - timedelta(seconds=1), knock_message_id="k"
        )
        h2 = _message(conn, a, "h2", status="held", type="image", hold_until=NOW + timedelta(days=1))
        hb = _message(conn, b, "hb", status="held", hold_until=NOW)
        _message(conn, b, "forever", status="held")  # no hold period: never expires
        r2 = _message(conn, a, "r2", status="releasing", type="image")
        _message(conn, a, "r3", status="releasing")
        _message(conn, a, "q", status="queued", hold_until=NOW - timedelta(days=1))  # not held any more

        held = message_store.held_of(conn, a)
        assert [(r.seq, r.id, r.type, r.knock_message_id) for r in held] == [
            (h1, "h1", "text", "k"),
            (h2, "h2", "image", None),
        ]
        assert held[0].hold_until == NOW - timedelta(seconds=1)

        nxt = message_store.next_releasing(conn, a)
        assert nxt is not None and (nxt.seq, nxt.type) == (r2, "image")
        assert message_store.next_releasing(conn, b) is None

        past = message_store.held_past(conn, now=NOW, limit=10)
        assert sorted((r.seq, r.id, r.contact_id, r.wa_id, r.phone_number_id) for r in past) == [
            (h1, "h1", a, "1", NUMBER),
            (hb, "hb", b, "2", NUMBER),
        ]
        assert len(message_store.held_past(conn, now=NOW, limit=1)) == 1


def test_delivery_info_by_seq(engine: Engine) -> None:
    with write_tx(engine) as conn:
        cid = _contact(conn, "1", last_inbound_at=NOW, window_opened_at=NOW)
        s1 = _message(conn, cid, "m1", status="queued", content={"text": {"body": "hi"}})
        s2 = _message(conn, cid, "m2", status="scheduled", kind="template", hold_until=NOW)
        info = message_store.delivery_info(conn, [s2, s1, s2, s2 + 1000])
        assert set(info) == {s1, s2}
        m = info[s1]
        assert (m.seq, m.id, m.status, m.kind, m.content, m.hold_until) == (
            s1,
            "m1",
            "queued",
            "session",
            {"text": {"body": "hi"}},
            None,
        )
        assert (m.wa_id, m.phone_number_id, m.contact_id) == ("1", NUMBER, cid)
        assert (m.last_inbound_at, m.window_opened_at, m.entry_point_at) == (NOW, NOW, None)
        assert (info[s2].status, info[s2].kind, info[s2].hold_until) == ("scheduled", "template", NOW)
        assert message_store.delivery_info(conn, []) == {}
