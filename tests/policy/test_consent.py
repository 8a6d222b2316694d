"""Consent: the newest event wins, ties go to the safe side, opt-out keywords are whole messages."""

from __future__ import annotations

from datetime import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from policy_helpers import SETTINGS, at, contact

from carewindow.policy import (
    DEFAULT_OPT_OUT_KEYWORDS,
    ConsentEvent,
    ConsentState,
    ConsentStatus,
    PolicySettings,
    Reengagement,
    apply_consent_event,
    apply_inbound_message,
    is_opt_out_keyword,
    normalise_keyword,
)

IN, OUT, UNKNOWN = ConsentStatus.OPTED_IN, ConsentStatus.OPTED_OUT, ConsentStatus.UNKNOWN


def _event(status: ConsentStatus, hours: float, source: str = "api") -> ConsentEvent:
    return ConsentEvent(status=status, source=source, proof="proof", at=at(hours))


def test_an_event_sets_status_source_proof_and_time() -> None:
    state = apply_consent_event(ConsentState(), _event(IN, 1, "web_form"))
    assert state == ConsentState(status=IN, source="web_form", proof="proof", updated_at=at(1))


@pytest.mark.parametrize(
    ("first", "second", "expected"),
    [
        (_event(IN, 1), _event(OUT, 2), OUT),  # newer wins
        (_event(OUT, 2), _event(IN, 1), OUT),  # an older event arriving late loses
        (_event(OUT, 1), _event(IN, 2), IN),  # a new opt-in after an opt-out
        (_event(IN, 1), _event(OUT, 1), OUT),  # tie: the safe side
        (_event(OUT, 1), _event(IN, 1), OUT),
        (_event(UNKNOWN, 1), _event(IN, 1), IN),
    ],
)
def test_newest_wins(first: ConsentEvent, second: ConsentEvent, expected: ConsentStatus) -> None:
    state = apply_consent_event(apply_consent_event(ConsentState(), first), second)
    assert state.status is expected


events = st.builds(
    ConsentEvent,
    status=st.sampled_from(list(ConsentStatus)),
    source=st.sampled_from(["api", "keyword", None]),
    proof=st.sampled_from(["a", None]),
    at=st.integers(min_value=0, max_value=6).map(at),
)


@settings(max_examples=300, deadline=None)
@given(evs=st.lists(events, min_size=1, max_size=8), data=st.data())
def test_result_does_not_depend_on_order(evs: list[ConsentEvent], data: st.DataObject) -> None:
    def fold(seq: list[ConsentEvent]) -> ConsentState:
        state = ConsentState()
        for event in seq:
            state = apply_consent_event(state, event)
        return state

    assert fold(evs) == fold(data.draw(st.permutations(evs + evs[:2])))


def test_naive_event_time_is_rejected() -> None:
    with pytest.raises(ValueError, match="aware"):
        apply_consent_event(ConsentState(), ConsentEvent(status=IN, at=datetime(2026, 1, 1)))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("STOP", True),
        ("stop", True),
        ("  Stop  ", True),
        ("Stop!", True),
        ("baja", True),
        ("UNSUBSCRIBE", True),
        ("Cancelar.", True),
        ("ARRÊT", True),  # accents folded
        ("arrêt", True),
        ("ＳＴＯＰ", True),  # full-width letters fold with NFKD
        ("please stop", False),  # whole message only
        ("stopped", False),
        ("", False),
        (None, False),
        ("stop " * 20, False),
    ],
)
def test_opt_out_keywords(text: str | None, expected: bool) -> None:
    assert is_opt_out_keyword(text, DEFAULT_OPT_OUT_KEYWORDS) is expected


def test_keywords_are_configurable_and_normalised() -> None:
    assert is_opt_out_keyword("désabonner", ["DESABONNER"])
    assert not is_opt_out_keyword("stop", ["BAJA"])
    assert normalise_keyword(" ¡Baja! ") == "baja"


class TestInboundMessage:
    def test_keyword_opts_out_with_proof(self) -> None:
        state = apply_inbound_message(contact(consent=IN), at=at(1), text="Baja", settings=SETTINGS)
        assert state.consent == ConsentState(status=OUT, source="keyword", proof="Baja", updated_at=at(1))
        assert state.window.last_inbound_at == at(1)

    def test_custom_keyword_list(self) -> None:
        custom = PolicySettings(opt_out_keywords=("PARAR",))
        assert apply_inbound_message(contact(), at=at(1), text="stop", settings=custom).consent.status is IN
        assert apply_inbound_message(contact(), at=at(1), text="parar", settings=custom).consent.status is OUT

    def test_ordinary_message_keeps_consent(self) -> None:
        state = contact(consent=IN)
        after = apply_inbound_message(state, at=at(1), text="hola", settings=SETTINGS)
        assert after.consent is state.consent

    def test_resets_reengagement_on_or_after_the_first_template(self) -> None:
        pending = Reengagement(templates_sent_since_close=1, first_sent_at=at(30))
        state = contact(last_inbound_at=at(0))
        state = type(state)(
            wa_id=state.wa_id, window=state.window, consent=state.consent, reengagement=pending
        )
        late_old = apply_inbound_message(state, at=at(29), settings=SETTINGS)
        assert late_old.reengagement == pending  # a late webhook from before the template
        assert apply_inbound_message(state, at=at(30), settings=SETTINGS).reengagement == Reengagement()
        assert apply_inbound_message(state, at=at(31), settings=SETTINGS).reengagement == Reengagement()

    def test_duplicate_returns_the_same_state(self) -> None:
        once = apply_inbound_message(contact(), at=at(1), text="hola", settings=SETTINGS)
        assert apply_inbound_message(once, at=at(1), text="hola", settings=SETTINGS) is once
