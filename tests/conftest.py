"""Shared fixtures: a database per test on SQLite and PostgreSQL, and the service in process.

PostgreSQL (CAREWINDOW_TEST_PG_URL, by default postgresql://postgres@127.0.0.1:5432/test): its database
is created when the server is up without it; one migrated template database per test process, cloned
per test (CREATE DATABASE ... TEMPLATE), dropped afterwards. When it cannot be used, the PostgreSQL
variants are skipped with the driver's reason printed in pytest's summary (make test also says so up
front).
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pg_support
import psycopg
import pytest
from service_support import Clock, Service, make_settings, manual_housekeeper, manual_worker

from carewindow.api.app import create_app
from carewindow.storage.engine import make_engine
from carewindow.storage.migrate import upgrade

PG_URL = os.environ.get("CAREWINDOW_TEST_PG_URL", pg_support.DEFAULT_URL)
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "main")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _pg_admin_url() -> str:
    return pg_support.libpq_url(PG_URL)


_pg_state: dict[str, Any] = {}


def _pg_unavailable_reason() -> str | None:
    """None when PostgreSQL can be used (its ``test`` database created if missing), else the driver's
    reason why not (tests/pg_support.py)."""
    if "reason" not in _pg_state:
        _pg_state["reason"] = pg_support.prepare(PG_URL)
    return _pg_state["reason"]  # type: ignore[no-any-return]


def _pg_exec(sql: str) -> None:
    with psycopg.connect(_pg_admin_url(), autocommit=True) as conn:
        conn.execute(sql)


def _swap_db(url: str, name: str) -> str:
    base, _, _ = url.rpartition("/")
    return f"{base}/{name}"


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    reason = _pg_unavailable_reason()
    if reason:
        pytest.skip(reason)
    name = f"cw_tpl_{WORKER}_{os.getpid()}"
    _pg_exec(f'DROP DATABASE IF EXISTS "{name}"')
    _pg_exec(f'CREATE DATABASE "{name}"')
    engine = make_engine(_swap_db(_pg_admin_url(), name))
    upgrade(engine)
    engine.dispose()
    yield name
    _pg_exec(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, migrated database for this test: SQLite file or PostgreSQL clone."""
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        path = tmp_path / "carewindow.db"
        shutil.copy(template, path)
        yield f"sqlite:///{path}"
        return
    tpl: str = request.getfixturevalue("pg_template")
    name = f"cw_t_{uuid.uuid4().hex[:12]}"
    _pg_exec(f'CREATE DATABASE "{name}" TEMPLATE "{tpl}"')
    try:
        yield _swap_db(_pg_admin_url(), name)
    finally:
        _pg_exec(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
async def service(db_url: str) -> AsyncIterator[Service]:
    clock = Clock()
    app = create_app(make_settings(db_url), clock=clock, loopback=True, run_worker=False)
    async with app.router.lifespan_context(app):
        app.state.runtime.worker = manual_worker(app)
        app.state.runtime.housekeeper = manual_housekeeper(app)
        transport = httpx.ASGITransport(app=app)
        try:
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
                yield Service(app=app, http=http, clock=clock)
        finally:
            await app.state.runtime.housekeeper.aclose()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Render the reliability table from what this run's tests recorded into var/reliability.md (ignored;
    ``scripts/reliability-report --docs`` updates docs/reliability.md).

    Only the controlling process does it (xdist workers have ``workerinput``)."""
    if hasattr(session.config, "workerinput"):
        return
    import subprocess
    import sys

    script = Path(__file__).resolve().parents[1] / "scripts" / "reliability-report"
    subprocess.run([sys.executable, str(script)], check=False)
