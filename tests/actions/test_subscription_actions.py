"""actions.subscriptions: who sees a subscription, creating and deleting one, and a delivery round."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from carewindow.actions import outgoing
from carewindow.actions.errors import NotFound
from carewindow.actions.events import Event
from carewindow.actions.subscriptions import (
    DeliveryAnswer,
    do_claim_deliveries,
    do_create_subscription,
    do_delete_subscription,
    do_settle_deliveries,
    visible,
)
from carewindow.storage import subscriptions as subscription_store
from carewindow.storage.engine import Engine, connect, write_tx

NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
SECRET = "s" * 16
numbers = st.frozensets(st.sampled_from(["111", "222", "333"]))


class _Sub:
    def __init__(self, phone_number_ids: frozenset[str]) -> None:
        self.phone_number_ids = ",".join(sorted(phone_number_ids)) or None


@given(subscribed=numbers, key=st.none() | numbers)
def test_a_limited_key_sees_only_subscriptions_within_its_numbers(
    subscribed: frozenset[str], key: frozenset[str] | None
) -> None:
    expected = key is None or (bool(subscribed) and subscribed <= key)
    assert visible(_Sub(subscribed), key) is expected


def test_create_then_delete_as_a_key_that_may_see_it(engine: Engine) -> None:
    row = do_create_subscription(
        engine,
        url="https://crm.example/hook",
        events=["window.opened", "message.received", "window.opened"],
        secret=SECRET,
        phone_number_ids=["111", "222"],
        now=NOW,
    )
    assert row.public_id.startswith("sub") and list(row.events) == ["message.received", "window.opened"]
    assert row.phone_number_ids == "111,222" and row.created_at is not None
    with pytest.raises(NotFound):
        do_delete_subscription(engine, row.public_id, now=NOW, phone_number_ids=frozenset({"111"}))
    with connect(engine) as conn:
        assert subscription_store.get(conn, row.public_id) is not None, "a refused delete deletes nothing"
    do_delete_subscription(engine, row.public_id, now=NOW, phone_number_ids=frozenset({"111", "222", "333"}))
    with connect(engine) as conn:
        assert subscription_store.get(conn, row.public_id) is None
        assert list(subscription_store.active(conn)) == []
    with pytest.raises(NotFound):
        do_delete_subscription(engine, row.public_id, now=NOW, phone_number_ids=None)


def test_a_delivery_round_leases_then_records_each_answer(engine: Engine) -> None:
    do_create_subscription(
        engine,
        url="https://a.example/h",
        events=["window.opened"],
        secret=SECRET,
        phone_number_ids=None,
        now=NOW,
    )
    do_create_subscription(
        engine,
        url="https://b.example/h",
        events=["window.opened"],
        secret=SECRET,
        phone_number_ids=None,
        now=NOW,
    )
    with write_tx(engine) as conn:
        outgoing.enqueue_events(
            conn, [Event(type="window.opened", wa_id="34600000001", phone_number_id="111")], now=NOW
        )
    lease = timedelta(seconds=60)
    due = do_claim_deliveries(engine, now=NOW, lease=lease, limit=10)
    assert sorted(d.url for d in due) == ["https://a.example/h", "https://b.example/h"]
    assert all(d.attempts == 1 and d.secret == SECRET for d in due)
    assert do_claim_deliveries(engine, now=NOW, lease=lease, limit=10) == [], (
        "leased rows are not claimed twice"
    )
    ok, failed = sorted(due, key=lambda d: d.url)
    do_settle_deliveries(
        engine,
        [
            (ok, DeliveryAnswer(ok=True, status_code=200, error=None)),
            (failed, DeliveryAnswer(ok=False, status_code=500, error="boom")),
        ],
        now=NOW,
    )
    with connect(engine) as conn:
        logs = {
            d.subscription_id: d
            for d in (
                *subscription_store.log(conn, ok.subscription_id, limit=5),
                *subscription_store.log(conn, failed.subscription_id, limit=5),
            )
        }
    assert logs[ok.subscription_id].status == "delivered"
    retry = logs[failed.subscription_id]
    assert retry.status == "pending" and retry.last_status_code == 500 and retry.last_error == "boom"
    assert retry.lease_until is None
    assert [
        d.id for d in do_claim_deliveries(engine, now=NOW + timedelta(seconds=2), lease=lease, limit=10)
    ] == [failed.id], "the failed one is due again after its retry delay, the delivered one never"
