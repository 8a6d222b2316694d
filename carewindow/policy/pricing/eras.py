"""The pricing eras by date: which model was in force on a day, and how sure carewindow is of it.

``auto`` prices each message by the era in force on its UTC send date (:func:`era_for`); every cost
answer names the eras its figures came from (:func:`eras_between`, :data:`ERAS` for their status).
Sources are in docs/costs.md §1.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

__all__ = [
    "CBP_STARTS",
    "ERAS",
    "PMP_2026_STARTS",
    "PMP_STARTS",
    "Era",
    "era_for",
    "era_info",
    "eras_between",
]

#: First day of category-based conversation pricing (before it, ``auto`` uses the seed's rules).
CBP_STARTS = date(2023, 6, 1)
#: First day of per-message pricing (UTC; Meta switched at midnight in each account's time zone).
PMP_STARTS = date(2025, 7, 1)
#: First day of the October 2026 revision (quoted from Meta's pages; the allowance is contested).
PMP_2026_STARTS = date(2026, 10, 1)


@dataclass(frozen=True, slots=True)
class Era:
    """One pricing era: the model that prices it, its first day and the first day after it (None:
    open-ended), and the status of the rules (``modelled``, ``quoted``: see docs/costs.md)."""

    model: str
    starts: date | None
    ends: date | None
    status: str

    def as_json(self) -> dict[str, str | None]:
        """The era as cost answers show it."""
        return {
            "model": self.model,
            "starts": self.starts.isoformat() if self.starts else None,
            "ends": self.ends.isoformat() if self.ends else None,
            "status": self.status,
        }


#: The eras in date order; together they cover every day exactly once.
ERAS: tuple[Era, ...] = (
    Era("seed", None, CBP_STARTS, "the seed's rules (carewindow does not model 2022's conversations)"),
    Era("meta_cbp", CBP_STARTS, PMP_STARTS, "modelled as after 1 November 2024"),
    Era("meta_pmp", PMP_STARTS, PMP_2026_STARTS, "Meta's published rules"),
    Era("meta_pmp_2026", PMP_2026_STARTS, None, "quoted from Meta's pages, allowance contested"),
)
_BY_MODEL = {e.model: e for e in ERAS}


def era_for(on: date) -> str:
    """The model of the era in force on ``on`` (UTC date)."""
    if on < PMP_STARTS:
        return "seed" if on < CBP_STARTS else "meta_cbp"
    return "meta_pmp" if on < PMP_2026_STARTS else "meta_pmp_2026"


def eras_between(first: date, last: date) -> tuple[str, ...]:
    """The models of the eras in force on any day from ``first`` to ``last`` (both included), in date
    order; empty when ``last`` is before ``first``."""
    return tuple(
        e.model
        for e in ERAS
        if (e.ends is None or first < e.ends) and (e.starts is None or last >= e.starts) and first <= last
    )


def era_info(model: str) -> Era | None:
    """The era a model prices, or None for ``auto`` or an unknown name."""
    return _BY_MODEL.get(model)
