"""``carewindow rates``, ``carewindow costs`` and ``carewindow analytics``: the ledger from the database
named by ``CAREWINDOW_DATABASE_URL`` (docs/costs.md), which must exist (``carewindow migrate``)."""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich import box
from rich.console import Console
from rich.table import Column, Table

from carewindow.cli.common import fail, open_database, settings
from carewindow.policy import PRICING_MODELS, PolicySettings, RateCard
from carewindow.policy.pricing import CategoryTotal, LogEntry, SideBySide, side_by_side
from carewindow.settings import Settings
from carewindow.storage.engine import connect
from carewindow.storage.export import gc_paused

rates_app = typer.Typer(
    help="Rate cards: import Meta's CSV, list what the service prices with.", no_args_is_help=True
)
costs_app = typer.Typer(
    help="The charge ledger: totals and savings, export of the message log, what-if replays.",
    invoke_without_command=True,
)
console = Console()
err = Console(stderr=True)

SinceOpt = Annotated[str | None, typer.Option(help="from this date or ISO time (UTC when no zone)")]
UntilOpt = Annotated[str | None, typer.Option(help="until this date or ISO time, exclusive")]
NumberOpt = Annotated[list[str] | None, typer.Option("--number", help="only this phone_number_id")]
JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON")]


_fail = fail
_settings = settings


def _engine(s: Settings) -> Any:
    """The configured database: it must exist and be migrated (this never creates one)."""
    return open_database(s)


def parse_when(value: str | None, name: str) -> datetime | None:
    """``2026-10-01`` (midnight UTC) or an ISO time; a time without a zone is UTC."""
    if value is None:
        return None
    try:
        if len(value) == 10:
            return datetime.combine(date.fromisoformat(value), datetime.min.time(), tzinfo=UTC)
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise _fail(f"--{name}: {value!r} is not a date (YYYY-MM-DD) or ISO time", 2) from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _policy(
    settings: Settings, engine: Any, *, model: str | None = None, rates_file: Path | None = None
) -> PolicySettings:
    from carewindow.api.runtime import policy_settings, stored_rate_card

    card = RateCard.from_csv(rates_file.read_text()) if rates_file is not None else stored_rate_card(engine)
    policy = policy_settings(settings, rate_card=card)
    return replace(policy, pricing_model=model) if model is not None else policy


def _dump(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


# -- rates -----------------------------------------------------------------------------------------


@rates_app.command("import")
def rates_import(
    file: Annotated[Path, typer.Argument(help="CSV: market,category,currency,price,valid_from")],
) -> None:
    """Import a rate card CSV; rows with the same market, category and valid_from are replaced.

    A running server prices with it after a restart (or import through POST /v1/rates instead)."""
    from carewindow.actions.rates import do_import_rates

    try:
        card = RateCard.from_csv(file.read_text())
    except (OSError, ValueError) as exc:
        raise _fail(str(exc), 2) from None
    engine = _engine(_settings())
    count = do_import_rates(engine, card, source=file.name, now=datetime.now(UTC))
    engine.dispose()
    console.print(f"imported {count} rates ({', '.join(card.markets)}) from {file}")


@rates_app.command("list")
def rates_list(as_json: JsonOpt = False) -> None:
    """The rates the service prices with: the imported card, else the built-in EXAMPLE card."""
    from carewindow.policy import EXAMPLE_RATE_CARD
    from carewindow.storage import rates as rate_store

    engine = _engine(_settings())
    with connect(engine) as conn:
        stored = rate_store.load(conn)
    engine.dispose()
    card = stored or EXAMPLE_RATE_CARD
    source = "imported" if stored else "built-in EXAMPLE card (illustrative, not Meta's prices)"
    rows = sorted(card.rates, key=lambda r: (r.market, r.category, r.valid_from))
    if as_json:
        _dump(
            {
                "source": source,
                "rates": [
                    {
                        "market": r.market,
                        "category": r.category,
                        "currency": r.currency,
                        "price": str(r.price),
                        "valid_from": r.valid_from.isoformat(),
                    }
                    for r in rows
                ],
            }
        )
        return
    table = Table("market", "category", "currency", "price", "valid from", title=f"rates: {source}")
    for r in rows:
        table.add_row(r.market, r.category, r.currency, str(r.price), r.valid_from.isoformat())
    console.print(table)


# -- costs -----------------------------------------------------------------------------------------


@costs_app.callback()
def costs_report(
    ctx: typer.Context,
    since: SinceOpt = None,
    until: UntilOpt = None,
    group_by: Annotated[str, typer.Option(help="category | day | contact | ticket")] = "category",
    number: NumberOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Spend per group: messages, billable and free, the amount, and what the free messages saved."""
    if ctx.invoked_subcommand is not None:
        return
    from carewindow.storage import reports

    if group_by not in reports.GROUPS:
        raise _fail(f"--group-by must be one of {', '.join(reports.GROUPS)}", 2)
    settings = _settings()
    engine = _engine(settings)
    policy = _policy(settings, engine)
    with connect(engine) as conn:
        data = reports.costs(
            conn,
            card=policy.rate_card,
            pricing_model=settings.pricing,
            since=parse_when(since, "since"),
            until=parse_when(until, "until"),
            group_by=group_by,
            phone_number_ids=number,
        )
    engine.dispose()
    if as_json:
        _dump(data)
        return
    table = Table(
        group_by,
        "currency",
        "messages",
        "billable",
        "free",
        "amount",
        "mismatches",
        title=f"costs by {group_by} (pricing: {data['pricing_model']})",
    )
    for g in data["groups"]:
        table.add_row(
            g["key"],
            g["currency"] or "",
            str(g["messages"]),
            str(g["billable"]),
            str(g["free"]),
            g["amount"],
            str(g["mismatches"]),
        )
    t = data["total"]
    table.add_row(
        "[bold]total[/bold]",
        ", ".join(t["by_currency"]),
        str(t["messages"]),
        str(t["billable"]),
        str(t["free"]),
        " + ".join(t["by_currency"].values()) or "0",
        str(t["mismatches"]),
    )
    _print_table(table)
    s = data["saved"]
    amounts = ", ".join(f"{v} {c}" for c, v in s["by_currency"].items()) or "0"
    console.print(f"saved: {amounts} on {s['free_messages']} free messages ({s['basis']})")
    console.print(eras_line(data["eras"]), highlight=False)


def eras_line(eras: list[dict[str, Any]]) -> str:
    """``priced by: meta_pmp (…) 3 messages, 0 billed differently; …``: the eras a report used, with
    the reconciliation per era and per Meta ``pricing.type``."""
    if not eras:
        return "priced by: no priced messages in range"
    parts = []
    for e in eras:
        types = ", ".join(
            f"{t} {v['messages']}" + (f" ({v['mismatches']} differ)" if v["mismatches"] else "")
            for t, v in sorted(e["by_type"].items())
        )
        parts.append(
            f"{e['model']} ({e['status']}): {e['messages']} messages, {e['mismatches']} billed differently"
            f" [Meta's type: {types}]"
        )
    return "priced by: " + "; ".join(parts)


@costs_app.command("allowance")
def costs_allowance(number: NumberOpt = None, as_json: JsonOpt = False) -> None:
    """The free service messages of this period per business number: used, left, when they run out
    at this period's pace, and what the rest of the period costs at that pace."""
    from carewindow.storage import reports

    settings = _settings()
    engine = _engine(settings)
    policy = _policy(settings, engine)
    with connect(engine) as conn:
        if number and len(number) == 1:
            data = reports.allowance(
                conn, policy=policy, now=datetime.now(UTC), phone_number_ids=None, phone_number_id=number[0]
            )
        else:
            data = reports.allowance(conn, policy=policy, now=datetime.now(UTC), phone_number_ids=number)
    engine.dispose()
    if as_json:
        _dump(data)
        return
    print_allowance(data)


def print_allowance(data: dict[str, Any]) -> None:
    """The allowance answer as a table and the lines around it."""
    era = data["era"]
    console.print(
        f"free service messages, {data['period']} (pricing: {data['pricing_model']}, era in force: "
        f"{era['model']}, {era.get('status', '')})",
        highlight=False,
    )
    if not data["counted"]:
        console.print("the era in force has no free tier: service messages are free", highlight=False)
    table = Table(
        "number", "used", "left", "per day", "runs out", "rest of period: billed", "cost at this pace"
    )
    for n in data["numbers"]:
        when = n["runs_out_at"]
        out = (
            "used up"
            if n["ran_out"]
            else (when.strftime("%Y-%m-%d %H:%M UTC") if when else "not this period")
        )
        cost = ", ".join(f"{v} {c}" for c, v in n["expected_cost"].items()) or "0"
        table.add_row(
            n["phone_number_id"],
            f"{n['used']} of {data['allowance']}",
            str(n["left"]),
            str(n["per_day"]),
            out,
            str(n["expected_billable"]),
            cost,
        )
    _print_table(table)
    console.print(f"allowance: {data['allowance_status']}", highlight=False)
    if not data["payment_method_on_file"]:
        console.print(
            "no payment method on file: past the free tier service messages are refused "
            "(payment_method_required)",
            highlight=False,
        )


@costs_app.command("export")
def costs_export(since: SinceOpt = None, until: UntilOpt = None, number: NumberOpt = None) -> None:
    """Write the message log as JSONL to stdout: customer messages and priced business messages."""
    from carewindow.storage import ledger
    from carewindow.storage.export import line_of

    engine = _engine(_settings())
    out = sys.stdout
    with connect(engine) as conn:
        for row in ledger.message_log(
            conn, since=parse_when(since, "since"), until=parse_when(until, "until"), phone_number_ids=number
        ):
            out.write(orjson.dumps(line_of(row)).decode() + "\n")
    engine.dispose()


def compare(
    recorded: dict[tuple[str, str], CategoryTotal], simulated: dict[tuple[str, str], CategoryTotal]
) -> list[dict[str, Any]]:
    """Rows per (category, currency): the ledger's and the simulated figures and their difference."""
    rows = []
    for key in sorted(set(recorded) | set(simulated)):
        a = recorded.get(key) or CategoryTotal(category=key[0], currency=key[1])
        b = simulated.get(key) or CategoryTotal(category=key[0], currency=key[1])
        rows.append(
            {
                "category": key[0],
                "currency": key[1],
                "messages": max(a.messages, b.messages),
                "ledger_billable": a.billable,
                "ledger_amount": str(a.amount),
                "simulated_billable": b.billable,
                "simulated_amount": str(b.amount),
                "difference": str(b.amount - a.amount),
            }
        )
    return rows


@costs_app.command("simulate")
def costs_simulate(
    model: Annotated[
        list[str] | None,
        typer.Option(
            help=f"pricing model: {', '.join(PRICING_MODELS)}; give it more than once to compare them "
            "side by side (none: every era and auto)"
        ),
    ] = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    number: NumberOpt = None,
    from_file: Annotated[
        Path | None, typer.Option("--from-file", help="replay an exported JSONL log")
    ] = None,
    rates: Annotated[Path | None, typer.Option(help="price with this rate card CSV instead")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Replay the same traffic under another pricing model and print the difference per category;
    with several models (or none: every era and auto), their totals side by side."""
    from carewindow.storage.reports import WHAT_IF_MODELS

    models = list(model) if model else list(WHAT_IF_MODELS)
    for m in models:
        if m not in PRICING_MODELS:
            raise _fail(f"--model must be one of {', '.join(PRICING_MODELS)}", 2)
    settings = _settings()
    engine = _engine(settings) if from_file is None or rates is None else None
    try:
        policy = _policy(settings, engine, model=models[0], rates_file=rates)
    except (OSError, ValueError) as exc:
        raise _fail(f"--rates: {exc}", 2) from None
    started = time.perf_counter()
    with gc_paused():
        entries, recorded = _read_entries(
            engine=engine, from_file=from_file, since=since, until=until, number=number
        )
        replays = side_by_side(entries, settings=policy, models=models)
    elapsed = time.perf_counter() - started
    if engine is not None:
        engine.dispose()
    outbound = sum(1 for e in entries if e.outbound)
    if len(models) == 1:
        rows = compare(recorded, replays[0].totals)
        if as_json:
            _dump(
                {
                    "model": models[0],
                    "eras": list(replays[0].eras),
                    "messages": outbound,
                    "seconds": round(elapsed, 3),
                    "categories": rows,
                }
            )
            return
        _print_simulation(models[0], rows, outbound, elapsed, eras=replays[0].eras)
        return
    side = [
        {"model": r.model, "eras": list(r.eras), "categories": compare(recorded, r.totals)} for r in replays
    ]
    if as_json:
        _dump({"models": side, "messages": outbound, "seconds": round(elapsed, 3)})
        return
    _print_side_by_side(recorded, replays, outbound, elapsed)


def _print_side_by_side(
    recorded: dict[tuple[str, str], CategoryTotal], replays: list[SideBySide], outbound: int, elapsed: float
) -> None:
    """One row per (category, currency), one column per model, amounts (billable messages)."""
    keys = sorted(set(recorded).union(*(r.totals for r in replays)))
    table = Table(
        Column("category", overflow="fold"),
        Column("currency", overflow="fold"),
        Column("ledger", justify="right", overflow="fold"),
        *(Column(r.model, justify="right", overflow="fold") for r in replays),
        title="what if: the same traffic under each era's rules (amount, billable messages)",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        collapse_padding=True,
    )

    def cell(t: CategoryTotal | None) -> str:
        return f"{t.amount} ({t.billable})" if t is not None else "0 (0)"

    for key in keys:
        table.add_row(key[0], key[1], cell(recorded.get(key)), *(cell(r.totals.get(key)) for r in replays))
    currencies = sorted({k[1] for k in keys})
    for c in currencies:

        def total(totals: dict[tuple[str, str], CategoryTotal], currency: str = c) -> str:
            return str(sum((t.amount for k, t in totals.items() if k[1] == currency), Decimal(0)))

        table.add_row("[bold]total[/bold]", c, total(recorded), *(total(r.totals) for r in replays))
    _print_table(table)
    for r in replays:
        if r.model == "auto":
            console.print(f"auto priced with: {', '.join(r.eras) or '-'}", highlight=False)
    console.print(f"{outbound} messages replayed under {len(replays)} models in {elapsed:.2f} s")


def _read_entries(
    *,
    engine: Any,
    from_file: Path | None,
    since: str | None,
    until: str | None,
    number: list[str] | None,
) -> tuple[list[LogEntry], dict[tuple[str, str], CategoryTotal]]:
    """Read the log (file or database); (entries, recorded totals)."""
    from carewindow.storage.export import read_log

    lo, hi = parse_when(since, "since"), parse_when(until, "until")
    if from_file is not None:

        def wanted(line: bytes) -> bool:
            obj = orjson.loads(line)
            at = datetime.fromisoformat(obj["at"])
            return (
                (lo is None or at >= lo)
                and (hi is None or at < hi)
                and (not number or obj["phone_number_id"] in number)
            )

        try:
            with open(from_file, "rb") as f:
                # Filtering parses twice; without filters the lines go straight to read_log.
                lines = (line for line in f if line.strip() and wanted(line)) if lo or hi or number else f
                entries, recorded = read_log(lines)
        except (OSError, ValueError, KeyError) as exc:
            raise _fail(f"{from_file}: {exc}", 2) from None
    else:
        from carewindow.storage import ledger
        from carewindow.storage.export import line_of

        assert engine is not None
        with connect(engine) as conn:
            rows = ledger.message_log(conn, since=lo, until=hi, phone_number_ids=number)
            entries, recorded = read_log(orjson.dumps(line_of(r)) for r in rows)
    return entries, recorded


def _print_simulation(
    model: str, rows: list[dict[str, Any]], outbound: int, elapsed: float, *, eras: tuple[str, ...] = ()
) -> None:
    # Short headers (the model is in the title) and no borders, so the table fits 80 columns; a column
    # that still has to shrink folds its cells onto a second line rather than cutting digits off.
    table = Table(
        Column("category", overflow="fold"),
        Column("currency", overflow="fold"),
        *(
            Column(header, justify="right", overflow="fold")
            for header in (
                "messages",
                "ledger\nbillable",
                "ledger\namount",
                "what-if\nbillable",
                "what-if\namount",
                "difference",
            )
        ),
        title=f"what if: {model} (ledger: as recorded)",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        collapse_padding=True,
    )
    by_currency: dict[str, Decimal] = {}
    for r in rows:
        table.add_row(
            r["category"],
            r["currency"],
            str(r["messages"]),
            str(r["ledger_billable"]),
            r["ledger_amount"],
            str(r["simulated_billable"]),
            r["simulated_amount"],
            r["difference"],
        )
        by_currency[r["currency"]] = by_currency.get(r["currency"], Decimal(0)) + Decimal(r["difference"])
    _print_table(table)
    total = ", ".join(f"{v:+} {c}" for c, v in sorted(by_currency.items())) or "0"
    console.print(f"difference under {model}: {total} ({outbound} messages, {elapsed:.2f} s)")
    if eras:
        console.print(f"priced with: {', '.join(eras)}", highlight=False)


def _print_table(table: Table) -> None:
    """Print ``table`` without cutting a cell: in a terminal (or with ``COLUMNS`` set) it fits that
    width, folding what must shrink; into a pipe or a file, where Rich would assume 80 columns, it
    gets the width it needs."""
    if console.is_terminal or os.environ.get("COLUMNS"):
        console.print(table)
        return
    wide = console.options.update_width(10_000)
    needed = console.measure(table, options=wide).maximum
    Console(width=max(console.width, needed)).print(table)


# -- analytics -------------------------------------------------------------------------------------


def analytics(
    since: SinceOpt = None, until: UntilOpt = None, number: NumberOpt = None, as_json: JsonOpt = False
) -> None:
    """Window analytics: answered in the window, median first reply, windows expired unanswered,
    and the template spend of replies that came too late."""
    from carewindow.storage import reports

    settings = _settings()
    engine = _engine(settings)
    with connect(engine) as conn:
        data = reports.windows(
            conn,
            window=timedelta(hours=settings.window_hours),
            now=datetime.now(UTC),
            since=parse_when(since, "since"),
            until=parse_when(until, "until"),
            phone_number_ids=number,
        )
    engine.dispose()
    if as_json:
        _dump(data)
        return
    share = data["answered_in_window_share"]
    median = data["median_first_reply_seconds"]
    table = Table(show_header=False, title="customer care windows")
    table.add_row("customer messages", str(data["customer_messages"]))
    table.add_row(
        "answered in the window",
        f"{data['answered_in_window']}" + (f" ({share:.0%})" if share is not None else ""),
    )
    table.add_row("answered late / unanswered", f"{data['answered_late']} / {data['unanswered']}")
    table.add_row("awaiting a reply", str(data["awaiting_reply"]))
    table.add_row(
        "median time to first reply", "-" if median is None else str(timedelta(seconds=round(median)))
    )
    table.add_row("windows expired unanswered", str(data["windows_expired_unanswered"]))
    spend = ", ".join(f"{v} {c}" for c, v in data["late_reply_template_spend"].items()) or "0"
    table.add_row("late-reply templates (spend)", f"{data['late_reply_templates']} ({spend})")
    console.print(table)
