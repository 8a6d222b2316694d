"""The service allowance's counter: which billing period a message falls in, and when it must be counted.

``meta_pmp_2026`` (quoted from Meta's pages, the allowance contested) makes the first
``service_free_allowance`` session messages of each business number and period free. The caller keeps
one counter per (number, period) and passes it in ``PricingUsage``; these helpers tell it which
counter and whether the model in force needs one at all.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from carewindow.policy.pricing.models import PMP_2026_STARTS

if TYPE_CHECKING:  # pragma: no cover - imports for annotations only
    from carewindow.policy.settings import PolicySettings

__all__ = ["counts_service_usage", "usage_period"]


def usage_period(at: datetime, period: str = "month") -> str:
    """The period key of a message sent at ``at`` (UTC): ``"2026-10"`` for a month, ``"2026-10-05"``
    for a day."""
    if period == "day":
        return f"{at.year:04d}-{at.month:02d}-{at.day:02d}"
    return f"{at.year:04d}-{at.month:02d}"


def counts_service_usage(settings: PolicySettings, at: datetime) -> bool:
    """Whether the model in force at ``at`` prices session messages by the period's count (so the caller
    must read and bump its counter): ``meta_pmp_2026``, or ``auto`` from 1 October 2026."""
    name = settings.pricing_model
    return name == "meta_pmp_2026" or (name == "auto" and at.date() >= PMP_2026_STARTS)
