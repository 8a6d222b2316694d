"""Builders for the hot batch paths (ingest, send, delivery): shared by the query-count and plan tests."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import Engine, insert

from carewindow.actions.ingest import IngestJob
from carewindow.actions.send import SendCommand, SendJob, do_queue_send
from carewindow.policy import ConsentStatus, OnClosed, PolicySettings, TemplateRef, apply_inbound_message
from carewindow.storage import contacts as contact_store
from carewindow.storage import templates as template_store
from carewindow.storage.engine import write_tx
from carewindow.storage.tables import messages
from carewindow.wire.webhook import build_message_webhook, build_status_webhook, parse_webhook

NUMBER = "100000000000001"
POLICY = PolicySettings()


def message_webhook(wa_id: str, wamid: str, now: datetime) -> dict[str, Any]:
    return build_message_webhook(
        waba_id="200000000000001",
        phone_number_id=NUMBER,
        display_phone_number="15550000001",
        wa_id=wa_id,
        profile_name="Ana",
        wamid=wamid,
        timestamp=int(now.timestamp()),
        content={"body": "hola"},
    )


def statuses_webhook(wamids: list[str], now: datetime) -> dict[str, Any]:
    payload = build_status_webhook(
        waba_id="200000000000001",
        phone_number_id=NUMBER,
        display_phone_number="15550000001",
        wamid=wamids[0],
        status="delivered",
        timestamp=int(now.timestamp()),
        recipient_id="34600111222",
        pricing={"billable": False, "pricing_model": "PMP", "category": "service", "type": "free"},
    )
    value: Any = payload["entry"][0]["changes"][0]["value"]  # type: ignore[index]
    first = value["statuses"][0]
    value["statuses"] = [{**first, "id": w} for w in wamids]
    return payload


def seed_sent_messages(engine: Engine, n: int, now: datetime, tag: str) -> list[str]:
    wamids = [f"wamid.qc-{tag}-{i}" for i in range(n)]
    with write_tx(engine) as conn:
        row = contact_store.get_or_create(conn, phone_number_id=NUMBER, wa_id="34600111222", now=now)
        conn.execute(
            insert(messages),
            [
                {
                    "id": f"msg_qc_{tag}_{i}",
                    "contact_id": row.id,
                    "direction": "out",
                    "wamid": w,
                    "type": "text",
                    "kind": "session",
                    "status": "sent",
                    "ts": now,
                    "created_at": now,
                    "updated_at": now,
                    "charge_billable": False,
                    "charge_mismatch": False,
                }
                for i, w in enumerate(wamids)
            ],
        )
    return wamids


def ingest_jobs(n: int, now: datetime, tag: str, wamids: list[str]) -> list[IngestJob]:
    """n webhooks of a group commit, in the bench's mix: 1 customer message to 3 statuses."""
    jobs = []
    for i in range(n):
        if i % 4 == 0:
            # Half the senders are new contacts, half write again (contact 0..4 exist after warm-up).
            wa_id = f"346004{i % 5:05d}" if i % 8 == 0 else f"34600{tag}{i:05d}"
            payload = message_webhook(wa_id, f"wamid.qc-in-{tag}-{i}", now)
        else:
            payload = statuses_webhook([wamids[i]], now)
        body = orjson.dumps(payload)
        jobs.append(IngestJob(body=body, batch=parse_webhook(body), received_at=now))
    return jobs


def send_jobs(n: int, now: datetime, tag: str) -> list[SendJob]:
    """n sends of a group commit: texts to open windows of contacts seen before, texts to new contacts
    (a template in their place, refused without consent), idempotency keys (repeated in the batch)."""
    jobs = []
    for i in range(n):
        wa_id = f"346005{i % 5:05d}" if i % 2 == 0 else f"34600{tag}{i:05d}"
        if i % 4 == 1:
            cmd = SendCommand(
                to=wa_id,
                message_type="text",
                content={"body": f"m{i}"},
                on_closed=OnClosed.TEMPLATE,
                fallback=TemplateRef(name="greet", language="es"),
            )
        else:
            key = f"{tag}-{i % 6}" if i % 3 == 0 else None
            cmd = SendCommand(to=wa_id, message_type="text", content={"body": f"m{i}"}, idempotency_key=key)
        jobs.append(
            SendJob(cmd=cmd, phone_number_id=NUMBER, settings=POLICY, now=now, hold_period=timedelta(days=7))
        )
    return jobs


def seed_send_targets(engine: Engine, now: datetime) -> None:
    """The template and the five contacts (window open, opted in) that ``send_jobs`` writes to again."""
    with write_tx(engine) as conn:
        template_store.upsert(
            conn,
            {
                "name": "greet",
                "language": "es",
                "category": "utility",
                "status": "APPROVED",
                "body": "Hola",
                "updated_at": now,
            },
        )
    for i in range(5):  # contacts seen before, window open, opted in
        open_window(engine, f"346005{i:05d}", now)


def open_window(engine: Engine, wa_id: str, at: datetime) -> None:
    """The contact exists, wrote at ``at`` (window open) and opted in."""
    with write_tx(engine) as conn:
        row = contact_store.get_or_create(conn, phone_number_id=NUMBER, wa_id=wa_id, now=at)
        state = apply_inbound_message(contact_store.state_from_row(row), at=at, settings=POLICY)
        values = contact_store.state_values(state, window_length=POLICY.window)
        values["consent_status"] = ConsentStatus.OPTED_IN.value
        contact_store.update_values(conn, row.id, values)


def queue_texts(engine: Engine, n: int, now: datetime, wa_id: str = "34600111555") -> list[str]:
    """``n`` texts queued one by one to an open window; their message ids."""
    open_window(engine, wa_id, now)
    ids = []
    for i in range(n):
        out = do_queue_send(
            engine,
            SendCommand(to=wa_id, message_type="text", content={"body": f"m{i}"}),
            phone_number_id=NUMBER,
            settings=POLICY,
            now=now,
            hold_period=timedelta(days=7),
        )
        ids.append(out.message.id)
    return ids
