"""Consent under any arrival order and clock skew: an opt-out is never silently lost (issue 19).

The rule (policy/consent.py, docs/rules.md "Consent"): the status ends opted in exactly when the latest
opt-in is later than every opt-out by more than the tolerance; an opt-in counts from the earlier of
its own time and when carewindow received it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carewindow.policy import (
    DEFAULT_CONSENT_TOLERANCE,
    ConsentEvent,
    ConsentState,
    ConsentStatus,
    ContactState,
    PolicySettings,
    apply_consent_event,
    apply_inbound_message,
    consent_outcome,
)
from carewindow.policy.consent import effective_at

IN, OUT, UNKNOWN = ConsentStatus.OPTED_IN, ConsentStatus.OPTED_OUT, ConsentStatus.UNKNOWN
T0 = datetime(2026, 11, 25, 10, 0, 0, 500_000, tzinfo=UTC)
TOL = DEFAULT_CONSENT_TOLERANCE


def fold(events: list[ConsentEvent], tolerance: timedelta = TOL) -> ConsentState:
    state = ConsentState()
    for event in events:
        state = apply_consent_event(state, event, tolerance=tolerance)
    return state


# Opt-ins: the API's clock, to the microsecond, maybe a form time in the past, maybe a clock ahead
# (``at`` after ``received_at``). Opt-outs: Meta's clock, whole seconds, received late or early.
offsets = st.integers(min_value=-3 * 3600 * 10**6, max_value=3 * 3600 * 10**6)
skews = st.integers(min_value=-15 * 60 * 10**6, max_value=15 * 60 * 10**6)


@st.composite
def opt_ins(draw: st.DrawFn) -> ConsentEvent:
    at = T0 + timedelta(microseconds=draw(offsets))
    received = at + timedelta(microseconds=draw(skews))
    return ConsentEvent(
        status=IN, source="api", proof=draw(st.sampled_from(["form", None])), at=at, received_at=received
    )


@st.composite
def opt_outs(draw: st.DrawFn) -> ConsentEvent:
    at = (T0 + timedelta(microseconds=draw(offsets))).replace(microsecond=0)
    source = draw(st.sampled_from(["keyword", "api", "inbox"]))
    return ConsentEvent(
        status=OUT, source=source, proof="STOP", at=at, received_at=at + timedelta(seconds=30)
    )


events = st.lists(st.one_of(opt_ins(), opt_outs()), min_size=1, max_size=8)
tolerances = st.sampled_from([timedelta(0), timedelta(seconds=1), TOL, timedelta(hours=1)])


def expected_status(evs: list[ConsentEvent], tolerance: timedelta) -> ConsentStatus:
    ins = [effective_at(e) for e in evs if e.status is IN]
    outs = [e.at for e in evs if e.status is OUT]
    if not ins:
        return OUT if outs else UNKNOWN
    if not outs:
        return IN
    return IN if max(ins) - max(outs) > tolerance else OUT


@settings(max_examples=400, deadline=None)
@given(evs=events, tolerance=tolerances)
def test_status_is_the_rule_whatever_the_arrival_order(evs: list[ConsentEvent], tolerance: timedelta) -> None:
    assert fold(evs, tolerance).status is expected_status(evs, tolerance)


@settings(max_examples=300, deadline=None)
@given(evs=events, tolerance=tolerances, data=st.data())
def test_the_whole_state_does_not_depend_on_arrival_order(
    evs: list[ConsentEvent], tolerance: timedelta, data: st.DataObject
) -> None:
    again = data.draw(st.permutations(evs + evs[:2]))  # redeliveries included
    assert fold(evs, tolerance) == fold(again, tolerance)


@settings(max_examples=400, deadline=None)
@given(evs=events, tolerance=tolerances)
def test_no_opt_out_received_after_an_opt_in_is_lost_unless_provably_older(
    evs: list[ConsentEvent], tolerance: timedelta
) -> None:
    """Walk the arrival order: whenever an opt-out arrives after an opt-in and the state stays or
    becomes opted in, some opt-in seen so far is later than that opt-out by more than the tolerance."""
    state = ConsentState()
    seen: list[ConsentEvent] = []
    for event in evs:
        outcome = consent_outcome(state, event, tolerance=tolerance)
        assert outcome.reason  # every event, applied or not, says why
        assert outcome.applied == (outcome.state != state) or outcome.state == state
        state = outcome.state
        seen.append(event)
        if state.status is IN:
            for out in (e for e in seen if e.status is OUT):
                assert any(effective_at(i) - out.at > tolerance for i in seen if i.status is IN)


@settings(max_examples=200, deadline=None)
@given(opt_in=opt_ins(), gap=st.integers(min_value=0, max_value=10**9))
def test_an_opt_in_provably_later_than_the_opt_out_wins_either_order(opt_in: ConsentEvent, gap: int) -> None:
    out_at = effective_at(opt_in) - TOL - timedelta(microseconds=1 + gap)
    opt_out = ConsentEvent(status=OUT, source="keyword", at=out_at)
    assert fold([opt_out, opt_in]).status is IN
    assert fold([opt_in, opt_out]).status is IN


class TestTheReproductions:
    """Both defects of issue 19, as they happened."""

    def test_stop_in_the_same_second_as_an_api_opt_in(self) -> None:
        opt_in_at = datetime(2026, 11, 25, 10, 0, 0, 734_512, tzinfo=UTC)  # server clock, microseconds
        opt_in = ConsentEvent(status=IN, source="api", at=opt_in_at, received_at=opt_in_at)
        stop = ConsentEvent(status=OUT, source="keyword", proof="STOP", at=opt_in_at.replace(microsecond=0))
        outcome = consent_outcome(apply_consent_event(ConsentState(), opt_in), stop)
        assert outcome.applied and outcome.state.status is OUT
        assert "opt-out wins" in outcome.reason

    def test_stop_a_few_seconds_before_the_opt_in_delivered_after_it(self) -> None:
        opt_in = ConsentEvent(status=IN, source="api", at=T0, received_at=T0)
        stop = ConsentEvent(status=OUT, source="keyword", at=T0 - timedelta(seconds=4))
        assert fold([opt_in, stop]).status is OUT
        assert fold([stop, opt_in]).status is OUT  # and the opt-in arriving later loses too

    def test_the_superseded_opt_in_says_why(self) -> None:
        stop = ConsentEvent(status=OUT, source="keyword", at=T0)
        opt_in = ConsentEvent(status=IN, source="api", at=T0 + timedelta(minutes=4), received_at=T0)
        outcome = consent_outcome(fold([stop]), opt_in)
        assert not outcome.applied and outcome.state.status is OUT
        assert "within 5 min" in outcome.reason and "opt-out wins" in outcome.reason


class TestRuleDetails:
    def test_an_opt_out_provably_older_is_superseded_with_its_reason(self) -> None:
        opt_in = ConsentEvent(status=IN, source="api", at=T0, received_at=T0)
        old_stop = ConsentEvent(status=OUT, source="keyword", at=T0 - timedelta(minutes=6))
        outcome = consent_outcome(fold([opt_in]), old_stop)
        assert not outcome.applied and outcome.state.status is IN
        assert "later by more than the 5 min tolerance" in outcome.reason

    def test_an_opt_in_from_the_future_counts_from_when_it_was_received(self) -> None:
        stop = ConsentEvent(status=OUT, source="keyword", at=T0)
        ahead = ConsentEvent(
            status=IN, source="api", at=T0 + timedelta(hours=2), received_at=T0 + timedelta(seconds=5)
        )
        assert effective_at(ahead) == T0 + timedelta(seconds=5)
        assert fold([stop, ahead]).status is OUT

    def test_the_tolerance_is_a_setting(self) -> None:
        stop = ConsentEvent(status=OUT, source="keyword", at=T0)
        opt_in = ConsentEvent(status=IN, source="api", at=T0 + timedelta(seconds=90))
        assert fold([stop, opt_in], timedelta(minutes=1)).status is IN
        assert fold([stop, opt_in]).status is OUT
        assert fold([stop, opt_in], timedelta(0)).status is IN
        with pytest.raises(ValueError, match="tolerance"):
            consent_outcome(ConsentState(), stop, tolerance=timedelta(seconds=-1))
        with pytest.raises(ValueError, match="consent_tolerance"):
            PolicySettings(consent_tolerance=timedelta(seconds=-1))

    def test_unknown_never_replaces_an_opt_out(self) -> None:
        stop = ConsentEvent(status=OUT, source="keyword", at=T0)
        unknown = ConsentEvent(status=UNKNOWN, source="import", at=T0 + timedelta(days=1))
        outcome = consent_outcome(fold([stop]), unknown)
        assert not outcome.applied and outcome.state.status is OUT
        assert fold([unknown, stop]).status is OUT
        assert consent_outcome(fold([unknown]), unknown).reason.startswith("superseded")

    def test_newer_same_status_refreshes_the_proof(self) -> None:
        first = ConsentEvent(status=IN, source="api", proof="a", at=T0)
        second = ConsentEvent(status=IN, source="api", proof="b", at=T0 + timedelta(days=1))
        outcome = consent_outcome(fold([first]), second)
        assert outcome.applied and outcome.state.proof == "b" and outcome.reason == "newest event"

    def test_inbound_stop_uses_the_settings_tolerance(self) -> None:
        state = apply_inbound_message(
            _opted_in_at(T0),
            at=T0 - timedelta(seconds=30),
            text="STOP",
            settings=PolicySettings(consent_tolerance=timedelta(seconds=10)),
        )
        assert state.consent.status is IN  # 30 s older than the opt-in, tolerance 10 s
        default = apply_inbound_message(
            _opted_in_at(T0), at=T0 - timedelta(seconds=30), text="STOP", settings=PolicySettings()
        )
        assert default.consent.status is OUT

    def test_durations_in_reasons(self) -> None:
        stop = ConsentEvent(status=OUT, source="keyword", at=T0)
        opt_in = ConsentEvent(status=IN, source="api", at=T0 + timedelta(seconds=1))
        assert "1.5 s" in consent_outcome(fold([stop]), opt_in, tolerance=timedelta(seconds=1.5)).reason


def _opted_in_at(at: datetime) -> ContactState:
    return ContactState(wa_id="34600111222", consent=ConsentState(status=IN, source="api", updated_at=at))
