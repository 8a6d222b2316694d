"""Compare the predicted charge with the ``pricing`` object of Meta's status webhooks.

Meta's categories are lowercase words: ``marketing``, ``utility``, ``authentication`` (templates),
``service`` (free-form), ``referral_conversion`` (free entry point), and variants such as
``authentication_international``, ``marketing_lite`` and ``group_*`` that bill as their base category.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["PRICING_TYPES", "actual_billable", "billed_differently", "expected_type", "normalise_category"]

_BASE = {"authentication_international": "authentication", "marketing_lite": "marketing"}
FREE_ENTRY_POINT_CATEGORY = "referral_conversion"
#: ``pricing.type`` values Meta documents (per-message pricing, from 1 July 2025): billed, free in the
#: customer service window (or the 2026 free tier), free in an entry point window.
PRICING_TYPES = ("regular", "free_customer_service", "free_entry_point")
# The ``pricing.type`` a predicted charge's reason stands for.
_TYPE_OF_REASON = {
    "regular": "regular",
    "rate_unknown": "regular",
    "free_in_window": "free_customer_service",
    "free_allowance": "free_customer_service",
    "free_entry_point": "free_entry_point",
}


def expected_type(reason: str | None) -> str | None:
    """The ``pricing.type`` Meta should send for a charge with this ``reason`` (None: no prediction,
    e.g. ``inside_open_conversation``, which belongs to conversation pricing that has no type)."""
    return _TYPE_OF_REASON.get(reason) if reason is not None else None


def normalise_category(category: str) -> str:
    """Meta's category as the base category carewindow predicts (``marketing_lite`` -> ``marketing``)."""
    name = category.strip().lower()
    if name.startswith("group_"):
        name = name[len("group_") :]
    return _BASE.get(name, name)


def actual_billable(pricing: Mapping[str, object]) -> bool | None:
    """``billable``, or when it is missing (deprecated in newer webhooks) ``type == "regular"``."""
    billable = pricing.get("billable")
    if isinstance(billable, bool):
        return billable
    kind = pricing.get("type")
    if isinstance(kind, str) and kind:
        return kind == "regular"
    return None


def billed_differently(
    *,
    predicted_billable: bool | None,
    predicted_category: str | None,
    pricing: Mapping[str, object],
    predicted_reason: str | None = None,
) -> bool:
    """Whether Meta billed the message differently from the prediction: billable differs, the
    ``type`` differs from the one the predicted reason stands for (``regular``,
    ``free_customer_service``, ``free_entry_point``; other values Meta may add are not compared), or
    the category does. Under conversation-based pricing (``CBP``) a free message rides in whatever
    conversation is open, so only a billed one is compared by category and none by type; a
    ``referral_conversion`` (free entry point) matches a free prediction."""
    if predicted_billable is None:
        return False
    billable = actual_billable(pricing)
    if billable is not None and billable != predicted_billable:
        return True
    kind = pricing.get("type")
    expected = expected_type(predicted_reason)
    if (
        expected is not None
        and kind in PRICING_TYPES
        and pricing.get("pricing_model") != "CBP"
        and kind != expected
    ):
        return True
    category = pricing.get("category")
    if not isinstance(category, str) or not category or predicted_category is None:
        return False
    actual = normalise_category(category)
    if actual == FREE_ENTRY_POINT_CATEGORY:
        return predicted_billable
    if pricing.get("pricing_model") == "CBP" and not predicted_billable:
        return False
    return actual != normalise_category(predicted_category)
