"""docs/costs.md §6 and §9: the worked examples are tables in the doc, and this test replays them.

Each ``<!-- worked-example: NAME [allowance=N] -->`` table is a timeline (customer messages and
business messages) replayed through ``decide()`` under the default ``auto`` pricing, counting the free
tier per period as the send planner does; each business message's era, charge and reason must be the
table's. The ``<!-- forecast-example -->`` rows are checked against ``forecast_allowance``.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal
from itertools import pairwise
from pathlib import Path

import pytest
from policy_helpers import WA_ID_DEFAULT_MARKET, contact, template

from carewindow.policy import (
    EXAMPLE_RATE_CARD,
    PolicySettings,
    PricingUsage,
    SendRequest,
    TemplateCategory,
    TemplateRef,
    apply_inbound_message,
    decide,
)
from carewindow.policy.pricing import counts_service_usage, usage_period
from carewindow.policy.pricing.allowance import forecast_allowance, period_bounds
from carewindow.policy.pricing.eras import ERAS

DOC = Path(__file__).resolve().parents[2] / "docs" / "costs.md"
REQUIRED = {"seed-to-cbp", "cbp-to-pmp", "pmp-to-2026", "allowance-runs-out", "entry-point"}
NUMBER = "100000000000001"


def _tables(marker: str) -> list[tuple[str, list[list[str]]]]:
    """(the marker's arguments, rows of cells) for each table that follows ``<!-- marker ... -->``."""
    text = DOC.read_text()
    out = []
    for m in re.finditer(rf"<!-- {marker}:?\s*(.*?)\s*-->\n((?:\|.*\|\n)+)", text):
        lines = m.group(2).strip().splitlines()[2:]  # header and rule
        out.append((m.group(1), [[c.strip() for c in line.strip("|").split("|")] for line in lines]))
    return out


def _when(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=UTC)


EXAMPLES = _tables("worked-example")


def test_the_doc_has_every_required_example() -> None:
    names = [args.split()[0] for args, _ in EXAMPLES]
    assert REQUIRED <= set(names), names
    assert len(names) == len(set(names))
    # Each era boundary is crossed by an example: its messages start in one era and end in the next.
    crossings = {(eras[0], eras[-1]) for _, rows in EXAMPLES if (eras := [r[2] for r in rows if r[2]])}
    for before, after in pairwise(ERAS):
        assert (before.model, after.model) in crossings, f"no worked example crosses into {after.model}"


_TEMPLATES = {
    "marketing template": TemplateCategory.MARKETING,
    "utility template": TemplateCategory.UTILITY,
    "authentication template": TemplateCategory.AUTHENTICATION,
}


@pytest.mark.parametrize(("args", "rows"), EXAMPLES, ids=[a.split()[0] for a, _ in EXAMPLES])
def test_worked_example(args: str, rows: list[list[str]]) -> None:
    options = dict(part.split("=", 1) for part in args.split()[1:])
    settings = PolicySettings(
        pricing_model="auto",
        rate_card=EXAMPLE_RATE_CARD,
        reengagement_limit=0,
        service_free_allowance=int(options.get("allowance", "1000")),
    )
    state = contact(wa_id=WA_ID_DEFAULT_MARKET)
    used: dict[str, int] = {}
    checked = 0
    for at_text, what, era, amount, reason in rows:
        at = _when(at_text)
        if what.startswith("customer writes"):
            state = apply_inbound_message(state, at=at, referral="from an ad" in what, settings=settings)
            continue
        category = _TEMPLATES.get(what)
        if category is None:
            assert what == "free-form reply", what
            request = SendRequest(to=state.wa_id, message_type="text")
            tpl = None
        else:
            tpl = template(f"t_{category.value}", category=category, body="Hi", language="en")
            ref = TemplateRef(name=tpl.name, language="en", params=())
            request = SendRequest(to=state.wa_id, message_type="template", template=ref)
        usage = None
        period = usage_period(at, settings.service_allowance_period)
        if category is None and counts_service_usage(settings, at):
            usage = PricingUsage(service_messages_this_period=used.get(period, 0))
        d = decide(request, state, template=tpl, settings=settings, now=at, usage=usage)
        assert d.allowed and d.charge is not None, (at_text, what, d.message)
        assert (d.charge.pricing_model, d.charge.amount, d.charge.reason) == (era, Decimal(amount), reason), (
            at_text,
            what,
        )
        assert d.charge.currency == "USD"
        if usage is not None:
            used[period] = used.get(period, 0) + 1
        state = d.state_after
        checked += 1
    assert checked >= 3


FORECASTS = _tables("forecast-example")


def test_forecast_examples() -> None:
    (_, rows), *_ = FORECASTS
    assert len(rows) >= 2
    for used, allowance, now_text, per_day, runs_out, expected, to_bill, cost in rows:
        now = _when(now_text)
        f = forecast_allowance(
            used=int(used),
            allowance=int(allowance),
            period=period_bounds(now),
            now=now,
            markets=[("GB", int(used))],
            card=EXAMPLE_RATE_CARD,
        )
        assert f.per_day == float(per_day)
        assert f.runs_out_at == (None if runs_out == "used up" else _when(runs_out))
        assert f.ran_out is (runs_out == "used up")
        assert (f.expected_messages, f.expected_billable) == (int(expected), int(to_bill))
        amount, currency = cost.split()
        assert f.expected_cost == {currency: Decimal(amount)}
