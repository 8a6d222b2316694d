"""The send package (one planner, one writer, statements shared by a batch) stores and answers what the
plain one-by-one oracle (send_oracle.py) does, on both databases.

Random programs of steps under one clock: group commits of new sends (``do_send_batch``: one
transaction for the batch; the oracle: one per send), due scheduled messages (``decide_due``: one
batch of all due ones; the oracle: one transaction each, in seq order) and customers writing (the
same state change and release of held messages on both sides). The sends: several contacts (new
ones, open and closed windows, consent on and off), approved and unapproved templates, ``on_closed``
reject/template/defer, repeated idempotency keys, tickets, scheduled sends, the ``meta_pmp_2026``
service counter. Compared: each answer (status, kind, refusal code, decision, knock, events) and
every stored row (contacts with ``held_count``, messages with charge, history, outbox, counters).
Each example writes under its own business numbers (one per side).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import send_oracle
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, select

from carewindow.actions.errors import SendRefused
from carewindow.actions.events import Event
from carewindow.actions.held import release_on_inbound
from carewindow.actions.send import SendCommand, SendJob, decide_due, do_send_batch
from carewindow.policy import ConsentStatus, OnClosed, PolicySettings, TemplateRef, apply_inbound_message
from carewindow.storage import contacts as contact_store
from carewindow.storage import templates as template_store
from carewindow.storage.engine import make_engine, write_tx
from carewindow.storage.tables import contacts, message_events, messages, outbox, service_usage

BASE = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
HOLD = timedelta(days=7)
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
        "exists": st.sampled_from((True, True, True, False)),
        "inbound_hours_ago": st.sampled_from((None, 1, 1, 23, 30)),  # None: never wrote; 30: closed
        "consent": st.sampled_from((True, True, False)),
    }
)
command_spec = st.fixed_dictionaries(
    {
        "to": st.sampled_from(PEOPLE),
        "kind": st.sampled_from(("text", "text", "image", "template")),
        "template": st.sampled_from(("greet", "knock", "draft")),
        "on_closed": st.sampled_from((*OnClosed, OnClosed.DEFER)),
        "fallback": st.sampled_from(("knock", "greet", "draft")),
        "key": st.sampled_from((None, None, "k1", "k2", "k3")),
        "ticket": st.sampled_from((None, None, "T-1", "T-2")),
        "scheduled": st.sampled_from((None,) * 6 + (1, 3, 30)),  # send_at this many hours ahead
        "seconds": st.integers(0, 3),
    }
)
step_spec = st.one_of(
    st.tuples(st.just("sends"), st.lists(command_spec, min_size=2, max_size=10)),
    st.tuples(st.just("due"), st.sampled_from((1, 4, 25, 25))),  # advance the clock (hours), decide
    st.tuples(st.just("writes"), st.sampled_from(PEOPLE)),  # a customer writes (held ones go)
)


def _spec(to: int, **given: Any) -> dict[str, Any]:
    spec = {"to": PEOPLE[to], "kind": "text", "template": "greet", "on_closed": "reject", "fallback": "knock"}
    spec.update(key=None, ticket=None, scheduled=None, seconds=1)
    return {**spec, **given}


# Always tried: due messages held behind a knock and joining it, one refused when due, the service
# counter, a key repeated in the batch, a ticket, then the customer's reply releasing the held ones.
_READY = {"exists": True, "inbound_hours_ago": 23, "consent": True}
_STORY = [
    (
        "sends",
        [
            _spec(0, on_closed="defer", scheduled=3, ticket="T-1"),
            _spec(0, on_closed="defer", scheduled=3, key="k1"),
            _spec(2, scheduled=1),
            _spec(1, key="k2"),
            _spec(1, key="k2", kind="image"),
            _spec(3, kind="template", template="greet"),
        ],
    ),
    ("due", 4),
    ("sends", [_spec(0, on_closed="defer", key="k1"), _spec(0, on_closed="defer", fallback="greet")]),
    ("writes", PEOPLE[0]),
    ("sends", [_spec(0, scheduled=1), _spec(0, key="k3", scheduled=1)]),
    ("due", 1),
]


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
        send_at=now + timedelta(hours=spec["scheduled"]) if spec["scheduled"] else None,
    )


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


def _customer_writes(engine: Engine, number: str, wa_id: str, policy: PolicySettings, now: datetime) -> None:
    """The same state change on both sides (not under test: the send path meets its result)."""
    with write_tx(engine) as conn:
        row = contact_store.get_or_create(conn, phone_number_id=number, wa_id=wa_id, now=now)
        state = apply_inbound_message(contact_store.state_from_row(row), at=now, settings=policy)
        values = contact_store.state_values(state, window_length=policy.window)
        contact_store.update_values(conn, row.id, {**values, "updated_at": now, "last_activity_at": now})
        release_on_inbound(
            conn,
            contact_id=row.id,
            wa_id=wa_id,
            phone_number_id=number,
            state=state,
            settings=policy,
            now=now,
        )


def _due(engine: Engine, number: str, now: datetime) -> list[int]:
    with engine.connect() as conn:
        return list(
            conn.execute(
                select(messages.c.seq)
                .join(contacts, contacts.c.id == messages.c.contact_id)
                .where(
                    contacts.c.phone_number_id == number,
                    messages.c.status == "scheduled",
                    messages.c.send_at <= now,
                )
                .order_by(messages.c.seq)
            ).scalars()
        )


def _events(events: tuple[Event, ...] | list[Event], ids: dict[str, int]) -> list[Any]:
    def norm(v: Any) -> Any:
        return ("message", ids.get(v, v)) if isinstance(v, str) and v.startswith("msg") else v

    return [(e.type, e.wa_id, {k: norm(v) for k, v in sorted(e.data.items())}) for e in events]


def _answers(results: list[Any], engine: Engine, number: str) -> list[Any]:
    """Each answer, with message ids replaced by the message's place in the number's messages."""
    with engine.connect() as conn:
        ids = {
            r.id: i
            for i, r in enumerate(
                conn.execute(
                    select(messages.c.id)
                    .join(contacts, contacts.c.id == messages.c.contact_id)
                    .where(contacts.c.phone_number_id == number)
                    .order_by(messages.c.seq)
                )
            )
        }
    out: list[Any] = []
    for r in results:
        if isinstance(r, list):  # the events of a due step
            out.append(("due", _events(r, ids)))
        elif isinstance(r, SendRefused):
            out.append(("refused", r.code, r.decision.code))
        else:
            m = r.message
            out.append(
                (
                    ids[m.id],
                    m.status,
                    m.kind,
                    m.type,
                    m.template_name,
                    r.decision,
                    ids.get(r.fallback_message_id) if r.fallback_message_id else None,
                    _events(r.events, ids),
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
            select(
                message_events.c.message_seq,
                message_events.c.status,
                message_events.c.at,
                message_events.c.error,
            )
            .where(message_events.c.message_seq.in_(seqs))
            .order_by(message_events.c.message_seq, message_events.c.status)
        ).all()
        queued = conn.execute(
            select(outbox.c.message_seq, outbox.c.available_at, outbox.c.attempts, outbox.c.lease_until)
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
        "history": [(index[h.message_seq], h.status, h.at, h.error) for h in history],
        "outbox": [(index[o.message_seq], o.available_at, o.attempts, o.lease_until) for o in queued],
        # A counter at 0 counts what no counter does (a batch locks its counters before deciding).
        "usage": sorted((u.period, u.count) for u in usage if u.count),
    }


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    people=st.lists(person_spec, min_size=len(PEOPLE), max_size=len(PEOPLE)),
    steps=st.lists(step_spec, min_size=2, max_size=7),
    pmp=st.booleans(),
)
@example(people=[_READY] * len(PEOPLE), steps=_STORY, pmp=True)
def test_send_package_stores_and_answers_what_the_one_by_one_oracle_does(
    engine: Engine, people: list[dict[str, Any]], steps: list[tuple[str, Any]], pmp: bool
) -> None:
    policy = POLICIES[pmp]
    n = next(_namespaces)
    package, oracle = f"8{n:06d}01", f"8{n:06d}02"
    _setup(engine, package, people, policy)
    _setup(engine, oracle, people, policy)
    package_results: list[Any] = []
    oracle_results: list[Any] = []
    now = BASE
    for kind, arg in steps:
        if kind == "sends":
            commands = []
            for spec in arg:
                now += timedelta(seconds=spec["seconds"])
                commands.append((now, spec))
            jobs = [
                SendJob(
                    cmd=_command(spec, f"p{n}", at),
                    phone_number_id=package,
                    settings=policy,
                    now=at,
                    hold_period=HOLD,
                )
                for at, spec in commands
            ]
            with write_tx(engine) as conn:
                package_results += do_send_batch(conn, jobs)
            for at, spec in commands:
                oracle_results.append(
                    send_oracle.send(
                        engine,
                        _command(spec, f"o{n}", at),
                        phone_number_id=oracle,
                        settings=policy,
                        now=at,
                        hold=HOLD,
                    )
                )
        elif kind == "due":
            now += timedelta(hours=arg)
            due = _due(engine, package, now)
            with write_tx(engine) as conn:
                package_results.append(decide_due(conn, due, settings=policy, now=now, hold=HOLD))
            events: list[Event] = []
            for seq in _due(engine, oracle, now):
                events += send_oracle.decide_due(engine, seq, settings=policy, now=now, hold=HOLD)
            oracle_results.append(events)
        else:
            now += timedelta(minutes=1)
            _customer_writes(engine, package, arg, policy, now)
            _customer_writes(engine, oracle, arg, policy, now)
    assert _answers(package_results, engine, package) == _answers(oracle_results, engine, oracle)
    assert _stored(engine, package) == _stored(engine, oracle)
