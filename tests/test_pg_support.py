"""How the tests get their PostgreSQL (tests/pg_support.py, used by conftest.py and scripts/pg): a
missing database is created when the server allows it; otherwise the skip says the driver's reason."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pg_support
import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
PG_URL = os.environ.get("CAREWINDOW_TEST_PG_URL", pg_support.DEFAULT_URL)


@pytest.fixture
def server() -> str:
    """The test server's URL, its own database reachable (else these tests are skipped)."""
    reason = pg_support.prepare(PG_URL)
    if reason:
        pytest.skip(reason)
    return pg_support.libpq_url(PG_URL)


def _admin(url: str) -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(pg_support.with_database(url, "postgres"), autocommit=True)


def _as_user(url: str, role: str) -> str:
    return make_url(url).set(username=role, password=None).render_as_string(hide_password=False)


def _exists(url: str, name: str) -> bool:
    with _admin(url) as conn:
        return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is not None


@pytest.fixture
def missing_db(server: str) -> Iterator[str]:
    """A database name that does not exist on the server; dropped afterwards if a test created it."""
    name = f"cw_missing_{uuid.uuid4().hex[:10]}"
    assert not _exists(server, name)
    yield name
    with _admin(server) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.mark.postgres
def test_a_missing_database_is_created(server: str, missing_db: str) -> None:
    url = pg_support.with_database(server, missing_db)
    assert pg_support.prepare(url) is None
    assert _exists(server, missing_db)
    psycopg.connect(url).close()
    assert pg_support.prepare(url) is None  # and an existing one is simply used


@pytest.mark.postgres
def test_a_role_that_may_not_create_databases_is_told_so(server: str, missing_db: str) -> None:
    role = f"cw_nocreate_{uuid.uuid4().hex[:8]}"
    with _admin(server) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN NOCREATEDB").format(sql.Identifier(role)))
    try:
        url = _as_user(pg_support.with_database(server, missing_db), role)
        reason = pg_support.prepare(url)
        assert reason is not None
        assert f"database {missing_db!r} does not exist and could not be created" in reason
        assert "permission denied to create database" in reason  # the server's own words
        assert not _exists(server, missing_db)
    finally:
        with _admin(server) as conn:
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


@pytest.mark.postgres
def test_an_unknown_user_gets_the_servers_words(server: str) -> None:
    role = f"cw_nobody_{uuid.uuid4().hex[:8]}"
    url = _as_user(server, role)
    reason = pg_support.prepare(url)
    assert reason is not None
    # 'role "…" does not exist' under trust authentication, 'password authentication failed for user
    # "…"' under passwords: either way the driver's message, not "OperationalError".
    assert f'"{role}"' in reason and "OperationalError" not in reason
    assert "does not exist" in reason or "authentication failed" in reason


def test_a_closed_port_says_connection_refused() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # free once closed: nothing listens there
    reason = pg_support.prepare(f"postgresql://postgres@127.0.0.1:{port}/test")
    assert reason is not None
    assert f"127.0.0.1:{port}" in reason and "refused" in reason.lower()


def test_an_empty_url_means_no_postgresql() -> None:
    assert pg_support.prepare("") == "no PostgreSQL configured (CAREWINDOW_TEST_PG_URL is empty)"


def test_passwords_stay_out_of_the_reason() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    reason = pg_support.prepare(f"postgresql://postgres:hunter2-secret@127.0.0.1:{port}/test")
    assert reason is not None and "hunter2-secret" not in reason


def test_the_script_prints_the_reason_and_fails() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"postgresql://postgres@127.0.0.1:{port}/test"
    r = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "pg_support.py"), url], capture_output=True, text=True
    )
    assert r.returncode == 1 and r.stdout == ""
    assert "refused" in r.stderr.lower() and "Traceback" not in r.stderr


@pytest.mark.postgres
def test_scripts_pg_creates_the_missing_database(server: str, missing_db: str) -> None:
    url = pg_support.with_database(server, missing_db)
    r = subprocess.run(
        [str(ROOT / "scripts" / "pg")],
        env={**os.environ, "CAREWINDOW_TEST_PG_URL": url},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0 and r.stdout.strip() == url, r.stderr
    assert _exists(server, missing_db)


def test_scripts_pg_with_an_empty_url_uses_none() -> None:
    r = subprocess.run(
        [str(ROOT / "scripts" / "pg")],
        env={**os.environ, "CAREWINDOW_TEST_PG_URL": ""},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0 and r.stdout == ""
    assert "CAREWINDOW_TEST_PG_URL is empty" in r.stderr
