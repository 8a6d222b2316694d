"""decide(): one table row per refusal code, the on_closed actions, and what state_after records."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from policy_helpers import NAMED_PARAMS, SETTINGS, WA_ID, at, contact, template

from carewindow.policy import (
    Action,
    ConsentState,
    ConsentStatus,
    ContactState,
    Decision,
    MessageKind,
    OnClosed,
    PolicySettings,
    Reengagement,
    RefusalCode,
    SendRequest,
    Template,
    TemplateCategory,
    TemplateRef,
    TemplateStatus,
    WindowState,
    apply_inbound_message,
    decide,
)

TEXT = SendRequest(to=WA_ID, message_type="text")
REF = TemplateRef(name="ticket_update", language="es", params=NAMED_PARAMS)
TEMPLATE_REQ = SendRequest(to=WA_ID, message_type="template", template=REF)
OPEN = contact(last_inbound_at=at(0))  # window open until at(24)
NOW_OPEN, NOW_CLOSED = at(2), at(27)
STOPPED = replace(
    OPEN,
    marketing=ConsentState(status=ConsentStatus.OPTED_OUT, source="user_preferences", updated_at=at(0)),
)


def _decide(
    request: SendRequest,
    state: ContactState,
    *,
    now: datetime = NOW_OPEN,
    tpl: Template | None = None,
    fallback: Template | None = None,
    settings: PolicySettings = SETTINGS,
) -> Decision:
    return decide(request, state, template=tpl, fallback_template=fallback, settings=settings, now=now)


def _closed_request(on_closed: OnClosed, fallback: TemplateRef | None = REF) -> SendRequest:
    return SendRequest(to=WA_ID, message_type="text", on_closed=on_closed, fallback=fallback)


class TestAllowed:
    def test_session_in_open_window(self) -> None:
        d = _decide(TEXT, OPEN)
        assert (d.allowed, d.action, d.code, d.kind, d.hold) == (
            True,
            Action.SEND,
            None,
            MessageKind.SESSION,
            False,
        )
        assert d.send_template is None
        assert d.charge is not None and not d.charge.billable and d.charge.amount == 0
        assert d.window.state is WindowState.OPEN and d.window.seconds_left == 22 * 3600
        assert d.state_after == OPEN
        assert d.message == "" and dict(d.details) == {}

    @pytest.mark.parametrize("message_type", ["image", "document", "interactive", "reaction", "location"])
    def test_every_session_type(self, message_type: str) -> None:
        assert _decide(SendRequest(to=WA_ID, message_type=message_type), OPEN).allowed

    def test_session_needs_no_consent(self) -> None:
        for consent in ConsentStatus:
            assert _decide(TEXT, contact(last_inbound_at=at(0), consent=consent)).allowed

    def test_opted_out_customer_who_wrote_may_be_answered(self) -> None:
        state = apply_inbound_message(
            contact(consent=ConsentStatus.OPTED_IN), at=at(1), text="STOP", settings=SETTINGS
        )
        assert state.consent.status is ConsentStatus.OPTED_OUT
        assert _decide(TEXT, state).allowed
        assert _decide(TEMPLATE_REQ, state, tpl=template()).code is RefusalCode.NO_CONSENT

    @pytest.mark.parametrize("category", [TemplateCategory.UTILITY, TemplateCategory.AUTHENTICATION])
    def test_marketing_stop_leaves_other_templates_and_sessions(self, category: TemplateCategory) -> None:
        assert _decide(TEMPLATE_REQ, STOPPED, tpl=template(category=category)).allowed
        assert _decide(TEXT, STOPPED).allowed

    def test_marketing_resumed_may_be_sent(self) -> None:
        resumed = replace(STOPPED, marketing=replace(STOPPED.marketing, status=ConsentStatus.OPTED_IN))
        assert _decide(TEMPLATE_REQ, resumed, tpl=template(category=TemplateCategory.MARKETING)).allowed

    def test_template_in_open_window_does_not_count_as_reengagement(self) -> None:
        d = _decide(TEMPLATE_REQ, OPEN, tpl=template())
        assert (d.allowed, d.action, d.kind) == (True, Action.SEND, MessageKind.TEMPLATE)
        assert d.send_template is not None and d.send_template.body_text.startswith("Hola Ana")
        assert d.state_after.reengagement == Reengagement()

    def test_template_while_closed_counts(self) -> None:
        d = _decide(TEMPLATE_REQ, OPEN, tpl=template(), now=NOW_CLOSED)
        assert d.allowed
        assert d.state_after.reengagement == Reengagement(
            templates_sent_since_close=1, first_sent_at=NOW_CLOSED
        )
        again = _decide(TEMPLATE_REQ, d.state_after, tpl=template(), now=NOW_CLOSED + timedelta(minutes=5))
        assert again.code is RefusalCode.REENGAGEMENT_PENDING

    def test_template_to_a_contact_who_never_wrote(self) -> None:
        d = _decide(TEMPLATE_REQ, contact(), tpl=template())
        assert d.allowed and d.window.state is WindowState.CLOSED

    def test_on_closed_template_sends_the_fallback(self) -> None:
        d = _decide(_closed_request(OnClosed.TEMPLATE), OPEN, now=NOW_CLOSED, fallback=template())
        assert (d.allowed, d.action, d.kind, d.hold) == (
            True,
            Action.SEND_FALLBACK,
            MessageKind.TEMPLATE,
            False,
        )
        assert d.send_template is not None and d.send_template.name == "ticket_update"
        assert "instead" in d.message
        assert d.state_after.reengagement.templates_sent_since_close == 1
        assert d.charge is not None and d.charge.billable

    def test_on_closed_defer_holds_and_re_engages(self) -> None:
        d = _decide(_closed_request(OnClosed.DEFER), OPEN, now=NOW_CLOSED, fallback=template())
        assert (d.allowed, d.action, d.kind, d.hold) == (True, Action.HOLD, MessageKind.TEMPLATE, True)
        assert d.send_template is not None
        assert "holding" in d.message

    def test_on_closed_is_ignored_while_open(self) -> None:
        d = _decide(_closed_request(OnClosed.DEFER), OPEN, fallback=template())
        assert d.action is Action.SEND and d.kind is MessageKind.SESSION

    def test_unlimited_reengagement(self) -> None:
        unlimited = PolicySettings(reengagement_limit=0)
        state = replace(OPEN, reengagement=Reengagement(templates_sent_since_close=50, first_sent_at=at(25)))
        assert _decide(TEMPLATE_REQ, state, tpl=template(), now=NOW_CLOSED, settings=unlimited).allowed

    def test_higher_limit(self) -> None:
        two = PolicySettings(reengagement_limit=2)
        d1 = _decide(TEMPLATE_REQ, OPEN, tpl=template(), now=NOW_CLOSED, settings=two)
        d2 = _decide(TEMPLATE_REQ, d1.state_after, tpl=template(), now=at(28), settings=two)
        d3 = _decide(TEMPLATE_REQ, d2.state_after, tpl=template(), now=at(29), settings=two)
        assert (d1.allowed, d2.allowed, d3.allowed) == (True, True, False)
        assert d2.state_after.reengagement == Reengagement(
            templates_sent_since_close=2, first_sent_at=NOW_CLOSED
        )
        assert "2 re-engagement templates were already sent 2 h ago (limit 2)" in d3.message

    def test_customer_reply_resets_the_limit(self) -> None:
        d1 = _decide(TEMPLATE_REQ, OPEN, tpl=template(), now=NOW_CLOSED)
        replied = apply_inbound_message(d1.state_after, at=at(28), settings=SETTINGS)
        d2 = _decide(TEMPLATE_REQ, replied, tpl=template(), now=at(60))
        assert d2.allowed and d2.state_after.reengagement.templates_sent_since_close == 1

    def test_decision_is_immutable(self) -> None:
        d = _decide(TEXT, OPEN)
        with pytest.raises(AttributeError):
            d.allowed = False  # type: ignore[misc]
        refused = _decide(TEXT, OPEN, now=NOW_CLOSED)
        with pytest.raises(TypeError):
            refused.details["x"] = 1  # type: ignore[index]


# One row per refusal code: (id, request, state, kwargs, now, code, details subset, words in the message)
Row = tuple[str, SendRequest, ContactState, dict[str, Any], datetime, RefusalCode, dict[str, Any], str]
REFUSALS: list[Row] = [
    ("window_closed", TEXT, OPEN, {}, NOW_CLOSED, RefusalCode.WINDOW_CLOSED,
     {"meta_code": 131047, "closed_at": at(24).isoformat(), "last_inbound_at": at(0).isoformat()},
     "The customer care window closed 3 h ago (last customer message 2026-11-23 09:00 UTC). "
     "Send an approved template to re-engage"),
    ("window_never_opened", TEXT, contact(), {}, NOW_OPEN, RefusalCode.WINDOW_CLOSED,
     {"last_inbound_at": None}, "has not written to this number yet"),
    ("no_consent_unknown", TEMPLATE_REQ, contact(last_inbound_at=at(0), consent=ConsentStatus.UNKNOWN),
     {"tpl": template()}, NOW_OPEN, RefusalCode.NO_CONSENT, {"consent": "unknown"},
     "No opt-in recorded for 34600111222: record consent (PUT /v1/contacts/34600111222/consent) before "
     "sending templates."),
    ("no_consent_opted_out", TEMPLATE_REQ, contact(last_inbound_at=at(0), consent=ConsentStatus.OPTED_OUT),
     {"tpl": template()}, NOW_OPEN, RefusalCode.NO_CONSENT, {"consent": "opted_out"},
     "opted out on 2026-10-24 09:00 UTC (source: web_form)"),
    ("marketing_opted_out", TEMPLATE_REQ, STOPPED, {"tpl": template(category=TemplateCategory.MARKETING)},
     NOW_OPEN, RefusalCode.MARKETING_OPTED_OUT, {"meta_code": 131050, "category": "marketing"},
     "stopped marketing messages on 2026-11-23 09:00 UTC (source: user_preferences)"),
    ("template_not_found", TEMPLATE_REQ, OPEN, {"tpl": None}, NOW_OPEN, RefusalCode.TEMPLATE_NOT_FOUND,
     {"meta_code": 132001, "template": "ticket_update", "language": "es"}, "is not in the catalog"),
    ("template_wrong_language", TEMPLATE_REQ, OPEN, {"tpl": template(language="en")}, NOW_OPEN,
     RefusalCode.TEMPLATE_NOT_FOUND, {"meta_code": 132001}, "check the name and language"),
    ("template_pending", TEMPLATE_REQ, OPEN, {"tpl": template(status=TemplateStatus.PENDING)}, NOW_OPEN,
     RefusalCode.TEMPLATE_NOT_APPROVED, {"meta_code": 132001, "status": "PENDING"}, "wait for the review"),
    ("template_rejected", TEMPLATE_REQ, OPEN, {"tpl": template(status=TemplateStatus.REJECTED)}, NOW_OPEN,
     RefusalCode.TEMPLATE_NOT_APPROVED, {"meta_code": 132001, "status": "REJECTED"}, "is REJECTED"),
    ("template_paused", TEMPLATE_REQ, OPEN, {"tpl": template(status=TemplateStatus.PAUSED)}, NOW_OPEN,
     RefusalCode.TEMPLATE_NOT_APPROVED, {"meta_code": 132015}, "is PAUSED"),
    ("template_disabled", TEMPLATE_REQ, OPEN, {"tpl": template(status=TemplateStatus.DISABLED)}, NOW_OPEN,
     RefusalCode.TEMPLATE_NOT_APPROVED, {"meta_code": 132016}, "is DISABLED"),
    ("template_params_invalid",
     replace(TEMPLATE_REQ, template=replace(REF, params={"customer_name": "Ana"})), OPEN, {"tpl": template()},
     NOW_OPEN, RefusalCode.TEMPLATE_PARAMS_INVALID,
     {"meta_code": 132000, "missing": ["ticket_id", "ticket_status"]}, "Fix the parameters"),
    ("template_params_newline",
     replace(TEMPLATE_REQ, template=replace(REF, params=NAMED_PARAMS | {"ticket_id": "a\nb"})), OPEN,
     {"tpl": template()}, NOW_OPEN, RefusalCode.TEMPLATE_PARAMS_INVALID,
     {"meta_code": 132018, "parameter": "ticket_id"}, "newline"),
    ("template_invalid_definition", TEMPLATE_REQ, OPEN, {"tpl": template(body="{{1}} {{x}}")}, NOW_OPEN,
     RefusalCode.VALIDATION_ERROR, {"meta_code": 100}, "is not a valid template"),
    ("reengagement_pending", TEMPLATE_REQ,
     replace(OPEN, reengagement=Reengagement(templates_sent_since_close=1, first_sent_at=at(25))),
     {"tpl": template()}, NOW_CLOSED, RefusalCode.REENGAGEMENT_PENDING,
     {"templates_sent_since_close": 1, "limit": 1, "first_sent_at": at(25).isoformat()},
     "1 re-engagement template was already sent 2 h ago (limit 1)"),
    ("fallback_missing", _closed_request(OnClosed.TEMPLATE, None), OPEN, {}, NOW_CLOSED,
     RefusalCode.VALIDATION_ERROR, {"fields": ["fallback_template"]}, "needs a fallback_template"),
    ("defer_fallback_missing", _closed_request(OnClosed.DEFER, None), OPEN, {}, NOW_CLOSED,
     RefusalCode.VALIDATION_ERROR, {"fields": ["fallback_template"]}, "on_closed=defer"),
    ("fallback_not_found", _closed_request(OnClosed.TEMPLATE), OPEN, {"fallback": None}, NOW_CLOSED,
     RefusalCode.TEMPLATE_NOT_FOUND, {"role": "fallback_template"}, "Fallback template: "),
    ("fallback_no_consent", _closed_request(OnClosed.DEFER),
     contact(last_inbound_at=at(0), consent=ConsentStatus.UNKNOWN), {"fallback": template()}, NOW_CLOSED,
     RefusalCode.NO_CONSENT, {"role": "fallback_template"}, "Fallback template: No opt-in"),
    ("template_without_template", SendRequest(to=WA_ID, message_type="template"), OPEN, {}, NOW_OPEN,
     RefusalCode.VALIDATION_ERROR, {"fields": ["template"]}, "needs a template"),
    ("unknown_type", SendRequest(to=WA_ID, message_type="hologram"), OPEN, {}, NOW_OPEN,
     RefusalCode.VALIDATION_ERROR, {"fields": ["type"]}, "Unknown message type 'hologram'"),
    ("unknown_type_closed", SendRequest(to=WA_ID, message_type="hologram"), OPEN, {}, NOW_CLOSED,
     RefusalCode.VALIDATION_ERROR, {"fields": ["type"]}, "Unknown message type"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("request_", "state", "kwargs", "now", "code", "details", "words"),
    [row[1:] for row in REFUSALS],
    ids=[row[0] for row in REFUSALS],
)
def test_refusals(
    request_: SendRequest,
    state: ContactState,
    kwargs: dict[str, Any],
    now: datetime,
    code: RefusalCode,
    details: dict[str, Any],
    words: str,
) -> None:
    d = _decide(request_, state, now=now, **kwargs)
    assert (d.allowed, d.action, d.code) == (False, Action.REFUSE, code)
    assert (d.kind, d.send_template, d.charge, d.hold) == (None, None, None, False)
    assert d.state_after is state
    assert details.items() <= dict(d.details).items()
    assert words in d.message


def test_every_refusal_code_has_a_row() -> None:
    # payment_method_required is the send planner's, after decide() (tests/policy/test_payment.py).
    assert {row[5] for row in REFUSALS} == set(RefusalCode) - {RefusalCode.PAYMENT_METHOD_REQUIRED}


def test_naive_now_is_rejected() -> None:
    with pytest.raises(ValueError, match="aware"):
        _decide(TEXT, OPEN, now=datetime(2026, 11, 23, 10))


def test_fractional_now_rounds_seconds_left_up() -> None:
    d = _decide(TEXT, OPEN, now=at(23) + timedelta(microseconds=500))
    assert d.window.seconds_left == 3600


def test_entry_point_session_goes_through_full_pricing() -> None:
    state = contact(last_inbound_at=at(0), entry_point_at=at(0))
    d = _decide(TEXT, state, settings=PolicySettings(pricing_model="seed"))
    assert d.charge is not None and d.charge.reason == "free_in_window"
    pmp = _decide(TEXT, state, settings=PolicySettings(pricing_model="meta_pmp"))
    assert pmp.charge is not None and pmp.charge.reason == "free_entry_point"
    assert pmp.charge.amount == Decimal(0)


def test_a_window_closed_seconds_ago_says_so() -> None:
    # The short end of the refusal's duration wording (the hypothesis runs reach it only by chance).
    d = _decide(TEXT, OPEN, now=at(24) + timedelta(seconds=30))
    assert d.code is RefusalCode.WINDOW_CLOSED and "closed 30 s ago" in d.message
