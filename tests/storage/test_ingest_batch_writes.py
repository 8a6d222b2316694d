"""One ingest batch that needs every kind of write at once, on both databases.

On PostgreSQL the writes whose answer nobody reads (raw bodies, contact and status updates, history,
consent, outgoing deliveries) go as one statement of data-modifying parts (``storage.bulk.Writes``);
this batch has all of them, so the combined statement's widest form is checked against what must be
stored.
"""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
from hot_paths import NUMBER, POLICY, message_webhook, seed_sent_messages, statuses_webhook
from sqlalchemy import Engine, func, select

from carewindow.actions import outgoing
from carewindow.actions.ingest import IngestJob, do_ingest_batch
from carewindow.storage import subscriptions as subscription_store
from carewindow.storage.engine import write_tx
from carewindow.storage.tables import (
    consent_events,
    contacts,
    message_events,
    messages,
    orphan_statuses,
    webhook_deliveries,
    webhook_raw,
)
from carewindow.wire.webhook import build_message_webhook, parse_webhook

NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)


def _job(payload: object) -> IngestJob:
    body = orjson.dumps(payload)
    return IngestJob(body=body, batch=parse_webhook(body), received_at=NOW)


def test_a_batch_with_every_kind_of_write_stores_all_of_them(engine: Engine) -> None:
    with write_tx(engine) as conn:
        subscription_store.create(
            conn,
            {
                "public_id": "sub_all",
                "url": "https://example.com/hook",
                "events": sorted(outgoing.EVENT_TYPES),
                "secret": "s3cret",
                "phone_number_ids": None,
                "created_at": NOW,
            },
        )
    outgoing.invalidate_cache()
    wamids = seed_sent_messages(engine, 3, NOW, "w")
    stop = build_message_webhook(
        waba_id="200000000000001",
        phone_number_id=NUMBER,
        display_phone_number="15550000001",
        wa_id="34600999002",
        profile_name="Bea",
        wamid="wamid.in-stop",
        timestamp=int(NOW.timestamp()),
        content={"body": "STOP"},
    )
    jobs = [
        _job(message_webhook("34600999001", "wamid.in-hola", NOW)),
        _job(stop),
        _job(statuses_webhook(wamids, NOW)),
        _job(statuses_webhook(["wamid.not-ours-yet"], NOW)),
    ]
    with write_tx(engine) as conn:
        results = do_ingest_batch(conn, jobs, settings=POLICY)
    assert [r.new_messages for r in results] == [1, 1, 0, 0]
    assert results[2].statuses_applied == 3 and results[3].statuses_applied == 0

    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(webhook_raw)).scalar_one() == 4
        windows = dict(
            conn.execute(
                select(contacts.c.wa_id, contacts.c.window_expires_at).where(
                    contacts.c.wa_id.in_(["34600999001", "34600999002"])
                )
            ).all()
        )
        assert all(expires is not None and expires > NOW for expires in windows.values()), windows
        consent = conn.execute(select(contacts.c.consent_status).where(contacts.c.wa_id == "34600999002"))
        assert consent.scalar_one() == "opted_out"
        assert conn.execute(select(consent_events.c.status)).scalars().all() == ["opted_out"]
        statuses = conn.execute(select(messages.c.status).where(messages.c.wamid.in_(wamids))).scalars()
        assert set(statuses) == {"delivered"}
        history = conn.execute(select(message_events.c.status).where(message_events.c.status == "delivered"))
        assert len(history.all()) == 3
        assert conn.execute(select(orphan_statuses.c.wamid)).scalars().all() == ["wamid.not-ours-yet"]
        kinds = conn.execute(select(webhook_deliveries.c.event_type)).scalars().all()
    assert {"message.received", "message.status", "window.opened"} <= set(kinds), kinds
    assert kinds.count("message.status") == 3
