"""Properties of decide() over random histories: the rules hold whatever happens before."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st
from policy_helpers import NAMED_PARAMS

from carewindow.policy import (
    Action,
    ConsentEvent,
    ConsentStatus,
    ContactState,
    MessageKind,
    OnClosed,
    PolicySettings,
    PricedMessage,
    Reengagement,
    RefusalCode,
    SendPurpose,
    SendRequest,
    Template,
    TemplateCategory,
    TemplateRef,
    TemplateStatus,
    WindowState,
    apply_consent_event,
    apply_inbound_message,
    decide,
    window_at,
)

EPOCH = datetime(2025, 1, 1, tzinfo=UTC)
WA_IDS = ["34600111222", "447700900123", "5511987654321", "14155550123"]
TEMPLATES = {
    c: Template(
        name="t",
        language="es",
        category=c,
        status=TemplateStatus.APPROVED,
        body="Hola {{customer_name}}, {{ticket_id}} {{ticket_status}}",
    )
    for c in TemplateCategory
}
REF = TemplateRef(name="t", language="es", params=NAMED_PARAMS)

moments = st.integers(min_value=0, max_value=4 * 86400).map(lambda s: EPOCH + timedelta(seconds=s))
consent_events = st.builds(
    ConsentEvent, status=st.sampled_from(list(ConsentStatus)), source=st.just("api"), at=moments
)
policy_settings = st.builds(
    PolicySettings,
    reengagement_limit=st.integers(min_value=0, max_value=3),
    reengagement_horizon=st.sampled_from([timedelta(hours=1), timedelta(days=1), timedelta(days=7)]),
    pricing_model=st.sampled_from(["seed", "meta_cbp", "meta_pmp", "meta_pmp_2026", "auto"]),
)
requests = st.one_of(
    st.builds(
        SendRequest,
        to=st.just("x"),
        message_type=st.sampled_from(["text", "image", "interactive"]),
        on_closed=st.sampled_from(list(OnClosed)),
        fallback=st.sampled_from([None, REF]),
        purpose=st.sampled_from(list(SendPurpose)),
    ),
    st.builds(
        SendRequest,
        to=st.just("x"),
        message_type=st.just("template"),
        template=st.just(REF),
        purpose=st.sampled_from(list(SendPurpose)),
    ),
)


@st.composite
def contacts(draw: st.DrawFn, config: PolicySettings) -> ContactState:
    state = ContactState(wa_id=draw(st.sampled_from(WA_IDS)))
    for moment in draw(st.lists(moments, max_size=5)):
        state = apply_inbound_message(state, at=moment, referral=draw(st.booleans()), settings=config)
    consent = state.consent
    for event in draw(st.lists(consent_events, max_size=3)):
        consent = apply_consent_event(consent, event)
    sent = draw(st.integers(min_value=0, max_value=3))
    reengagement = Reengagement(
        templates_sent_since_close=sent, first_sent_at=draw(moments) if sent else None
    )
    return ContactState(wa_id=state.wa_id, window=state.window, consent=consent, reengagement=reengagement)


@st.composite
def scenarios(
    draw: st.DrawFn,
) -> tuple[SendRequest, ContactState, TemplateCategory, PolicySettings, datetime]:
    config = draw(policy_settings)
    return (
        draw(requests),
        draw(contacts(config)),
        draw(st.sampled_from(list(TemplateCategory))),
        config,
        draw(moments),
    )


@settings(max_examples=400, deadline=None)
@given(scenario=scenarios())
def test_decide_rules_hold(
    scenario: tuple[SendRequest, ContactState, TemplateCategory, PolicySettings, datetime],
) -> None:
    request, state, category, config, now = scenario
    tpl = TEMPLATES[category]
    d = decide(request, state, template=tpl, fallback_template=tpl, settings=config, now=now)
    # A session message never goes out while the window is closed.
    if d.kind is MessageKind.SESSION:
        assert d.window.state is WindowState.OPEN
    # A template never goes out without consent.
    if d.kind is MessageKind.TEMPLATE:
        assert state.consent.status is ConsentStatus.OPTED_IN
        # ... nor past the re-engagement limit while closed, when it re-engages (docs/rules.md).
        closed_at = d.window.closed_at
        reengages = d.window.state is WindowState.CLOSED and (
            d.action is not Action.SEND
            or request.purpose is SendPurpose.REENGAGEMENT
            or (
                request.purpose is SendPurpose.AUTO
                and closed_at is not None
                and now - closed_at < config.reengagement_horizon
            )
        )
        before = state.reengagement
        first = before.first_sent_at
        expired = first is not None and now - first >= config.reengagement_horizon
        if reengages and config.reengagement_limit:
            assert expired or before.templates_sent_since_close < config.reengagement_limit
        if reengages:
            assert d.state_after.reengagement.templates_sent_since_close == (
                1 if expired else before.templates_sent_since_close + 1
            )
        else:  # a notification (or a template in the window) neither counts nor is limited
            assert d.state_after.reengagement == before
    if d.code is RefusalCode.REENGAGEMENT_PENDING:
        assert request.purpose is not SendPurpose.NOTIFICATION or request.message_type != "template"
    # Charges are never negative, and present exactly when something goes out.
    assert (d.charge is not None) is d.allowed is (d.kind is not None)
    if d.charge is not None:
        assert d.charge.amount >= 0
        assert d.charge.billable or d.charge.amount == 0
        # Under seed everything inside the window is free.
        if config.pricing_model == "seed" and d.window.state is WindowState.OPEN:
            assert d.charge.amount == 0 and not d.charge.billable
    else:
        assert d.code is not None and d.message and d.state_after is state
    # The same question gets the same answer.
    assert decide(request, state, template=tpl, fallback_template=tpl, settings=config, now=now) == d
    # decide()'s shortcuts agree with the public building blocks.
    assert d.window == window_at(state.window, now=now, settings=config)
    if d.charge is not None:
        message = PricedMessage(
            kind=d.kind or MessageKind.SESSION,
            category=None if d.kind is MessageKind.SESSION else category,
            wa_id=state.wa_id,
            sent_at=now,
            window=d.window,
        )
        charge, _ = config.model.price(message, state=state, settings=config, usage=None)
        assert charge == d.charge


@settings(max_examples=300, deadline=None)
@given(
    sent=st.integers(min_value=1, max_value=5),
    first=moments,
    reply_offset=st.integers(min_value=-86400, max_value=86400),
)
def test_reengagement_resets_on_a_customer_message(sent: int, first: datetime, reply_offset: int) -> None:
    config = PolicySettings()
    state = ContactState(
        wa_id="34600111222", reengagement=Reengagement(templates_sent_since_close=sent, first_sent_at=first)
    )
    reply_at = first + timedelta(seconds=reply_offset)
    after = apply_inbound_message(state, at=reply_at, settings=config)
    if reply_at >= first:
        assert after.reengagement == Reengagement()
    else:  # a late webhook for a message written before the template changes nothing
        assert after.reengagement == state.reengagement


@settings(max_examples=200, deadline=None)
@given(last=moments, offset=st.integers(min_value=0, max_value=3 * 86400))
def test_seed_session_charge_is_free_in_window(last: datetime, offset: int) -> None:
    config = PolicySettings()
    state = apply_inbound_message(ContactState(wa_id="34600111222"), at=last, settings=config)
    now = last + timedelta(seconds=offset)
    d = decide(SendRequest(to="x", message_type="text"), state, template=None, settings=config, now=now)
    assert d.allowed is (offset < 86400)
    if d.charge is not None:
        assert d.charge.amount == 0 and d.charge.reason == "free_in_window"
