"""Re-engagement vs notifications (issue 19; docs/rules.md "Re-engagement and notifications").

Timeline (limit 1, horizon 7 days)::

    customer writes   window closes   template A (auto)   template B (auto)   +7 days: C (auto)
         ●──────────────────┤──────────────▲ counts 1/1 ───────✗ pending ─────────────▲ counts again
    never wrote: templates are notifications ▲ ▲ ▲ (no count, no limit)
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from policy_helpers import NAMED_PARAMS, SETTINGS, WA_ID, at, contact, template

from carewindow.policy import (
    Action,
    OnClosed,
    PolicySettings,
    Reengagement,
    RefusalCode,
    SendPurpose,
    SendRequest,
    TemplateRef,
    decide,
    record_reengagement,
    reengagement_allowed,
)

REF = TemplateRef(name="ticket_update", language="es", params=NAMED_PARAMS)
WROTE = contact(last_inbound_at=at(0))  # window closes at(24)
NEVER = contact()


def req(purpose: SendPurpose = SendPurpose.AUTO) -> SendRequest:
    return SendRequest(to=WA_ID, message_type="template", template=REF, purpose=purpose)


def send(state, request, now, settings=SETTINGS):  # type: ignore[no-untyped-def]
    return decide(
        request, state, template=template(), fallback_template=template(), settings=settings, now=now
    )


def test_after_a_conversation_a_plain_template_re_engages_once() -> None:
    a = send(WROTE, req(), at(25))
    assert a.allowed and a.state_after.reengagement.templates_sent_since_close == 1
    b = send(a.state_after, req(), at(25) + timedelta(seconds=40))
    assert b.code is RefusalCode.REENGAGEMENT_PENDING and "40 s ago" in b.message


def test_a_customer_who_never_wrote_gets_every_notification() -> None:
    state = NEVER
    for hour in (1, 2, 3):
        d = send(state, req(), at(hour))
        assert d.allowed and d.state_after.reengagement == Reengagement()
        state = d.state_after


def test_marked_notifications_do_not_count_even_right_after_a_conversation() -> None:
    a = send(WROTE, req(SendPurpose.REENGAGEMENT), at(25))
    assert a.allowed
    shipped = send(a.state_after, req(SendPurpose.NOTIFICATION), at(26))
    assert shipped.allowed and shipped.state_after.reengagement == a.state_after.reengagement
    assert send(a.state_after, req(SendPurpose.REENGAGEMENT), at(26)).code is RefusalCode.REENGAGEMENT_PENDING


def test_marked_re_engagement_counts_for_a_customer_who_never_wrote() -> None:
    a = send(NEVER, req(SendPurpose.REENGAGEMENT), at(1))
    assert a.state_after.reengagement.templates_sent_since_close == 1
    assert send(a.state_after, req(SendPurpose.REENGAGEMENT), at(2)).code is RefusalCode.REENGAGEMENT_PENDING


@pytest.mark.parametrize("on_closed", [OnClosed.TEMPLATE, OnClosed.DEFER])
def test_fallbacks_and_knocks_always_count(on_closed: OnClosed) -> None:
    request = SendRequest(
        to=WA_ID, message_type="text", on_closed=on_closed, fallback=REF, purpose=SendPurpose.NOTIFICATION
    )
    d = send(NEVER, request, at(1))
    assert d.action in (Action.SEND_FALLBACK, Action.HOLD)
    assert d.state_after.reengagement.templates_sent_since_close == 1


def test_the_horizon() -> None:
    a = send(WROTE, req(), at(25))
    week = timedelta(days=7)
    assert (
        send(a.state_after, req(SendPurpose.REENGAGEMENT), at(25) + week - timedelta(minutes=1)).code
        is RefusalCode.REENGAGEMENT_PENDING
    )
    c = send(a.state_after, req(SendPurpose.REENGAGEMENT), at(25) + week)
    assert c.allowed and c.state_after.reengagement == Reengagement(
        templates_sent_since_close=1, first_sent_at=at(25) + week
    )
    # Past the horizon after the window closed, a plain template is a notification.
    long_ago = send(WROTE, req(), at(24) + week)
    assert long_ago.allowed and long_ago.state_after.reengagement == Reengagement()
    short = PolicySettings(reengagement_horizon=timedelta(hours=2))
    assert send(WROTE, req(), at(27), short).state_after.reengagement == Reengagement()


def test_the_building_blocks() -> None:
    sent = Reengagement(templates_sent_since_close=1, first_sent_at=at(25))
    assert not reengagement_allowed(sent, limit=1)
    assert not reengagement_allowed(sent, limit=1, now=at(26), horizon=timedelta(hours=2))
    assert reengagement_allowed(sent, limit=1, now=at(27), horizon=timedelta(hours=2))
    assert record_reengagement(sent, at=at(26)) == replace(sent, templates_sent_since_close=2)
    assert record_reengagement(sent, at=at(30), horizon=timedelta(hours=2)) == Reengagement(
        templates_sent_since_close=1, first_sent_at=at(30)
    )
    with pytest.raises(ValueError, match="reengagement_horizon"):
        PolicySettings(reengagement_horizon=timedelta(0))
