"""A group commit of sends stores and answers exactly what the same sends one by one do (both databases).

``do_send_batch`` shares statements across the sends of a group commit (one idempotency lookup, one
contact lookup, one template lookup, multi-row inserts, one contact update) and threads each contact's
state through the batch in memory; each send in its own commit is the reference. Random commands:
several contacts (new ones, open and closed windows, consent on and off), approved and unapproved
templates, ``on_closed`` reject/template/defer, repeated idempotency keys, scheduled sends, the
``meta_pmp_2026`` service counter. Each example writes under its own business numbers (one per side).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, select

from carewindow.actions.errors import SendRefused
from carewindow.actions.send import SendCommand, SendOutcome
from carewindow.actions.send_batch import SendJob, do_send_batch
from carewindow.policy import ConsentStatus, OnClosed, PolicySettings, TemplateRef, apply_inbound_message
from carewindow.storage import contacts as contact_store
from carewindow.storage import templates as template_store
from carewindow.storage.engine import make_engine, write_tx
from carewindow.storage.tables import contacts, message_events, messages, outbox, service_usage

BASE = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
POLICIES = (PolicySettings(), PolicySettings(pricing_model="meta_pmp_2026"))
PEOPLE = ("34600000001", "34600000002", "34600000003", "34600000004")
TEMPLATES = {("greet", "es"): "APPROVED", ("knock", "es"): "APPROVED", ("draft", "es"): "PENDING"}
_namespaces = itertools.count(1)


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    eng = make_engine(db_url)
    with write_tx(eng) as conn:
        for (name, language), status in TEMPLATES.items():
            template_store.upsert(
                conn,
                {
                    "name": name,
                    "language": language,
                    "category": "utility",
                    "status": status,
                    "body": f"{name} {{{{1}}}}" if name == "knock" else f"{name} body",
                    "updated_at": BASE,
                },
            )
    yield eng
    eng.dispose()


person_spec = st.fixed_dictionaries(
    {
        "exists": st.booleans(),
        "inbound_hours_ago": st.sampled_from((None, 1, 23, 30)),  # None: never wrote; 30: window closed
        "consent": st.booleans(),
    }
)
command_spec = st.fixed_dictionaries(
    {
        "to": st.sampled_from(PEOPLE),
        "kind": st.sampled_from(("text", "text", "image", "template")),
        "template": st.sampled_from(("greet", "knock", "draft")),
        "on_closed": st.sampled_from(tuple(OnClosed)),
        "fallback": st.sampled_from(("knock", "greet", "draft")),
        "key": st.sampled_from((None, None, "k1", "k2")),
        "ticket": st.sampled_from((None, None, "T-1", "T-2")),
        "scheduled": st.integers(0, 9),  # 0: send_at an hour ahead
        "seconds": st.integers(0, 3),
    }
)


def _ref(name: str) -> TemplateRef:
    return TemplateRef(name=name, language="es", params=("x",) if name == "knock" else ())


def _command(spec: dict[str, Any], side: str, now: datetime) -> SendCommand:
    kind = spec["kind"]
    on_closed = OnClosed(spec["on_closed"])
    content: dict[str, Any] | None = None
    if kind == "text":
        content = {"body": "hola"}
    elif kind == "image":
        content = {"link": "https://example.com/a.png", "caption": "foto"}
    return SendCommand(
        to=spec["to"],
        message_type=kind,
        content=content,
        template=_ref(spec["template"]) if kind == "template" else None,
        on_closed=OnClosed.REJECT if kind == "template" else on_closed,
        fallback=None if kind == "template" or on_closed is OnClosed.REJECT else _ref(spec["fallback"]),
        ticket_id=spec["ticket"],
        idempotency_key=f"{side}:{spec['key']}" if spec["key"] else None,
        send_at=now + timedelta(hours=1) if spec["scheduled"] == 0 else None,
    )


def _jobs(number: str, side: str, specs: list[dict[str, Any]], policy: PolicySettings) -> list[SendJob]:
    jobs = []
    now = BASE
    for spec in specs:
        now += timedelta(seconds=spec["seconds"])
        jobs.append(
            SendJob(
                cmd=_command(spec, side, now),
                phone_number_id=number,
                settings=policy,
                now=now,
                hold_period=timedelta(days=7),
            )
        )
    return jobs


def _setup(engine: Engine, number: str, people: list[dict[str, Any]], policy: PolicySettings) -> None:
    with write_tx(engine) as conn:
        for wa_id, p in zip(PEOPLE, people, strict=False):
            if not p["exists"]:
                continue
            row = contact_store.get_or_create(conn, phone_number_id=number, wa_id=wa_id, now=BASE)
            state = contact_store.state_from_row(row)
            if p["inbound_hours_ago"] is not None:
                at = BASE - timedelta(hours=p["inbound_hours_ago"])
                state = apply_inbound_message(state, at=at, settings=policy)
            values = contact_store.state_values(state, window_length=policy.window)
            if p["consent"]:
                values["consent_status"] = ConsentStatus.OPTED_IN.value
            contact_store.update_values(conn, row.id, values)


def _outcomes(results: list[Any]) -> list[Any]:
    first_seen: dict[str, int] = {}
    out: list[Any] = []
    for i, r in enumerate(results):
        if isinstance(r, SendRefused):
            out.append(("refused", r.code))
            continue
        assert isinstance(r, SendOutcome)
        m = r.message
        same_as = first_seen.setdefault(m.id, i)
        out.append(
            (
                m.status,
                m.kind,
                m.type,
                m.template_name,
                same_as,
                r.decision is None,
                r.fallback_message_id is not None,
                [(e.type, e.wa_id) for e in r.events],
            )
        )
    return out


def _stored(engine: Engine, number: str) -> dict[str, Any]:
    with engine.connect() as conn:
        cs = conn.execute(select(contacts).where(contacts.c.phone_number_id == number)).all()
        by_id = {c.id: c.wa_id for c in cs}
        ms = conn.execute(
            select(messages).where(messages.c.contact_id.in_(by_id)).order_by(messages.c.seq)
        ).all()
        order = {m.id: i for i, m in enumerate(ms)}
        seqs = [m.seq for m in ms]
        history = conn.execute(
            select(message_events.c.message_seq, message_events.c.status, message_events.c.at)
            .where(message_events.c.message_seq.in_(seqs))
            .order_by(message_events.c.message_seq, message_events.c.status)
        ).all()
        queued = conn.execute(
            select(outbox.c.message_seq, outbox.c.available_at, outbox.c.attempts)
            .where(outbox.c.message_seq.in_(seqs))
            .order_by(outbox.c.message_seq)
        ).all()
        usage = conn.execute(
            select(service_usage.c.period, service_usage.c.count).where(
                service_usage.c.phone_number_id == number
            )
        ).all()
    index = {m.seq: i for i, m in enumerate(ms)}

    def content(c: Any) -> Any:
        if not isinstance(c, dict):
            return c
        return {k: v for k, v in c.items() if k != "biz_opaque_callback_data"}

    return {
        "contacts": {
            c.wa_id: {k: v for k, v in c._mapping.items() if k not in ("id", "phone_number_id")} for c in cs
        },
        "messages": [
            {
                **{
                    k: v
                    for k, v in m._mapping.items()
                    if k not in ("seq", "id", "contact_id", "content", "knock_message_id", "idempotency_key")
                },
                "contact": by_id[m.contact_id],
                "content": content(m.content),
                "callback_is_id": not isinstance(m.content, dict)
                or m.content.get("biz_opaque_callback_data") == m.id,
                "knock": order.get(m.knock_message_id) if m.knock_message_id else None,
                "key": m.idempotency_key.split(":", 1)[1] if m.idempotency_key else None,
            }
            for m in ms
        ],
        "history": [(index[h.message_seq], h.status, h.at) for h in history],
        "outbox": [(index[o.message_seq], o.available_at, o.attempts) for o in queued],
        "usage": sorted((u.period, u.count) for u in usage),
    }


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    people=st.lists(person_spec, min_size=len(PEOPLE), max_size=len(PEOPLE)),
    first=st.lists(command_spec, min_size=1, max_size=10),
    second=st.lists(command_spec, min_size=0, max_size=6),
    pmp=st.booleans(),
)
def test_batch_send_stores_and_answers_what_one_by_one_sends_do(
    engine: Engine,
    people: list[dict[str, Any]],
    first: list[dict[str, Any]],
    second: list[dict[str, Any]],
    pmp: bool,
) -> None:
    policy = POLICIES[pmp]
    n = next(_namespaces)
    batch_number, single_number = f"8{n:06d}01", f"8{n:06d}02"
    _setup(engine, batch_number, people, policy)
    _setup(engine, single_number, people, policy)
    batch_results: list[Any] = []
    single_results: list[Any] = []
    # Two group commits in a row: the second meets the state (and idempotency keys) the first stored.
    for specs in (first, second):
        with write_tx(engine) as conn:
            batch_results += do_send_batch(conn, _jobs(batch_number, f"b{n}", specs, policy))
        for job in _jobs(single_number, f"s{n}", specs, policy):
            with write_tx(engine) as conn:
                single_results += do_send_batch(conn, [job])
    assert _outcomes(batch_results) == _outcomes(single_results)
    assert _stored(engine, batch_number) == _stored(engine, single_number)
