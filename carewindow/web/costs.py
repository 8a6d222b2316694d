"""The inbox's Costs page: daily spend by category and the share of messages sent free inside the
window, drawn server-side as SVG (no script, no library), and the window analytics beside them.

Every text that reaches the SVG goes through :func:`html.escape`; the page template autoescapes the
rest. Colours are SVG presentation attributes, which the inbox's Content-Security-Policy allows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from html import escape
from typing import Any

from markupsafe import Markup

from carewindow.policy import PolicySettings
from carewindow.storage import reports

#: Fixed colours per category; anything else gets the last one.
COLOURS = {
    "marketing": "#c2410c",
    "utility": "#1d4ed8",
    "authentication": "#7c3aed",
    "service": "#0f766e",
}
OTHER_COLOUR = "#6b7280"
FREE_COLOUR = "#15803d"
PAID_COLOUR = "#d1d5db"
WIDTH, HEIGHT, LEFT, BOTTOM, TOP = 760, 240, 56, 36, 16


@dataclass(frozen=True, slots=True, kw_only=True)
class CostsView:
    days: int
    since: str
    until: str
    currency: str
    spend_svgs: tuple[tuple[str, Markup], ...]  # (currency, chart): amounts never added across currencies
    free_svg: Markup
    costs: dict[str, Any]
    windows: dict[str, Any]
    categories: tuple[tuple[str, str], ...]  # (name, colour) for the legend
    eras: tuple[dict[str, Any], ...] = ()  # the eras that priced the period, with their reconciliation
    allowance: dict[str, Any] | None = None  # this period's free tier per number
    what_if: dict[str, Any] | None = None  # the period replayed under each era's rules
    what_if_svgs: tuple[tuple[str, Markup], ...] = ()  # (currency, chart)


def _a(value: object) -> str:
    """An attribute or text value, escaped."""
    return escape(str(value), quote=True)


def _axis(y: float, text: str) -> str:
    return (
        f'<text class="axis-label" x="{LEFT - 6}" y="{y}" text-anchor="end" font-size="11">{_a(text)}</text>'
    )


def _days(since: datetime, count: int) -> list[str]:
    return [(since + timedelta(days=i)).date().isoformat() for i in range(count)]


def spend_chart(daily: list[dict[str, Any]], days: list[str], currency: str, *, chart_id: str) -> Markup:
    """Stacked bars: spend per day in ``currency`` only, one segment per category (``rect.bar`` with
    a ``<title>``). Amounts in other currencies are never added in: each currency has its own chart."""
    by_day = {d["day"]: d.get("spend", {}).get(currency, {}) for d in daily}
    totals = [sum(by_day.get(day, {}).values(), Decimal(0)) for day in days]
    top = max(totals, default=Decimal(0)) or Decimal(1)
    plot_w, plot_h = WIDTH - LEFT - 8, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(len(days), 1)
    bar_w = max(slot * 0.7, 1.0)
    every = max(1, len(days) // 10)
    title_id = f"{chart_id}-title"
    parts = [
        f'<svg id="{_a(chart_id)}" class="chart spend-chart" data-currency="{_a(currency)}" role="img" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" '
        f'aria-labelledby="{_a(title_id)}" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="{_a(title_id)}">{_a(f"Daily spend by category ({currency})")}</title>',
        f'<line x1="{LEFT}" y1="{TOP + plot_h}" x2="{WIDTH - 8}" y2="{TOP + plot_h}" stroke="#9ca3af"/>',
        _axis(TOP + 4, reports.money(top).rstrip("0").rstrip(".")),
        _axis(TOP + plot_h, "0"),
    ]
    for i, day in enumerate(days):
        x = LEFT + i * slot + (slot - bar_w) / 2
        y: float = TOP + plot_h
        for category, amount in sorted(by_day.get(day, {}).items()):
            h = float(amount / top) * plot_h
            y -= h
            colour = COLOURS.get(category, OTHER_COLOUR)
            parts.append(
                f'<rect class="bar" data-category="{_a(category)}" data-day="{_a(day)}" '
                f'data-currency="{_a(currency)}" x="{x:.1f}" '
                f'y="{y:.1f}" width="{bar_w:.1f}" height="{h:.1f}" fill="{colour}">'
                f"<title>{_a(f'{day} · {category}: {reports.money(amount)} {currency}')}</title></rect>"
            )
        if i % every == 0:
            parts.append(
                f'<text class="day-label" x="{x + bar_w / 2:.1f}" y="{HEIGHT - BOTTOM + 16}" '
                f'text-anchor="middle" font-size="10">{_a(day[5:])}</text>'
            )
    if not any(totals):
        parts.append(
            f'<text class="empty-label" x="{WIDTH / 2}" y="{TOP + plot_h / 2}" text-anchor="middle" '
            'font-size="13">No billable messages in this period</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - built from escaped parts only


def spend_charts(daily: list[dict[str, Any]], days: list[str]) -> tuple[tuple[str, Markup], ...]:
    """One spend chart per currency the period was billed in, as (currency, svg). With one currency
    (or none) the chart's id is ``spend-chart``; with several, ``spend-chart-<currency>``."""
    currencies = sorted({c for d in daily for c in d.get("spend", {})}) or ["USD"]
    single = len(currencies) == 1
    return tuple(
        (c, spend_chart(daily, days, c, chart_id="spend-chart" if single else f"spend-chart-{c.lower()}"))
        for c in currencies
    )


def free_chart(daily: list[dict[str, Any]], days: list[str]) -> Markup:
    """Per day, the share of business messages that went out free (``rect.free`` over ``rect.paid``)."""
    by_day = {d["day"]: d for d in daily}
    plot_w, plot_h = WIDTH - LEFT - 8, 120
    height = plot_h + TOP + BOTTOM
    slot = plot_w / max(len(days), 1)
    bar_w = max(slot * 0.7, 1.0)
    every = max(1, len(days) // 10)
    parts = [
        f'<svg id="free-chart" class="chart" role="img" viewBox="0 0 {WIDTH} {height}" width="100%" '
        'aria-labelledby="free-title" xmlns="http://www.w3.org/2000/svg">',
        '<title id="free-title">Share of messages sent free inside the window, per day</title>',
        _axis(TOP + 4, "100%"),
        _axis(TOP + plot_h, "0%"),
    ]
    for i, day in enumerate(days):
        d = by_day.get(day)
        x = LEFT + i * slot + (slot - bar_w) / 2
        if d and d["messages"]:
            share = d["free"] / d["messages"]
            free_h = share * plot_h
            label = f"{day}: {d['free']} of {d['messages']} free ({share:.0%})"
            parts.append(
                f'<rect class="paid" x="{x:.1f}" y="{TOP}" width="{bar_w:.1f}" '
                f'height="{plot_h - free_h:.1f}" fill="{PAID_COLOUR}"><title>{_a(label)}</title></rect>'
                f'<rect class="free" data-day="{_a(day)}" x="{x:.1f}" y="{TOP + plot_h - free_h:.1f}" '
                f'width="{bar_w:.1f}" height="{free_h:.1f}" fill="{FREE_COLOUR}">'
                f"<title>{_a(label)}</title></rect>"
            )
        if i % every == 0:
            parts.append(
                f'<text class="day-label" x="{x + bar_w / 2:.1f}" y="{height - BOTTOM + 16}" '
                f'text-anchor="middle" font-size="10">{_a(day[5:])}</text>'
            )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - built from escaped parts only


WHAT_IF_TITLE = "This period under each era's rules"
#: Bar colours of the what-if chart: the ledger, then one per model.
LEDGER_COLOUR = "#374151"
MODEL_COLOURS = {
    "seed": "#9ca3af",
    "meta_cbp": "#7c3aed",
    "meta_pmp": "#1d4ed8",
    "meta_pmp_2026": "#c2410c",
    "auto": "#0f766e",
}


def what_if_chart(what_if: dict[str, Any], currency: str, *, chart_id: str) -> Markup:
    """Horizontal bars: the period's spend in ``currency`` as the ledger priced it and under each
    model's rules (``rect.what-if`` with ``data-model`` and a ``<title>``), each labelled with its
    amount and billable messages."""
    ledger = what_if["ledger"]
    rows: list[tuple[str, str, Decimal, int]] = [
        (
            "ledger",
            "as recorded",
            Decimal(ledger["by_currency"].get(currency, "0")),
            sum(c["billable"] for c in ledger["categories"] if c["currency"] == currency),
        )
    ]
    for m in what_if["models"]:
        billable = sum(c["billable"] for c in m["categories"] if c["currency"] == currency)
        rows.append((m["model"], m["status"], Decimal(m["by_currency"].get(currency, "0")), billable))
    top = max((r[2] for r in rows), default=Decimal(0)) or Decimal(1)
    label_w, bar_h, gap = 130, 22, 10
    height = TOP + len(rows) * (bar_h + gap) + 8
    plot_w = WIDTH - label_w - 190
    title_id = f"{chart_id}-title"
    parts = [
        f'<svg id="{_a(chart_id)}" class="chart what-if-chart" data-currency="{_a(currency)}" role="img" '
        f'viewBox="0 0 {WIDTH} {height}" width="100%" aria-labelledby="{_a(title_id)}" '
        'xmlns="http://www.w3.org/2000/svg">',
        f'<title id="{_a(title_id)}">{_a(WHAT_IF_TITLE + f" ({currency})")}</title>',
    ]
    for i, (model, status, amount, billable) in enumerate(rows):
        y = TOP + i * (bar_h + gap)
        w = max(float(amount / top) * plot_w, 1.0)
        colour = LEDGER_COLOUR if model == "ledger" else MODEL_COLOURS.get(model, OTHER_COLOUR)
        text = f"{reports.money(amount)} {currency} · {billable} billable"
        parts.append(
            f'<text class="model-label" x="{label_w - 8}" y="{y + bar_h * 0.7:.1f}" text-anchor="end" '
            f'font-size="12">{_a(model)}</text>'
            f'<rect class="what-if" data-model="{_a(model)}" data-amount="{_a(reports.money(amount))}" '
            f'x="{label_w}" y="{y}" width="{w:.1f}" height="{bar_h}" fill="{colour}">'
            f"<title>{_a(f'{model} ({status}): {text}')}</title></rect>"
            f'<text class="amount-label" x="{label_w + w + 6:.1f}" y="{y + bar_h * 0.7:.1f}" '
            f'font-size="11">{_a(text)}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - built from escaped parts only


def what_if_charts(what_if: dict[str, Any]) -> tuple[tuple[str, Markup], ...]:
    """One what-if chart per currency the ledger or a replay priced in (``what-if-chart`` with one)."""
    currencies = sorted(
        set(what_if["ledger"]["by_currency"]).union(*(m["by_currency"] for m in what_if["models"]))
    ) or ["USD"]
    single = len(currencies) == 1
    return tuple(
        (c, what_if_chart(what_if, c, chart_id="what-if-chart" if single else f"what-if-chart-{c.lower()}"))
        for c in currencies
    )


def costs_view(
    conn: Any,
    *,
    now: datetime,
    days: int,
    card: Any,
    pricing_model: str,
    window: timedelta,
    phone_number_ids: list[str] | None,
    policy: PolicySettings | None = None,
) -> CostsView:
    """Everything the Costs page shows for the last ``days`` days up to ``now`` (UTC days); with
    ``policy``, also this period's free tier and the what-if per era."""
    days = min(max(days, 1), 366)
    today = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    since = today - timedelta(days=days - 1)
    until = today + timedelta(days=1)
    numbers = phone_number_ids
    daily = reports.daily(conn, since=since, until=until, phone_number_ids=numbers)
    costs = reports.costs(
        conn,
        card=card,
        pricing_model=pricing_model,
        group_by="category",
        since=since,
        until=until,
        phone_number_ids=numbers,
    )
    windows = reports.windows(
        conn, window=window, now=now, since=since, until=until, phone_number_ids=numbers
    )
    labels = _days(since, days)
    charts = spend_charts(daily, labels)
    allowance = what_if = None
    if policy is not None:
        allowance = reports.allowance(conn, policy=policy, now=now, phone_number_ids=numbers)
        what_if = reports.what_if(conn, policy=policy, since=since, until=until, phone_number_ids=numbers)
    seen = sorted(
        {c for d in daily for spend in d["spend"].values() for c in spend}
        | {g["key"] for g in costs["groups"]}
    )
    return CostsView(
        days=days,
        since=since.date().isoformat(),
        until=today.date().isoformat(),
        currency=", ".join(c for c, _ in charts),
        spend_svgs=charts,
        free_svg=free_chart(daily, labels),
        costs=costs,
        windows=windows,
        categories=tuple((c, COLOURS.get(c, OTHER_COLOUR)) for c in seen),
        eras=tuple(costs["eras"]),
        allowance=allowance,
        what_if=what_if,
        what_if_svgs=what_if_charts(what_if) if what_if is not None else (),
    )
