"""``carewindow rates``, ``costs`` (report, export, simulate) and ``analytics`` through Typer's runner,
against a ledger written by the service."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from costs_support import customer_writes, send_template, send_text, service_at, setup_templates
from typer.testing import CliRunner

from carewindow.cli.main import app

pytestmark = pytest.mark.anyio
ROOT = Path(__file__).resolve().parents[2]
DAY1 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


@pytest.fixture
async def ledger_db(db_url: str) -> str:
    """A database holding one customer message, a free reply and (next day) a billed utility template."""
    async with service_at(db_url, DAY1, pricing="meta_pmp") as svc:
        await setup_templates(svc)
        await customer_writes(svc)
        svc.clock.advance(minutes=5)
        await send_text(svc)
        await svc.drain()
        svc.clock.advance(hours=30)
        await send_template(svc, "order_update")
        await svc.drain()
    return db_url


def run(db_url: str, *args: str) -> str:
    result = CliRunner().invoke(app, list(args), env={"CAREWINDOW_DATABASE_URL": db_url, "COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    # stdout only: which database was used goes to stderr, so --json output stays JSON.
    return result.stdout


async def test_costs_report_export_and_simulate(ledger_db: str, tmp_path: Path) -> None:
    report = json.loads(run(ledger_db, "costs", "--json", "--group-by", "category"))
    assert report["total"]["messages"] == 2 and report["total"]["billable"] == 1
    assert Decimal(report["total"]["amount"]) == Decimal("0.02")
    assert Decimal(report["saved"]["amount"]) == Decimal("0.02")  # the free reply, as a utility template
    table = run(ledger_db, "costs", "--since", "2026-03-01", "--until", "2026-04-01")
    assert "utility" in table and "service" in table and "saved" in table
    assert json.loads(run(ledger_db, "costs", "--json", "--since", "2027-01-01"))["total"]["messages"] == 0

    log = run(ledger_db, "costs", "export", "--since", "2026-03-01")
    lines = [json.loads(line) for line in log.splitlines()]
    assert [line["direction"] for line in lines] == ["in", "out", "out"]
    assert lines[2]["category"] == "utility" and lines[2]["charge"]["billable"] is True
    path = tmp_path / "log.jsonl"
    path.write_text(log)

    same = json.loads(run(ledger_db, "costs", "simulate", "--model", "meta_pmp", "--json"))
    assert {r["difference"] for r in same["categories"]} <= {"0", "0.000000", "0E-6"}
    assert all(Decimal(r["difference"]) == 0 for r in same["categories"])
    seed = json.loads(
        run(ledger_db, "costs", "simulate", "--model", "seed", "--from-file", str(path), "--json")
    )
    assert seed["messages"] == 2
    # Under seed a utility template outside the window is billed too: no difference here.
    assert sum(Decimal(r["difference"]) for r in seed["categories"]) == 0
    later = json.loads(
        run(
            ledger_db,
            "costs",
            "simulate",
            "--model",
            "meta_pmp",
            "--from-file",
            str(path),
            "--since",
            "2026-03-03",
            "--json",
        )
    )
    assert later["messages"] == 1  # only the template; the ledger side is filtered the same way
    assert all(Decimal(r["difference"]) == 0 for r in later["categories"])
    assert sum(r["messages"] for r in later["categories"]) == 1
    cbp = run(ledger_db, "costs", "simulate", "--model", "meta_cbp", "--from-file", str(path))
    assert "what if: meta_cbp" in cbp and "difference under meta_cbp" in cbp

    bad = CliRunner().invoke(
        app, ["costs", "simulate", "--model", "nope"], env={"CAREWINDOW_DATABASE_URL": ledger_db}
    )
    assert bad.exit_code == 2


async def test_rates_import_list_and_analytics(ledger_db: str, tmp_path: Path) -> None:
    listed = json.loads(run(ledger_db, "rates", "list", "--json"))
    assert "EXAMPLE" in listed["source"]
    out = run(ledger_db, "rates", "import", str(ROOT / "examples" / "rates-example.csv"))
    assert "imported 22 rates" in out
    listed = json.loads(run(ledger_db, "rates", "list", "--json"))
    assert listed["source"] == "imported" and len(listed["rates"]) == 22
    assert "marketing" in run(ledger_db, "rates", "list")
    broken = tmp_path / "broken.csv"
    broken.write_text("market,category\n")
    result = CliRunner().invoke(
        app, ["rates", "import", str(broken)], env={"CAREWINDOW_DATABASE_URL": ledger_db}
    )
    assert result.exit_code == 2 and "expected header" in result.output

    data = json.loads(run(ledger_db, "analytics", "--json"))
    assert data["customer_messages"] == 1 and data["answered_in_window"] == 1
    assert data["median_first_reply_seconds"] == 300
    assert "answered in the window" in run(ledger_db, "analytics")


async def test_simulate_table_keeps_every_amount_whole_at_80_columns(ledger_db: str) -> None:
    """At 80 columns (a default terminal) no amount is cut short, and a pipe gets the whole table."""
    args = ["costs", "simulate", "--model", "meta_pmp_2026"]
    data = json.loads(run(ledger_db, *args, "--json"))
    amounts = {r[k] for r in data["categories"] for k in ("ledger_amount", "simulated_amount", "difference")}
    assert amounts
    for columns in ("80", None):  # None: no terminal and no COLUMNS, as when piped
        env = {"CAREWINDOW_DATABASE_URL": ledger_db, "COLUMNS": columns}
        result = CliRunner().invoke(app, args, env=env)
        assert result.exit_code == 0, result.output
        table = result.stdout
        assert "…" not in table
        assert all(amount in table for amount in amounts), (amounts, table)
        assert "what if: meta_pmp_2026" in table
        if columns == "80":
            assert max(len(line) for line in table.splitlines()) <= 80, table


async def test_costs_names_eras_simulate_side_by_side_and_allowance(ledger_db: str) -> None:
    table = run(ledger_db, "costs")
    assert "priced by: meta_pmp (Meta's published rules): 2 messages, 0 billed differently" in table
    side = run(ledger_db, "costs", "simulate")  # every era and auto, side by side
    assert "what if: the same traffic under each era's rules" in side
    assert "auto priced with: meta_pmp" in side
    every = json.loads(run(ledger_db, "costs", "simulate", "--json"))
    assert [m["model"] for m in every["models"]] == ["seed", "meta_cbp", "meta_pmp", "meta_pmp_2026", "auto"]
    data = json.loads(
        run(ledger_db, "costs", "simulate", "--model", "meta_pmp", "--model", "meta_pmp_2026", "--json")
    )
    amounts = {
        m["model"]: sum(Decimal(c["simulated_amount"]) for c in m["categories"]) for m in data["models"]
    }
    # The March traffic under the October 2026 rules: the reply takes a free-tier message, the
    # utility template outside the window is billed either way.
    assert amounts == {"meta_pmp": Decimal("0.0200"), "meta_pmp_2026": Decimal("0.0200")}
    assert [m["eras"] for m in data["models"]] == [["meta_pmp"], ["meta_pmp_2026"]]
    one = json.loads(run(ledger_db, "costs", "simulate", "--model", "auto", "--json"))
    assert one["eras"] == ["meta_pmp"]
    allowance = json.loads(run(ledger_db, "costs", "allowance", "--json"))
    assert allowance["allowance"] == 1000 and allowance["numbers"]
    assert allowance["numbers"][0]["used"] == 0  # March's reply was priced under meta_pmp: nothing counted
    text = run(ledger_db, "costs", "allowance")
    assert "free service messages" in text and "of 1000" in text
    number = allowance["numbers"][0]["phone_number_id"]
    only = json.loads(run(ledger_db, "costs", "allowance", "--number", number, "--json"))
    assert [n["phone_number_id"] for n in only["numbers"]] == [number]
