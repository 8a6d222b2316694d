"""``/v1/costs``: the charge ledger, grouped."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from fastapi import APIRouter

from carewindow.api.auth import READ_CONVERSATIONS, require
from carewindow.api.deps import PrincipalDep, RuntimeDep
from carewindow.api.errors import ApiError
from carewindow.storage import ledger

router = APIRouter(prefix="/v1", tags=["costs"])


@router.get("/costs")
def costs(
    rt: RuntimeDep,
    principal: PrincipalDep,
    since: datetime | None = None,
    until: datetime | None = None,
    group_by: Literal["category", "day", "contact", "ticket"] = "category",
) -> dict[str, Any]:
    """Predicted spend per group, with billable and free message counts."""
    require(principal, READ_CONVERSATIONS, "read costs")
    for name, value in (("since", since), ("until", until)):
        if value is not None and value.tzinfo is None:
            raise ApiError(
                422,
                "validation_error",
                f"{name}: give a timezone, e.g. 2026-11-01T00:00:00Z.",
                fields=[{"loc": [name], "msg": "timezone required"}],
            )
    numbers = sorted(principal.phone_number_ids) if principal.phone_number_ids is not None else None
    with rt.engine.connect() as conn:
        rows = ledger.totals(conn, since=since, until=until, group_by=group_by, phone_number_ids=numbers)
    groups = [
        {
            "key": str(r.key),
            "currency": r.currency or None,
            "messages": int(r.messages),
            "billable": int(r.billable or 0),
            "free": int(r.free or 0),
            "amount": str(Decimal(str(r.amount or 0)).quantize(Decimal("0.000001"))),
            "mismatches": int(r.mismatches or 0),
        }
        for r in rows
    ]
    total = sum((Decimal(str(g["amount"])) for g in groups), Decimal(0))
    return {
        "group_by": group_by,
        "since": since,
        "until": until,
        "pricing_model": rt.settings.pricing,
        "groups": groups,
        "total": {
            "messages": sum(g["messages"] for g in groups),
            "billable": sum(g["billable"] for g in groups),
            "free": sum(g["free"] for g in groups),
            "amount": str(total),
        },
    }
