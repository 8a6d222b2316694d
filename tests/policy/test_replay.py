"""Replaying a message log (``costs simulate``) reproduces the ledger it came from, for every model;
the allowance counters, the mismatch rule and the window analytics, as pure functions."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carewindow.policy import (
    PRICING_MODELS,
    Charge,
    ConsentState,
    ConsentStatus,
    ContactState,
    MessageKind,
    PolicySettings,
    SendRequest,
    Template,
    TemplateCategory,
    TemplateRef,
    TemplateStatus,
    apply_inbound_message,
    decide,
)
from carewindow.policy.analytics import WindowEvent, window_analytics
from carewindow.policy.pricing import (
    LogEntry,
    PricingUsage,
    counts_service_usage,
    replay,
    side_by_side,
    summarise,
    usage_period,
)
from carewindow.policy.pricing.actual import (
    PRICING_TYPES,
    actual_billable,
    billed_differently,
    expected_type,
    normalise_category,
)

TEMPLATES = {
    c: Template(name=f"t_{c.value}", language="en", category=c, status=TemplateStatus.APPROVED, body="Hi")
    for c in TemplateCategory
}
NUMBERS = ("100000000000001", "100000000000002")
CUSTOMERS = ("447700900123", "34600111222", "5511987654321")
STARTS = (
    datetime(2025, 6, 29, 8, tzinfo=UTC),  # across the CBP -> PMP switch
    datetime(2026, 9, 29, 8, tzinfo=UTC),  # across the reported 2026 revision and a month end
    datetime(2024, 3, 1, 8, tzinfo=UTC),
    datetime(2023, 5, 30, 8, tzinfo=UTC),  # across the seed -> CBP switch of auto
)

# One step: (minutes later, customer writes?, number, customer, referral, session?, category)
step = st.tuples(
    st.integers(min_value=0, max_value=36 * 60),
    st.booleans(),
    st.sampled_from(NUMBERS),
    st.sampled_from(CUSTOMERS),
    st.sampled_from((False, False, False, True)),  # a click-to-WhatsApp referral now and then
    st.booleans(),
    st.sampled_from(list(TemplateCategory)),
)


def live_ledger(
    steps: list[tuple[int, bool, str, str, bool, bool, TemplateCategory]],
    start: datetime,
    policy: PolicySettings,
) -> tuple[list[LogEntry], list[Charge]]:
    """What the service does: decide each send against the state it has, count the allowance the way
    actions/send.py does, and record what was sent (the log) and its charge (the ledger)."""
    opted_in = ConsentState(status=ConsentStatus.OPTED_IN, source="test", updated_at=start)
    states: dict[tuple[str, str], ContactState] = {}
    used: dict[tuple[str, str], int] = {}
    log: list[LogEntry] = []
    charges: list[Charge] = []
    now = start
    for minutes, inbound, number, wa_id, referral, session, category in steps:
        now += timedelta(minutes=minutes)
        key = (number, wa_id)
        state = states.get(key) or ContactState(wa_id=wa_id, consent=opted_in)
        if inbound:
            states[key] = apply_inbound_message(state, at=now, referral=referral, settings=policy)
            log.append(LogEntry(False, number, wa_id, now, referral=referral))
            continue
        usage = None
        counter = (number, usage_period(now, policy.service_allowance_period))
        if session and counts_service_usage(policy, now):
            usage = PricingUsage(service_messages_this_period=used.get(counter, 0))
        template = TEMPLATES[category]
        request = SendRequest(
            to=wa_id,
            message_type="text" if session else "template",
            template=None if session else TemplateRef(name=template.name, language="en", params=()),
        )
        d = decide(
            request, state, template=None if session else template, settings=policy, now=now, usage=usage
        )
        if not d.allowed:
            continue
        assert d.charge is not None and d.kind is not None
        if usage is not None:
            used[counter] = used.get(counter, 0) + 1
        states[key] = d.state_after
        log.append(LogEntry(True, number, wa_id, now, d.kind, None if session else category))
        charges.append(d.charge)
    return log, charges


@settings(max_examples=150, deadline=None)
@given(
    steps=st.lists(step, min_size=1, max_size=60),
    model=st.sampled_from(PRICING_MODELS),
    start=st.sampled_from(STARTS),
    allowance=st.integers(min_value=0, max_value=3),
    utility_free=st.booleans(),
)
def test_replay_under_the_ledgers_model_reproduces_it_exactly(
    steps: list[tuple[int, bool, str, str, bool, bool, TemplateCategory]],
    model: str,
    start: datetime,
    allowance: int,
    utility_free: bool,
) -> None:
    policy = PolicySettings(
        pricing_model=model,
        reengagement_limit=0,
        service_free_allowance=allowance,
        utility_free_in_window_2026=utility_free,
    )
    log, ledger = live_ledger(steps, start, policy)
    assert list(replay(log, settings=policy)) == ledger
    totals = summarise(ledger)
    assert sum(t.messages for t in totals.values()) == len(ledger)
    assert sum(t.amount for t in totals.values()) == sum((c.amount for c in ledger), Decimal(0))


@settings(max_examples=40, deadline=None)
@given(steps=st.lists(step, min_size=1, max_size=40), start=st.sampled_from(STARTS))
def test_side_by_side_is_one_replay_per_model(
    steps: list[tuple[int, bool, str, str, bool, bool, TemplateCategory]], start: datetime
) -> None:
    policy = PolicySettings(pricing_model="auto", reengagement_limit=0, service_free_allowance=2)
    log, charges = live_ledger(steps, start, policy)
    got = side_by_side(log, settings=policy, models=PRICING_MODELS)
    assert [r.model for r in got] == list(PRICING_MODELS)
    for r in got:
        alone = list(replay(log, settings=replace(policy, pricing_model=r.model)))
        assert r.totals == summarise(alone)
        assert set(r.eras) == {c.pricing_model for c in alone}
        if r.model != "auto":
            assert r.eras in ((), (r.model,))
    # auto names the eras in force on the send dates, in time order.
    auto = got[-1]
    assert list(auto.eras) == list(dict.fromkeys(c.pricing_model for c in charges))


def test_replay_counts_the_allowance_per_number_and_period() -> None:
    policy = PolicySettings(
        pricing_model="meta_pmp_2026", service_free_allowance=1, service_allowance_period="day"
    )
    t = datetime(2026, 10, 5, 9, tzinfo=UTC)
    log = [
        LogEntry(False, "1", "447700900123", t),
        LogEntry(False, "2", "447700900123", t),
        LogEntry(True, "1", "447700900123", t + timedelta(minutes=1), MessageKind.SESSION),
        LogEntry(True, "1", "447700900123", t + timedelta(minutes=2), MessageKind.SESSION),
        LogEntry(True, "2", "447700900123", t + timedelta(minutes=3), MessageKind.SESSION),
        LogEntry(False, "1", "447700900123", t + timedelta(hours=16)),
        LogEntry(True, "1", "447700900123", t + timedelta(hours=16), MessageKind.SESSION),  # next day
    ]
    assert [c.billable for c in replay(log, settings=policy)] == [False, True, False, False]
    with pytest.raises(ValueError, match="no kind"):
        list(replay([LogEntry(True, "1", "447700900123", t)], settings=policy))
    assert usage_period(t) == "2026-10" and usage_period(t, "day") == "2026-10-05"
    with pytest.raises(ValueError, match="service_allowance_period"):
        replace(policy, service_allowance_period="week")


@pytest.mark.parametrize(
    ("billable", "category", "pricing", "mismatch"),
    [
        (False, "service", {"billable": False, "pricing_model": "PMP", "category": "service"}, False),
        (False, "service", {"billable": False, "pricing_model": "PMP", "category": "utility"}, True),
        (True, "marketing", {"billable": False, "category": "marketing"}, True),
        (True, "marketing", {"type": "regular", "category": "marketing_lite"}, False),
        (True, "authentication", {"billable": True, "category": "authentication_international"}, False),
        (False, "utility", {"type": "free_entry_point", "category": "referral_conversion"}, False),
        (True, "utility", {"billable": True, "category": "referral_conversion"}, True),
        (False, "utility", {"billable": False, "pricing_model": "CBP", "category": "service"}, False),
        (True, "utility", {"billable": True, "pricing_model": "CBP", "category": "marketing"}, True),
        (None, "utility", {"billable": True, "category": "utility"}, False),
        (True, "utility", {"pricing_model": "PMP"}, False),
        (True, "service", {"billable": True, "category": "group_service"}, False),
        (False, "general_purpose_ai", {"billable": False, "category": "general_purpose_ai"}, False),
        (False, "service", {"billable": False, "category": "general_purpose_ai"}, True),
    ],
)
def test_billed_differently(
    billable: bool | None, category: str, pricing: dict[str, object], mismatch: bool
) -> None:
    assert (
        billed_differently(predicted_billable=billable, predicted_category=category, pricing=pricing)
        is mismatch
    )


def _meta(
    kind: str, category: str, *, model: str | None = None, billable: bool | None = None
) -> dict[str, object]:
    """A status webhook's ``pricing`` object."""
    out: dict[str, object] = {"type": kind, "category": category}
    if model is not None:
        out["pricing_model"] = model
    if billable is not None:
        out["billable"] = billable
    return out


FCS, FEP, IOC = "free_customer_service", "free_entry_point", "inside_open_conversation"
# (predicted billable, category, reason, Meta's pricing, mismatch): pricing.type against the reason.
TYPE_CASES = [
    (False, "service", "free_in_window", _meta(FCS, "service"), False),
    (False, "service", "free_allowance", _meta(FCS, "service"), False),
    (True, "service", "regular", _meta("regular", "service"), False),
    # The free tier ran out on Meta's side before carewindow's counter said so (or the other way).
    (False, "service", "free_allowance", _meta("regular", "service"), True),
    (True, "service", "regular", _meta(FCS, "service"), True),
    # Free either way, but for a different reason: an entry point carewindow did not know of.
    (False, "utility", "free_in_window", _meta(FEP, "utility", billable=False), True),
    (False, "utility", "free_entry_point", _meta(FEP, "utility", billable=False), False),
    (False, "utility", "free_entry_point", _meta(FCS, "utility", billable=False), True),
    (True, "marketing", "rate_unknown", _meta("regular", "marketing"), False),
    # Conversation pricing has no type to compare; an unknown type is stored, not compared.
    (False, "utility", IOC, _meta("regular", "utility", model="CBP", billable=False), False),
    (False, "service", "free_in_window", _meta("regular", "service", model="CBP", billable=False), False),
    (False, "service", "free_in_window", _meta("free_trial_2027", "service", billable=False), False),
    (False, "service", None, _meta(FEP, "service", billable=False), False),
]  # fmt: skip


@pytest.mark.parametrize(("billable", "category", "reason", "pricing", "mismatch"), TYPE_CASES)
def test_billed_differently_by_type(
    billable: bool, category: str, reason: str | None, pricing: dict[str, object], mismatch: bool
) -> None:
    assert (
        billed_differently(
            predicted_billable=billable,
            predicted_category=category,
            pricing=pricing,
            predicted_reason=reason,
        )
        is mismatch
    )


def test_expected_types_are_metas() -> None:
    assert {expected_type(r) for r in ("regular", "free_in_window", "free_entry_point")} == set(PRICING_TYPES)
    assert expected_type(None) is None and expected_type("inside_open_conversation") is None


def test_actual_billable_falls_back_to_type() -> None:
    assert actual_billable({"type": "regular"}) is True
    assert actual_billable({"type": "free_customer_service"}) is False
    assert actual_billable({}) is None
    assert normalise_category(" Marketing_Lite ") == "marketing"


def test_window_analytics_counts_answers_expiries_and_late_spend() -> None:
    t = datetime(2026, 3, 2, 10, tzinfo=UTC)
    h = timedelta(hours=1)
    d = Decimal("0.02")
    events = [
        WindowEvent("a", False, t),
        WindowEvent("a", False, t + h),
        WindowEvent("a", True, t + 2 * h),  # both answered in the window, first reply after 2 h
        WindowEvent("a", False, t + 3 * h),
        WindowEvent("a", False, t + 30 * h),  # the 3 h message's window expired unanswered
        WindowEvent("a", True, t + 60 * h, True, d, "USD"),  # late: a template
        WindowEvent("a", True, t + 61 * h, True, d, "USD"),  # still late
        WindowEvent("b", False, t),  # never answered, window closed by now
        WindowEvent("c", False, t + 70 * h),  # awaiting: still open
        WindowEvent("c", True, t + 70 * h, True, d, "USD"),  # a template inside the window: not late
        WindowEvent("c", False, t + 71 * h),
    ]
    s = window_analytics(events, window=24 * h, now=t + 72 * h)
    assert s.customer_messages == 7
    assert (s.answered_in_window, s.answered_late, s.unanswered, s.awaiting) == (3, 1, 2, 1)
    assert s.windows_expired_unanswered == 3
    assert s.late_templates == 2 and s.late_template_spend == {"USD": Decimal("0.04")}
    assert s.answered_in_window_share == 3 / 6
    assert s.median_first_reply_seconds == 2 * 3600  # of 2 h, 30 h (late) and 0 s
    empty = window_analytics([], window=24 * h, now=t)
    assert empty.answered_in_window_share is None and empty.median_first_reply_seconds is None
