"""policy.addresses and the template-status vocabulary (issue 23, defects 1-3)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from carewindow.policy import (
    ConsentState,
    ConsentStatus,
    ContactState,
    PolicySettings,
    SendRequest,
    Template,
    TemplateCategory,
    TemplateRef,
    TemplateStatus,
    decide,
)
from carewindow.policy.addresses import AddressError, address_variants, is_user_id, normalise_address

NOW = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("given_", "key"),
    [
        ("5214428968441", "5214428968441"),  # Meta's Mexican wa_id, as sent
        ("5491123456789", "5491123456789"),  # Meta's Argentine wa_id, as sent
        ("524428968441", "524428968441"),  # bare digits are a wa_id: never rewritten
        (" 34600111222 ", "34600111222"),
        ("+52 1 442 896 8441", "5214428968441"),  # typed with the 1
        ("+52 (442) 896-8441", "5214428968441"),  # typed without it: Meta's form
        ("+54 9 11 2345-6789", "5491123456789"),
        ("+54 11 2345 6789", "541123456789"),  # an Argentine landline stays one
        ("+34 600-111-222", "34600111222"),
        ("+34.600.111.222", "34600111222"),
        ("US.13491208655302741918", "US.13491208655302741918"),
        ("US.ENT.11815799212886844830", "US.ENT.11815799212886844830"),
    ],
)
def test_addresses_are_normalised(given_: str, key: str) -> None:
    assert normalise_address(given_) == key


@pytest.mark.parametrize(
    ("bad", "words"),
    [
        ("123", "E.164"),
        ("1234567890123456", "E.164"),
        ("hola", "E.164"),
        ("+34 6x", "E.164"),
        ("+999 123 4567", "not a phone number"),
        ("+34 12", "E.164"),
        ("+34 1234 5", "not a possible phone number"),
        ("us.123", "E.164"),
    ],
)
def test_bad_addresses_say_what_is_expected(bad: str, words: str) -> None:
    with pytest.raises(AddressError, match=words):
        normalise_address(bad)


def test_variants() -> None:
    assert address_variants("5214428968441") == ("5214428968441", "524428968441")
    assert address_variants("524428968441") == ("524428968441", "5214428968441")
    assert address_variants("5491123456789") == ("5491123456789", "541123456789")
    assert address_variants("541123456789") == ("541123456789", "5491123456789")
    assert address_variants("34600111222") == ("34600111222",)
    assert address_variants("US.13491208655302741918") == ("US.13491208655302741918",)


@given(st.from_regex(r"(52|54)[0-9]{10}", fullmatch=True))
def test_variants_are_symmetric(key: str) -> None:
    """Whichever form a contact was stored under, the other form finds it and back."""
    first, other = address_variants(key)
    assert first == key
    assert address_variants(other) == (other, key)


@given(st.text(max_size=40))
def test_normalising_never_raises_anything_but_address_error(text: str) -> None:
    try:
        key = normalise_address(text)
    except AddressError:
        return
    assert is_user_id(key) or (key.isdigit() and 7 <= len(key) <= 15)


def test_template_status_parse() -> None:
    assert TemplateStatus.parse("flagged") is TemplateStatus.FLAGGED
    assert TemplateStatus.parse(" PENDING_DELETION ") is TemplateStatus.PENDING_DELETION
    assert TemplateStatus.parse("LOCKED") is TemplateStatus.UNKNOWN
    assert TemplateStatus.parse(None) is TemplateStatus.UNKNOWN
    assert {s for s in TemplateStatus if s.sendable} == {
        TemplateStatus.APPROVED,
        TemplateStatus.REINSTATED,
        TemplateStatus.FLAGGED,
    }


def test_template_category_parse() -> None:
    assert TemplateCategory.parse("UTILITY") is TemplateCategory.UTILITY
    assert TemplateCategory.parse("marketing_lite") is TemplateCategory.MARKETING
    assert TemplateCategory.parse(3, TemplateCategory.UTILITY) is TemplateCategory.UTILITY


def _decide(template: Template, now: datetime) -> tuple[bool, object]:
    state = ContactState(wa_id="34600111222", consent=ConsentState(status=ConsentStatus.OPTED_IN))
    d = decide(
        SendRequest(to="34600111222", message_type="template", template=TemplateRef(name="t", language="es")),
        state,
        template=template,
        settings=PolicySettings(),
        now=now,
    )
    return d.allowed, d.details.get("status")


@pytest.mark.parametrize("status", list(TemplateStatus))
def test_only_sendable_statuses_are_sent(status: TemplateStatus) -> None:
    t = Template(
        name="t",
        language="es",
        category=TemplateCategory.UTILITY,
        status=status,
        body="Hola",
        status_text="LOCKED" if status is TemplateStatus.UNKNOWN else None,
    )
    allowed, shown = _decide(t, NOW)
    assert allowed is status.sendable
    if not allowed:
        assert shown == ("LOCKED" if status is TemplateStatus.UNKNOWN else status.value)


def test_an_unknown_status_without_its_text_is_named_unknown() -> None:
    t = Template(
        name="t", language="es", category=TemplateCategory.UTILITY, status=TemplateStatus.UNKNOWN, body="x"
    )
    assert _decide(t, NOW) == (False, "UNKNOWN")


@given(st.integers(min_value=-10_000, max_value=10_000))
def test_a_flagged_template_is_sent_until_the_disable_date(offset: int) -> None:
    at = NOW + timedelta(seconds=offset)
    t = Template(
        name="t",
        language="es",
        category=TemplateCategory.UTILITY,
        status=TemplateStatus.FLAGGED,
        body="x",
        disable_at=NOW,
    )
    allowed, shown = _decide(t, at)
    assert allowed is (at < NOW)
    if not allowed:
        assert shown == "DISABLED"
