"""``carewindow consent export`` (the consent log for auditors) and ``carewindow backup PATH``."""

from __future__ import annotations

import csv
import sys
from pathlib import Path
from typing import Annotated

import orjson
import typer

from carewindow.cli.common import fail, open_database, settings
from carewindow.cli.costs import parse_when
from carewindow.settings import sqlite_path
from carewindow.storage import consent_log
from carewindow.storage.engine import connect

consent_app = typer.Typer(
    help="The consent log: every opt-in, opt-out and marketing preference.", no_args_is_help=True
)

FIELDS = (
    "id",
    "wa_id",
    "phone_number_id",
    "status",
    "scope",
    "source",
    "proof",
    "at",
    "recorded_at",
    "applied",
    "reason",
)


@consent_app.command("export")
def export(
    since: Annotated[
        str | None, typer.Option(help="received on or after (YYYY-MM-DD or ISO time, UTC)")
    ] = None,
    until: Annotated[str | None, typer.Option(help="received before (YYYY-MM-DD or ISO time, UTC)")] = None,
    wa_id: Annotated[str | None, typer.Option(help="one customer only")] = None,
    format: Annotated[str, typer.Option("--format", help="csv or jsonl")] = "jsonl",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="file to write (default: stdout)")
    ] = None,
) -> None:
    """Write every consent event (applied or superseded, with both times and the reason) for auditors."""
    if format not in ("csv", "jsonl"):
        raise fail(f"--format: {format!r} is not csv or jsonl", 2)
    start, end = parse_when(since, "since"), parse_when(until, "until")
    engine = open_database(settings())
    out = open(output, "w", newline="", encoding="utf-8") if output else sys.stdout
    n = 0
    try:
        writer = csv.DictWriter(out, fieldnames=FIELDS) if format == "csv" else None
        if writer is not None:
            writer.writeheader()
        with connect(engine) as conn:
            for row in consent_log.every(conn, since=start, until=end, wa_id=wa_id):
                item = consent_log.public(row)
                if writer is not None:
                    writer.writerow(item)
                else:
                    out.write(orjson.dumps(item).decode() + "\n")
                n += 1
    finally:
        if output:
            out.close()
        engine.dispose()
    if output:
        typer.echo(f"{n} consent events written to {output}", err=True)


def backup(
    path: Annotated[Path, typer.Argument(help="the new file to write the copy to")],
) -> None:
    """A consistent copy of the live SQLite database (SQLite's online backup; the server may keep
    running). PostgreSQL: use pg_dump (docs/operations.md)."""
    from carewindow.storage.backup import backup_sqlite

    s = settings()
    source = sqlite_path(s.database_url)
    if source is None:
        raise fail(
            "carewindow backup copies SQLite databases; for PostgreSQL use pg_dump (docs/operations.md)", 2
        )
    try:
        size = backup_sqlite(source, path)
    except (FileExistsError, FileNotFoundError) as exc:
        raise fail(str(exc)) from None
    except Exception as exc:  # sqlite3.Error: a locked or corrupt source, a full disk
        raise fail(f"backup failed: {exc}") from None
    typer.echo(f"backed up {source} to {path} ({size} bytes)")
