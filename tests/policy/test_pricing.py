"""Pricing: the worked examples of whatsapp-platform.md §2, the 2026 rules, auto, and rate cards."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from policy_helpers import NAMED_PARAMS, WA_ID_DEFAULT_MARKET, contact, template

from carewindow.policy import (
    EXAMPLE_RATE_CARD,
    PRICING_MODELS,
    Charge,
    ContactState,
    Conversation,
    MessageKind,
    PolicySettings,
    PricedMessage,
    PricingUsage,
    Rate,
    RateCard,
    RateNotFound,
    SendRequest,
    TemplateCategory,
    TemplateRef,
    apply_inbound_message,
    decide,
    get_pricing_model,
    market_for,
    window_at,
)

D = Decimal
TEXT = SendRequest(to=WA_ID_DEFAULT_MARKET, message_type="text")
UTILITY = template("ticket_update", category=TemplateCategory.UTILITY)
MARKETING = template("black_friday", category=TemplateCategory.MARKETING)


def _send(name: str) -> SendRequest:
    ref = TemplateRef(name=name, language="es", params=NAMED_PARAMS)
    return SendRequest(to=WA_ID_DEFAULT_MARKET, message_type="template", template=ref)


def _worked_example(model: str, day1: datetime) -> list[Decimal]:
    """A..E of the worked example; E is priced even though the default rule would refuse it."""
    settings = PolicySettings(pricing_model=model, reengagement_limit=0)
    state = apply_inbound_message(
        contact(wa_id=WA_ID_DEFAULT_MARKET), at=day1 + timedelta(hours=10), settings=settings
    )
    steps = [
        (TEXT, None, timedelta(hours=10, minutes=5)),  # A free-form in window
        (_send("ticket_update"), UTILITY, timedelta(hours=12)),  # B utility in window
        (_send("black_friday"), MARKETING, timedelta(hours=12, minutes=30)),  # C marketing in window
        (_send("ticket_update"), UTILITY, timedelta(days=1, hours=11)),  # D utility, window closed
        (_send("ticket_update"), UTILITY, timedelta(days=1, hours=11, minutes=30)),  # E 30 min after D
    ]
    amounts = []
    for request, tpl, offset in steps:
        d = decide(request, state, template=tpl, settings=settings, now=day1 + offset)
        assert d.allowed and d.charge is not None
        assert d.charge.amount >= 0 and d.charge.billable is (d.charge.amount > 0)
        assert d.charge.currency == "USD" and d.charge.market == "GB"
        amounts.append(d.charge.amount)
        state = d.state_after
    return amounts


DAY1 = datetime(2025, 9, 1, tzinfo=UTC)
DAY1_CBP = datetime(2024, 12, 2, tzinfo=UTC)  # after 1 Nov 2024, as the table's column says


@pytest.mark.parametrize(
    ("model", "day1", "expected"),
    [
        ("seed", DAY1, ["0", "0", "0", "0.0200", "0.0200"]),
        ("meta_pmp", DAY1, ["0", "0", "0.0500", "0.0200", "0.0200"]),
        ("meta_cbp", DAY1_CBP, ["0", "0", "0.0500", "0.0200", "0"]),
        # auto picks the same eras from the send dates
        ("auto", DAY1, ["0", "0", "0.0500", "0.0200", "0.0200"]),
        ("auto", DAY1_CBP, ["0", "0", "0.0500", "0.0200", "0"]),
    ],
)
def test_worked_examples(model: str, day1: datetime, expected: list[str]) -> None:
    assert _worked_example(model, day1) == [D(x) for x in expected]


def test_cbp_conversation_is_recorded_and_pruned() -> None:
    settings = PolicySettings(pricing_model="meta_cbp", reengagement_limit=0)
    state = contact(wa_id=WA_ID_DEFAULT_MARKET, last_inbound_at=DAY1_CBP)
    now = DAY1_CBP + timedelta(hours=30)
    stale = Conversation(category="marketing", opened_at=DAY1_CBP - timedelta(days=3), expires_at=DAY1_CBP)
    d = decide(
        _send("ticket_update"),
        replace(state, conversations=(stale,)),
        template=UTILITY,
        settings=settings,
        now=now,
    )
    assert d.charge is not None and d.charge.reason == "regular"
    assert d.state_after.conversations == (
        Conversation(category="utility", opened_at=now, expires_at=now + timedelta(hours=24)),
    )
    e = decide(
        _send("ticket_update"),
        d.state_after,
        template=UTILITY,
        settings=settings,
        now=now + timedelta(hours=23),
    )
    assert e.charge is not None and e.charge.reason == "inside_open_conversation"
    f = decide(
        _send("ticket_update"),
        d.state_after,
        template=UTILITY,
        settings=settings,
        now=now + timedelta(hours=24),
    )
    assert f.charge is not None and f.charge.reason == "regular"  # half-open: a new conversation


def _price(
    model: str,
    *,
    kind: MessageKind = MessageKind.TEMPLATE,
    category: TemplateCategory | None = TemplateCategory.UTILITY,
    sent_at: datetime,
    state: ContactState,
    usage: PricingUsage | None = None,
    **settings_kwargs: object,
) -> Charge:
    settings = PolicySettings(pricing_model=model, **settings_kwargs)  # type: ignore[arg-type]
    view = window_at(state.window, now=sent_at, settings=settings)
    message = PricedMessage(kind=kind, category=category, wa_id=state.wa_id, sent_at=sent_at, window=view)
    charge, _ = get_pricing_model(model).price(message, state=state, settings=settings, usage=usage)
    return charge


OCT_2026 = datetime(2026, 10, 5, 10, tzinfo=UTC)
OPEN_2026 = contact(wa_id=WA_ID_DEFAULT_MARKET, last_inbound_at=OCT_2026 - timedelta(hours=1))


class TestPmp2026:
    def test_service_free_within_the_allowance(self) -> None:
        charge = _price(
            "meta_pmp_2026", kind=MessageKind.SESSION, category=None, sent_at=OCT_2026, state=OPEN_2026,
            usage=PricingUsage(service_messages_this_period=999),
        )  # fmt: skip
        assert (charge.billable, charge.amount, charge.reason, charge.category) == (
            False,
            D(0),
            "free_allowance",
            "service",
        )

    def test_service_billed_over_the_allowance(self) -> None:
        charge = _price(
            "meta_pmp_2026", kind=MessageKind.SESSION, category=None, sent_at=OCT_2026, state=OPEN_2026,
            usage=PricingUsage(service_messages_this_period=1000),
        )  # fmt: skip
        assert (charge.billable, charge.amount, charge.reason) == (True, D("0.0200"), "regular")

    def test_allowance_is_a_setting_and_usage_defaults_to_zero(self) -> None:
        free = _price(
            "meta_pmp_2026", kind=MessageKind.SESSION, category=None, sent_at=OCT_2026, state=OPEN_2026
        )
        assert free.reason == "free_allowance"
        billed = _price(
            "meta_pmp_2026", kind=MessageKind.SESSION, category=None, sent_at=OCT_2026, state=OPEN_2026,
            service_free_allowance=0,
        )  # fmt: skip
        assert billed.billable

    def test_service_falls_back_to_the_utility_rate(self) -> None:
        card = RateCard.from_csv(
            "market,category,currency,price,valid_from\n*,utility,EUR,0.0150,2023-01-01\n"
        )
        charge = _price(
            "meta_pmp_2026", kind=MessageKind.SESSION, category=None, sent_at=OCT_2026, state=OPEN_2026,
            service_free_allowance=0, rate_card=card,
        )  # fmt: skip
        assert (charge.amount, charge.currency, charge.category) == (D("0.0150"), "EUR", "service")

    def test_utility_billed_inside_the_window(self) -> None:
        assert _price("meta_pmp_2026", sent_at=OCT_2026, state=OPEN_2026).amount == D("0.0200")
        configured = _price(
            "meta_pmp_2026", sent_at=OCT_2026, state=OPEN_2026, utility_free_in_window_2026=True
        )
        assert configured.reason == "free_in_window"

    def test_auto_switches_on_1_october_2026(self) -> None:
        before = datetime(2026, 9, 30, 23, 59, tzinfo=UTC)
        state = contact(wa_id=WA_ID_DEFAULT_MARKET, last_inbound_at=before - timedelta(hours=1))
        assert _price("auto", sent_at=before, state=state).pricing_model == "meta_pmp"
        assert _price("auto", sent_at=OCT_2026, state=OPEN_2026).pricing_model == "meta_pmp_2026"
        assert (
            _price("auto", sent_at=datetime(2025, 6, 30, tzinfo=UTC), state=state).pricing_model == "meta_cbp"
        )


class TestEntryPoint:
    REFERRAL = contact(wa_id=WA_ID_DEFAULT_MARKET, last_inbound_at=DAY1, entry_point_at=DAY1)

    @pytest.mark.parametrize("model", ["seed", "meta_pmp", "meta_cbp", "meta_pmp_2026"])
    def test_everything_free_for_72h(self, model: str) -> None:
        for hours in (1, 30, 71):
            for category in TemplateCategory:
                charge = _price(
                    model, category=category, sent_at=DAY1 + timedelta(hours=hours), state=self.REFERRAL
                )
                assert charge.amount == 0, (model, hours, category)
        assert _price(model, category=TemplateCategory.MARKETING, sent_at=DAY1 + timedelta(hours=72),
                      state=self.REFERRAL).billable  # fmt: skip

    def test_entry_point_reason(self) -> None:
        charge = _price("meta_pmp", sent_at=DAY1 + timedelta(hours=30), state=self.REFERRAL)
        assert charge.reason == "free_entry_point"
        session = _price(
            "meta_pmp_2026", kind=MessageKind.SESSION, category=None, sent_at=DAY1, state=self.REFERRAL
        )
        assert session.reason == "free_entry_point"

    def test_decide_still_needs_the_24h_window_for_free_form(self) -> None:
        d = decide(
            TEXT, self.REFERRAL, template=None, settings=PolicySettings(), now=DAY1 + timedelta(hours=30)
        )
        assert d.code is not None and d.code.value == "window_closed"


def test_seed_is_free_inside_and_billed_outside() -> None:
    state = contact(wa_id=WA_ID_DEFAULT_MARKET, last_inbound_at=DAY1)
    inside = _price(
        "seed", category=TemplateCategory.MARKETING, sent_at=DAY1 + timedelta(hours=1), state=state
    )
    outside = _price(
        "seed", category=TemplateCategory.AUTHENTICATION, sent_at=DAY1 + timedelta(days=2), state=state
    )
    assert (inside.amount, inside.reason) == (D(0), "free_in_window")
    assert (outside.amount, outside.reason, outside.category) == (D("0.0300"), "regular", "authentication")


def test_market_rates_apply() -> None:
    spain = contact(last_inbound_at=DAY1)
    charge = _price(
        "meta_pmp", category=TemplateCategory.MARKETING, sent_at=DAY1 + timedelta(hours=1), state=spain
    )
    assert (charge.market, charge.amount) == ("ES", D("0.0615"))


def test_unknown_rate_is_billable_and_flagged() -> None:
    card = RateCard.from_csv("market,category,currency,price,valid_from\nES,marketing,EUR,0.05,2030-01-01\n")
    state = contact(wa_id=WA_ID_DEFAULT_MARKET)
    charge = _price("meta_pmp", sent_at=DAY1, state=state, rate_card=card)
    assert (charge.billable, charge.amount, charge.reason, charge.currency) == (
        True,
        D(0),
        "rate_unknown",
        "USD",
    )
    free = _price(
        "seed", sent_at=DAY1, state=contact(wa_id=WA_ID_DEFAULT_MARKET, last_inbound_at=DAY1), rate_card=card
    )
    assert free.currency == "USD"


class TestRateCard:
    def test_example_card_is_labelled_and_parsed(self) -> None:
        from carewindow.policy import EXAMPLE_RATE_CARD_CSV

        assert "EXAMPLE" in EXAMPLE_RATE_CARD_CSV
        assert {"*", "ES", "BR", "IN", "US"} <= set(EXAMPLE_RATE_CARD.markets)
        assert all(isinstance(r.price, Decimal) for r in EXAMPLE_RATE_CARD.rates)

    def test_row_in_force_on_the_send_date(self) -> None:
        card = EXAMPLE_RATE_CARD
        assert card.lookup("US", "utility", date(2025, 12, 31)).price == D("0.0040")
        assert card.lookup("US", "utility", date(2026, 1, 1)).price == D("0.0034")
        assert card.lookup("FR", "marketing", date(2026, 1, 1)).market == "*"  # default row
        assert card.lookup("US", "utility", date(2026, 1, 1)) is card.lookup(
            "US", "utility", date(2026, 1, 1)
        )

    def test_missing_rate(self) -> None:
        with pytest.raises(RateNotFound) as info:
            EXAMPLE_RATE_CARD.lookup("ES", "marketing", date(2020, 1, 1))
        assert info.value.details["market"] == "ES"

    def test_parse_normalises(self) -> None:
        card = RateCard.from_csv(
            "# comment\n\nMarket,Category,Currency,Price,Valid_From\n"
            " es , MARKETING , eur , 0.05 , 2024-01-01\n"
        )
        assert card.rates == (
            Rate(
                market="ES",
                category="marketing",
                currency="EUR",
                price=D("0.05"),
                valid_from=date(2024, 1, 1),
            ),
        )

    @pytest.mark.parametrize(
        ("text", "message"),
        [
            ("", "rate card is empty"),
            ("market,price\n", "line 1: expected header"),
            (
                "market,category,currency,price,valid_from\nES,marketing,USD,0.05\n",
                "line 2: expected 5 columns",
            ),
            (
                "market,category,currency,price,valid_from\n,marketing,USD,0.05,2024-01-01\n",
                "line 2: market and",
            ),
            (
                "market,category,currency,price,valid_from\nES,marketing,US,0.05,2024-01-01\n",
                "line 2: currency",
            ),
            (
                "market,category,currency,price,valid_from\nES,marketing,USD,abc,2024-01-01\n",
                "line 2: price 'abc'",
            ),
            (
                "market,category,currency,price,valid_from\nES,marketing,USD,-1,2024-01-01\n",
                "line 2: price must",
            ),
            (
                "market,category,currency,price,valid_from\nES,marketing,USD,NaN,2024-01-01\n",
                "line 2: price must",
            ),
            (
                "market,category,currency,price,valid_from\n\nES,marketing,USD,1,2024-13-01\n",
                "line 3: valid_from",
            ),
        ],
    )
    def test_bad_rows(self, text: str, message: str) -> None:
        with pytest.raises(ValueError, match=message):
            RateCard.from_csv(text)

    def test_repr_is_short(self) -> None:
        assert repr(EXAMPLE_RATE_CARD).startswith("RateCard(")
        assert len(repr(EXAMPLE_RATE_CARD)) < 200


@pytest.mark.parametrize(
    ("wa_id", "market"),
    [
        ("34600111222", "ES"),
        ("+5511987654321", "BR"),
        ("919876543210", "IN"),
        ("14155550123", "US"),
        ("447700900123", "GB"),
        ("not-a-number", "ZZ"),
        ("999", "ZZ"),
        ("", "ZZ"),
    ],
)
def test_market_for(wa_id: str, market: str) -> None:
    assert market_for(wa_id) == market


def test_pricing_model_names() -> None:
    assert PRICING_MODELS == ("seed", "meta_cbp", "meta_pmp", "meta_pmp_2026", "auto")
    for name in PRICING_MODELS:
        assert get_pricing_model(name).name == name
    with pytest.raises(ValueError, match="unknown pricing model 'cbp'; choose one of: seed, meta_cbp"):
        get_pricing_model("cbp")
    with pytest.raises(ValueError, match="unknown pricing model"):
        PolicySettings(pricing_model="nope")


class FlatFee:
    """A third-party model that only implements the protocol's ``price``."""

    name = "flat_fee"

    def price(
        self,
        message: PricedMessage,
        *,
        state: ContactState,
        settings: PolicySettings,
        usage: PricingUsage | None,
    ) -> tuple[Charge, ContactState]:
        charge = Charge(
            billable=True, category="any", amount=D("0.01"), currency="EUR", pricing_model=self.name,
            market=market_for(message.wa_id), reason="regular",
        )  # fmt: skip
        return charge, state


def test_a_protocol_only_model_works_in_decide(monkeypatch: pytest.MonkeyPatch) -> None:
    from carewindow.policy.pricing import _MODELS

    monkeypatch.setitem(_MODELS, "flat_fee", FlatFee())
    settings = PolicySettings(pricing_model="flat_fee")
    state = contact(last_inbound_at=DAY1)
    d = decide(TEXT, state, template=None, settings=settings, now=DAY1)
    assert d.charge is not None and d.charge.amount == D("0.01") and d.charge.pricing_model == "flat_fee"
    t = decide(
        _send("ticket_update"), state, template=UTILITY, settings=settings, now=DAY1 + timedelta(days=2)
    )
    assert t.charge is not None and t.charge.currency == "EUR"
