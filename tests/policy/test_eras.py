"""The pricing eras by date: boundaries, auto's choice, the eras a range spans, and their status."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise

from hypothesis import given
from hypothesis import strategies as st
from policy_helpers import WA_ID_DEFAULT_MARKET, contact

from carewindow.policy import MessageKind, PolicySettings, PricedMessage, get_pricing_model, window_at
from carewindow.policy.pricing.eras import (
    CBP_STARTS,
    ERAS,
    PMP_2026_STARTS,
    PMP_STARTS,
    era_for,
    era_info,
    eras_between,
)

BOUNDARIES = (CBP_STARTS, PMP_STARTS, PMP_2026_STARTS)
days = st.dates(min_value=date(2020, 1, 1), max_value=date(2030, 12, 31))
# Days near a boundary, where an off-by-one would show.
near = st.builds(
    lambda b, d: b + timedelta(days=d), st.sampled_from(BOUNDARIES), st.integers(min_value=-3, max_value=3)
)


def test_the_eras_cover_every_day_once_in_order() -> None:
    assert [e.model for e in ERAS] == ["seed", "meta_cbp", "meta_pmp", "meta_pmp_2026"]
    assert ERAS[0].starts is None and ERAS[-1].ends is None
    for before, after in pairwise(ERAS):
        assert before.ends == after.starts
    assert tuple(e.starts for e in ERAS[1:]) == BOUNDARIES


def test_each_boundary_day_belongs_to_the_new_era() -> None:
    for era in ERAS[1:]:
        assert era.starts is not None
        assert era_for(era.starts) == era.model
        assert era_for(era.starts - timedelta(days=1)) != era.model


@given(st.one_of(days, near))
def test_era_for_is_the_era_whose_interval_holds_the_day(on: date) -> None:
    holding = [
        e.model for e in ERAS if (e.starts is None or e.starts <= on) and (e.ends is None or on < e.ends)
    ]
    assert holding == [era_for(on)]


@given(st.one_of(days, near), st.datetimes(timezones=st.just(UTC)))
def test_auto_prices_with_the_era_of_the_send_date(on: date, moment: datetime) -> None:
    sent_at = datetime.combine(on, moment.timetz())
    settings = PolicySettings(pricing_model="auto")
    state = contact(wa_id=WA_ID_DEFAULT_MARKET, last_inbound_at=sent_at - timedelta(hours=1))
    view = window_at(state.window, now=sent_at, settings=settings)
    message = PricedMessage(
        kind=MessageKind.SESSION, category=None, wa_id=state.wa_id, sent_at=sent_at, window=view
    )
    charge, _ = get_pricing_model("auto").price(message, state=state, settings=settings, usage=None)
    assert charge.pricing_model == era_for(sent_at.date())


@given(st.one_of(days, near), st.one_of(days, near))
def test_eras_between_are_the_eras_of_the_days_in_range(first: date, last: date) -> None:
    expected: list[str] = []
    if first <= last:
        # Each era's first day in range, plus the range's first day, tells every era it touches.
        probes = [first, *(b for b in BOUNDARIES if first < b <= last)]
        expected = [era_for(d) for d in probes]
    assert list(eras_between(first, last)) == expected


def test_era_status_and_json() -> None:
    era = era_info("meta_pmp_2026")
    assert era is not None and era.status == "quoted from Meta's pages, allowance contested"
    assert era.as_json() == {
        "model": "meta_pmp_2026",
        "starts": "2026-10-01",
        "ends": None,
        "status": "quoted from Meta's pages, allowance contested",
    }
    seed = era_info("seed")
    assert seed is not None and seed.as_json()["starts"] is None and seed.as_json()["ends"] == "2023-06-01"
    assert era_info("auto") is None and era_info("nope") is None


def test_the_2026_switch_is_at_midnight_utc() -> None:
    midnight = datetime.combine(PMP_2026_STARTS, time(0), tzinfo=UTC)
    assert era_for((midnight - timedelta(microseconds=1)).date()) == "meta_pmp"
    assert era_for(midnight.date()) == "meta_pmp_2026"
