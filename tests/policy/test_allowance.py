"""The free tier's forecast and thresholds (pure): used and left, when it runs out, what the rest costs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from carewindow.policy import EXAMPLE_RATE_CARD, RateCard
from carewindow.policy.pricing.allowance import (
    THRESHOLDS,
    forecast_allowance,
    period_bounds,
    thresholds_crossed,
)

NOV = period_bounds(datetime(2026, 11, 10, tzinfo=UTC))
GB = "GB"  # no rows of its own in the example card: the "*" rows (service 0.0200 USD)


def test_period_bounds() -> None:
    assert NOV == (datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC))
    assert period_bounds(datetime(2026, 12, 31, 23, 59, tzinfo=UTC)) == (
        datetime(2026, 12, 1, tzinfo=UTC),
        datetime(2027, 1, 1, tzinfo=UTC),
    )
    assert period_bounds(datetime(2026, 10, 5, 13, tzinfo=UTC), "day") == (
        datetime(2026, 10, 5, tzinfo=UTC),
        datetime(2026, 10, 6, tzinfo=UTC),
    )


def test_running_out_mid_month() -> None:
    # docs/costs.md §6's example: 500 used by 10 November 00:00, 50 a day, out on 21 November.
    f = forecast_allowance(
        used=500,
        allowance=1000,
        period=NOV,
        now=datetime(2026, 11, 11, tzinfo=UTC),
        markets=[(GB, 500)],
        card=EXAMPLE_RATE_CARD,
    )
    assert (f.used, f.left, f.used_share, f.ran_out, f.per_day) == (500, 500, 0.5, False, 50.0)
    assert f.runs_out_at == datetime(2026, 11, 21, tzinfo=UTC)
    assert (f.expected_messages, f.expected_billable) == (1500, 500)
    assert f.expected_cost == {"USD": Decimal("10.000000")}


def test_used_up_bills_the_rest_of_the_period() -> None:
    f = forecast_allowance(
        used=1500,
        allowance=1000,
        period=NOV,
        now=datetime(2026, 11, 16, tzinfo=UTC),
        markets=[(GB, 1000), ("BR", 500)],
        card=EXAMPLE_RATE_CARD,
    )
    assert f.ran_out and f.runs_out_at is None and f.left == 0
    # 100 a day for 30 days: 3000, of which the 1500 still to come are all billed, 2/3 GB and 1/3 BR.
    assert (f.expected_messages, f.expected_billable) == (3000, 1500)
    assert f.expected_cost == {
        "USD": Decimal("1000") * Decimal("0.0200") + Decimal("500") * Decimal("0.0080")
    }


def test_no_pace_yet_and_unpriced_markets() -> None:
    start = forecast_allowance(
        used=0, allowance=1000, period=NOV, now=NOV[0], markets=[], card=EXAMPLE_RATE_CARD
    )
    assert (start.per_day, start.runs_out_at, start.expected_messages, start.expected_billable) == (
        0,
        None,
        0,
        0,
    )
    empty = RateCard.from_csv("market,category,currency,price,valid_from\n")
    f = forecast_allowance(
        used=900, allowance=1000, period=NOV, now=datetime(2026, 11, 10, tzinfo=UTC),
        markets=[(GB, 900)], card=empty,
    )  # fmt: skip
    assert f.expected_billable == 2000 and f.expected_cost == {} and f.unpriced == 2000
    # Messages to bill but no market seen (a counter without message rows): all unpriced.
    g = forecast_allowance(
        used=900, allowance=1000, period=NOV, now=datetime(2026, 11, 10, tzinfo=UTC),
        markets=[(GB, 0)], card=EXAMPLE_RATE_CARD,
    )  # fmt: skip
    assert g.unpriced == g.expected_billable == 2000
    # A slow month never gets there; no allowance at all is used up from the start.
    slow = forecast_allowance(
        used=10, allowance=1000, period=NOV, now=datetime(2026, 11, 10, tzinfo=UTC),
        markets=[(GB, 10)], card=EXAMPLE_RATE_CARD,
    )  # fmt: skip
    assert slow.runs_out_at is None and slow.expected_billable == 0
    none = forecast_allowance(
        used=0, allowance=0, period=NOV, now=NOV[1] + timedelta(days=3), markets=[], card=EXAMPLE_RATE_CARD
    )
    assert none.ran_out and none.used_share is None


@given(
    used=st.integers(min_value=0, max_value=5000),
    allowance=st.integers(min_value=0, max_value=3000),
    seconds=st.integers(min_value=1, max_value=30 * 86400 - 1),
)
def test_forecast_properties(used: int, allowance: int, seconds: int) -> None:
    now = NOV[0] + timedelta(seconds=seconds)
    f = forecast_allowance(
        used=used,
        allowance=allowance,
        period=NOV,
        now=now,
        markets=[(GB, max(used, 1))],
        card=EXAMPLE_RATE_CARD,
    )
    assert f.left + min(used, allowance) == allowance
    assert f.ran_out is (used >= allowance)
    assert f.expected_messages >= used and f.expected_billable >= 0
    assert f.expected_billable <= f.expected_messages - min(used, f.expected_messages)
    if f.runs_out_at is not None:
        assert now < f.runs_out_at < NOV[1] and not f.ran_out
    if f.expected_messages <= allowance:
        assert f.expected_billable == 0
    assert f.expected_cost.get("USD", Decimal(0)) == (Decimal("0.0200") * f.expected_billable).quantize(
        Decimal("0.000001")
    )


@given(st.integers(min_value=0, max_value=5000), st.integers(min_value=0, max_value=6000))
def test_each_threshold_is_reached_once(allowance: int, sent: int) -> None:
    reached = [p for n in range(sent) for p in thresholds_crossed(n, n + 1, allowance)]
    assert reached == sorted(reached) and len(set(reached)) == len(reached)
    for p in THRESHOLDS:
        mark = -(-allowance * p // 100)
        assert (p in reached) is (allowance > 0 and sent >= mark)
    # A jump over both marks reports both.
    if allowance > 0:
        assert thresholds_crossed(0, allowance, allowance) == THRESHOLDS
