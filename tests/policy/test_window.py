"""The customer care window: half-open 24 h from the latest customer message, robust to webhook order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from policy_helpers import SETTINGS, T0, at

from carewindow.policy import (
    CareWindow,
    PolicySettings,
    WindowState,
    apply_inbound,
    window_at,
)

DAY = timedelta(hours=24)


def _window(*moments: datetime, referral_at: datetime | None = None) -> CareWindow:
    window = CareWindow()
    for moment in moments:
        window = apply_inbound(window, at=moment, referral=moment == referral_at, settings=SETTINGS)
    return window


@pytest.mark.parametrize(
    ("now", "state", "seconds_left"),
    [
        (at(0), WindowState.OPEN, 86400),  # opens at the message itself
        (at(23), WindowState.OPEN, 3600),
        (T0 + DAY - timedelta(microseconds=1), WindowState.OPEN, 1),  # rounded up: still open
        (T0 + DAY, WindowState.CLOSED, 0),  # half-open: closed at exactly t + 24 h
        (at(27), WindowState.CLOSED, 0),
        (at(-1), WindowState.OPEN, 90000),  # customer clock slightly ahead of ours: still open
    ],
)
def test_window_is_half_open(now: datetime, state: WindowState, seconds_left: int) -> None:
    view = window_at(_window(T0), now=now, settings=SETTINGS)
    assert view.state is state
    assert view.is_open is (state is WindowState.OPEN)
    assert view.seconds_left == seconds_left
    assert view.expires_at == T0 + DAY
    assert view.last_inbound_at == T0
    assert view.opened_at == T0
    assert view.closed_at == (T0 + DAY if state is WindowState.CLOSED else None)


def test_never_opened() -> None:
    view = window_at(CareWindow(), now=T0, settings=SETTINGS)
    assert view.state is WindowState.CLOSED
    assert (view.opened_at, view.expires_at, view.closed_at, view.last_inbound_at) == (None, None, None, None)
    assert view.seconds_left == 0


def test_every_message_restarts_the_window() -> None:
    window = _window(at(0), at(20))
    assert window.opened_at == at(0)
    assert window_at(window, now=at(30), settings=SETTINGS).expires_at == at(44)


def test_a_late_older_message_never_shortens_the_window() -> None:
    window = _window(at(20), at(5))
    assert window.last_inbound_at == at(20)
    assert window.opened_at == at(5)  # it chains onto the run from before: it was the real opener
    assert window_at(window, now=at(43), settings=SETTINGS).is_open


def test_a_message_from_an_older_run_changes_nothing() -> None:
    window = _window(at(50), at(0))
    assert window == _window(at(50))


def test_a_message_after_the_close_opens_a_new_run() -> None:
    window = _window(at(0), at(24))
    assert window.opened_at == at(24)


def test_duplicates_change_nothing() -> None:
    once = _window(at(0), at(3))
    assert _window(at(0), at(3), at(3), at(0)) == once


def test_configurable_length() -> None:
    short = PolicySettings(window=timedelta(hours=1))
    window = apply_inbound(CareWindow(), at=T0, settings=short)
    assert window_at(window, now=at(0.99), settings=short).is_open
    assert not window_at(window, now=at(1), settings=short).is_open


def test_naive_timestamps_are_rejected() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        apply_inbound(CareWindow(), at=datetime(2026, 1, 1), settings=SETTINGS)


class TestEntryPoint:
    def test_referral_opening_message_starts_a_72h_free_period(self) -> None:
        window = _window(T0, referral_at=T0)
        assert window.entry_point_at == T0
        view = window_at(window, now=at(30), settings=SETTINGS)
        assert view.state is WindowState.CLOSED  # price only: free-form still needs the 24 h window
        assert view.entry_point_expires_at == at(72)

    def test_referral_in_an_open_window_does_not_start_one(self) -> None:
        window = _window(at(0), at(2), referral_at=at(2))
        assert window.entry_point_at is None

    def test_a_late_referral_opener_is_recognised(self) -> None:
        window = apply_inbound(_window(at(2)), at=at(0), referral=True, settings=SETTINGS)
        assert (window.opened_at, window.entry_point_at) == (at(0), at(0))

    def test_referral_flag_on_a_duplicate_of_the_opener(self) -> None:
        window = apply_inbound(_window(at(0), at(2)), at=at(0), referral=True, settings=SETTINGS)
        assert window.entry_point_at == at(0)

    def test_entry_point_survives_a_new_run(self) -> None:
        window = _window(at(0), at(30), referral_at=at(0))
        assert window.entry_point_at == at(0)
        view = window_at(window, now=at(31), settings=SETTINGS)
        assert view.entry_point_expires_at == at(72)

    def test_configurable_entry_point_length(self) -> None:
        custom = PolicySettings(entry_point_window=timedelta(hours=48))
        window = apply_inbound(CareWindow(), at=T0, referral=True, settings=custom)
        assert window_at(window, now=T0, settings=custom).entry_point_expires_at == at(48)


# Properties. Messages are whole seconds (webhook timestamps) within a few days.
seconds = st.integers(min_value=0, max_value=5 * 86400)
message_sets = st.lists(seconds, min_size=1, max_size=12)


def _moment(offset: int) -> datetime:
    return datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=offset)


@settings(max_examples=300, deadline=None)
@given(messages=message_sets, after=st.integers(min_value=0, max_value=2 * 86400))
def test_open_iff_a_message_in_the_last_24h(messages: list[int], after: int) -> None:
    window = _window(*map(_moment, messages))
    now = _moment(max(messages) + after)
    expected = any(now - DAY < _moment(m) <= now for m in messages)
    assert window_at(window, now=now, settings=SETTINGS).is_open is expected


@settings(max_examples=300, deadline=None)
@given(messages=message_sets, data=st.data())
def test_order_and_duplicates_do_not_matter(messages: list[int], data: st.DataObject) -> None:
    shuffled = data.draw(st.permutations(messages + messages[: len(messages) // 2]))
    a = _window(*map(_moment, messages))
    b = _window(*map(_moment, shuffled))
    assert a.last_inbound_at == b.last_inbound_at
    now = _moment(data.draw(seconds))
    va, vb = window_at(a, now=now, settings=SETTINGS), window_at(b, now=now, settings=SETTINGS)
    assert (va.state, va.expires_at, va.seconds_left) == (vb.state, vb.expires_at, vb.seconds_left)


@settings(max_examples=200, deadline=None)
@given(messages=message_sets)
def test_applying_a_message_twice_is_a_no_op(messages: list[int]) -> None:
    window = _window(*map(_moment, messages))
    again = apply_inbound(window, at=_moment(messages[-1]), settings=SETTINGS)
    assert again == window


@settings(max_examples=200, deadline=None)
@given(messages=message_sets)
def test_opened_at_in_order_is_the_start_of_the_last_run(messages: list[int]) -> None:
    ordered = sorted(set(messages))
    window = _window(*map(_moment, ordered))
    start = ordered[-1]
    for earlier in reversed(ordered[:-1]):
        if start - earlier >= 86400:
            break
        start = earlier
    assert window.opened_at == _moment(start)
