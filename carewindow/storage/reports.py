"""Cost and window reports: the ledger queries combined with the policy's pricing and window rules.

One builder per report, shared by ``GET /v1/costs``, ``GET /v1/analytics/windows``, the CLI and the
inbox's Costs page, so every surface shows the same figures. See docs/costs.md for how to read them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import orjson
from sqlalchemy import Connection

from carewindow.policy import PolicySettings, RateCard, RateNotFound
from carewindow.policy.analytics import WindowEvent, window_analytics
from carewindow.policy.pricing import counts_service_usage, side_by_side, usage_period
from carewindow.policy.pricing.allowance import forecast_allowance, period_bounds
from carewindow.policy.pricing.eras import ERAS, era_for, era_info
from carewindow.storage import ledger
from carewindow.storage import usage as usage_store

GROUPS = ledger.GROUPS
MICRO = Decimal("0.000001")
#: How ``saved`` is priced (also in docs/costs.md).
SAVED_BASIS = (
    "each free message priced as a utility template at the card's rate for its market on the day it was sent"
)


def money(value: Any) -> str:
    """A ledger amount as a fixed 6-decimal string."""
    return str(Decimal(str(value or 0)).quantize(MICRO))


def saved(
    conn: Connection,
    *,
    card: RateCard,
    since: datetime | None,
    until: datetime | None,
    phone_number_ids: Sequence[str] | None,
) -> dict[str, Any]:
    """What the free messages would have cost as utility templates (see ``SAVED_BASIS``)."""
    by_currency: dict[str, Decimal] = {}
    messages = unpriced = 0
    for r in ledger.free_by_market_day(conn, since=since, until=until, phone_number_ids=phone_number_ids):
        count = int(r.messages)
        messages += count
        try:
            rate = card.lookup(str(r.market), "utility", date.fromisoformat(str(r.day)[:10]))
        except RateNotFound:
            unpriced += count
            continue
        by_currency[rate.currency] = by_currency.get(rate.currency, Decimal(0)) + rate.price * count
    currencies = sorted(by_currency)
    return {
        "amount": money(sum(by_currency.values(), Decimal(0))) if len(currencies) <= 1 else None,
        "currency": currencies[0] if len(currencies) == 1 else None,
        "by_currency": {c: money(by_currency[c]) for c in currencies},
        "free_messages": messages,
        "unpriced_messages": unpriced,
        "basis": SAVED_BASIS,
    }


def costs(
    conn: Connection,
    *,
    card: RateCard,
    pricing_model: str,
    since: datetime | None,
    until: datetime | None,
    group_by: str,
    phone_number_ids: Sequence[str] | None,
) -> dict[str, Any]:
    """Predicted spend per group with billable and free counts, totals, and ``saved``."""
    rows = ledger.totals(conn, since=since, until=until, group_by=group_by, phone_number_ids=phone_number_ids)
    groups: list[dict[str, Any]] = [
        {
            "key": str(r.key),
            "currency": r.currency or None,
            "messages": int(r.messages),
            "billable": int(r.billable or 0),
            "free": int(r.free or 0),
            "amount": money(r.amount),
            "mismatches": int(r.mismatches or 0),
        }
        for r in rows
    ]
    total = sum((Decimal(g["amount"]) for g in groups), Decimal(0))
    by_currency: dict[str, Decimal] = {}
    for g in groups:
        if g["currency"]:
            by_currency[g["currency"]] = by_currency.get(g["currency"], Decimal(0)) + Decimal(g["amount"])
    return {
        "group_by": group_by,
        "since": since,
        "until": until,
        "pricing_model": pricing_model,
        "groups": groups,
        "total": {
            "messages": sum(g["messages"] for g in groups),
            "billable": sum(g["billable"] for g in groups),
            "free": sum(g["free"] for g in groups),
            "amount": str(total),
            "by_currency": {c: money(v) for c, v in sorted(by_currency.items())},
            "mismatches": sum(g["mismatches"] for g in groups),
        },
        "saved": saved(conn, card=card, since=since, until=until, phone_number_ids=phone_number_ids),
        "eras": eras(conn, since=since, until=until, phone_number_ids=phone_number_ids),
    }


_ERA_ORDER = {e.model: n for n, e in enumerate(ERAS)}


def eras(
    conn: Connection,
    *,
    since: datetime | None,
    until: datetime | None,
    phone_number_ids: Sequence[str] | None,
) -> list[dict[str, Any]]:
    """The pricing eras that priced the messages in range, in date order, each with its status, its
    message, billable and mismatch counts, and per ``pricing.type`` Meta reported (``none``: no
    pricing came yet) the messages and mismatches: the reconciliation per era."""
    per: dict[str, dict[str, Any]] = {}
    for r in ledger.by_era(conn, since=since, until=until, phone_number_ids=phone_number_ids):
        model = str(r.model)
        era = per.get(model)
        if era is None:
            info = era_info(model)
            era = per[model] = {
                "model": model,
                "starts": None,
                "ends": None,
                "status": "unknown era",
                **(info.as_json() if info is not None else {}),
                "messages": 0,
                "billable": 0,
                "mismatches": 0,
                "by_type": {},
            }
        messages, mismatches = int(r.messages), int(r.mismatches or 0)
        era["messages"] += messages
        era["billable"] += int(r.billable or 0)
        era["mismatches"] += mismatches
        era["by_type"][str(r.actual_type) or "none"] = {"messages": messages, "mismatches": mismatches}
    return sorted(per.values(), key=lambda e: (_ERA_ORDER.get(e["model"], len(ERAS)), e["model"]))


def windows(
    conn: Connection,
    *,
    window: timedelta,
    now: datetime,
    since: datetime | None,
    until: datetime | None,
    phone_number_ids: Sequence[str] | None,
) -> dict[str, Any]:
    """Share answered in the window, median first reply, windows expired unanswered, late-reply spend."""
    rows = ledger.window_events(conn, since=since, until=until, phone_number_ids=phone_number_ids)
    events = (
        WindowEvent(
            r.contact_id,
            r.direction == "out",
            r.at,
            r.kind == "template",
            r.charge_amount,
            r.charge_currency,
        )
        for r in rows
    )
    stats = window_analytics(events, window=window, now=min(now, until) if until is not None else now)
    share = stats.answered_in_window_share
    median = stats.median_first_reply_seconds
    return {
        "since": since,
        "until": until,
        "customer_messages": stats.customer_messages,
        "answered_in_window": stats.answered_in_window,
        "answered_late": stats.answered_late,
        "unanswered": stats.unanswered,
        "awaiting_reply": stats.awaiting,
        "answered_in_window_share": None if share is None else round(share, 4),
        "median_first_reply_seconds": None if median is None else round(median, 1),
        "replies": len(stats.first_reply_seconds),
        "windows_expired_unanswered": stats.windows_expired_unanswered,
        "late_reply_templates": stats.late_templates,
        "late_reply_template_spend": {c: money(v) for c, v in sorted(stats.late_template_spend.items())},
    }


def daily(
    conn: Connection,
    *,
    since: datetime | None,
    until: datetime | None,
    phone_number_ids: Sequence[str] | None,
) -> list[dict[str, Any]]:
    """Per day: messages, how many went out free, and the spend as ``{currency: {category: amount}}``
    (amounts in different currencies are never added together)."""
    days: dict[str, dict[str, Any]] = {}
    for r in ledger.daily_by_category(conn, since=since, until=until, phone_number_ids=phone_number_ids):
        day = days.setdefault(
            str(r.day)[:10], {"day": str(r.day)[:10], "messages": 0, "free": 0, "spend": {}}
        )
        day["messages"] += int(r.messages)
        day["free"] += int(r.free or 0)
        amount = Decimal(str(r.amount or 0))
        if amount:
            spend = day["spend"].setdefault(r.currency or "", {})
            spend[r.category] = spend.get(r.category, Decimal(0)) + amount
    return [days[k] for k in sorted(days)]


def allowance(
    conn: Connection,
    *,
    policy: PolicySettings,
    now: datetime,
    phone_number_ids: Sequence[str] | None,
    phone_number_id: str | None = None,
) -> dict[str, Any]:
    """Per business number, this period's free service messages used and left, when they run out at
    the period's pace, and what the rest of the period costs at that pace (docs/costs.md §6). One
    statement per number, plus one listing the numbers when ``phone_number_id`` is not given."""
    period = usage_period(now, policy.service_allowance_period)
    bounds = period_bounds(now, policy.service_allowance_period)
    if phone_number_id is not None:
        wanted = [phone_number_id] if phone_number_ids is None or phone_number_id in phone_number_ids else []
    else:
        wanted = usage_store.numbers(conn, period=period)
        if phone_number_ids is not None:
            wanted = [n for n in wanted if n in phone_number_ids]
    era = policy.pricing_model if policy.pricing_model != "auto" else era_for(now.date())
    info = era_info(era)
    out: list[dict[str, Any]] = []
    for number in wanted:
        used, markets = usage_store.allowance_inputs(
            conn, phone_number_id=number, period=period, start=bounds[0], end=bounds[1]
        )
        f = forecast_allowance(
            used=used,
            allowance=policy.service_free_allowance,
            period=bounds,
            now=now,
            markets=markets,
            card=policy.rate_card,
        )
        out.append(
            {
                "phone_number_id": number,
                "used": f.used,
                "left": f.left,
                "used_share": f.used_share,
                "ran_out": f.ran_out,
                "per_day": f.per_day,
                "runs_out_at": f.runs_out_at,
                "expected_messages": f.expected_messages,
                "expected_billable": f.expected_billable,
                "expected_cost": {c: money(v) for c, v in f.expected_cost.items()},
                "unpriced_messages": f.unpriced,
            }
        )
    return {
        "period": period,
        "period_start": bounds[0],
        "period_end": bounds[1],
        "now": now,
        "pricing_model": policy.pricing_model,
        "era": info.as_json() if info is not None else {"model": era},
        "counted": counts_service_usage(policy, now),
        "allowance": policy.service_free_allowance,
        "allowance_status": ALLOWANCE_STATUS,
        "payment_method_on_file": policy.payment_method_on_file,
        "numbers": out,
    }


#: How sure the free tier is (docs/costs.md §1).
ALLOWANCE_STATUS = (
    "1,000 service messages per business number and month: quoted from one render of Meta's pricing "
    "page, missing from others; a setting (CAREWINDOW_SERVICE_FREE_ALLOWANCE)"
)


#: The models the what-if compares by default: each era's rules, then ``auto`` (each message by its date).
WHAT_IF_MODELS = (*(e.model for e in ERAS), "auto")


def _totals_json(totals: dict[tuple[str, str], Any]) -> dict[str, Any]:
    by_currency: dict[str, Decimal] = {}
    categories = []
    for (category, currency), t in sorted(totals.items()):
        by_currency[currency] = by_currency.get(currency, Decimal(0)) + t.amount
        categories.append(
            {
                "category": category,
                "currency": currency,
                "messages": t.messages,
                "billable": t.billable,
                "amount": money(t.amount),
            }
        )
    return {
        "messages": sum(t.messages for t in totals.values()),
        "billable": sum(t.billable for t in totals.values()),
        "by_currency": {c: money(v) for c, v in sorted(by_currency.items())},
        "categories": categories,
    }


def what_if(
    conn: Connection,
    *,
    policy: PolicySettings,
    since: datetime | None,
    until: datetime | None,
    phone_number_ids: Sequence[str] | None,
    models: Sequence[str] = WHAT_IF_MODELS,
) -> dict[str, Any]:
    """The traffic in range as the ledger priced it, and replayed under each of ``models`` side by
    side (docs/costs.md §5): per model the billable messages and amounts by currency and category,
    and the eras that priced it."""
    from carewindow.storage.export import line_of, read_log

    rows = ledger.message_log(conn, since=since, until=until, phone_number_ids=phone_number_ids)
    entries, recorded = read_log(orjson.dumps(line_of(r)) for r in rows)
    replays = side_by_side(entries, settings=policy, models=models)
    ledger_eras = eras(conn, since=since, until=until, phone_number_ids=phone_number_ids)
    return {
        "since": since,
        "until": until,
        "messages": sum(1 for e in entries if e.outbound),
        "ledger": {**_totals_json(recorded), "eras": [e["model"] for e in ledger_eras]},
        "models": [
            {
                "model": r.model,
                "status": (info.status if (info := era_info(r.model)) else "each message by its date"),
                "eras": list(r.eras),
                **_totals_json(r.totals),
            }
            for r in replays
        ],
    }
