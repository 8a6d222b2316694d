"""A group commit's batch ingestion stores exactly what one-by-one ingestion stores (both databases).

``do_ingest_batch`` shares statements across the webhooks of a group commit (one contact lookup, one
message insert, one contact update, ...); ``ingest_oracle.ingest_one_by_one`` per webhook, each in its
own commit, is the reference. Random deliveries: several contacts (one a username-only sender),
replayed wamids, out-of-order and future timestamps, opt-out keywords, non-window types, statuses of
our messages (in any order, replayed, with pricing and errors) and of messages another tool sent
(kept as orphans). Each example writes under its own business numbers (one for each side), so the
two sides can be compared in one database.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ingest_oracle import ingest_one_by_one
from sqlalchemy import Engine, insert, select

from carewindow.actions.ingest import IngestJob, IngestResult, do_ingest_batch
from carewindow.policy import PolicySettings
from carewindow.storage import contacts as contact_store
from carewindow.storage.engine import write_tx
from carewindow.storage.tables import (
    consent_events,
    contacts,
    media,
    message_events,
    messages,
    orphan_statuses,
)
from carewindow.wire.webhook import build_message_webhook, build_status_webhook, parse_webhook

POLICY = PolicySettings()
BASE = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
SENDERS = ("34600000001", "34600000002", "34600000003", "")  # "" = username-only, keyed by user_id
TEXTS = ("hola", "STOP", "baja", "gracias", None)
TYPES = ("text", "text", "text", "reaction", "image", "request_welcome")
_namespaces = itertools.count(1)


message_spec = st.fixed_dictionaries(
    {
        "sender": st.sampled_from(SENDERS),
        "wamid": st.integers(0, 7),  # a small pool: replays within and across batches
        "type": st.sampled_from(TYPES),
        "text": st.sampled_from(TEXTS),
        "minutes": st.integers(-30 * 60, 20),  # up to 30 h old, or a little ahead of receipt (skew)
        "name": st.sampled_from(("Ana", None)),
    }
)
# Statuses of our two sent messages and of two messages another tool sent from the number (orphans).
status_spec = st.fixed_dictionaries(
    {
        "wamid": st.sampled_from(("out0", "out1", "other0", "other1")),
        "status": st.sampled_from(("sent", "delivered", "read", "failed")),
        "seconds": st.integers(0, 120),
        "billable": st.sampled_from((None, True, False)),
    }
)
delivery_spec = st.tuples(
    st.lists(message_spec, min_size=0, max_size=2),
    st.integers(0, 120),
    st.lists(status_spec, min_size=0, max_size=3),
)


def _payload(
    number: str, side: str, specs: list[dict[str, Any]], received: datetime, statuses: list[dict[str, Any]]
) -> bytes:
    doc: dict[str, Any] | None = None
    for spec in specs:
        mtype = spec["type"]
        content: dict[str, Any] = {"body": spec["text"] or "hi"} if mtype == "text" else {"id": "media1"}
        if mtype == "reaction":
            content = {"message_id": "wamid.other", "emoji": "+1"}
        if mtype == "request_welcome":
            content = {}
        sender = spec["sender"]
        one: Any = build_message_webhook(
            waba_id="200000000000001",
            phone_number_id=number,
            display_phone_number="15550000001",
            wa_id=sender,
            profile_name=spec["name"],
            wamid=f"wamid.{side}.{spec['wamid']}",
            timestamp=int((received + timedelta(minutes=spec["minutes"])).timestamp()),
            message_type=mtype,
            content=content,
            user_id="US.username1" if not sender else None,
        )
        value = one["entry"][0]["changes"][0]["value"]
        if not sender:
            del value["messages"][0]["from"]
            value["contacts"][0].pop("wa_id")
        if doc is None:
            doc = one
        else:  # Meta batches several messages in one delivery
            target = doc["entry"][0]["changes"][0]["value"]
            target["messages"] += value["messages"]
            target["contacts"] += value["contacts"]
    for spec in statuses:
        status: Any = build_status_webhook(
            waba_id="200000000000001",
            phone_number_id=number,
            display_phone_number="15550000001",
            wamid=f"wamid.{side}.{spec['wamid']}",
            status=spec["status"],
            timestamp=int((BASE + timedelta(seconds=spec["seconds"])).timestamp()),
            recipient_id=SENDERS[0],
            pricing=None
            if spec["billable"] is None
            else {"billable": spec["billable"], "pricing_model": "PMP", "category": "service", "type": "x"},
            errors=[{"code": 131047, "title": "Re-engagement message"}]
            if spec["status"] == "failed"
            else None,
        )
        if doc is None:
            doc = status
        else:
            target = doc["entry"][0]["changes"][0]["value"]
            target.setdefault("statuses", []).extend(status["entry"][0]["changes"][0]["value"]["statuses"])
    if doc is None:  # a delivery with nothing in it: nothing to apply
        doc = {"object": "whatsapp_business_account", "entry": []}
    return orjson.dumps(doc)


def _seed_sent(engine: Engine, number: str, side: str) -> None:
    """Two messages we sent to the first sender of ``number``, waiting for their statuses."""
    with write_tx(engine) as conn:
        contact = contact_store.get_or_create(conn, phone_number_id=number, wa_id=SENDERS[0], now=BASE)
        for k in range(2):
            conn.execute(
                insert(messages).values(
                    id=f"msg_{side}_{k}",
                    contact_id=contact.id,
                    direction="out",
                    wamid=f"wamid.{side}.out{k}",
                    type="text",
                    status="sending",
                    ts=BASE,
                    created_at=BASE,
                    updated_at=BASE,
                    charge_billable=bool(k),
                    charge_category="service",
                    charge_mismatch=False,
                )
            )


Delivery = tuple[list[dict[str, Any]], int, list[dict[str, Any]]]


def _jobs(number: str, side: str, deliveries: list[Delivery]) -> list[IngestJob]:
    jobs = []
    for specs, seconds, statuses in deliveries:
        received = BASE + timedelta(seconds=seconds)
        body = _payload(number, side, specs, received, statuses)
        jobs.append(IngestJob(body=body, batch=parse_webhook(body), received_at=received))
    return jobs


def _stored(engine: Engine, number: str, side: str) -> dict[str, Any]:
    with engine.connect() as conn:
        cs = conn.execute(select(contacts).where(contacts.c.phone_number_id == number)).all()
        by_id = {c.id: c.wa_id for c in cs}
        ms = conn.execute(
            select(messages).where(messages.c.contact_id.in_(by_id)).order_by(messages.c.wamid)
        ).all()
        ce = conn.execute(
            select(consent_events).where(consent_events.c.contact_id.in_(by_id)).order_by(consent_events.c.id)
        ).all()
        seqs = {m.seq: m.wamid for m in ms}
        history = conn.execute(
            select(message_events).where(message_events.c.message_seq.in_(seqs)).order_by(message_events.c.id)
        ).all()
        files = conn.execute(select(media).where(media.c.contact_id.in_(by_id))).all()
        wamid_of = {m.id: m.wamid for m in ms}
        orphans = conn.execute(
            select(orphan_statuses)
            .where(orphan_statuses.c.wamid.startswith(f"wamid.{side}."))
            .order_by(orphan_statuses.c.wamid, orphan_statuses.c.status)
        ).all()
    prefix = f"wamid.{side}."
    return {
        "contacts": {
            c.wa_id: {k: v for k, v in c._mapping.items() if k not in ("id", "phone_number_id")} for c in cs
        },
        "messages": {
            m.wamid.removeprefix(prefix): {
                **{
                    k: v
                    for k, v in m._mapping.items()
                    if k not in ("seq", "id", "contact_id", "wamid", "content")
                },
                "contact": by_id[m.contact_id],
                "content_type": (m.content or {}).get("type"),
            }
            for m in ms
        },
        "consent_events": [
            (by_id[e.contact_id], e.status, e.source, e.proof, e.at, e.recorded_at) for e in ce
        ],
        "history": sorted(
            (seqs[h.message_seq].removeprefix(prefix), h.status, h.at, orjson.dumps(h.error)) for h in history
        ),
        "orphans": [(o.wamid.removeprefix(prefix), o.status, o.payload) for o in orphans],
        "media": sorted(
            (
                wamid_of[f.message_id].removeprefix(prefix),
                by_id[f.contact_id],
                f.kind,
                f.meta_media_id,
                f.status,
                f.next_attempt_at,
                f.created_at,
            )
            for f in files
        ),
    }


def _summary(results: list[IngestResult]) -> list[tuple[int, int, int, list[tuple[str, str, Any]]]]:
    return [
        (
            r.new_messages,
            r.duplicate_messages,
            r.statuses_applied,
            [(e.type, e.wa_id, e.data.get("status")) for e in r.events],
        )
        for r in results
    ]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    first=st.lists(delivery_spec, min_size=1, max_size=10),
    second=st.lists(delivery_spec, min_size=0, max_size=6),
)
def test_batch_ingest_stores_what_one_by_one_ingest_stores(
    engine: Engine,
    first: list[Delivery],
    second: list[Delivery],
) -> None:
    n = next(_namespaces)
    batch_number, single_number = f"9{n:06d}01", f"9{n:06d}02"
    _seed_sent(engine, batch_number, f"b{n}")
    _seed_sent(engine, single_number, f"s{n}")
    batch_results: list[IngestResult] = []
    single_results: list[IngestResult] = []
    # Two group commits in a row: the second meets the state (and wamids) the first stored.
    for deliveries in (first, second):
        with write_tx(engine) as conn:
            batch_results += do_ingest_batch(conn, _jobs(batch_number, f"b{n}", deliveries), settings=POLICY)
        for job in _jobs(single_number, f"s{n}", deliveries):
            with write_tx(engine) as conn:
                single_results.append(ingest_one_by_one(conn, job, settings=POLICY))
    assert _summary(batch_results) == _summary(single_results)
    assert _stored(engine, batch_number, f"b{n}") == _stored(engine, single_number, f"s{n}")
