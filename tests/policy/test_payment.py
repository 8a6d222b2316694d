"""No payment method on file: past the free tier, a session message is refused (``past_free_tier``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st
from policy_helpers import WA_ID_DEFAULT_MARKET, contact, template

from carewindow.policy import (
    Action,
    PolicySettings,
    PricingUsage,
    RefusalCode,
    SendRequest,
    TemplateCategory,
    TemplateRef,
    decide,
)
from carewindow.policy.payment import past_free_tier

OCT = datetime(2026, 10, 20, 10, tzinfo=UTC)
OPEN = contact(wa_id=WA_ID_DEFAULT_MARKET, last_inbound_at=OCT - timedelta(hours=1))
TEXT = SendRequest(to=WA_ID_DEFAULT_MARKET, message_type="text")


def _unpaid(used: int, *, on_file: bool = False, model: str = "auto", allowance: int = 1000, **kw: object):  # type: ignore[no-untyped-def]
    settings = PolicySettings(
        pricing_model=model, payment_method_on_file=on_file, service_free_allowance=allowance
    )
    request = kw.get("request", TEXT)
    d = decide(
        request,  # type: ignore[arg-type]
        OPEN,
        template=kw.get("template"),  # type: ignore[arg-type]
        settings=settings,
        now=kw.get("now", OCT),  # type: ignore[arg-type]
        usage=PricingUsage(service_messages_this_period=used),
    )
    return d, past_free_tier(d, OPEN, settings)


@given(st.integers(min_value=0, max_value=3000), st.integers(min_value=0, max_value=2000))
def test_refused_exactly_past_the_free_tier(used: int, allowance: int) -> None:
    decision, refused = _unpaid(used, allowance=allowance)
    assert decision.allowed
    if used < allowance:
        assert refused is None
    else:
        assert refused is not None
        assert (refused.allowed, refused.action, refused.code) == (
            False,
            Action.REFUSE,
            RefusalCode.PAYMENT_METHOD_REQUIRED,
        )
        assert refused.state_after is OPEN and refused.charge is None and refused.kind is None
        assert dict(refused.details) == {"free_allowance": allowance, "pricing_model": "meta_pmp_2026"}
        assert "payment method" in refused.message


def test_a_payment_method_on_file_sends_and_bills() -> None:
    decision, refused = _unpaid(5000, on_file=True)
    assert refused is None and decision.charge is not None and decision.charge.billable


def test_before_october_2026_service_is_free_so_nothing_is_refused() -> None:
    now = datetime(2026, 9, 30, 10, tzinfo=UTC)
    _, refused = _unpaid(5000, now=now)
    assert refused is None


def test_templates_and_refusals_pass_through() -> None:
    ref = TemplateRef(
        name="ticket_update",
        language="es",
        params={"customer_name": "A", "ticket_id": "1", "ticket_status": "x"},
    )
    request = SendRequest(to=WA_ID_DEFAULT_MARKET, message_type="template", template=ref)
    tpl = template(category=TemplateCategory.UTILITY)
    decision, refused = _unpaid(5000, request=request, template=tpl)
    assert decision.allowed and decision.charge is not None and decision.charge.billable and refused is None
    closed, refused = _unpaid(5000, now=OCT + timedelta(days=3))
    assert not closed.allowed and refused is None
