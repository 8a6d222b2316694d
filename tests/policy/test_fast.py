"""The fast constructors build ordinary frozen instances."""

from __future__ import annotations

import dataclasses
import pickle
from decimal import Decimal

import pytest

from carewindow.policy import Charge
from carewindow.policy._fast import fast_constructor


def test_builds_an_equal_frozen_instance() -> None:
    make = fast_constructor(Charge)
    built = make(False, "service", Decimal(0), "USD", "seed", "ES", "free_in_window")
    normal = Charge(
        billable=False,
        category="service",
        amount=Decimal(0),
        currency="USD",
        pricing_model="seed",
        market="ES",
        reason="free_in_window",
    )
    assert type(built) is Charge and built == normal and repr(built) == repr(normal)
    assert hash(built) == hash(normal)
    assert pickle.loads(pickle.dumps(built)) == normal
    assert dataclasses.replace(built, market="BR").market == "BR"
    with pytest.raises(dataclasses.FrozenInstanceError):
        built.market = "BR"  # type: ignore[misc]


def test_fixed_fields() -> None:
    make = fast_constructor(Charge, billable=True, currency="EUR")
    assert make("utility", 1, "meta_pmp", "ES", "regular").currency == "EUR"
    with pytest.raises(TypeError, match="no fields"):
        fast_constructor(Charge, price=1)
