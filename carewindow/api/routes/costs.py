"""``/v1/costs``, ``/v1/analytics/windows`` and ``/v1/rates``: the charge ledger, window analytics and
the rate card the service prices with (docs/costs.md)."""

from __future__ import annotations

import csv
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Query

from carewindow.actions.rates import do_import_rates
from carewindow.api.auth import ADMIN, READ_CONVERSATIONS, require
from carewindow.api.deps import PrincipalDep, RuntimeDep
from carewindow.api.errors import ApiError
from carewindow.policy import PRICING_MODELS, RateCard
from carewindow.storage import rates as rate_store
from carewindow.storage import reports
from carewindow.storage.engine import connect

router = APIRouter(prefix="/v1", tags=["costs"])
CSV_HELP = "CSV: market,category,currency,price,valid_from (see examples/rates-example.csv)"


def _aware(**values: datetime | None) -> None:
    for name, value in values.items():
        if value is not None and value.tzinfo is None:
            raise ApiError(
                422,
                "validation_error",
                f"{name}: give a timezone, e.g. 2026-11-01T00:00:00Z.",
                fields=[{"loc": [name], "msg": "timezone required"}],
            )


@router.get("/costs")
def costs(
    rt: RuntimeDep,
    principal: PrincipalDep,
    since: datetime | None = None,
    until: datetime | None = None,
    group_by: Literal["category", "day", "contact", "ticket"] = "category",
) -> dict[str, Any]:
    """Predicted spend per group, with billable and free message counts, and what the free messages
    saved (priced as utility templates of their market on their day)."""
    require(principal, READ_CONVERSATIONS, "read costs")
    _aware(since=since, until=until)
    numbers = sorted(principal.phone_number_ids) if principal.phone_number_ids is not None else None
    with connect(rt.engine) as conn:
        return reports.costs(
            conn,
            card=rt.policy.rate_card,
            pricing_model=rt.settings.pricing,
            since=since,
            until=until,
            group_by=group_by,
            phone_number_ids=numbers,
        )


@router.get("/costs/allowance")
def allowance(
    rt: RuntimeDep,
    principal: PrincipalDep,
    phone_number_id: str | None = None,
) -> dict[str, Any]:
    """Per business number, this period's free service messages (the 2026 free tier) used and left,
    when they run out at the period's pace, and what the rest of the period costs at that pace."""
    require(principal, READ_CONVERSATIONS, "read costs")
    numbers = sorted(principal.phone_number_ids) if principal.phone_number_ids is not None else None
    with connect(rt.engine) as conn:
        return reports.allowance(
            conn, policy=rt.policy, now=rt.now(), phone_number_ids=numbers, phone_number_id=phone_number_id
        )


@router.get("/costs/what-if")
def what_if(
    rt: RuntimeDep,
    principal: PrincipalDep,
    since: datetime | None = None,
    until: datetime | None = None,
    model: Annotated[
        list[str] | None, Query(description="models to compare (default: every era and auto)")
    ] = None,
) -> dict[str, Any]:
    """The traffic in range as the ledger priced it, and replayed under each pricing era side by side
    (e.g. last month under the October 2026 rules)."""
    require(principal, READ_CONVERSATIONS, "read costs")
    _aware(since=since, until=until)
    models = tuple(model) if model else reports.WHAT_IF_MODELS
    unknown = [m for m in models if m not in PRICING_MODELS]
    if unknown:
        msg = f"model: unknown pricing model {unknown[0]!r}; choose from {', '.join(PRICING_MODELS)}"
        raise ApiError(422, "validation_error", msg, fields=[{"loc": ["model"], "msg": msg}])
    numbers = sorted(principal.phone_number_ids) if principal.phone_number_ids is not None else None
    with connect(rt.engine) as conn:
        return reports.what_if(
            conn, policy=rt.policy, since=since, until=until, phone_number_ids=numbers, models=models
        )


@router.get("/analytics/windows")
def window_analytics(
    rt: RuntimeDep,
    principal: PrincipalDep,
    since: datetime | None = None,
    until: datetime | None = None,
) -> dict[str, Any]:
    """Share of customer messages answered while the window was open, median time to first reply,
    windows that expired unanswered, and the template spend of replies that came too late."""
    require(principal, READ_CONVERSATIONS, "read analytics")
    _aware(since=since, until=until)
    numbers = sorted(principal.phone_number_ids) if principal.phone_number_ids is not None else None
    with connect(rt.engine) as conn:
        return reports.windows(
            conn,
            window=rt.policy.window,
            now=rt.now(),
            since=since,
            until=until,
            phone_number_ids=numbers,
        )


def _card_json(card: RateCard, *, imported: bool) -> dict[str, Any]:
    return {
        "source": "imported" if imported else "built-in example (not Meta's prices)",
        "rates": [
            {
                "market": r.market,
                "category": r.category,
                "currency": r.currency,
                "price": str(r.price),
                "valid_from": r.valid_from.isoformat(),
            }
            for r in sorted(card.rates, key=lambda r: (r.market, r.category, r.valid_from))
        ],
    }


@router.get("/rates")
def list_rates(rt: RuntimeDep, principal: PrincipalDep) -> dict[str, Any]:
    """The rate card the service prices with: the imported one, else the built-in EXAMPLE card."""
    require(principal, READ_CONVERSATIONS, "read rates")
    with connect(rt.engine) as conn:
        imported = rate_store.load(conn)
    return _card_json(imported or rt.policy.rate_card, imported=imported is not None)


@router.post("/rates")
def import_rates(
    rt: RuntimeDep,
    principal: PrincipalDep,
    csv_text: Annotated[
        str, Body(media_type="text/csv", description="market,category,currency,price,valid_from")
    ],
) -> dict[str, Any]:
    """Import a rate card CSV (rows with the same market, category and valid_from are replaced) and
    price with it from now on."""
    require(principal, ADMIN, "import rates")
    try:
        card = RateCard.from_csv(csv_text)
    except (ValueError, csv.Error) as exc:
        raise ApiError(
            422, "validation_error", str(exc), fields=[{"loc": ["body"], "msg": str(exc)}]
        ) from None
    count = do_import_rates(rt.engine, card, source="api", now=rt.now())
    loaded = rt.reload_rate_card()
    return {"imported": count, "rates_in_card": len(loaded.rates) if loaded else 0}
