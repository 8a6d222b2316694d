"""PolicySettings validation, the error tree, and the bounded memos."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from carewindow.policy import (
    ERRORS_BY_META_CODE,
    EXAMPLE_RATE_CARD_CSV,
    PolicyError,
    PolicySettings,
    RateCard,
    RefusalCode,
    TemplateDefinitionError,
    TemplateError,
    TemplateNotApproved,
    TemplateNotFound,
    TemplateParamsInvalid,
    get_pricing_model,
)
from carewindow.policy.pricing.base import free_charge


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"window": timedelta(0)}, "must be positive"),
        ({"entry_point_window": timedelta(hours=-1)}, "must be positive"),
        ({"reengagement_limit": -1}, "reengagement_limit"),
        ({"service_free_allowance": -5}, "service_free_allowance"),
        ({"opt_out_keywords": "STOP"}, "not one string"),
        ({"pricing_model": "free"}, "unknown pricing model"),
    ],
)
def test_settings_reject_bad_values(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        PolicySettings(**kwargs)


def test_settings_defaults_and_model() -> None:
    settings = PolicySettings(opt_out_keywords=["PARAR"])  # type: ignore[arg-type]
    assert settings.opt_out_keywords == ("PARAR",)  # any sequence is kept as a tuple
    assert settings.model is get_pricing_model("auto")  # each message by the era of its date
    assert PolicySettings() == PolicySettings()
    assert settings.window == timedelta(hours=24) and settings.entry_point_window == timedelta(hours=72)
    assert (settings.reengagement_limit, settings.service_free_allowance) == (1, 1000)
    assert settings.utility_free_in_window_2026 is False


def test_error_tree_and_codes() -> None:
    assert issubclass(TemplateNotFound, TemplateError) and issubclass(TemplateError, PolicyError)
    assert (TemplateNotFound.code, TemplateNotFound().meta_code) == ("template_not_found", 132001)
    assert TemplateNotFound().message == "No template with this name and language is in the catalog."
    assert TemplateParamsInvalid("x", meta_code=132018).meta_code == 132018
    assert TemplateDefinitionError().meta_code == 100
    assert PolicyError().code == RefusalCode.VALIDATION_ERROR.value
    assert PolicyError().details == {}
    for code in (132000, 132001, 132005, 132012, 132015, 132016, 132018, 100):
        assert issubclass(ERRORS_BY_META_CODE[code], PolicyError)


@pytest.mark.parametrize(("status", "meta"), [("PAUSED", 132015), ("DISABLED", 132016), ("REJECTED", 132001)])
def test_not_approved_meta_code_by_status(status: str, meta: int) -> None:
    error = TemplateNotApproved.for_status(name="t", language="es", status=status)
    assert (error.code, error.meta_code, error.details["status"]) == ("template_not_approved", meta, status)


def test_memos_are_bounded() -> None:
    card = RateCard.from_csv(EXAMPLE_RATE_CARD_CSV)
    for i in range(4200):
        card.lookup("ES", "marketing", date(2024, 1, 1) + timedelta(days=i))
    assert len(card._memo) <= 4097
    for i in range(4200):
        free_charge(card, "seed", "ES", "service", "free_in_window", date(2024, 1, 1) + timedelta(days=i))
    assert len(card._charge_memo) <= 4097
    model = get_pricing_model("seed")
    card._session_memo.update({(model, str(i), date(2024, 1, 1)): None for i in range(65537)})
    charge = model.session_in_window("34600111222", datetime(2026, 1, 1, tzinfo=UTC), card)  # type: ignore[attr-defined]
    assert charge is not None and charge.reason == "free_in_window"
    assert len(card._session_memo) == 1
