"""``carewindow consent export`` (SQLite and PostgreSQL) and ``carewindow backup`` (SQLite's online
backup of a database being written)."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from carewindow.actions.consent import do_record_consent, do_record_marketing
from carewindow.cli.main import app
from carewindow.policy import ConsentStatus, PolicySettings
from carewindow.storage.engine import make_engine

T0 = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
NUMBER = "100000000000001"


def run(db_url: str, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), env={"CAREWINDOW_DATABASE_URL": db_url, "COLUMNS": "200"})
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def consent_db(db_url: str) -> str:
    engine = make_engine(db_url)
    policy = PolicySettings()
    for i, (wa_id, status) in enumerate(
        [
            ("34600111222", ConsentStatus.OPTED_IN),
            ("34600111222", ConsentStatus.OPTED_OUT),
            ("34600333444", ConsentStatus.OPTED_IN),
        ]
    ):
        at = T0 + timedelta(days=i)
        do_record_consent(
            engine,
            phone_number_id=NUMBER,
            wa_id=wa_id,
            status=status,
            source="api",
            proof=f"p{i}",
            at=at,
            now=at,
            settings=policy,
        )
    do_record_marketing(
        engine,
        phone_number_id=NUMBER,
        wa_id="34600333444",
        stopped=True,
        source="user_preferences",
        proof="stop",
        at=T0 + timedelta(days=3),
        now=T0 + timedelta(days=3),
        settings=policy,
    )
    engine.dispose()
    return db_url


def test_consent_export_jsonl_and_csv(consent_db: str, tmp_path: Path) -> None:
    code, out, _ = run(consent_db, "consent", "export")
    assert code == 0, out
    items = [json.loads(line) for line in out.splitlines()]
    assert [(e["wa_id"], e["status"], e["scope"]) for e in items] == [
        ("34600111222", "opted_in", "templates"),
        ("34600111222", "opted_out", "templates"),
        ("34600333444", "opted_in", "templates"),
        ("34600333444", "opted_out", "marketing"),
    ]
    assert all(e["applied"] and e["reason"] and e["recorded_at"] for e in items)

    code, out, _ = run(
        consent_db, "consent", "export", "--since", "2026-11-26", "--until", "2026-11-28", "--format", "csv"
    )
    assert code == 0, out
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [(r["proof"], r["applied"]) for r in rows] == [("p1", "True"), ("p2", "True")]

    target = tmp_path / "consent.csv"
    code, _, err = run(
        consent_db, "consent", "export", "--wa-id", "34600333444", "--format", "csv", "-o", str(target)
    )
    assert code == 0 and "2 consent events written" in err
    assert len(list(csv.DictReader(target.open()))) == 2

    code, _, err = run(consent_db, "consent", "export", "--format", "xml")
    assert code == 2 and "csv or jsonl" in err


def test_backup_of_a_database_being_written(tmp_path: Path) -> None:
    source = tmp_path / "live.db"
    conn = sqlite3.connect(source, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE t (i INTEGER PRIMARY KEY, v TEXT)")
    conn.executemany("INSERT INTO t (v) VALUES (?)", [("y" * 200,)] * 5000)
    conn.commit()
    stop = threading.Event()

    def writer() -> None:
        i = 0
        while not stop.is_set():
            conn.execute("INSERT INTO t (v) VALUES (?)", ("x" * 200,))
            conn.commit()
            i += 1

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        url = f"sqlite:///{source}"
        dest = tmp_path / "copy.db"
        code, out, err = run(url, "backup", str(dest))
        assert code == 0, out + err
        assert "backed up" in out
    finally:
        stop.set()
        thread.join()
        conn.close()
    copy = sqlite3.connect(dest)
    assert copy.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert copy.execute("SELECT count(*) FROM t").fetchone()[0] >= 5000  # committed before the copy began
    copy.close()
    assert not (tmp_path / "copy.db.partial").exists()

    code, _, err = run(url, "backup", str(dest))
    assert code == 1 and "exists" in err
    code, _, err = run(f"sqlite:///{tmp_path / 'missing.db'}", "backup", str(tmp_path / "x.db"))
    assert code == 1 and "no database" in err
    code, _, err = run("postgresql://postgres@127.0.0.1:5432/nope", "backup", str(tmp_path / "y.db"))
    assert code == 2 and "pg_dump" in err
