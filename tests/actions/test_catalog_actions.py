"""actions.template_edits (edit and remove local catalog entries) and actions.rates (import a card)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from carewindow.actions import templates as template_actions
from carewindow.actions.errors import NotFound
from carewindow.actions.rates import do_import_rates
from carewindow.actions.template_edits import do_remove_template, do_update_template
from carewindow.policy import RateCard, TemplateDefinitionError
from carewindow.storage import rates as rate_store
from carewindow.storage import templates as template_store
from carewindow.storage.engine import Engine, connect

NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
LATER = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)


def _store(engine: Engine) -> None:
    t = template_actions.check_template(
        name="promo",
        language="en",
        category="marketing",
        body="Hello {{1}}",
        header="Sale",
        footer="Reply STOP to opt out",
        buttons=[{"type": "QUICK_REPLY", "text": "Yes"}],
    )
    template_actions.do_store_template(engine, template_actions.row_values(t, provider_id="p-1", now=NOW))


def _row(engine: Engine) -> Any:
    with connect(engine) as conn:
        return template_store.get(conn, "promo", "en")


def test_an_update_changes_the_given_fields_and_keeps_the_rest(engine: Engine) -> None:
    _store(engine)
    do_update_template(engine, "promo", "en", status="APPROVED", footer="", now=LATER)
    row = _row(engine)
    assert row is not None
    assert (row.status, row.category, row.body, row.header) == (
        "APPROVED",
        "marketing",
        "Hello {{1}}",
        "Sale",
    )
    assert (
        row.footer == ""
        and row.provider_id == "p-1"
        and list(row.buttons) == [{"type": "QUICK_REPLY", "text": "Yes"}]
    )
    assert row.updated_at == LATER
    do_update_template(
        engine, "promo", "en", category="utility", body="Hi {{1}}, your order shipped", now=LATER
    )
    row = _row(engine)
    assert (row.category, row.body, row.status) == ("utility", "Hi {{1}}, your order shipped", "APPROVED")


def test_an_invalid_update_changes_nothing(engine: Engine) -> None:
    _store(engine)
    before = _row(engine)
    with pytest.raises(TemplateDefinitionError):
        do_update_template(engine, "promo", "en", footer="Hi {{1}}", now=LATER)  # no placeholder in a footer
    assert _row(engine) == before


def test_editing_or_removing_a_missing_template_is_not_found(engine: Engine) -> None:
    with pytest.raises(NotFound):
        do_update_template(engine, "promo", "en", status="APPROVED", now=LATER)
    with pytest.raises(NotFound):
        do_remove_template(engine, "promo", "en")
    _store(engine)
    with pytest.raises(NotFound):
        do_remove_template(engine, "promo", "es")
    do_remove_template(engine, "promo", "en")
    assert _row(engine) is None
    with pytest.raises(NotFound):
        do_remove_template(engine, "promo", "en")


def test_an_import_replaces_rows_with_the_same_market_category_and_date(engine: Engine) -> None:
    csv_text = (
        "market,category,currency,price,valid_from\n"
        "ES,marketing,EUR,0.0509,2026-07-01\n"
        "ES,utility,EUR,0.0166,2026-07-01\n"
    )
    assert do_import_rates(engine, RateCard.from_csv(csv_text), source="test", now=NOW) == 2
    again = "market,category,currency,price,valid_from\nES,marketing,EUR,0.0600,2026-07-01\n"
    assert do_import_rates(engine, RateCard.from_csv(again), source="test", now=LATER) == 1
    assert do_import_rates(engine, RateCard(rates=()), source="test", now=LATER) == 0
    with connect(engine) as conn:
        card = rate_store.load(conn)
    assert card is not None
    prices = {(r.market, r.category, r.valid_from): r.price for r in card.rates}
    assert prices == {
        ("ES", "marketing", date(2026, 7, 1)): Decimal("0.0600"),
        ("ES", "utility", date(2026, 7, 1)): Decimal("0.0166"),
    }
